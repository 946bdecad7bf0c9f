"""`python -m bot customer show|export|forget`: a customer's record for operators (export and
forget are bot/cli/privacy.py's, which the command table loads only for them)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.config import Settings
from bot.services.interactions import CustomerHistory, InteractionLog
from storage.unit_of_work import open_storage

EXIT_OK = 0
EXIT_NOT_FOUND = 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    customer = commands.add_parser("customer", help="look up customers")
    customer_commands = customer.add_subparsers(dest="customer_command", required=True)
    show = customer_commands.add_parser("show", help="a customer's record and interactions")
    show.add_argument("telegram_id", type=int)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument(
        "--limit",
        type=int,
        default=None,
        help="only the most recent N interactions (default: all with --json, else 20)",
    )
    export = customer_commands.add_parser(
        "export", help="everything held about a customer, as JSON (what /mydata sends)"
    )
    export.add_argument("telegram_id", type=int)
    forget = customer_commands.add_parser(
        "forget", help="erase a customer's personal data (what /forget does)"
    )
    forget.add_argument("telegram_id", type=int)
    forget.add_argument("--yes", action="store_true", help="really erase; cannot be undone")


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    path = settings.database.sqlite_path
    if path is not None and not path.exists():
        print(
            f"no database at {path}: start the bot or run `python -m bot migrate`", file=sys.stderr
        )
        return EXIT_NOT_FOUND
    storage = await open_storage(settings.database.url)
    try:
        limit = arguments.limit if arguments.limit is not None or arguments.json else 20
        history = await InteractionLog(storage).history(arguments.telegram_id, limit)
    finally:
        await storage.close()
    if history is None:
        print(f"no customer with Telegram id {arguments.telegram_id}", file=sys.stderr)
        return EXIT_NOT_FOUND
    if arguments.json:
        print(json.dumps(history_document(history), ensure_ascii=False, indent=2))
    else:
        print(history_text(history))
    return EXIT_OK


def history_document(history: CustomerHistory) -> dict[str, Any]:
    document: dict[str, Any] = history.customer.model_dump(mode="json")
    document["interactions"] = [
        item.model_dump(mode="json", exclude={"customer_id"}) for item in history.interactions
    ]
    return document


def history_text(history: CustomerHistory) -> str:
    customer = history.customer
    username = f" (@{customer.username})" if customer.username else ""
    yes_no = {True: "yes", False: "no"}
    lines = [
        f"{customer.full_name}{username} · Telegram id {customer.telegram_id}",
        f"language: {customer.language or '(follows Telegram)'}"
        f" · Telegram app language: {customer.telegram_language or '—'}",
        f"first seen {customer.first_seen:%Y-%m-%d %H:%M:%S} UTC"
        f" · last seen {customer.last_seen:%Y-%m-%d %H:%M:%S} UTC",
        f"promotions: {yes_no[customer.consent_promotions]}"
        f" · surveys: {yes_no[customer.consent_surveys]}"
        f" · reachable: {yes_no[customer.reachable]}"
        f" · start payload: {customer.start_payload or '—'}",
        "",
        f"interactions (most recent {len(history.interactions)}):",
    ]
    for item in history.interactions:
        text = (item.text or "").replace("\n", " ⏎ ")
        if len(text) > 100:
            text = text[:99] + "…"
        status = "" if item.status in {"received", "sent"} else f" [{item.status}]"
        lines.append(
            f"  {item.at:%Y-%m-%d %H:%M:%S}  {item.direction:<3}  {item.kind:<16} {text}{status}"
        )
    return "\n".join(lines)
