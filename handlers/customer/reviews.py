"""/review: stars as buttons, then an optional comment or photo; and the ratings asked for
after a purchase. /reviews for admins lives in handlers/admin/reviews.py."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router, html
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services.customers import CustomerService
from bot.services.reviews import NpsService, Rated, Refusal, ReviewService
from bot.services.support import SupportService
from bot.telegram.callbacks import NpsScore, ReviewPublish, ReviewSkip, ReviewStars
from bot.telegram.filters import Check, MenuButton
from bot.telegram.menu import REVIEW
from bot.telegram.notices.reviews import stars_keyboard
from bot.telegram.support_desk import SupportDesk
from bot.telegram.text import cut, shown_name
from storage.models import Customer
from storage.repositories.reviews import Review

logger = logging.getLogger(__name__)
router = Router(name=__name__)

# How much of a 5-star review the admins see when asked whether to publish it.
REVIEW_SHOWN = 1000


# Of a comment quoted in the recovery topic: the whole note stays within Telegram's 4096.
RECOVERY_COMMENT_LIMIT = 3000


class ReviewComment(StatesGroup):
    waiting = State()


class NpsReason(StatesGroup):
    waiting = State()


def survey_closed_text() -> str:
    """The answer to any rating button that records nothing: a survey the presser was never
    sent, someone else's, or one answered already (NPS, purchase stars, support rating)."""
    return _("This survey is closed.")


def _refusal_text(refusal: Refusal) -> str:
    if refusal is Refusal.RECENTLY_REVIEWED:
        return _(
            "Thank you, you've left a review recently. You can rate again after your next purchase."
        )
    return survey_closed_text()


def _skip_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("Skip"), callback_data=ReviewSkip().pack())]]
    )


@router.message(Command("review"))
@router.message(MenuButton(REVIEW.label))
async def start_review(message: Message, customer: Customer, reviews: ReviewService) -> None:
    refusal = await reviews.can_review(customer)
    if refusal is not None:
        await message.answer(_refusal_text(refusal))
        return
    await message.answer(_("How would you rate us? Tap the stars:"), reply_markup=stars_keyboard(0))


@router.callback_query(ReviewStars.filter())
async def rate(
    query: CallbackQuery,
    callback_data: ReviewStars,
    customer: Customer,
    reviews: ReviewService,
    state: FSMContext,
    settings: Settings,
    customers: CustomerService,
    callback_answer: CallbackAnswer,
    bot: Bot,
    desk: SupportDesk,
) -> None:
    if not 1 <= callback_data.stars <= 5:
        callback_answer.text = survey_closed_text()
        return
    outcome = await reviews.rate(customer, callback_data.stars, callback_data.purchase or None)
    message = query.message
    if isinstance(outcome, Refusal):
        callback_answer.text = _refusal_text(outcome)
        return
    lines = [_("Thank you for your rating: {stars}").format(stars="⭐" * outcome.review.stars)]
    recovery: int | None = None
    if outcome.bonus:
        lines.append(_("+{points} points for your review.").format(points=outcome.bonus))
    if outcome.needs_recovery:
        lines.append(_("We're sorry it wasn't better. Our team will look into it."))
        await _alert_admins(bot, settings, customers, customer, outcome)
        # With human support online, an agent gets a ticket to call back on as well.
        stars = "⭐" * outcome.review.stars
        ticket = await desk.recovery_ticket(
            customer,
            "review",
            lambda: _("⚠️ Low rating: {stars}. Please get in touch with the customer.").format(
                stars=stars
            ),
        )
        if ticket is not None:
            lines.append(
                _("A person from our team will write to you here (ticket #{ticket}).").format(
                    ticket=ticket.id
                )
            )
            recovery = ticket.id
    lines.append(_("Would you like to add a comment or a photo? Send it now, or tap Skip."))
    await state.set_state(ReviewComment.waiting)
    # The comment that follows goes to the recovery ticket too: the agent calls back knowing
    # what went wrong.
    await state.set_data({"review_id": outcome.review.id, "recovery": recovery})
    if isinstance(message, Message):
        await message.edit_text("\n".join(lines), reply_markup=_skip_keyboard())
    else:
        await bot.send_message(query.from_user.id, "\n".join(lines), reply_markup=_skip_keyboard())


async def _alert_admins(
    bot: Bot, settings: Settings, customers: CustomerService, customer: Customer, rated: Rated
) -> None:
    """Service recovery: a low rating reaches the admins at once, so someone calls back.
    (With human support, it opens a ticket instead.)"""
    await _tell_admins(bot, settings, customers, customer, "⭐" * rated.review.stars)


async def _tell_admins(
    bot: Bot, settings: Settings, customers: CustomerService, customer: Customer, score: str
) -> None:
    """Each admin reads the alert in their own language, not the customer's (whose update
    this is, so whose language `_` speaks by default)."""
    username = f" @{customer.username}" if customer.username else ""
    admin_ids = frozenset(settings.telegram.admin_ids)
    languages = await customers.languages_of(admin_ids, settings.telegram.default_language)
    i18n = get_i18n()
    for admin_id in sorted(admin_ids):
        with i18n.use_locale(languages[admin_id]):
            text = _("⚠️ {stars} from {name}{username} (id {id}). /customer {id}").format(
                stars=score,
                name=html.quote(shown_name(customer.full_name)),
                username=html.quote(username),
                id=customer.telegram_id,
            )
        try:
            await bot.send_message(admin_id, text)
        except TelegramAPIError as error:
            logger.warning("could not alert admin %s of a low rating: %s", admin_id, error)


@router.callback_query(ReviewSkip.filter())
async def skip(query: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    if isinstance(query.message, Message) and query.message.reply_markup is not None:
        await query.message.edit_reply_markup(reply_markup=None)


@router.message(
    StateFilter(ReviewComment.waiting), Check(F.photo | (F.text & ~F.text.startswith("/")))
)
async def comment(
    message: Message,
    customer: Customer,
    reviews: ReviewService,
    state: FSMContext,
    settings: Settings,
    customers: CustomerService,
    bot: Bot,
    support: SupportService,
    desk: SupportDesk,
) -> None:
    data = await state.get_data()
    review_id, recovery = data.get("review_id"), data.get("recovery")
    await state.clear()
    text = message.text or message.caption
    photo = message.photo[-1].file_id if message.photo else None
    review = (
        await reviews.comment(customer, review_id, text, photo)
        if isinstance(review_id, int)
        else None
    )
    if review is None:
        await message.answer(_("That rating is closed now; thank you all the same!"))
        return
    await message.answer(_("Thank you, we've added it to your review. 🙏"))
    if isinstance(recovery, int):
        await _add_to_recovery(customer, review, recovery, message, support, desk)
    if settings.surveys.reviews_channel_id is not None and reviews.publishable(review):
        await _offer_publication(bot, settings, customers, customer, review)


async def _add_to_recovery(
    customer: Customer,
    review: Review,
    recovery: int,
    message: Message,
    support: SupportService,
    desk: SupportDesk,
) -> None:
    """The low rating's comment or photo joins its recovery ticket's topic."""
    ticket = await support.ticket(recovery)
    if ticket is None or not desk.online:
        return
    stars = "⭐" * review.stars
    comment = message.text or message.caption
    with desk.desk_language():
        note = (
            _("💬 The customer's comment on their {stars} review: {comment}").format(
                stars=stars, comment=html.quote(comment[:RECOVERY_COMMENT_LIMIT])
            )
            if comment
            else _("📷 The customer added a photo to their {stars} review:").format(stars=stars)
        )
    try:
        await desk.add_to_recovery(customer, ticket, note, message)
    except TelegramAPIError as error:
        logger.warning("could not add a review comment to ticket %s: %s", ticket.id, error)


async def _offer_publication(
    bot: Bot, settings: Settings, customers: CustomerService, customer: Customer, review: Review
) -> None:
    """A 5-star review with text: the admins decide whether it goes to the channel (each
    asked in their own language)."""
    assert review.text is not None
    admin_ids = frozenset(settings.telegram.admin_ids)
    languages = await customers.languages_of(admin_ids, settings.telegram.default_language)
    i18n = get_i18n()
    for admin_id in sorted(admin_ids):
        with i18n.use_locale(languages[admin_id]):
            text = _(
                "📣 A 5-star review from {name}:\n“{text}”\nPublish it in the reviews channel?"
            ).format(
                name=html.quote(shown_name(customer.full_name)),
                text=html.quote(cut(review.text, REVIEW_SHOWN)),
            )
            markup = InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=_("📣 Publish"),
                            callback_data=ReviewPublish(review=review.id).pack(),
                        )
                    ]
                ]
            )
        try:
            await bot.send_message(admin_id, text, reply_markup=markup)
        except TelegramAPIError as error:
            logger.warning("could not offer review %s to admin %s: %s", review.id, admin_id, error)


@router.message(StateFilter(ReviewComment.waiting), Check(~F.text.startswith("/")))
async def comment_of_another_kind(message: Message) -> None:
    await message.answer(_("Please send text or a photo, or tap Skip."))


@router.callback_query(NpsScore.filter())
async def nps_score(
    query: CallbackQuery,
    callback_data: NpsScore,
    customer: Customer,
    nps: NpsService,
    state: FSMContext,
    settings: Settings,
    customers: CustomerService,
    callback_answer: CallbackAnswer,
    bot: Bot,
    desk: SupportDesk,
) -> None:
    if not await nps.answer(customer, callback_data.survey, callback_data.score):
        callback_answer.text = survey_closed_text()
        return
    score, survey = callback_data.score, callback_data.survey
    recovery = None
    if score <= NpsService.DETRACTOR:
        await _tell_admins(bot, settings, customers, customer, f"NPS {score}/10")
        # The same path as a low review: a ticket in the customer's topic for a call back.
        recovery = await desk.recovery_ticket(
            customer,
            "nps",
            lambda: _(
                "⚠️ NPS {score}/10 (survey #{survey}). Please get in touch with the customer."
            ).format(score=score, survey=survey),
        )
    await state.set_state(NpsReason.waiting)
    await state.set_data(
        {"survey": survey, "recovery": recovery.id if recovery is not None else None}
    )
    text = _("Thank you! You gave us {score} of 10. Why? A few words help us a lot.").format(
        score=score
    )
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=_skip_keyboard())


@router.message(StateFilter(NpsReason.waiting), Check(F.text & ~F.text.startswith("/")))
async def nps_reason(
    message: Message,
    customer: Customer,
    nps: NpsService,
    state: FSMContext,
    support: SupportService,
    desk: SupportDesk,
) -> None:
    assert message.text is not None
    data = await state.get_data()
    await state.clear()
    survey, recovery = data.get("survey"), data.get("recovery")
    reason = message.text[:2000]
    if not (isinstance(survey, int) and await nps.explain(customer, survey, reason)):
        return
    await message.answer(_("Thank you, that's very helpful. 🙏"))
    # A detractor's reason joins the recovery ticket in their topic.
    ticket = await support.ticket(recovery) if isinstance(recovery, int) else None
    if ticket is not None and desk.online:
        with desk.desk_language():
            text = _("💬 The customer's reason for NPS (survey #{survey}): {reason}").format(
                survey=survey, reason=html.quote(reason)
            )
        try:
            await desk.post(customer, ticket, text)
        except TelegramAPIError as error:
            logger.warning("could not post an NPS reason to the topic: %s", error)
