"""One pause shared by every sender: Telegram's 429 limits the bot, not a single call."""

from __future__ import annotations

import asyncio
import time


class FloodGate:
    def __init__(self) -> None:
        self._until = 0.0

    def hold(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` (a 429's retry_after) from now."""
        self._until = max(self._until, time.monotonic() + seconds)

    def closed(self) -> bool:
        return time.monotonic() < self._until

    async def wait(self) -> None:
        while (delay := self._until - time.monotonic()) > 0:
            await asyncio.sleep(delay)
