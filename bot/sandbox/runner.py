"""Starts the emulator, the real bot against it, and the web page, in one process."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import run_bot
from bot.config.errors import SettingsError
from bot.emulator import BotAPIEmulator
from bot.sandbox import demo
from bot.sandbox.lock import DataDirectoryLock
from bot.sandbox.personas import BOT_USERNAME, TOKEN
from bot.sandbox.setup import HOST, free_port, populate, sandbox_settings
from bot.sandbox.till import Till, create_token
from bot.sandbox.web import SandboxPage
from storage.unit_of_work import open_storage

logger = logging.getLogger(__name__)

# SIGTERM must end the sandbox within 5 s: the bot gets most of it to shut down cleanly.
BOT_STOP_SECONDS = 3.0
# Past this the sandbox says ready anyway: questions then get "warming up" for a while.
FAQ_WARM_UP_SECONDS = 120.0


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


async def _faq_warm(till: Till) -> None:
    """Ready means ready: the first question tried on the page gets the FAQ's answer, not
    "warming up" (the first start builds the model: seconds)."""
    deadline = time.monotonic() + FAQ_WARM_UP_SECONDS
    if await till.faq_warming_up():
        print("Warming up the FAQ model…", flush=True)
    while await till.faq_warming_up() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)


async def run_sandbox(options: SandboxOptions) -> None:
    """Until SIGTERM or SIGINT (or the bot stops). A signal stops everything within seconds
    whatever is under way, start-up included: the bot's own signal handling would stop only
    its polling, and only once polling has begun."""
    lock = DataDirectoryLock(options.data_dir)
    lock.acquire(reset=options.reset)  # before --reset deletes anything
    try:
        await _until_signalled(_serve(options, lock))
    finally:
        lock.release()


async def _until_signalled(work: Coroutine[Any, Any, None]) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    signalled: list[signal.Signals] = []

    def stop(sig: signal.Signals) -> None:
        if not signalled:  # a second Ctrl+C while stopping changes nothing
            signalled.append(sig)
            task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig)
    try:
        await work
    except asyncio.CancelledError:
        if not signalled:
            raise
        print(f"Sandbox stopped ({signalled[0].name}).", flush=True)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _serve(options: SandboxOptions, lock: DataDirectoryLock) -> None:
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
    stop = asyncio.Event()
    bot: asyncio.Task[None] | None = None
    till: Till | None = None
    try:
        try:
            await page.start(HOST, options.port)
        except OSError as error:
            raise SettingsError(
                f"cannot serve the sandbox page on {HOST}:{options.port} ({error.strerror}): "
                "choose another with --port"
            ) from None
        lock.record(page.url)
        bot = asyncio.create_task(run_bot(settings, stop=stop))
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
        await _faq_warm(till)
        print(
            f"Sandbox ready: {page.url}\n"
            f"  data: {database} (start with --reset for a clean slate)\n"
            "  Ctrl+C stops it.",
            flush=True,
        )
        # Not `await bot`: a signal cancels this task, which would cancel the bot with it,
        # mid-poll; the bot is stopped below, as a signal stops it.
        await asyncio.wait({bot})
        bot.result()
    finally:
        if bot is not None:
            await _stop_bot(bot, stop)
        if till is not None:
            await till.close()
        await page.stop()
        await emulator.stop()


async def _stop_bot(bot: asyncio.Task[None], stop: asyncio.Event) -> None:
    """As a signal stops the bot (its updates in hand finished, its shutdown hooks run);
    cancelled if that takes longer than the sandbox may."""
    stop.set()
    done, _ = await asyncio.wait({bot}, timeout=BOT_STOP_SECONDS)
    if not done:
        logger.warning("the bot did not stop within %.0f s: cancelled", BOT_STOP_SECONDS)
        bot.cancel()
        await asyncio.wait({bot})
    if not bot.cancelled() and bot.exception() is not None:
        logger.error("the bot stopped with an error", exc_info=bot.exception())
