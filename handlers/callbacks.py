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


class FaqNav(CallbackData, prefix="faq"):
    """A step in the /faq browser. `v` is the FAQ's version: after an import, old buttons
    are recognised as stale instead of opening whatever now sits at that position."""

    v: int
    cat: int = -1  # category index; -1: the list of categories
    entry: int = -1  # entry position; -1: the category's list of questions
    page: int = 0


class FaqPick(CallbackData, prefix="faqp"):
    """The customer picks one of the entries offered for their question `q`."""

    q: int
    entry: int
    v: int


class FaqFeedback(CallbackData, prefix="faqf"):
    q: int
    helpful: int  # 1 Helped, 0 Didn't help
