"""Per-user flood control: past the rate, updates are recorded but not handled, and the
customer is told once per window, politely."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import gettext as _
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class ThrottlingMiddleware(BaseMiddleware):
    def __init__(self, rate: str) -> None:
        storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(storage)
        self._limit: RateLimitItem = parse(rate)
        # One warning per window of the limit: "1 per <same period>".
        self._warning_limit: RateLimitItem = type(self._limit)(
            1, self._limit.multiples, self._limit.namespace
        )

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if data.get("is_admin") or not _from_private_chat(event):
            return await handler(event, data)
        user_id = data["event_from_user"].id
        if self._limiter.hit(self._limit, "updates", str(user_id)):
            return await handler(event, data)
        warn = self._limiter.hit(self._warning_limit, "warning", str(user_id))
        text = _("You're sending messages very fast. Please wait a few seconds and try again.")
        if isinstance(event, CallbackQuery):
            # Every press must be answered, or the button keeps spinning.
            await event.answer(text if warn else None)
        elif warn and isinstance(event, Message):
            await event.answer(text)
        return None


def _from_private_chat(event: TelegramObject) -> bool:
    if isinstance(event, Message):
        return event.chat.type == ChatType.PRIVATE
    if isinstance(event, CallbackQuery):
        return event.message is None or event.message.chat.type == ChatType.PRIVATE
    return False
