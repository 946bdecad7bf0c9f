"""The agents' side of support in Telegram: one forum topic per customer in SUPPORT_CHAT_ID,
the customer's card at its top, and messages copied between the topic and the private chat.

Nothing is dropped silently: a topic somebody deleted is created again and the message sent
again; a customer who blocked the bot is reported in the topic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from aiogram import Bot, html
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import (
    ChatMemberAdministrator,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageId,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from babel.dates import format_date

from bot.i18n import N_
from bot.services.access import Role
from bot.services.languages import effective_language
from bot.services.support import CustomerCard, SupportService
from bot.telegram.callbacks import RateTicket, TicketAction
from bot.telegram.notices.formatting import moment_in, money
from bot.telegram.text import TOPIC_NAME_LIMIT, cut, fit_lines, shown_name, utf16_len
from storage.models import Customer
from storage.repositories.support import Relay, Ticket

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What Telegram answers when a message is sent to a topic that no longer exists: "message
# thread not found" for copies and sends, TOPIC_DELETED / TOPIC_ID_INVALID for topic methods.
_TOPIC_GONE = ("message thread not found", "topic_deleted", "topic_id_invalid")

# How much of each question the customer asked the FAQ the card shows.
QUESTION_SHOWN = 200

_MEMBER_STATUSES = frozenset(
    {ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
)


def topic_gone(error: TelegramBadRequest) -> bool:
    text = error.message.lower()
    return any(marker in text for marker in _TOPIC_GONE)


def agent_name(first_name: str, username: str | None) -> str:
    name = shown_name(first_name)
    return f"{name} (@{username})" if username else name


class SupportDesk:
    def __init__(
        self,
        bot: Bot,
        support: SupportService,
        i18n: I18n,
        chat_id: int | None,
        desk_language: str,
        priority_tiers: tuple[str, ...] = (),
        zone: ZoneInfo | None = None,
    ) -> None:
        self._bot = bot
        self._support = support
        self._i18n = i18n
        self.chat_id = chat_id
        self._language = desk_language
        self._zone = zone or ZoneInfo("UTC")
        self._priority_tiers = frozenset(priority_tiers)
        self.online = False
        self.problem: str | None = "SUPPORT_CHAT_ID is not set"
        # One topic creation at a time per customer: an album's items arrive together.
        self._locks: dict[int, asyncio.Lock] = {}
        # user id -> (is a member of the support chat, when asked): buttons are pressed in
        # bursts, and a member who leaves loses the right within AGENT_CHECK_SECONDS.
        self._members: dict[int, tuple[bool, float]] = {}

    # --- start-up ---

    async def check(self) -> None:
        """Is SUPPORT_CHAT_ID a forum where the bot may create and rename topics?"""
        self.online = False
        if self.chat_id is None:
            self.problem = "SUPPORT_CHAT_ID is not set: human support is off"
            return
        try:
            chat = await self._bot.get_chat(self.chat_id)
            me = await self._bot.me()
            member = await self._bot.get_chat_member(self.chat_id, me.id)
        except TelegramAPIError as error:
            self.problem = (
                f"SUPPORT_CHAT_ID {self.chat_id} is not reachable ({error.message}): "
                "add the bot to the agents' forum supergroup"
            )
            return
        if not chat.is_forum:
            self.problem = (
                f"SUPPORT_CHAT_ID {self.chat_id} is not a forum: turn on Topics in the "
                "group's settings"
            )
            return
        can_manage = member.status == ChatMemberStatus.CREATOR or (
            isinstance(member, ChatMemberAdministrator) and bool(member.can_manage_topics)
        )
        if not can_manage:
            self.problem = (
                f"the bot may not manage topics in SUPPORT_CHAT_ID {self.chat_id}: make it an "
                "administrator with the 'Manage topics' right"
            )
            return
        self.online = True
        self.problem = None

    # --- who is an agent ---

    AGENT_CHECK_SECONDS = 60.0

    async def is_agent(self, user_id: int, roles: frozenset[Role]) -> bool:
        """Holders of the agent (or admin) role, and the support chat's current members."""
        if Role.AGENT in roles or Role.ADMIN in roles:
            return True
        if self.chat_id is None:
            return False
        now = time.monotonic()
        known = self._members.get(user_id)
        if known is not None and now - known[1] < self.AGENT_CHECK_SECONDS:
            return known[0]
        try:
            member = await self._bot.get_chat_member(self.chat_id, user_id)
        except TelegramAPIError:
            member_now = False
        else:
            member_now = member.status in _MEMBER_STATUSES
        self._members[user_id] = (member_now, now)
        return member_now

    # --- language ---

    @contextmanager
    def desk_language(self) -> Iterator[None]:
        """Texts posted in the agents' group are in the bot's default language (also outside
        an update, e.g. in a scheduled job, where no i18n context is set)."""
        with self._i18n.context(), self._i18n.use_locale(self._language):
            yield

    @contextmanager
    def customer_language(self, customer: Customer) -> Iterator[None]:
        language = effective_language(customer.language, customer.telegram_language, self._language)
        with self._i18n.use_locale(language):
            yield

    # --- topics ---

    def topic_name(self, customer: Customer, ticket: Ticket | None) -> str:
        if ticket is None or not ticket.is_open:
            status = "⚪"
        elif ticket.assignee_id is None:
            status = "🟢"
        else:
            status = "🟡"
        who = shown_name(customer.full_name)
        if customer.username:
            who += f" (@{customer.username})"
        if customer.tier is not None and customer.tier in self._priority_tiers:
            status += "⭐"
        suffix = f" #{ticket.id}" if ticket is not None else ""
        room = TOPIC_NAME_LIMIT - utf16_len(status) - 1 - utf16_len(suffix)
        return f"{status} {cut(who, room)}{suffix}"

    def _lock(self, customer_id: int) -> asyncio.Lock:
        lock = self._locks.get(customer_id)
        if lock is None:
            lock = self._locks[customer_id] = asyncio.Lock()
        return lock

    async def _thread(self, customer: Customer, ticket: Ticket, *, replacing: int | None) -> int:
        """The customer's topic; created when there is none, or when `replacing` (a thread
        found deleted) is still the one on record."""
        assert self.chat_id is not None
        async with self._lock(customer.id):
            topic = await self._support.topic_of(customer.id)
            if topic is not None and topic.chat_id == self.chat_id and topic.thread_id != replacing:
                return topic.thread_id
            created = await self._bot.create_forum_topic(
                self.chat_id, self.topic_name(customer, ticket)
            )
            thread_id = created.message_thread_id
            await self._support.set_topic(customer.id, self.chat_id, thread_id)
            if replacing is not None:
                logger.warning(
                    "support topic %s of customer %s was deleted; created %s",
                    replacing,
                    customer.id,
                    thread_id,
                )
            await self._post_card(customer, ticket, thread_id, recreated=replacing is not None)
            return thread_id

    async def deliver(
        self, customer: Customer, ticket: Ticket, send: Callable[[int], Awaitable[T]]
    ) -> T:
        """Send something into the customer's topic; if the topic was deleted, create it
        again and send once more."""
        thread_id = await self._thread(customer, ticket, replacing=None)
        try:
            return await send(thread_id)
        except TelegramBadRequest as error:
            if not topic_gone(error):
                raise
        thread_id = await self._thread(customer, ticket, replacing=thread_id)
        return await send(thread_id)

    async def ticket_opened(self, customer: Customer, ticket: Ticket) -> None:
        """A new ticket: a new topic with the card, or the card again in the customer's
        topic (reused for every ticket), renamed to the new ticket."""
        assert self.chat_id is not None
        topic = await self._support.topic_of(customer.id)
        if topic is None or topic.chat_id != self.chat_id:
            await self._thread(customer, ticket, replacing=None)
            return
        posted = await self._post_card(customer, ticket, topic.thread_id, recreated=False)
        if posted:
            await self.rename(customer, ticket)
        else:
            await self._thread(customer, ticket, replacing=topic.thread_id)

    async def recovery_ticket(
        self, customer: Customer, source: str, headline: Callable[[], str]
    ) -> Ticket | None:
        """Service recovery: a low score (review stars, support rating, NPS) opens (or joins)
        a ticket in the customer's topic with `headline()` (rendered in the desk's language)
        posted under the card, so an agent gets in touch; None when support is offline or
        the agents' chat refused."""
        if not self.online:
            return None
        opened = await self._support.open(customer.id, source)
        try:
            if opened.created:
                await self.ticket_opened(customer, opened.ticket)
            with self.desk_language():
                text = headline()
            await self.post(customer, opened.ticket, text)
        except TelegramAPIError as error:
            logger.error("could not open a recovery ticket (%s): %s", source, error)
            return None
        return opened.ticket

    async def add_to_recovery(
        self, customer: Customer, ticket: Ticket, note: str, message: Message
    ) -> None:
        """What the customer adds after a low score joins the recovery ticket's topic:
        `note` (in the desk's language) says what it is; a photo (or any message that is
        not plain text) is then copied as sent, so the agent sees the photo itself."""
        await self.post(customer, ticket, note)
        if message.text is None:
            await self.from_customer(customer, ticket, message)

    async def rename(self, customer: Customer, ticket: Ticket | None) -> None:
        """Show the status in the topic's name; a failure only costs the cosmetic change."""
        topic = await self._support.topic_of(customer.id)
        if topic is None or self.chat_id is None or topic.chat_id != self.chat_id:
            return
        try:
            await self._bot.edit_forum_topic(
                self.chat_id, topic.thread_id, name=self.topic_name(customer, ticket)
            )
        except TelegramBadRequest as error:
            if "TOPIC_NOT_MODIFIED" not in error.message and not topic_gone(error):
                logger.warning("could not rename support topic %s: %s", topic.thread_id, error)

    async def customer_forgot(self, customer_id: int, ticket_id: int) -> None:
        """The customer erased their data while `ticket_id` was open (the erasure closed it):
        say so in their topic, and rename it to the erased record (no name left)."""
        topic = await self._support.topic_of(customer_id)
        if topic is None or self.chat_id is None or topic.chat_id != self.chat_id:
            return
        erased = await self._support.customer(customer_id)
        ticket = await self._support.ticket(ticket_id)
        if erased is None or ticket is None:
            return
        with self.desk_language():
            text = _("🗑 The customer erased their data; ticket #{ticket} is closed.").format(
                ticket=ticket.id
            )
        try:
            await self._bot.send_message(self.chat_id, text, message_thread_id=topic.thread_id)
        except TelegramAPIError as error:
            # The erasure is done either way; only the agents' notice is lost.
            logger.warning("could not tell topic %s of an erasure: %s", topic.thread_id, error)
        await self.rename(erased, ticket)

    async def _post_card(
        self, customer: Customer, ticket: Ticket, thread_id: int, *, recreated: bool
    ) -> bool:
        assert self.chat_id is not None
        card = await self._support.card(customer, ticket)
        with self.desk_language():
            text = render_card(card, self._language, self._zone)
            if recreated:
                text = _("♻️ The previous topic was deleted; the conversation goes on here.") + (
                    "\n\n" + text
                )
            markup = card_keyboard(ticket)
        try:
            sent = await self._bot.send_message(
                self.chat_id, text, message_thread_id=thread_id, reply_markup=markup
            )
        except TelegramBadRequest as error:
            if topic_gone(error):
                return False
            raise
        await self._support.set_card_message(ticket.id, sent.message_id)
        return True

    async def refresh_card(self, customer: Customer, ticket: Ticket) -> None:
        """The ticket changed (taken, answered, closed, reopened): its card shows it, edited
        in place. Callers edit only on a real change, so Telegram never answers "message is
        not modified"; a card that cannot be edited any more (deleted) only costs the view."""
        current = await self._support.ticket(ticket.id)
        if current is None or current.card_message_id is None or self.chat_id is None:
            return
        card = await self._support.card(customer, current)
        with self.desk_language():
            text = render_card(card, self._language, self._zone)
            markup = card_keyboard(current)
        try:
            await self._bot.edit_message_text(
                text, chat_id=self.chat_id, message_id=current.card_message_id, reply_markup=markup
            )
        except TelegramBadRequest as error:
            logger.warning("could not update the card of ticket %s: %s", ticket.id, error)

    async def ticket_changed(self, customer: Customer, ticket: Ticket) -> None:
        """The topic's name and the card follow the ticket's status and assignee."""
        await self.rename(customer, ticket)
        await self.refresh_card(customer, ticket)

    async def ticket_reopened(self, customer: Customer, ticket: Ticket) -> None:
        await self.ticket_changed(customer, ticket)
        with self.desk_language():
            text = _(
                "🔄 Ticket #{ticket} is open again: the customer wrote after the close."
            ).format(ticket=ticket.id)
        await self.post(customer, ticket, text)

    async def announce_assignee(self, customer: Customer, ticket: Ticket) -> None:
        with self.desk_language():
            text = _("👷 {agent} is handling ticket #{ticket}.").format(
                agent=html.quote(ticket.assignee_name or ""), ticket=ticket.id
            )
        await self.post(customer, ticket, text)

    async def announce_closed(self, customer: Customer, ticket: Ticket, agent: str) -> None:
        with self.desk_language():
            first = (
                _minutes(ticket.first_response_at, ticket.opened_at)
                if ticket.first_response_at is not None
                else "—"
            )
            total = _minutes(ticket.closed_at, ticket.opened_at) if ticket.closed_at else "—"
            text = _(
                "✅ Ticket #{ticket} closed by {agent}. First reply after {first}; "
                "resolved in {total}."
            ).format(ticket=ticket.id, agent=html.quote(agent), first=first, total=total)
        await self.post(customer, ticket, text)

    async def ask_for_rating(self, customer: Customer, ticket: Ticket) -> None:
        with self.customer_language(customer):
            text = _(
                "✅ Your ticket #{ticket} is closed. How did we do? Rate the help from 1 (poor) "
                "to 5 (excellent):"
            ).format(ticket=ticket.id)
        await self._tell_customer(customer, ticket, text, rating_keyboard(ticket.id))

    async def tell_closed_again(self, customer: Customer, ticket: Ticket) -> None:
        with self.customer_language(customer):
            text = _("✅ Your ticket #{ticket} is closed again.").format(ticket=ticket.id)
        await self._tell_customer(customer, ticket, text, None)

    async def _tell_customer(
        self,
        customer: Customer,
        ticket: Ticket,
        text: str,
        reply_markup: InlineKeyboardMarkup | None,
    ) -> None:
        """A message from the bot to the customer; the topic hears when it cannot arrive."""
        assert customer.telegram_id is not None
        try:
            await self._bot.send_message(customer.telegram_id, text, reply_markup=reply_markup)
        except TelegramForbiddenError:
            with self.desk_language():
                await self.post(
                    customer, ticket, _("⚠️ Not delivered: the customer has blocked the bot.")
                )

    async def remind_waiting(self, older_than: timedelta, admin_ids: frozenset[int]) -> int:
        """Tickets waiting longer than `older_than` for a first reply: said once in their
        topic and to the admins. Returns how many."""
        if not self.online:
            return 0
        tickets = await self._support.claim_reminders(older_than)
        minutes = round(older_than.total_seconds() / 60, 1)
        for ticket in tickets:
            customer = await self._support.customer(ticket.customer_id)
            if customer is None:
                continue
            with self.desk_language():
                text = _(
                    "⏰ Ticket #{ticket} has waited over {minutes} min for a first reply."
                ).format(ticket=ticket.id, minutes=f"{minutes:g}")
                to_admins = text + "\n" + html.quote(self.topic_name(customer, ticket))
            try:
                await self.post(customer, ticket, text)
            except TelegramAPIError as error:
                logger.warning("could not remind of ticket %s: %s", ticket.id, error)
            for admin in sorted(admin_ids):
                try:
                    await self._bot.send_message(admin, to_admins)
                except TelegramAPIError as error:
                    logger.info("could not remind admin %s: %s", admin, error)
        return len(tickets)

    # --- relaying ---

    async def from_customer(self, customer: Customer, ticket: Ticket, message: Message) -> None:
        """Copy the customer's message, of whatever type, into their topic."""
        assert self.chat_id is not None
        chat_id = self.chat_id

        async def copy(thread_id: int) -> MessageId:
            return await self._bot.copy_message(
                chat_id, message.chat.id, message.message_id, message_thread_id=thread_id
            )

        copied = await self.deliver(customer, ticket, copy)
        await self._support.remember_relay(
            Relay(message.chat.id, message.message_id, chat_id, copied.message_id, customer.id)
        )

    async def post(
        self,
        customer: Customer,
        ticket: Ticket,
        text: str,
        reply_markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        """A message from the bot to the agents in the customer's topic."""
        assert self.chat_id is not None
        chat_id = self.chat_id

        async def send(thread_id: int) -> object:
            return await self._bot.send_message(
                chat_id, text, message_thread_id=thread_id, reply_markup=reply_markup
            )

        await self.deliver(customer, ticket, send)

    async def send_text(self, customer: Customer, text: str) -> str | None:
        """Send a text (HTML) to the customer; returns why it failed, if it did."""
        assert customer.telegram_id is not None
        try:
            await self._bot.send_message(customer.telegram_id, text)
        except TelegramForbiddenError:
            with self.desk_language():
                return _("⚠️ Not delivered: the customer has blocked the bot.")
        except TelegramBadRequest as error:
            with self.desk_language():
                return _("⚠️ Not delivered: Telegram said “{error}”.").format(
                    error=html.quote(error.message)
                )
        return None

    async def to_customer(self, customer: Customer, message: Message) -> str | None:
        """Copy an agent's message to the customer. Text goes as text, so the customer's
        record holds the words; anything else is copied. Returns why it failed, if it did."""
        assert customer.telegram_id is not None
        sent: Message | MessageId
        try:
            if message.text is not None:
                sent = await self._bot.send_message(customer.telegram_id, message.html_text)
            else:
                sent = await self._bot.copy_message(
                    customer.telegram_id,
                    message.chat.id,
                    message.message_id,
                    # html_text is the caption (with its formatting) for media.
                    caption=message.html_text if message.caption else None,
                )
        except TelegramForbiddenError:
            with self.desk_language():
                return _("⚠️ Not delivered: the customer has blocked the bot.")
        except TelegramBadRequest as error:
            with self.desk_language():
                return _("⚠️ Not delivered: Telegram said “{error}”.").format(
                    error=html.quote(error.message)
                )
        await self._support.remember_relay(
            Relay(
                message.chat.id,
                message.message_id,
                customer.telegram_id,
                sent.message_id,
                customer.id,
            )
        )
        return None

    async def mirror_edit(self, message: Message) -> bool:
        """An edited message (either side) edits its copy, where Telegram allows: texts and
        captions. False when there is no copy or it could not be edited."""
        relay = await self._support.relay_of(message.chat.id, message.message_id)
        if relay is None:
            return False
        try:
            if message.text is not None:
                await self._bot.edit_message_text(
                    chat_id=relay.target_chat_id,
                    message_id=relay.target_message_id,
                    text=message.html_text,
                )
            elif message.caption is not None:
                await self._bot.edit_message_caption(
                    chat_id=relay.target_chat_id,
                    message_id=relay.target_message_id,
                    caption=message.html_text,
                )
            else:
                return False
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            # "message is not modified", "message to edit not found", a blocked customer:
            # the original stays as it was delivered.
            logger.info("could not mirror the edit of message %s: %s", message.message_id, error)
            return False
        return True


def _minutes(end: datetime, start: datetime) -> str:
    return _("{minutes} min").format(minutes=max(0, round((end - start).total_seconds() / 60)))


def rating_keyboard(ticket_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=f"{stars} ⭐",
                    callback_data=RateTicket(ticket=ticket_id, stars=stars).pack(),
                )
                for stars in range(1, 6)
            ]
        ]
    )


def card_keyboard(ticket: Ticket) -> InlineKeyboardMarkup | None:
    """Take and Close while the ticket is open; a closed ticket's card has no buttons."""
    if not ticket.is_open:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("🙋 Take"),
                    callback_data=TicketAction(ticket=ticket.id, action="take").pack(),
                ),
                InlineKeyboardButton(
                    text=_("✅ Close"),
                    callback_data=TicketAction(ticket=ticket.id, action="close").pack(),
                ),
            ]
        ]
    )


# What the customer's FAQ questions came to, as the faq_queries table records it.
_QUESTION_OUTCOMES = {
    "answered": N_("answered"),
    "suggested": N_("suggestions offered"),
    "picked": N_("picked a suggestion"),
    "declined": N_("not answered"),
    "browsed": N_("browsed"),
    "warming_up": N_("not answered (starting up)"),
}
_QUESTION_FEEDBACK = {"helpful": N_("helpful"), "unhelpful": N_("not helpful")}


def _status_line(ticket: Ticket, language: str, zone: ZoneInfo) -> str:
    parts = [
        _("open") if ticket.is_open else _("closed"),
        _("opened {time}").format(time=moment_in(ticket.opened_at, language, zone)),
    ]
    if ticket.first_response_at is not None:
        parts.append(
            _("first reply {time}").format(time=moment_in(ticket.first_response_at, language, zone))
        )
    if not ticket.is_open and ticket.closed_at is not None:
        parts.append(_("closed {time}").format(time=moment_in(ticket.closed_at, language, zone)))
    return _("📌 Status: {status}").format(status=" · ".join(parts))


def render_card(card: CustomerCard, language: str, zone: ZoneInfo) -> str:
    """The card in `language` (the desk's, set by the caller for `_`): the customer's own
    language is shown as a fact about them, never used for the text."""
    customer, ticket = card.customer, card.ticket
    customer_language = effective_language(customer.language, customer.telegram_language, "en")
    lines = [
        _("🎫 <b>Ticket #{ticket}</b>").format(ticket=ticket.id),
        _status_line(ticket, language, zone),
        _("👤 {name} · {username} · id <code>{telegram_id}</code> · language {language}").format(
            name=html.quote(shown_name(customer.full_name)),
            username=f"@{html.quote(customer.username)}" if customer.username else "—",
            telegram_id=customer.telegram_id,
            language=html.quote(customer_language),
        ),
        _("⭐ Tier: {tier} · balance {points} points").format(
            tier=html.quote(card.points.tier.title(language)), points=card.points.balance
        ),
    ]
    if card.purchases:
        lines.append(_("🛒 Last purchases:"))
        lines.extend(
            f"  · {format_date(purchase.purchased_at.astimezone(zone), 'short', locale=language)}"
            f" {money(purchase.amount_minor, purchase.currency, language)}"
            f" ({html.quote(purchase.order_id)})"
            for purchase in card.purchases
        )
    else:
        lines.append(_("🛒 No purchases yet."))
    if card.previous:
        lines.append(_("📋 Previous tickets:"))
        for previous in card.previous:
            rating = f" ★{previous.rating}" if previous.rating else ""
            status = _("open") if previous.is_open else _("closed")
            opened = format_date(previous.opened_at.astimezone(zone), "short", locale=language)
            lines.append(f"  · #{previous.id} {opened} {status}{rating}")
    if card.questions:
        lines.append(_("❓ Asked the FAQ before:"))
        for question in card.questions:
            outcome = _QUESTION_OUTCOMES.get(question.outcome)
            verdict = [_(outcome) if outcome else question.outcome]
            if question.feedback:
                feedback = _QUESTION_FEEDBACK.get(question.feedback)
                verdict.append(_(feedback) if feedback else question.feedback)
            lines.append(
                f"  · {moment_in(question.at, language, zone)}"
                f" “{html.quote(cut(question.text, QUESTION_SHOWN))}”"
                f" ({html.quote(', '.join(verdict))})"
            )
    lines.append(
        _("👷 Assignee: {agent}").format(agent=html.quote(ticket.assignee_name))
        if ticket.assignee_name
        else _("👷 Nobody has taken it yet: press Take or reply.")
    )
    return fit_lines(lines)
