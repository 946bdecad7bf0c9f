"""A loop that runs beside the polling in the bot's process: the notice worker and the
broadcast worker. Each pass does what is due; in between it sleeps until woken by work
queued in this process, or until the next poll (for work queued by the CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

logger = logging.getLogger(__name__)


class PollingLoop:
    def __init__(self, name: str, poll_seconds: float) -> None:
        self._name = name
        self._poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self._name)

    def wake(self) -> None:
        """Work was queued in this process: do it now rather than at the next poll."""
        self._wakeup.set()

    async def stop(self) -> None:
        task = self._task
        if task is None:
            return
        # Cancelled until it is done: Python 3.11's wait_for swallows a cancellation that
        # arrives as the wait it guards completes (a wake-up or the poll's timeout at that
        # moment; CPython gh-86296), and one lost cancellation used to hang the shutdown.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def pass_once(self) -> bool:
        """Do what is due; True when there may be more to do at once."""
        raise NotImplementedError

    async def before_first_pass(self) -> None:
        """Recovery after a restart, before the loop begins."""

    async def _loop(self) -> None:
        await self.before_first_pass()
        while True:
            try:
                busy = await self.pass_once()
            except Exception:
                logger.exception("the %s failed; retrying", self._name)
                busy = False
            if busy:
                continue
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_seconds)
