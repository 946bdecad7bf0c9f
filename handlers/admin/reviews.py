"""/reviews [stars]: the latest reviews, for admins."""

from __future__ import annotations

from aiogram import Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.services.reviews import ReviewService

router = Router(name=__name__)

SHOWN = 10


@router.message(Command("reviews"))
async def latest_reviews(message: Message, command: CommandObject, reviews: ReviewService) -> None:
    argument = (command.args or "").strip()
    stars = int(argument) if argument in {"1", "2", "3", "4", "5"} else None
    found = await reviews.latest(stars, SHOWN)
    if not found:
        await message.answer(_("No reviews yet."))
        return
    lines = [_("Latest reviews:")]
    for review, author in found:
        comment = f" — {html.quote(review.text[:300])}" if review.text else ""
        photo = " 📷" if review.photo else ""
        lines.append(
            f"{'⭐' * review.stars} {html.quote(author or '—')}, "
            f"{review.created_at:%Y-%m-%d}{photo}{comment}"
        )
    await message.answer("\n".join(lines))
