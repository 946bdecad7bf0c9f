"""Operator commands for the loyalty programme: API tokens and points."""

from __future__ import annotations

import argparse
import json
import sys

from bot.config import Settings
from bot.services.access import CLI
from bot.services.api_tokens import (
    DEFAULT_SCOPES,
    SCOPES,
    ApiTokenService,
    TokenNameTaken,
    UnknownScope,
)
from bot.services.loyalty.ledger import InsufficientPoints, PointsLedger
from bot.services.loyalty.rules import load_rules
from bot.services.loyalty.service import LoyaltyService
from storage.migrations import apply_migrations
from storage.unit_of_work import Storage, open_storage

EXIT_OK = 0
EXIT_FAILED = 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = commands.add_parser("api-token", help="bearer tokens for the HTTP API")
    token_commands = tokens.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a token (printed once)")
    create.add_argument("name")
    create.add_argument(
        "--scope",
        action="append",
        dest="scopes",
        metavar="SCOPE",
        help=f"allow this (repeatable): {', '.join(SCOPES)}; default: {' '.join(DEFAULT_SCOPES)}",
    )
    token_commands.add_parser("list", help="list tokens (never their secret)")
    revoke = token_commands.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name")

    points = commands.add_parser("points", help="customers' points")
    points_commands = points.add_subparsers(dest="points_command", required=True)
    show = points_commands.add_parser("show", help="balance, tier and movements")
    show.add_argument("telegram_id", type=int)
    show.add_argument("--json", action="store_true", help="print JSON")
    adjust = points_commands.add_parser("adjust", help="add (or with -N, deduct) points")
    adjust.add_argument("telegram_id", type=int)
    adjust.add_argument("delta", type=int)
    adjust.add_argument("--reason", required=True)
    points_commands.add_parser(
        "check", help="verify the ledger: balances equal the sum of unspent lots"
    )


async def run_token_command(settings: Settings, arguments: argparse.Namespace) -> int:
    storage = await _open(settings)
    try:
        tokens = ApiTokenService(storage)
        if arguments.token_command == "create":
            scopes = tuple(arguments.scopes) if arguments.scopes else DEFAULT_SCOPES
            try:
                token = await tokens.create(CLI, arguments.name, scopes)
            except TokenNameTaken as error:
                print(f"{error}; revoke it first or pick another name", file=sys.stderr)
                return EXIT_FAILED
            except UnknownScope as error:
                print(f"refused: {error}", file=sys.stderr)
                return EXIT_FAILED
            print(
                f"Token {arguments.name!r} created with scopes {' '.join(scopes)}; "
                "it is shown only now:",
                file=sys.stderr,
            )
            print(token)
            return EXIT_OK
        if arguments.token_command == "revoke":
            if await tokens.revoke(CLI, arguments.name):
                print(f"revoked {arguments.name!r}")
                return EXIT_OK
            print(f"no active token named {arguments.name!r}", file=sys.stderr)
            return EXIT_FAILED
        for token_info in await tokens.all():
            state = (
                f"revoked {token_info.revoked_at:%Y-%m-%d}" if token_info.revoked_at else "active"
            )
            used = (
                f"{token_info.last_used_at:%Y-%m-%d %H:%M}" if token_info.last_used_at else "never"
            )
            print(
                f"{token_info.name:<24} {token_info.prefix}…  created "
                f"{token_info.created_at:%Y-%m-%d}  {state:<18} last used {used:<16}  "
                f"scopes {' '.join(token_info.scopes)}"
            )
        return EXIT_OK
    finally:
        await storage.close()


async def run_points_command(settings: Settings, arguments: argparse.Namespace) -> int:
    rules = load_rules(settings.loyalty.rules_file)
    storage = await _open(settings)
    try:
        loyalty = LoyaltyService(storage, rules, PointsLedger(rules))
        if arguments.points_command == "check":
            async with storage.read() as uow:
                balance, lots = await uow.ledger.totals()
            print(f"sum of all movements: {balance}; sum of unspent lots: {lots}")
            return EXIT_OK if balance == lots else EXIT_FAILED
        async with storage.read() as uow:
            customer = await uow.customers.by_telegram_id(arguments.telegram_id)
        if customer is None:
            print(f"no customer with Telegram id {arguments.telegram_id}", file=sys.stderr)
            return EXIT_FAILED
        if arguments.points_command == "adjust":
            try:
                result = await loyalty.adjust(CLI, customer, arguments.delta, arguments.reason)
            except InsufficientPoints as error:
                print(f"refused: {error}; the balance cannot go below 0", file=sys.stderr)
                return EXIT_FAILED
            print(f"balance {result.balance_before} → {result.balance_after}")
            return EXIT_OK
        summary = await loyalty.summary(customer, history=50)
        if arguments.json:
            document = {
                "telegram_id": customer.telegram_id,
                "balance": summary.balance,
                "tier": summary.tier.id,
                "spend_12_months_minor": summary.spend_minor,
                "expiring": [
                    {"points": item.points, "expires_at": item.expires_at.isoformat()}
                    for item in summary.expiring
                ],
                "movements": [
                    {
                        "at": entry.at.isoformat(),
                        "delta": entry.delta,
                        "reason": entry.reason,
                        "source": entry.source,
                        "note": entry.note,
                    }
                    for entry in summary.movements
                ],
            }
            print(json.dumps(document, ensure_ascii=False, indent=2))
            return EXIT_OK
        print(f"balance {summary.balance} · tier {summary.tier.id}")
        for entry in summary.movements:
            print(
                f"  {entry.at:%Y-%m-%d %H:%M}  {entry.delta:+6d}  {entry.reason:<14} "
                f"{entry.source or ''} {entry.note or ''}"
            )
        return EXIT_OK
    finally:
        await storage.close()


async def _open(settings: Settings) -> Storage:
    apply_migrations(settings.database.url)
    return await open_storage(settings.database.url)


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    if arguments.command == "api-token":
        return await run_token_command(settings, arguments)
    return await run_points_command(settings, arguments)
