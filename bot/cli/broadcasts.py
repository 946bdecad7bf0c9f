"""Operator commands for broadcasts; the running bot's worker sends what these leave queued.

python -m bot broadcast create --text TEXT [--text-en|--text-ru|--text-uk TEXT]
                              [--photo FILE] [--segment EXPR] [--at TIME]
python -m bot broadcast list | status ID [--json] | pause ID | resume ID | cancel ID
python -m bot broadcast count --segment EXPR
python -m bot tag add|remove TELEGRAM_ID TAG
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import Settings, SettingsError
from bot.domain.languages import SUPPORTED_LANGUAGES
from bot.services.access import CLI
from bot.services.broadcasts.segments import SegmentError
from bot.services.broadcasts.service import (
    BroadcastError,
    BroadcastService,
    Status,
    parse_when,
)
from bot.services.loyalty.rules import load_rules
from storage.migrations import apply_migrations
from storage.repositories.broadcasts import UrlButton
from storage.unit_of_work import Storage, open_storage

EXIT_OK = 0
EXIT_FAILED = 1

_BUTTON = re.compile(r"^(?P<text>[^=]{1,64})=(?P<url>(?:https?|tg)://\S+)$")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    broadcast = commands.add_parser("broadcast", help="send a message to a segment of customers")
    sub = broadcast.add_subparsers(dest="broadcast_command", required=True)
    create = sub.add_parser("create", help="queue a broadcast; prints its id last")
    create.add_argument(
        "--text", required=True, help="the message (Telegram HTML), for every other language"
    )
    for language in SUPPORTED_LANGUAGES:
        create.add_argument(
            f"--text-{language}",
            help=f"the message for customers spoken to in {language} (Telegram HTML)",
        )
    create.add_argument("--photo", help="a photo: a file, a Telegram file_id or an URL")
    create.add_argument("--segment", default="all", help="who gets it, e.g. 'tier=gold'")
    create.add_argument(
        "--at", help="when: 2026-12-01T10:00 or 10:00 (in TIMEZONE), or +30m / +2h; default now"
    )
    create.add_argument(
        "--button", action="append", default=[], help="a URL button: 'Label=https://…'"
    )
    listing = sub.add_parser("list", help="the latest broadcasts")
    listing.add_argument("--json", action="store_true")
    status = sub.add_parser("status", help="a broadcast's state and delivery counts")
    status.add_argument("id", type=int)
    status.add_argument("--json", action="store_true")
    for verb in ("pause", "resume", "cancel"):
        command = sub.add_parser(verb, help=f"{verb} a broadcast")
        command.add_argument("id", type=int)
    count = sub.add_parser("count", help="how many customers a segment reaches now")
    count.add_argument("--segment", default="all")

    tag = commands.add_parser("tag", help="label customers for segments (tag=NAME)")
    tag.add_argument("action", choices=("add", "remove"))
    tag.add_argument("telegram_id", type=int)
    tag.add_argument("tag")


def parse_at(text: str | None, zone: ZoneInfo) -> datetime | None:
    if not text:
        return None
    try:
        return parse_when(text, zone)
    except ValueError:
        raise SettingsError(
            f"--at {text!r} is not a time like 2026-12-01T10:00, 10:00 or +30m"
        ) from None


def _buttons(specs: list[str]) -> list[list[UrlButton]]:
    rows = []
    for spec in specs:
        match = _BUTTON.match(spec.strip())
        if match is None:
            raise SettingsError(f"--button {spec!r} is not 'Label=https://…'")
        rows.append([UrlButton(match.group("text").strip(), match.group("url"))])
    return rows


def broadcast_service(settings: Settings, storage: Storage) -> BroadcastService:
    return BroadcastService(
        storage,
        settings.zone,
        settings.telegram.default_language,
        tiers=[tier.id for tier in load_rules(settings.loyalty.rules_file).tiers],
        staff=frozenset(settings.telegram.admin_ids),
    )


async def run_tag_command(settings: Settings, arguments: argparse.Namespace) -> int:
    apply_migrations(settings.database.url)
    storage = await open_storage(settings.database.url)
    try:
        service = broadcast_service(settings, storage)
        remove = arguments.action == "remove"
        changed = await service.tag(CLI, arguments.telegram_id, arguments.tag, remove=remove)
    except BroadcastError as error:
        print(error, file=sys.stderr)
        return EXIT_FAILED
    finally:
        await storage.close()
    print("done" if changed else "nothing to change")
    return EXIT_OK


async def run_broadcast_command(settings: Settings, arguments: argparse.Namespace) -> int:
    command = arguments.broadcast_command
    send_at = parse_at(arguments.at, settings.zone) if command == "create" else None
    apply_migrations(settings.database.url)
    storage = await open_storage(settings.database.url)
    service = broadcast_service(settings, storage)
    try:
        if command == "create":
            photo = arguments.photo
            if photo and not photo.startswith(("http://", "https://")) and Path(photo).is_file():
                photo = str(Path(photo).resolve())  # the bot may run in another directory
            broadcast_id = await service.create(
                CLI,
                text=arguments.text,
                photo=photo,
                buttons=_buttons(arguments.button),
                segment=arguments.segment,
                send_at=send_at,
                texts={
                    language: text
                    for language in SUPPORTED_LANGUAGES
                    if (text := getattr(arguments, f"text_{language}")) is not None
                },
            )
            reachable, unreachable = await service.count(arguments.segment)
            when = send_at.isoformat() if send_at else "now"
            print(
                f"broadcast queued for {when}: about {reachable} recipients "
                f"(+{unreachable} known unreachable); the running bot sends it"
            )
            print(broadcast_id)
        elif command == "list":
            _print_list(await service.latest(), as_json=arguments.json)
        elif command == "status":
            status = await service.status(arguments.id)
            if status is None:
                print(f"no broadcast {arguments.id}", file=sys.stderr)
                return EXIT_FAILED
            if arguments.json:
                print(json.dumps(status.document(), ensure_ascii=False, indent=2))
            else:
                _print_status(status)
        elif command == "count":
            reachable, unreachable = await service.count(arguments.segment)
            print(f"{reachable} reachable recipients (+{unreachable} known unreachable)")
        else:
            await getattr(service, command)(CLI, arguments.id)
            print(f"broadcast {arguments.id}: {command} done")
    except (BroadcastError, SegmentError) as error:
        print(error, file=sys.stderr)
        return EXIT_FAILED
    finally:
        await storage.close()
    return EXIT_OK


def _print_list(statuses: list[Status], *, as_json: bool) -> None:
    for status in statuses:
        document = status.document()
        if as_json:
            print(json.dumps(document, ensure_ascii=False))
            continue
        b = status.broadcast
        text = b.text.replace("\n", " ")
        text = text if len(text) <= 40 else text[:39] + "…"
        print(
            f"#{b.id:<5} {b.state:<10} {b.created_at:%Y-%m-%d %H:%M}  sent {document['sent']}"
            f"/{document['total']}  [{b.segment}]  {text}"
        )


def _print_status(status: Status) -> None:
    document = status.document()
    texts = document.pop("texts")
    for key, value in document.items():
        print(f"{key}: {value}")
    for language, text in texts.items():
        print(f"text_{language}: {text}")


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    if arguments.command == "tag":
        return await run_tag_command(settings, arguments)
    return await run_broadcast_command(settings, arguments)
