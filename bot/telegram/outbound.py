"""Every outgoing call that reaches a customer lands in their record: logged at the session,
so no handler can forget it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramForbiddenError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from bot.services.interactions import InteractionLog
from bot.telegram.summaries import delivered_chat, describe_call

if TYPE_CHECKING:
    from aiogram import Bot

logger = logging.getLogger(__name__)


class OutboundLogMiddleware(BaseRequestMiddleware):
    def __init__(self, log: InteractionLog) -> None:
        self._log = log

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        chat_id = delivered_chat(method)
        if chat_id is None:
            return await make_request(bot, method)
        kind, text, meta = describe_call(method)
        # Written before the call: if the process dies after Telegram delivered, the record
        # still shows the message (as 'pending' rather than missing).
        key = await self._log.begin_outbound(chat_id, kind, text, meta)
        try:
            # Despite the annotation, what comes back up the chain is the parsed result.
            result = await make_request(bot, method)
        except Exception as error:
            self._log.settle_outbound(
                key, message_id=None, error=f"{type(error).__name__}: {error}"[:500]
            )
            if isinstance(error, TelegramForbiddenError):
                self._log.mark_unreachable(chat_id)
            raise
        self._log.settle_outbound(key, message_id=_message_id(result), error=None)
        return result


def _message_id(result: Any) -> int | None:
    if isinstance(result, list):
        result = result[0] if result else None
    message_id = getattr(result, "message_id", None)
    return message_id if isinstance(message_id, int) else None
