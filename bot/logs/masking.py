"""Nothing secret in the logs: bot tokens, API tokens and phone numbers are masked in every
record a handler writes, whoever logged it (aiogram and aiohttp included).

aiogram puts the bot token in every request URL (https://api.telegram.org/bot<token>/...),
and an HTTP client error quoting its URL, such as aiohttp's TooManyRedirects, carries it
into "Failed to fetch updates" lines. Phone numbers reach logs in errors that quote a
customer's message. The filter sits on the handlers, so records from every logger pass it.
"""

from __future__ import annotations

import logging
import re

# A bot token is <bot id>:<secret>; the id is public (it is the bot's user id).
_BOT_TOKEN = re.compile(r"(?<!\d)(\d{5,}):[A-Za-z0-9_-]{30,}")
# Our HTTP API's bearer tokens (bot/services/api_tokens.py).
_API_TOKEN = re.compile(r"\blsb_[A-Za-z0-9_-]{8,}")
# "+44 7700 900123", "+380 67 123 45 67", "+380(67)123-45-67"; national numbers with the
# area code in brackets, "(067) 123-45-67", "8 (999) 123-45-67"; or 11 to 15 bare digits,
# which is how Telegram sends a contact's number. Shorter runs (Telegram ids, update ids),
# ids of groups (-100...) and timestamps are left alone.
_PHONE = re.compile(
    r"\+\d[\d\s().-]{7,18}\d(?!\d)"
    r"|(?<![\w.:/+-])(?:\d{1,3}[\s.-]?)?\(\d{2,5}\)[\s.-]?\d{2,4}(?:[\s.-]?\d{2,4}){1,3}(?!\d)"
    r"|(?<![\w.:/+-])\d{11,15}(?![\w.:/])",
)

PHONE_MASK = "[phone]"


def mask_secrets(text: str) -> str:
    text = _BOT_TOKEN.sub(r"\1:***", text)
    text = _API_TOKEN.sub("lsb_***", text)
    return _PHONE.sub(PHONE_MASK, text)


class SecretsFilter(logging.Filter):
    """Rewrites a record's message (and its traceback) with the secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of `logger` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(existing, SecretsFilter) for existing in handler.filters):
            handler.addFilter(SecretsFilter())
