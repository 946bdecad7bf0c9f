"""Notices about points: earned, refunded, adjusted, tier reached, referrals."""

from __future__ import annotations

from typing import Any

from aiogram import html
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal

from bot.telegram.notices import RenderContext, RenderedNotice, Renderer
from bot.telegram.notices.formatting import money, points


def _earned(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    language = context.language
    return RenderedNotice(
        _(
            "🎉 +{points} points for your purchase of {amount} (order {order}).\n"
            "Balance: {balance} points."
        ).format(
            points=points(payload["points"], language),
            amount=money(payload["amount_minor"], payload["currency"], language),
            order=html.quote(payload["order_id"]),
            balance=points(payload["balance"], language),
        )
    )


def _refunded(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    return RenderedNotice(
        _(
            "↩️ {points} points were taken back for the refund of order {order}.\n"
            "Balance: {balance} points."
        ).format(
            points=points(payload["points"], context.language),
            order=html.quote(payload["order_id"]),
            balance=points(payload["balance"], context.language),
        )
    )


def _adjusted(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    delta = payload["delta"]
    text = (
        _("➕ {points} points were added to your balance: {reason}\nBalance: {balance} points.")
        if delta > 0
        else _("➖ {points} points were deducted: {reason}\nBalance: {balance} points.")
    )
    return RenderedNotice(
        text.format(
            points=points(abs(delta), context.language),
            reason=html.quote(payload["reason"]),
            balance=points(payload["balance"], context.language),
        )
    )


def _tier_up(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    tier = context.rules.tier_by_id(payload["tier"])
    name = tier.title(context.language) if tier else payload["tier"]
    multiplier = format_decimal(tier.multiplier if tier else 1, locale=context.language)
    return RenderedNotice(
        _(
            "🏅 Congratulations, you reached {tier}! Purchases now earn ×{multiplier} points."
        ).format(tier=html.quote(name), multiplier=multiplier)
    )


def _referral_welcome(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    return RenderedNotice(
        _("🎁 +{points} points: a thank-you for joining through a friend's invitation.").format(
            points=points(payload["points"], context.language)
        )
    )


def _referral_converted(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    if payload["points"]:
        text = _("🤝 {friend} made their first purchase: +{points} points for inviting them!")
    else:
        text = _(
            "🤝 {friend} made their first purchase. You've reached this month's limit of "
            "referral rewards, so this one earns no points."
        )
    return RenderedNotice(
        text.format(
            friend=html.quote(payload["friend"]) or _("Your friend"),
            points=points(payload["points"], context.language),
        )
    )


def _referral_reversed(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    text = (
        _(
            "↩️ {points} points of your invitation bonus were taken back: the purchase it was "
            "for was refunded.\nBalance: {balance} points."
        )
        if payload["side"] == "referee"
        else _(
            "↩️ {points} points for inviting a friend were taken back: the friend's purchase "
            "was refunded.\nBalance: {balance} points."
        )
    )
    return RenderedNotice(
        text.format(
            points=points(payload["points"], context.language),
            balance=points(payload["balance"], context.language),
        )
    )


RENDERERS: dict[str, Renderer] = {
    "points_earned": _earned,
    "points_refunded": _refunded,
    "points_adjusted": _adjusted,
    "tier_up": _tier_up,
    "referral_welcome": _referral_welcome,
    "referral_converted": _referral_converted,
    "referral_reversed": _referral_reversed,
}
