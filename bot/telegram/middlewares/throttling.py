"""Per-user flood control: past the rate, updates are recorded but not handled, and the
customer is told once per window, politely."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import gettext as _
from aiolimiter import AsyncLimiter

from bot.domain.rates import Rate


class ThrottlingMiddleware(BaseMiddleware):
    """A leaky bucket per user (aiolimiter). Chosen over the `limits` library, whose
    in-memory storage starts a thread every 10 ms to sweep all keys: measurable CPU and
    GIL contention on a bot with thousands of customers."""

    # Past this many tracked users, buckets that have drained completely are dropped.
    _PRUNE_ABOVE = 10_000

    def __init__(self, rate: Rate) -> None:
        self._rate = rate
        self._buckets: dict[int, AsyncLimiter] = {}
        self._warned_at: dict[int, float] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if data.get("is_admin") or not _from_private_chat(event):
            return await handler(event, data)
        user_id = data["event_from_user"].id
        bucket = self._bucket(user_id)
        if bucket.has_capacity():
            await bucket.acquire()  # immediate: there is capacity
            return await handler(event, data)
        now = time.monotonic()
        warn = now - self._warned_at.get(user_id, -self._rate.seconds) >= self._rate.seconds
        if warn:
            self._warned_at[user_id] = now
        text = _("You're sending messages very fast. Please wait a few seconds and try again.")
        if isinstance(event, CallbackQuery):
            # Every press must be answered, or the button keeps spinning.
            await event.answer(text if warn else None)
        elif warn and isinstance(event, Message):
            await event.answer(text)
        return None

    def _bucket(self, user_id: int) -> AsyncLimiter:
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) > self._PRUNE_ABOVE:
                self._prune()
            bucket = AsyncLimiter(self._rate.count, self._rate.seconds)
            self._buckets[user_id] = bucket
        return bucket

    def _prune(self) -> None:
        drained = [
            user_id
            for user_id, bucket in self._buckets.items()
            if bucket.has_capacity(bucket.max_rate)
        ]
        for user_id in drained:
            del self._buckets[user_id]
            self._warned_at.pop(user_id, None)


def _from_private_chat(event: TelegramObject) -> bool:
    if isinstance(event, Message):
        return event.chat.type == ChatType.PRIVATE
    if isinstance(event, CallbackQuery):
        return event.message is None or event.message.chat.type == ChatType.PRIVATE
    return False
