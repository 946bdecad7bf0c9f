"""`python -m bot migrate`: apply pending database migrations."""

from __future__ import annotations

import argparse

from bot.config import Settings
from storage.migrations import apply_migrations

EXIT_OK = 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser("migrate", help="apply pending database migrations")


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    report = apply_migrations(settings.database.url)
    applied = ", ".join(report.applied) or "nothing to apply"
    print(f"migrations: {applied}; schema at {report.head}")
    return EXIT_OK
