"""Which language a customer is spoken to in."""

from __future__ import annotations

from bot.domain.languages import SUPPORTED_LANGUAGES


def effective_language(chosen: str | None, telegram_code: str | None, default: str) -> str:
    """The language the customer chose, else the one their Telegram app uses, else default.

    Telegram sends IETF tags such as "ru", "uk" or "pt-br"; only the primary subtag matters.
    """
    if chosen in SUPPORTED_LANGUAGES:
        return chosen
    if telegram_code:
        primary = telegram_code.split("-", 1)[0].lower()
        if primary in SUPPORTED_LANGUAGES:
            return primary
    return default
