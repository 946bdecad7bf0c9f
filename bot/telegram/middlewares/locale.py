from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware

from bot.config import Settings
from bot.services.languages import effective_language
from storage.models import Customer


class CustomerLocaleMiddleware(I18nMiddleware):
    """Speaks to each customer in the language stored in their record (or their app's)."""

    def __init__(self, i18n: I18n, default_language: str) -> None:
        super().__init__(i18n)
        self._default = default_language

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        customer: Customer | None = data.get("customer")
        if customer is not None:
            return effective_language(customer.language, customer.telegram_language, self._default)
        user: User | None = data.get("event_from_user")
        return effective_language(None, user.language_code if user else None, self._default)


class SharedChatLocaleMiddleware(BaseMiddleware):
    """What the bot writes in the agents' shared chat is in DEFAULT_LANGUAGE: several agents
    read each topic, so no one agent's app language is the right one. (Answers to a button
    press, which only the presser sees, stay in their own language.) An inner middleware of
    the agents' router: it runs after the outer I18nMiddleware picked the sender's."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        i18n: I18n | None = data.get("i18n")
        settings: Settings | None = data.get("settings")
        if i18n is None or settings is None:
            return await handler(event, data)
        with i18n.use_locale(settings.telegram.default_language):
            return await handler(event, data)
