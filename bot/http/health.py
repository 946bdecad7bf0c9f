"""/healthz: is the database reachable, is Telegram, and how much work is waiting.

The answer is 503 only when the database is unreachable: that is what a restart may cure.
Telegram being unreachable is reported ("degraded") but answered with 200, since restarting
the bot cannot bring Telegram back and would only drop the work in hand.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiogram import Bot

from bot.telegram.middlewares.intake import InFlight
from storage.clock import utcnow
from storage.unit_of_work import Storage

TELEGRAM_PROBE_SECONDS = 15.0
PROBE_TIMEOUT_SECONDS = 5.0


class Health:
    def __init__(
        self,
        storage: Storage,
        bot: Bot,
        in_flight: InFlight,
        mode: str,
        faq_warming_up: Callable[[], bool] = lambda: False,
    ) -> None:
        self._storage = storage
        self._faq_warming_up = faq_warming_up
        self._bot = bot
        self._in_flight = in_flight
        self._mode = mode
        self._telegram: tuple[float, bool, str | None] | None = None
        self._probe_lock = asyncio.Lock()

    async def _telegram_ok(self) -> tuple[bool, str | None]:
        """getMe at most every TELEGRAM_PROBE_SECONDS, however often /healthz is asked."""
        async with self._probe_lock:
            now = time.monotonic()
            if self._telegram is not None and now - self._telegram[0] < TELEGRAM_PROBE_SECONDS:
                return self._telegram[1], self._telegram[2]
            try:
                await asyncio.wait_for(self._bot.get_me(), PROBE_TIMEOUT_SECONDS)
            except Exception as error:  # any failure means "not reachable now"
                result: tuple[bool, str | None] = (False, f"{type(error).__name__}: {error}")
            else:
                result = (True, None)
            self._telegram = (now, *result)
            return result

    async def report(self) -> tuple[int, dict[str, Any]]:
        document: dict[str, Any] = {
            "mode": self._mode,
            "updates_in_flight": self._in_flight.count,
            # Questions are answered meanwhile ("warming up" where unsure): not a failure.
            "faq": {"warming_up": self._faq_warming_up()},
        }
        database_ok = True
        try:
            async with self._storage.read() as uow:
                snapshot = await asyncio.wait_for(
                    uow.operations.snapshot(utcnow()), PROBE_TIMEOUT_SECONDS
                )
        except Exception as error:  # the database's failures have many types
            database_ok = False
            document["database"] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        else:
            document["database"] = {"ok": True}
            document["queues"] = {
                "webhook_inbox": snapshot.inbox_pending,
                "notices": snapshot.notices_pending,
                "broadcast_recipients": snapshot.broadcast_recipients.get("pending", 0)
                + snapshot.broadcast_recipients.get("sending", 0),
            }
        telegram_ok, problem = await self._telegram_ok()
        document["telegram"] = {"ok": telegram_ok, **({"error": problem} if problem else {})}
        if not database_ok:
            document["status"] = "failing"
            return 503, document
        document["status"] = "ok" if telegram_ok else "degraded"
        return 200, document
