"""The services reach a handler once it has been chosen, not on the way there."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject


class ServicesMiddleware(BaseMiddleware):
    """Adds every service under its own name to the keywords of the handler aiogram chose.

    aiogram copies an update's keywords at every router, observer, handler check and filter
    it passes (some 80 copies for a question to the FAQ). With the 23 services among them,
    each copy took twice as long; so the walk carries one `services` key (what filters use)
    and the services are spread here, an inner middleware, after the filters chose."""

    def __init__(self, keywords: Mapping[str, object]) -> None:
        self._keywords = dict(keywords)

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        data.update(self._keywords)
        return await handler(event, data)
