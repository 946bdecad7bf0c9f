"""Notices from the loyalty programme's daily jobs: points burnt, points about to burn, the
birthday bonus."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.telegram.callbacks import ShowRewards
from bot.telegram.notices import RenderContext, RenderedNotice, Renderer
from bot.telegram.notices.formatting import day, points


def _expired(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    return RenderedNotice(
        _("😔 {points} points expired today.\nBalance: {balance} points.").format(
            points=points(payload["points"], context.language),
            balance=points(payload["balance"], context.language),
        )
    )


def _expiring(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    # The payload holds the local date the points burn on (the business's calendar).
    burns_on = datetime.combine(date.fromisoformat(payload["date"]), time())
    rewards = InlineKeyboardButton(text=_("🎁 See rewards"), callback_data=ShowRewards().pack())
    return RenderedNotice(
        _("⏳ {points} points burn on {date}. Spend them on a reward before then!").format(
            points=points(payload["points"], context.language),
            date=day(burns_on, context.language),
        ),
        InlineKeyboardMarkup(inline_keyboard=[[rewards]]),
    )


def _birthday(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    return RenderedNotice(
        _(
            "🎂 Happy birthday! Here are {points} bonus points from us.\nBalance: {balance} points."
        ).format(
            points=points(payload["points"], context.language),
            balance=points(payload["balance"], context.language),
        )
    )


RENDERERS: dict[str, Renderer] = {
    "points_expired": _expired,
    "points_expiring": _expiring,
    "birthday_bonus": _birthday,
}
