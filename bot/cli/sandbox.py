"""`python -m bot sandbox`: the emulated Telegram, the bot and the web page, on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.sandbox.runner import SandboxOptions, run_sandbox

DEFAULT_PORT = 8765


def register(commands: Any) -> None:
    sandbox: argparse.ArgumentParser = commands.add_parser(
        "sandbox",
        help="try the bot without a token: an emulated Telegram and a web chat for every role",
    )
    sandbox.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"the page's port (default {DEFAULT_PORT})"
    )
    sandbox.add_argument(
        "--reset", action="store_true", help="forget the sandbox's data and load the demo again"
    )
    sandbox.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data/sandbox"),
        help="where the sandbox keeps its database (default data/sandbox)",
    )


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    # The operator's own settings (BOT_TOKEN, DATABASE_URL …) are not used: the sandbox
    # brings its own Telegram and database and never touches a production one.
    await run_sandbox(SandboxOptions(arguments.port, arguments.reset, arguments.data_dir))
    return 0
