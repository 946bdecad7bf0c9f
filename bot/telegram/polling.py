"""Long polling that takes from Telegram no more updates than the process should hold."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

# Telegram's own ceiling for one getUpdates.
MOST_PER_POLL = 100


class PollingBacklog(BaseRequestMiddleware):
    """Holds getUpdates back while `limit` polled updates are still unfinished, and asks for
    no more than there is room for.

    aiogram's polling makes a task of every update it takes. Its own cap on those tasks
    (`tasks_concurrency_limit`) also counts the updates waiting for their customer's earlier
    ones, which take no work: with a cap of three, a customer who sent eight messages held the
    customers behind them back until six of the eight were answered. So the cap is split: the
    updates being handled are bounded where handling starts (`InFlight`), and the updates
    held, handled or waiting, here, before they are taken from Telegram."""

    def __init__(self, unfinished: Collection[asyncio.Task[Any]], limit: int):
        # aiogram's own set of polling tasks, which it keeps current in place.
        self._unfinished = unfinished
        self._limit = limit

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if isinstance(method, GetUpdates):
            while len(self._unfinished) >= self._limit:
                await asyncio.wait(set(self._unfinished), return_when=asyncio.FIRST_COMPLETED)
            method.limit = min(MOST_PER_POLL, self._limit - len(self._unfinished))
        return await make_request(bot, method)
