"""Notices about redemption codes (used at the till, expired), and how a code is described
wherever it is shown: the customer's code message, the cashier's screen, these notices."""

from __future__ import annotations

from typing import Any

from aiogram import html
from aiogram.utils.i18n import gettext as _

from bot.services.loyalty.rules import LoyaltyRules
from bot.telegram.notices import RenderContext, RenderedNotice, Renderer
from bot.telegram.notices.formatting import money, points


def spaced_code(code: str) -> str:
    """'1234 5678': easier to read out and type than eight digits in a row."""
    return f"{code[:4]} {code[4:]}"


def code_purpose(reward_id: str | None, spent: int, rules: LoyaltyRules, language: str) -> str:
    """What a code is for: a catalogue reward, or points off a purchase (HTML-safe)."""
    reward = rules.reward(reward_id) if reward_id else None
    if reward is not None:
        return _("{reward} ({points} points)").format(
            reward=html.quote(reward.title(language)), points=points(spent, language)
        )
    if reward_id:  # a reward since removed from the rules
        return _("{reward} ({points} points)").format(
            reward=html.quote(reward_id), points=points(spent, language)
        )
    return _("{points} points off a purchase (worth {value})").format(
        points=points(spent, language),
        value=money(rules.points_value_minor(spent), rules.currency, language),
    )


def _confirmed(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    language = context.language
    return RenderedNotice(
        _("✅ Your code {code} was used: {what}.\nBalance: {balance} points.").format(
            code=spaced_code(payload["code"]),
            what=code_purpose(payload["reward_id"], payload["points"], context.rules, language),
            balance=points(payload["balance"], language),
        )
    )


def _expired(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    language = context.language
    # Notices queued before "expired" was recorded have none: nothing burnt then.
    expired = payload.get("expired", 0)
    text = (
        _(
            "⌛ Your code {code} expired unused: {points} of its points are back, and "
            "{expired} burnt, as their time ran out while the code held them.\n"
            "Balance: {balance} points. Get a new code any time: /rewards"
        )
        if expired
        else _(
            "⌛ Your code {code} expired unused, so its {points} points are back.\n"
            "Balance: {balance} points. Get a new code any time: /rewards"
        )
    )
    return RenderedNotice(
        text.format(
            code=spaced_code(payload["code"]),
            points=points(payload["points"], language),
            expired=points(expired, language),
            balance=points(payload["balance"], language),
        )
    )


RENDERERS: dict[str, Renderer] = {
    "redemption_confirmed": _confirmed,
    "redemption_expired": _expired,
}
