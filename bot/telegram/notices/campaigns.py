"""Texts of the automated campaigns (bot/services/campaigns.py), rendered by the broadcast
worker in each recipient's language from the payload the campaign queued. The worker adds
the Unsubscribe button every promotion carries."""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config.errors import SettingsError
from bot.domain.languages import SUPPORTED_LANGUAGES
from bot.services.loyalty.rules import LoyaltyRules
from bot.services.telegram_html import problem
from bot.telegram.callbacks import ShowRewards
from bot.telegram.notices import RenderContext, RenderedNotice, Renderer
from bot.telegram.notices.expiry import RENDERERS as EXPIRY_NOTICES
from bot.telegram.notices.formatting import points


def _rewards() -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(text=_("🎁 See rewards"), callback_data=ShowRewards().pack())
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def _birthday(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    if payload.get("points"):
        # The birthday bonus's own notice, which the greeting replaces for this customer.
        return EXPIRY_NOTICES["birthday_bonus"](payload, context)
    return RenderedNotice(_("🎂 Happy birthday! All the best from all of us."))


def _reactivation(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    return RenderedNotice(
        _(
            "👋 We haven't seen you for a while and we miss you!\n"
            "You have {balance} points waiting for you."
        ).format(balance=points(payload.get("balance", 0), context.language)),
        _rewards(),
    )


def _welcome(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    return RenderedNotice(
        _(
            "👋 Glad you joined us! Collect points with every purchase and swap "
            "them for rewards. Questions? Just write them here."
        ),
        _rewards(),
    )


RENDERERS: dict[str, Renderer] = {
    "birthday": _birthday,
    "reactivation": _reactivation,
    # The same reminder as the account notice, so the customer reads one familiar text.
    "expiry": EXPIRY_NOTICES["points_expiring"],
    "welcome": _welcome,
}


# Payloads that take each renderer down each of its branches (a birthday with and without
# its bonus), so every text a campaign can send is checked.
_SAMPLE_PAYLOADS: tuple[dict[str, Any], ...] = (
    {"points": 0, "balance": 120, "days": 60, "date": "2026-12-31"},
    {"points": 100, "balance": 120, "days": 60, "date": "2026-12-31"},
)


def check_campaign_texts(i18n: I18n, rules: LoyaltyRules) -> None:
    """Render every campaign in every language at start-up: a translation Telegram would
    refuse (the catalogues are edited by people) stops the bot naming the campaign and
    language, instead of every recipient's delivery failing."""
    for campaign, render in RENDERERS.items():
        for language in SUPPORTED_LANGUAGES:
            with i18n.context(), i18n.use_locale(language):
                for payload in _SAMPLE_PAYLOADS:
                    text = render(payload, RenderContext(language, rules)).text
                    wrong = problem(text)
                    if wrong is not None:
                        raise SettingsError(
                            f"campaign {campaign!r} ({language}): its text is not valid "
                            f"Telegram HTML: {wrong}; fix it in "
                            f"locales/{language}/LC_MESSAGES/messages.po"
                        )
