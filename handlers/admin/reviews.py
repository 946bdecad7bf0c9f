"""/reviews [stars]: the latest reviews, for admins; /nps; and the approval of 5-star
reviews for the reviews channel."""

from __future__ import annotations

from aiogram import Bot, Router, html
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services.access import Actor
from bot.services.broadcasts.segments import SegmentError
from bot.services.reviews import NpsService, ReviewService
from bot.telegram.callbacks import ReviewPublish
from bot.telegram.filters import IsAdmin
from bot.telegram.text import cut, fit_lines, shown_name

router = Router(name=__name__)
# The admin parent filters messages only; the Publish button is checked here.
router.callback_query.filter(IsAdmin())

SHOWN = 10
COMMENT_SHOWN = 300
# A published review goes out as a photo's caption too, within its 1024 units.
POST_SHOWN = 900


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
        comment = f" — {html.quote(cut(review.text, COMMENT_SHOWN))}" if review.text else ""
        photo = " 📷" if review.photo else ""
        lines.append(
            f"{'⭐' * review.stars} {html.quote(shown_name(author))}, "
            f"{review.created_at:%Y-%m-%d}{photo}{comment}"
        )
    await message.answer(fit_lines(lines))


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
            _("That segment does not read: {error}").format(error=html.quote(error.explain(_)))
        )
        return
    await message.answer(
        _("NPS survey #{survey} is on its way to {count} customers.").format(
            survey=survey_id, count=recipients
        )
    )


@router.callback_query(ReviewPublish.filter())
async def publish(
    query: CallbackQuery,
    callback_data: ReviewPublish,
    reviews: ReviewService,
    settings: Settings,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    channel = settings.surveys.reviews_channel_id
    if channel is None:
        callback_answer.text = _("This button is no longer active.")
        return
    claimed = await reviews.claim_publication(
        Actor.telegram(query.from_user.id), callback_data.review
    )
    if claimed is None:
        callback_answer.text = _("Already published (or not a 5-star review with text).")
        return
    review, author = claimed
    assert review.text is not None
    post = f"{'⭐' * review.stars}\n“{html.quote(cut(review.text, POST_SHOWN))}”" + (
        f"\n— {html.quote(author)}" if author else ""
    )
    try:
        if review.photo:
            sent = await bot.send_photo(channel, review.photo, caption=post)
        else:
            sent = await bot.send_message(channel, post)
    except TelegramAPIError as error:
        await reviews.publication_failed(review.id)
        callback_answer.text = _("The channel refused the post: {error}").format(
            error=error.message
        )
        return
    await reviews.published(review.id, sent.message_id)
    callback_answer.text = _("Published ✅")
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
