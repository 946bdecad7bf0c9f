"""`python -m bot` (or `python -m bot run`): the bot itself, the one command that needs
aiogram and everything else loaded."""

from __future__ import annotations

import argparse

from bot.app import run_bot
from bot.config import Settings

EXIT_OK = 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser("run", help="run the bot (the default)")


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    settings.require_token()
    await run_bot(settings)
    return EXIT_OK
