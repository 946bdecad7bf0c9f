"""A handler's failure never stops the bot: it is logged and the customer gets an apology."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import I18n

from bot.config import Settings
from bot.services.languages import effective_language
from storage.models import Customer

logger = logging.getLogger(__name__)

router = Router(name=__name__)


@router.errors()
async def apologise(
    event: ErrorEvent, bot: Bot, i18n: I18n, settings: Settings, customer: Customer | None = None
) -> bool:
    update = event.update
    if isinstance(event.exception, TelegramForbiddenError):
        # The customer blocked the bot mid-conversation: expected, recorded by the outbound
        # log (they are now unreachable), and there is nobody to apologise to.
        logger.info("update %s: %s", update.update_id, event.exception)
        return True
    logger.error(
        "update %s failed: %s",
        update.update_id,
        event.exception,
        exc_info=(type(event.exception), event.exception, event.exception.__traceback__),
    )
    if customer is None or customer.telegram_id is None:
        return True
    language = effective_language(
        customer.language, customer.telegram_language, settings.telegram.default_language
    )
    text = i18n.gettext(
        "Sorry, something went wrong on our side. Please try again in a moment.", locale=language
    )
    try:
        # A message rather than a callback alert: the press may have been answered already.
        await bot.send_message(customer.telegram_id, text)
    except TelegramAPIError as error:
        logger.warning("could not apologise for update %s: %s", update.update_id, error)
    return True
