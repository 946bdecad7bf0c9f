from __future__ import annotations

from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware

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
