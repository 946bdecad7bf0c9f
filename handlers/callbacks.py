"""Typed callback data for every button; each packs well under Telegram's 64 bytes."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


class ShowRewards(CallbackData, prefix="rewards"):
    """Opens the rewards catalogue (from /points, expiry reminders, ...)."""
