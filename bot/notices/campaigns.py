"""Texts of the automated campaigns (bot/services/campaigns.py), rendered by the broadcast
worker in each recipient's language from the payload the campaign queued. The worker adds
the Unsubscribe button every promotion carries."""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.notices import RenderContext, RenderedNotice, Renderer
from bot.notices.expiry import RENDERERS as EXPIRY_NOTICES
from bot.notices.formatting import points
from handlers.callbacks import ShowRewards


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
