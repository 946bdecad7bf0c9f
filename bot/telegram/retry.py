"""Riding out Telegram's flood limits and hiccups, so a reply is late rather than lost."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

    from bot.telegram.broadcasts.flood import FloodGate

logger = logging.getLogger(__name__)


class RetryMiddleware(BaseRequestMiddleware):
    """Retries a call after 429 (Telegram guarantees it was not carried out) and, a couple of
    times with backoff, after 5xx or a network error. A 5xx retry can in rare cases deliver a
    message twice; one lost reply is the worse failure for a support bot."""

    def __init__(
        self,
        *,
        max_flood_waits: int = 3,
        max_flood_wait: float = 60.0,
        max_failures: int = 2,
        flood_gate: FloodGate | None = None,
    ) -> None:
        # A 429 on any call pauses the broadcast worker too (it shares the gate).
        self._flood_gate = flood_gate
        self._max_flood_waits = max_flood_waits
        self._max_flood_wait = max_flood_wait
        self._max_failures = max_failures

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if method.__api_method__ == GetUpdates.__api_method__:  # polling has its own backoff
            return await make_request(bot, method)
        flood_waits = failures = 0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                flood_waits += 1
                if self._flood_gate is not None:
                    self._flood_gate.hold(error.retry_after)
                if flood_waits > self._max_flood_waits or error.retry_after > self._max_flood_wait:
                    raise
                logger.warning(
                    "%s: flood limit, retrying in %s s", method.__api_method__, error.retry_after
                )
                await asyncio.sleep(error.retry_after)
            except (TelegramServerError, TelegramNetworkError) as error:
                failures += 1
                if failures > self._max_failures:
                    raise
                delay = 0.5 * 2 ** (failures - 1)
                logger.warning(
                    "%s failed (%s); retrying in %.1f s", method.__api_method__, error, delay
                )
                await asyncio.sleep(delay)
