"""`python -m bot audit`: the trail of privileged actions."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from bot.config import Settings, SettingsError
from bot.services.access import AuditLog
from storage.migrations import apply_migrations
from storage.unit_of_work import open_storage

EXIT_OK = 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="the trail of privileged actions")
    audit.add_argument("--since", help="a date (2026-11-01) or a span (7d, 12h)")
    audit.add_argument("--actor", type=int, help="only this Telegram user's actions")
    audit.add_argument("--json", action="store_true", help="print JSON lines")


def parse_since(text: str | None) -> datetime | None:
    if not text:
        return None
    span = re.fullmatch(r"(\d+)([dh])", text.strip())
    if span:
        hours = int(span.group(1)) * (24 if span.group(2) == "d" else 1)
        return datetime.now(UTC) - timedelta(hours=hours)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"--since {text!r} is neither a date nor a span like 7d") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    apply_migrations(settings.database.url)
    storage = await open_storage(settings.database.url)
    try:
        entries = await AuditLog(storage).find(parse_since(arguments.since), arguments.actor)
    finally:
        await storage.close()
    for entry in entries:
        if arguments.json:
            print(json.dumps({**asdict(entry), "at": entry.at.isoformat()}, ensure_ascii=False))
            continue
        actor = entry.actor if entry.actor is not None else entry.via
        change = ""
        if entry.before is not None or entry.after is not None:
            change = f" {json.dumps(entry.before, ensure_ascii=False)} → "
            change += json.dumps(entry.after, ensure_ascii=False)
        print(
            f"{entry.at:%Y-%m-%d %H:%M:%S}  {actor}  {entry.action}  {entry.subject or ''}{change}"
        )
    return EXIT_OK
