"""/reviews [stars]: the latest reviews, for admins."""

from __future__ import annotations

from aiogram import Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.services.access import Actor
from bot.services.broadcasts.segments import SegmentError
from bot.services.reviews import NpsService, ReviewService

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


@router.message(Command("nps"))
async def nps(message: Message, command: CommandObject, nps: NpsService) -> None:
    assert message.from_user is not None
    verb, _space, segment = (command.args or "").strip().partition(" ")
    if verb.lower() != "send":
        score, answers = await nps.recent_score()
        await message.answer(
            _(
                "NPS over the last 90 days: {score} ({answers} answers).\n"
                "Send /nps send to ask every customer who accepts surveys, or "
                "/nps send SEGMENT (as in broadcasts, e.g. tier=gold and inactive>=30d) "
                "to ask some of them."
            ).format(score="—" if score is None else score, answers=answers)
        )
        return
    try:
        survey_id, recipients = await nps.send_survey(
            Actor.telegram(message.from_user.id), segment.strip() or "all"
        )
    except SegmentError as error:
        await message.answer(
            _("That segment does not read: {error}").format(error=html.quote(str(error)))
        )
        return
    await message.answer(
        _("NPS survey #{survey} is on its way to {count} customers.").format(
            survey=survey_id, count=recipients
        )
    )
