"""LOG_FORMAT=json: one JSON object per line, each with the update being handled (if any).

The update id travels in a context variable set where an update's handling starts (the
webhook worker, the metrics middleware), so every record logged while handling it, by our
code, aiogram or aiohttp, carries it without being passed around.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

update_context: ContextVar[int | None] = ContextVar("update_id", default=None)


class UpdateIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.update_id = update_context.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        update_id = getattr(record, "update_id", None)
        if update_id is not None:
            document["update_id"] = update_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        return json.dumps(document, ensure_ascii=False)


def install(log_format: str) -> None:
    """Add update ids to every record, and switch the root handlers to JSON if asked."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(existing, UpdateIdFilter) for existing in handler.filters):
            # First, so the secrets filter (which may rewrite the message) sees it too.
            handler.filters.insert(0, UpdateIdFilter())
        if log_format == "json":
            handler.setFormatter(JsonFormatter())
