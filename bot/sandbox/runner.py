"""Starts the emulator, the real bot against it, and the web page, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from bot.app import run_bot
from bot.config.errors import SettingsError
from bot.emulator import BotAPIEmulator
from bot.sandbox import demo
from bot.sandbox.personas import BOT_USERNAME, TOKEN
from bot.sandbox.setup import HOST, free_port, populate, sandbox_settings
from bot.sandbox.till import Till, create_token
from bot.sandbox.web import SandboxPage
from storage.unit_of_work import open_storage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SandboxOptions:
    port: int
    reset: bool
    data_dir: Path


def _remove_database(database: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)


async def _wait_until_started(emulator: BotAPIEmulator, bot: asyncio.Task[None]) -> None:
    """Until the bot's start-up hook runs (its first call is deleteWebhook): by then the
    database is migrated and the HTTP API listens; updates sent now wait for the poll."""
    while not emulator.calls_to("deleteWebhook"):
        if bot.done():
            bot.result()  # raises what stopped the bot
            raise SettingsError("the bot stopped before it started polling")
        await asyncio.sleep(0.05)


async def run_sandbox(options: SandboxOptions) -> None:
    options.data_dir.mkdir(parents=True, exist_ok=True)
    database = options.data_dir / "sandbox.sqlite3"
    if options.reset:
        _remove_database(database)
    fresh = not database.exists()
    # aiogram logs every update at INFO; in the sandbox the page shows them instead.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)

    emulator = BotAPIEmulator(TOKEN, bot_username=BOT_USERNAME, bot_first_name="Loyalty Bot")
    # The bot's database outlives this emulator and ignores update ids it has handled
    # (redelivery protection): number this run's updates after any earlier run's.
    emulator.world.updates.continue_from(int(time.time() * 1000))
    await emulator.start(HOST, 0)
    populate(emulator)
    settings = sandbox_settings(emulator, database, free_port())
    page = SandboxPage(emulator, settings)
    try:
        await page.start(HOST, options.port)
    except OSError as error:
        await emulator.stop()
        raise SettingsError(
            f"cannot serve the sandbox page on {HOST}:{options.port} ({error.strerror}): "
            "choose another with --port"
        ) from None
    bot = asyncio.create_task(run_bot(settings))
    till: Till | None = None
    try:
        await _wait_until_started(emulator, bot)
        storage = await open_storage(settings.database.url)
        try:
            token = await create_token(storage)
        finally:
            await storage.close()
        till = Till(f"http://{HOST}:{settings.http.port}", token)
        page.till = till
        if fresh:
            print("Preparing demo data (first start)…", flush=True)
            await demo.seed(emulator, till, timeout=90.0)
        print(
            f"Sandbox ready: {page.url}\n"
            f"  data: {database} (start with --reset for a clean slate)\n"
            "  Ctrl+C stops it.",
            flush=True,
        )
        await bot
    finally:
        if not bot.done():
            bot.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await bot
        if till is not None:
            await till.close()
        await page.stop()
        await emulator.stop()
