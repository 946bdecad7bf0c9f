"""The customer's side of support: /support, the menu entry and the FAQ's "talk to a person"
button open a ticket; while one is open (or was closed moments ago) everything the customer
writes goes to the agents' topic instead of the FAQ; a closed ticket is rated in the chat."""

from __future__ import annotations

import logging

from aiogram import F, Router, html
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.container import Services
from bot.services.support import SupportService, needs_recovery
from bot.telegram.callbacks import RateTicket, SkipComment, TalkToHuman
from bot.telegram.filters import PRIVATE_CHAT, Check, MenuButton
from bot.telegram.menu import SUPPORT
from bot.telegram.support_desk import SupportDesk
from bot.telegram.text import cut
from handlers.customer.reviews import survey_closed_text
from storage.clock import utcnow
from storage.models import Customer
from storage.repositories.support import Ticket

logger = logging.getLogger(__name__)

router = Router(name=__name__)

COMMENT_LIMIT = 1000


class RatingComment(StatesGroup):
    text = State()


class InConversation(Filter):
    """The customer is talking to a person: an open ticket, or one closed moments ago (a
    message then opens it again). Commands keep their meaning."""

    async def __call__(
        self,
        message: Message,
        services: Services,
        customer: Customer | None = None,
    ) -> bool:
        if customer is None or not services.desk.online:
            return False
        if message.text is not None and message.text.startswith("/"):
            return False
        return await services.support.in_conversation(customer.id)


def _not_delivered_text() -> str:
    return _(
        "Sorry, your message could not reach our support team just now. Please try again "
        "in a little while."
    )


def _offline_text() -> str:
    return _(
        "Sorry, support is offline right now. Please try again later, or browse the FAQ with /faq."
    )


def expected_wait(settings: Settings) -> str:
    """When a person will answer: out of hours, when agents are back; else the usual wait."""
    hours = settings.business_hours
    now = utcnow()
    if hours is not None and not hours.is_open(now):
        back = hours.next_opening(now)
        if back is not None:
            return _(
                "Our team is away now and back on {when} ({zone}). Your messages are kept "
                "and will be answered then."
            ).format(when=f"{back:%d.%m %H:%M}", zone=settings.jobs.timezone)
    minutes = settings.support.first_response_minutes
    if minutes > 0:
        return _("A person usually answers within {minutes} minutes.").format(
            minutes=f"{minutes:g}"
        )
    return ""


async def _open(
    message: Message,
    customer: Customer,
    support: SupportService,
    desk: SupportDesk,
    settings: Settings,
    source: str,
) -> None:
    if not desk.online:
        await message.answer(_offline_text())
        return
    # Asking again soon after a close (SUPPORT_REOPEN_MINUTES) reopens that ticket, as
    # writing does: the agents keep the conversation's topic and history.
    opened = await support.resume(customer.id, source)
    if opened.reopened:
        await desk.ticket_reopened(customer, opened.ticket)
        await message.answer(
            _("🔄 Your ticket #{ticket} is open again: a person will answer in this chat.").format(
                ticket=opened.ticket.id
            )
        )
    elif opened.created:
        try:
            await desk.ticket_opened(customer, opened.ticket)
        except TelegramAPIError as error:
            logger.error("support chat refused ticket %s: %s", opened.ticket.id, error)
        text = _(
            "🙋 Ticket #{ticket} is open. Write your question here (text, photos, files "
            "and voice messages are all fine): a person will answer in this chat."
        ).format(ticket=opened.ticket.id)
        wait = expected_wait(settings)
        await message.answer(f"{text}\n\n{wait}" if wait else text)
    else:
        await message.answer(
            _("Your ticket #{ticket} is open: just write here and a person will answer.").format(
                ticket=opened.ticket.id
            )
        )


@router.message(Command("support"))
@router.message(MenuButton(SUPPORT.label))
async def support_command(
    message: Message,
    customer: Customer,
    support: SupportService,
    desk: SupportDesk,
    settings: Settings,
) -> None:
    await _open(message, customer, support, desk, settings, "command")


@router.callback_query(TalkToHuman.filter())
async def talk_to_human(
    query: CallbackQuery,
    customer: Customer,
    support: SupportService,
    desk: SupportDesk,
    settings: Settings,
) -> None:
    if isinstance(query.message, Message):
        await _open(query.message, customer, support, desk, settings, "faq")


@router.callback_query(RateTicket.filter())
async def rate(
    query: CallbackQuery,
    callback_data: RateTicket,
    customer: Customer,
    support: SupportService,
    desk: SupportDesk,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    # Re-checked in the service: this customer's ticket, closed (the rating request goes out
    # with the close: an open ticket was never asked about), not rated yet, 1..5.
    ticket = await support.rate(callback_data.ticket, customer.id, callback_data.stars)
    if ticket is None:
        callback_answer.text = survey_closed_text()
        return
    callback_answer.text = _("Thank you!")
    if desk.online:
        with desk.desk_language():
            text = _("⭐ The customer rated ticket #{ticket}: {stars}/5").format(
                ticket=ticket.id, stars=ticket.rating
            )
        await desk.post(customer, ticket, text)
    thanks = _(
        "Thank you for rating {stars} ⭐! If you like, write a comment in one message, "
        "or press Skip."
    ).format(stars=ticket.rating)
    if needs_recovery(ticket.rating):
        recovery = await _recovery_ticket(customer, ticket, desk)
        if recovery is not None:
            thanks = (
                _(
                    "We're sorry we let you down. A person from our team will write to you "
                    "here (ticket #{ticket})."
                ).format(ticket=recovery.id)
                + "\n\n"
                + _("What went wrong? Write it in one message, or press Skip.")
            )
    message = query.message
    if isinstance(message, Message):
        await message.edit_reply_markup(reply_markup=None)
        await message.answer(
            thanks,
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=_("Skip"),
                            callback_data=SkipComment(ticket=ticket.id).pack(),
                        )
                    ]
                ]
            ),
        )
    await state.set_state(RatingComment.text)
    await state.update_data(ticket=ticket.id)


async def _recovery_ticket(customer: Customer, rated: Ticket, desk: SupportDesk) -> Ticket | None:
    """Service recovery: a low support rating opens a ticket in the customer's topic with the
    rating (the comment, if one follows, is posted there too), so an agent calls back."""
    agent = rated.assignee_name or "—"
    stars = rated.rating

    def headline() -> str:
        return _(
            "⚠️ Low support rating: {stars}/5 for ticket #{ticket} (agent: {agent}). "
            "Please call the customer back."
        ).format(stars=stars, ticket=rated.id, agent=html.quote(agent))

    return await desk.recovery_ticket(customer, "support_rating", headline)


@router.callback_query(SkipComment.filter())
async def skip_comment(query: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)


@router.message(StateFilter(RatingComment.text), Check(F.text & ~F.text.startswith("/")))
async def comment(
    message: Message,
    customer: Customer,
    support: SupportService,
    desk: SupportDesk,
    state: FSMContext,
) -> None:
    assert message.text is not None
    data = await state.get_data()
    await state.clear()
    ticket_id = data.get("ticket")
    if not isinstance(ticket_id, int) or not await support.comment(
        ticket_id, customer.id, message.text[:COMMENT_LIMIT]
    ):
        return
    await message.answer(_("Thank you, we've passed your comment on."))
    ticket = await support.ticket(ticket_id)
    if ticket is not None and desk.online:
        with desk.desk_language():
            text = _("💬 The customer's comment on ticket #{ticket}: {comment}").format(
                ticket=ticket_id, comment=html.quote(cut(message.text, COMMENT_LIMIT))
            )
        await desk.post(customer, ticket, text)


@router.edited_message(PRIVATE_CHAT)
async def edited(message: Message, desk: SupportDesk) -> None:
    """The customer corrected a message the agents have: their copy is corrected too."""
    await desk.mirror_edit(message)


@router.message(InConversation())
async def relay(
    message: Message,
    customer: Customer,
    support: SupportService,
    desk: SupportDesk,
    settings: Settings,
) -> None:
    """Anything the customer sends while talking to a person goes to their topic; written
    soon after a close (SUPPORT_REOPEN_MINUTES), it opens that ticket again."""
    opened = await support.resume(customer.id, "message")
    try:
        if opened.reopened:
            await desk.ticket_reopened(customer, opened.ticket)
            await message.answer(
                _(
                    "🔄 Your ticket #{ticket} is open again: a person will answer in this chat."
                ).format(ticket=opened.ticket.id)
            )
        elif opened.created:
            await desk.ticket_opened(customer, opened.ticket)
            text = _("🙋 Ticket #{ticket} is open: a person will answer in this chat.").format(
                ticket=opened.ticket.id
            )
            wait = expected_wait(settings)
            await message.answer(f"{text}\n\n{wait}" if wait else text)
        await desk.from_customer(customer, opened.ticket, message)
    except TelegramAPIError as error:
        if message.chat.id == getattr(error.method, "chat_id", None):
            raise  # the customer's own chat refused (blocked): nobody to tell
        # The agents' chat refused (the bot removed from it, rights taken away): the customer
        # must not believe the message arrived.
        logger.error("support chat refused customer %s's message: %s", customer.id, error)
        await message.answer(_not_delivered_text())
