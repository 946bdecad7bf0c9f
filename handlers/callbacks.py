"""Typed callback data for every button; each packs well under Telegram's 64 bytes."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


class ShowRewards(CallbackData, prefix="rewards"):
    """Opens the rewards catalogue (from /points, expiry reminders, ...)."""


class ShowCard(CallbackData, prefix="mycard"):
    """Sends the presser's own loyalty card; whose card is never part of the data."""


class ShowInvite(CallbackData, prefix="invite"):
    """Sends the presser's own invitation link and referral figures."""
