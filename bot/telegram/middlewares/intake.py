"""First stop of every update: claim it once, record it, then hand it to the handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update

from bot.services.intake import IntakeService
from bot.telegram.summaries import inbound_event

logger = logging.getLogger(__name__)


class InFlight:
    """Counts updates being handled, so shutdown can wait for them to finish; with a `limit`,
    holds each further update back until one of them finishes."""

    def __init__(self, limit: int | None = None) -> None:
        self._slots = asyncio.Semaphore(limit) if limit is not None else None
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def enter(self) -> None:
        if self._slots is not None:
            await self._slots.acquire()
        self._count += 1
        self._idle.clear()
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)

    def leave(self) -> None:
        self._count -= 1
        self._tasks.discard(asyncio.current_task())
        if self._count == 0:
            self._idle.set()
        if self._slots is not None:
            self._slots.release()

    async def cancel_remaining(self, timeout: float) -> None:
        """Cut short what the grace period did not see finish, before the storage closes
        under it: each is left unfinished and handled again at the next start."""
        for task in self._tasks:
            task.cancel()
        await self.drained(timeout)

    @property
    def count(self) -> int:
        return self._count

    async def drained(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class IntakeMiddleware(BaseMiddleware):
    def __init__(self, intake: IntakeService, in_flight: InFlight) -> None:
        self._intake = intake
        self._in_flight = in_flight

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        await self._in_flight.enter()
        try:
            reception = await self._intake.receive(inbound_event(event))
            if not reception.should_handle:
                logger.info("update %s delivered again; already handled", event.update_id)
                return UNHANDLED
            data["customer"] = reception.customer
            cut_short = False
            try:
                return await handler(event, data)
            except asyncio.CancelledError:
                cut_short = True
                raise
            finally:
                # Also after a failed handler: a crash that repeats on every retry must not
                # come back forever. Only a dead process, or a stop that had to cut the
                # handler short, leaves the update unfinished (to be handled again).
                if not cut_short:
                    self._intake.finish(event.update_id)
        finally:
            self._in_flight.leave()
