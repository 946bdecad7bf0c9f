"""`python -m bot [subcommand]`: runs the bot (the default) or serves operators.

The subcommands call the same services as the handlers, so a rule has one home.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import re
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config import Settings, SettingsError, load_settings
from bot.services.access import AuditLog
from bot.services.interactions import CustomerHistory, InteractionLog
from storage.migrations import apply_migrations
from storage.unit_of_work import open_storage

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_CONFIGURATION = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the bot (the default)")
    commands.add_parser("migrate", help="apply pending database migrations")

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
    from bot.cli.privacy import add_privacy_commands

    add_privacy_commands(customer_commands)

    faq = commands.add_parser("faq", help="manage and try the FAQ")
    faq_commands = faq.add_subparsers(dest="faq_command", required=True)
    faq_import = faq_commands.add_parser("import", help="replace the FAQ with a JSON/YAML file")
    faq_import.add_argument("file", type=Path)
    faq_import.add_argument("--merge", action="store_true", help="add and update by id instead")
    faq_clear = faq_commands.add_parser("clear", help="remove every FAQ entry (needs --yes)")
    faq_clear.add_argument("--yes", action="store_true", help="yes, empty the FAQ")
    faq_export = faq_commands.add_parser("export", help="print the FAQ in the import format")
    faq_export.add_argument("file", type=Path, nargs="?", help="write here instead of stdout")
    ask = faq_commands.add_parser("ask", help="what the matcher answers (TEXT, or - for stdin)")
    ask.add_argument("text")
    ask.add_argument("--json", action="store_true", help="print JSON")
    ask.add_argument("--lang", default=None, help="the asker's language (en, ru, uk)")
    gaps = faq_commands.add_parser("gaps", help="questions the FAQ could not answer, grouped")
    gaps.add_argument("--json", action="store_true", help="print JSON")
    gaps.add_argument("--limit", type=int, default=20)

    audit = commands.add_parser("audit", help="the trail of privileged actions")
    audit.add_argument("--since", help="a date (2026-11-01) or a span (7d, 12h)")
    audit.add_argument("--actor", type=int, help="only this Telegram user's actions")
    audit.add_argument("--json", action="store_true", help="print JSON lines")

    from bot.cli.loyalty import add_loyalty_commands
    from bot.cli.stats import add_stats_command

    add_loyalty_commands(commands)
    add_stats_command(commands)
    from bot.cli.jobs import add_jobs_commands

    add_jobs_commands(commands)
    from bot.cli.broadcasts import add_broadcast_commands

    add_broadcast_commands(commands)
    from bot.cli.sandbox import add_sandbox_command

    add_sandbox_command(commands)
    from bot.cli.backup import add_backup_command

    add_backup_command(commands)
    return parser


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """Run a command. `settings` given: the caller owns them and the logging (in-process use,
    e.g. the tests); otherwise they come from the environment and logging is set up here."""
    arguments = build_parser().parse_args(argv)
    try:
        if settings is None:
            settings = load_settings()
            configure_logging(settings.logging.level, settings.logging.format)
        command = arguments.command or "run"
        if command == "run":
            return _run(settings)
        if command == "migrate":
            report = apply_migrations(settings.database.url)
            applied = ", ".join(report.applied) or "nothing to apply"
            print(f"migrations: {applied}; schema at {report.current[-1]}")
            return EXIT_OK
        handler = _command_handler(command)
        if handler is not None:
            return asyncio.run(handler(settings, arguments))
    except SettingsError as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIGURATION
    raise AssertionError(f"unhandled command {arguments.command}")


# Each subcommand's module is imported only when it runs: the FAQ's numpy and model code
# would otherwise cost every other command a few hundred milliseconds of start-up.
_COMMAND_MODULES = {
    "faq": ("bot.cli.faq", "run_faq_command"),
    "api-token": ("bot.cli.loyalty", "run_token_command"),
    "points": ("bot.cli.loyalty", "run_points_command"),
    "stats": ("bot.cli.stats", "run_stats_command"),
    "export": ("bot.cli.stats", "run_export_command"),
    "cohorts": ("bot.cli.stats", "run_cohorts_command"),
    "jobs": ("bot.cli.jobs", "run_jobs_command"),
    "broadcast": ("bot.cli.broadcasts", "run_broadcast_command"),
    "tag": ("bot.cli.broadcasts", "run_tag_command"),
    "sandbox": ("bot.cli.sandbox", "run_sandbox_command"),
    "backup": ("bot.cli.backup", "run_backup_command"),
}


def _command_handler(
    command: str,
) -> Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]] | None:
    if command == "customer":
        return _show_customer
    if command == "audit":
        return _show_audit
    if command not in _COMMAND_MODULES:
        return None
    module_name, function = _COMMAND_MODULES[command]
    handler: Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]] = getattr(
        importlib.import_module(module_name), function
    )
    return handler


PAYLOAD_LOGGERS = ("aiosqlite", "asyncpg", "psycopg", "aiohttp.client", "aiogram.session")


def configure_logging(level: str, log_format: str = "text") -> None:
    from bot import log_masking
    from bot.ops import logs

    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # yoyo narrates every migration step at INFO; operators need to know only what applied.
    logging.getLogger("yoyo").setLevel(max(logging.WARNING, logging.getLogger().level))
    # At DEBUG these print every statement with its parameters (customers' messages, phone
    # numbers, names) or whole request payloads: LOG_LEVEL=DEBUG is for our own code.
    for talkative in PAYLOAD_LOGGERS:
        logging.getLogger(talkative).setLevel(max(logging.INFO, logging.getLogger().level))
    log_masking.install()
    logs.install(log_format)


def _run(settings: Settings) -> int:
    from bot.app import run_bot  # aiogram's import cost is paid only when the bot runs

    settings.require_token()
    asyncio.run(run_bot(settings))
    return EXIT_OK


async def _show_customer(settings: Settings, arguments: argparse.Namespace) -> int:
    if arguments.customer_command != "show":
        from bot.cli.privacy import run_privacy_command

        return await run_privacy_command(settings, arguments)
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


async def _show_audit(settings: Settings, arguments: argparse.Namespace) -> int:
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
