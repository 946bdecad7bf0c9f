"""The rating request sent a while after a purchase: five star buttons."""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.telegram.callbacks import NpsScore, ReviewStars
from bot.telegram.notices import RenderContext, RenderedNotice, Renderer
from bot.telegram.notices.formatting import money


def stars_keyboard(purchase_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text="⭐" * stars if stars < 4 else f"{stars}⭐",
                    callback_data=ReviewStars(stars=stars, purchase=purchase_id).pack(),
                )
                for stars in range(1, 6)
            ]
        ]
    )


def _rating_request(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    return RenderedNotice(
        _("How was your purchase of {amount}? Tap to rate it — it takes a second:").format(
            amount=money(payload["amount_minor"], payload["currency"], context.language)
        ),
        stars_keyboard(int(payload["purchase_id"])),
    )


def _nps_request(payload: dict[str, Any], context: RenderContext) -> RenderedNotice:
    survey = int(payload["survey_id"])
    scores = [
        InlineKeyboardButton(
            text=str(score), callback_data=NpsScore(survey=survey, score=score).pack()
        )
        for score in range(11)
    ]
    return RenderedNotice(
        _("How likely are you to recommend us to a friend? 0 — not at all, 10 — definitely:"),
        InlineKeyboardMarkup(inline_keyboard=[scores[:6], scores[6:]]),
    )


RENDERERS: dict[str, Renderer] = {
    "rating_request": _rating_request,
    "nps_request": _nps_request,
}
