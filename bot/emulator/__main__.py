"""Serve the emulator on its own: ``python -m bot.emulator --port 8081 --token 123:ABC...``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from .emulator import DEFAULT_TOKEN, BotAPIEmulator


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot.emulator",
        description="An emulated Telegram Bot API server with a JSON control API at /_emulator/.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--bot-username", default="emulated_test_bot")
    parser.add_argument(
        "--no-privacy-mode",
        action="store_true",
        help="deliver every group message to the bot, as if privacy mode were off",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args()


async def _serve(arguments: argparse.Namespace) -> None:
    emulator = BotAPIEmulator(
        arguments.token,
        bot_username=arguments.bot_username,
        privacy_mode=not arguments.no_privacy_mode,
    )
    await emulator.start(arguments.host, arguments.port, control_api=True)
    logging.getLogger("bot.emulator").info(
        "Bot API emulator for @%s listening on %s", arguments.bot_username, emulator.base_url
    )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await emulator.stop()


def main() -> None:
    arguments = _arguments()
    logging.basicConfig(
        level=arguments.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_serve(arguments))


if __name__ == "__main__":
    main()
