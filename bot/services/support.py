"""Human support: tickets (one open per customer), who works on them, and their ratings.

Telegram-free: the forum topics and the relaying of messages live in
bot/telegram/support_desk.py; this decides what a ticket is and who may change it.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.services.access import Actor
from bot.services.loyalty.service import Adjustment, LoyaltyService, PointsSummary
from storage.clock import utcnow
from storage.models import Customer
from storage.repositories.loyalty import Purchase
from storage.repositories.support import AskedQuestion, Relay, SupportTopic, Ticket
from storage.unit_of_work import Storage

# A support rating at or below this opens a service-recovery ticket (an agent calls back).
LOW_SUPPORT_RATING = 2


def needs_recovery(rating: int | None) -> bool:
    return rating is not None and rating <= LOW_SUPPORT_RATING


class OverLimit(Exception):
    """An agent's points adjustments would exceed their limit for the day."""

    def __init__(self, used: int, limit: int) -> None:
        super().__init__(f"{used} of {limit} points used")
        self.used = used
        self.limit = limit


class TakeOutcome(enum.Enum):
    TAKEN = "taken"
    ALREADY_YOURS = "already_yours"
    TAKEN_BY_OTHER = "taken_by_other"
    CLOSED = "closed"


@dataclass(frozen=True)
class Opened:
    ticket: Ticket
    created: bool
    # A ticket closed moments ago, open again (same number, same topic).
    reopened: bool = False


@dataclass(frozen=True)
class CustomerCard:
    """What an agent sees first in the customer's topic."""

    customer: Customer
    ticket: Ticket
    points: PointsSummary
    purchases: list[Purchase]
    previous: list[Ticket]
    questions: list[AskedQuestion]


@dataclass
class _Conversation:
    open_ticket: int | None
    closed_at: datetime | None


class SupportService:
    """Tickets and topics. Which customers are talking to a person is asked on every private
    message, so it is cached per customer; only this process (the one polling Telegram)
    changes tickets, so the cache is updated on each change instead of expiring."""

    def __init__(self, storage: Storage, loyalty: LoyaltyService, reopen_window: timedelta) -> None:
        self._storage = storage
        self._loyalty = loyalty
        self._reopen_window = reopen_window
        self._conversations: dict[int, _Conversation] = {}
        self._agent_locks: dict[int, asyncio.Lock] = {}

    async def _conversation(self, customer_id: int) -> _Conversation:
        known = self._conversations.get(customer_id)
        if known is not None:
            return known
        async with self._storage.read() as uow:
            latest = await uow.support.latest_of(customer_id)
        conversation = _Conversation(
            latest.id if latest is not None and latest.is_open else None,
            latest.closed_at if latest is not None else None,
        )
        self._conversations[customer_id] = conversation
        return conversation

    async def in_conversation(self, customer_id: int, now: datetime | None = None) -> bool:
        """The customer has an open ticket, or closed one moments ago (REOPEN window): what
        they write goes to a person, not to the FAQ."""
        conversation = await self._conversation(customer_id)
        if conversation.open_ticket is not None:
            return True
        closed_at = conversation.closed_at
        return closed_at is not None and (now or utcnow()) - closed_at < self._reopen_window

    async def open(self, customer_id: int, source: str) -> Opened:
        """The customer's open ticket, opened now if there was none."""
        now = utcnow()
        async with self._storage.write() as uow:
            existing = await uow.support.open_of(customer_id)
            created = False
            if existing is None:
                ticket_id = await uow.support.open_ticket(customer_id, source, now)
                assert ticket_id is not None  # the write lock rules out a concurrent open
                created = True
                existing = await uow.support.ticket(ticket_id)
                assert existing is not None
        conversation = await self._conversation(customer_id)
        conversation.open_ticket = existing.id
        return Opened(existing, created)

    async def resume(self, customer_id: int, source: str) -> Opened:
        """What the customer writes while talking to a person: their open ticket; else the
        ticket closed less than the reopen window ago, open again; else a new one."""
        now = utcnow()
        reopened = False
        async with self._storage.write() as uow:
            await uow.customers.lock(customer_id)
            ticket = await uow.support.open_of(customer_id)
            if ticket is None:
                latest = await uow.support.latest_of(customer_id)
                if (
                    latest is not None
                    and latest.closed_at is not None
                    and now - latest.closed_at < self._reopen_window
                    and await uow.support.reopen(latest.id)
                ):
                    reopened = True
                    ticket = await uow.support.ticket(latest.id)
        if ticket is None:
            return await self.open(customer_id, source)
        conversation = await self._conversation(customer_id)
        conversation.open_ticket = ticket.id
        return Opened(ticket, created=False, reopened=reopened)

    async def set_card_message(self, ticket_id: int, message_id: int) -> None:
        async with self._storage.write() as uow:
            await uow.support.set_card_message(ticket_id, message_id)

    async def ticket(self, ticket_id: int) -> Ticket | None:
        async with self._storage.read() as uow:
            return await uow.support.ticket(ticket_id)

    async def open_ticket_of(self, customer_id: int) -> Ticket | None:
        async with self._storage.read() as uow:
            return await uow.support.open_of(customer_id)

    async def latest_ticket_of(self, customer_id: int) -> Ticket | None:
        async with self._storage.read() as uow:
            return await uow.support.latest_of(customer_id)

    async def take(
        self, ticket_id: int, agent_id: int, agent_name: str
    ) -> tuple[TakeOutcome, Ticket | None]:
        async with self._storage.write() as uow:
            assigned = await uow.support.assign(ticket_id, agent_id, agent_name)
            ticket = await uow.support.ticket(ticket_id)
        if ticket is None:
            return TakeOutcome.CLOSED, None
        if assigned:
            return TakeOutcome.TAKEN, ticket
        if not ticket.is_open:
            return TakeOutcome.CLOSED, ticket
        if ticket.assignee_id == agent_id:
            return TakeOutcome.ALREADY_YOURS, ticket
        return TakeOutcome.TAKEN_BY_OTHER, ticket

    async def agent_replied(
        self, ticket_id: int, agent_id: int, agent_name: str
    ) -> tuple[bool, bool, Ticket | None]:
        """An agent's message reached the customer: the first reply is the first response,
        and the first agent to reply becomes the assignee. Returns (assigned now, first
        response now, ticket)."""
        now = utcnow()
        async with self._storage.write() as uow:
            first = await uow.support.mark_first_response(ticket_id, now)
            assigned = await uow.support.assign(ticket_id, agent_id, agent_name)
            ticket = await uow.support.ticket(ticket_id)
        return assigned, first, ticket

    async def close(self, ticket_id: int, closed_by: int | None) -> Ticket | None:
        """Close an open ticket; None when it was closed already (by someone else)."""
        now = utcnow()
        async with self._storage.write() as uow:
            closed = await uow.support.close(ticket_id, closed_by, now)
            ticket = await uow.support.ticket(ticket_id)
        if not closed or ticket is None:
            return None
        self._conversations[ticket.customer_id] = _Conversation(None, ticket.closed_at)
        return ticket

    async def rate(self, ticket_id: int, customer_id: int, stars: int) -> Ticket | None:
        """The customer's rating of their own closed ticket, once; None otherwise."""
        if not 1 <= stars <= 5:
            return None
        async with self._storage.write() as uow:
            rated = await uow.support.rate(ticket_id, customer_id, stars, utcnow())
            return await uow.support.ticket(ticket_id) if rated else None

    async def comment(self, ticket_id: int, customer_id: int, text: str) -> bool:
        async with self._storage.write() as uow:
            return await uow.support.comment(ticket_id, customer_id, text)

    async def topic_of(self, customer_id: int) -> SupportTopic | None:
        async with self._storage.read() as uow:
            return await uow.support.topic_of(customer_id)

    async def topic_by_thread(self, chat_id: int, thread_id: int) -> SupportTopic | None:
        async with self._storage.read() as uow:
            return await uow.support.topic_by_thread(chat_id, thread_id)

    async def set_topic(self, customer_id: int, chat_id: int, thread_id: int) -> None:
        async with self._storage.write() as uow:
            await uow.support.set_topic(customer_id, chat_id, thread_id, utcnow())

    async def remember_relay(self, relay: Relay) -> None:
        async with self._storage.write() as uow:
            await uow.support.add_relay(relay)

    async def relay_of(self, chat_id: int, message_id: int) -> Relay | None:
        async with self._storage.read() as uow:
            return await uow.support.relay_of(chat_id, message_id)

    async def customer(self, customer_id: int) -> Customer | None:
        async with self._storage.read() as uow:
            return await uow.customers.by_id(customer_id)

    async def card(self, customer: Customer, ticket: Ticket) -> CustomerCard:
        points = await self._loyalty.summary(customer, history=0)
        async with self._storage.read() as uow:
            purchases = await uow.purchases.recent(customer.id, 3)
            tickets = await uow.support.tickets_of(customer.id, 4)
            questions = await uow.support.recent_questions(customer.id, 5)
        previous = [item for item in tickets if item.id != ticket.id][:3]
        return CustomerCard(customer, ticket, points, purchases, previous, questions)

    async def claim_reminders(self, older_than: timedelta) -> list[Ticket]:
        """Tickets waiting longer than `older_than` for a first reply, each returned once."""
        now = utcnow()
        async with self._storage.write() as uow:
            return await uow.support.claim_reminders(now - older_than, now)

    async def adjust_points(
        self,
        agent: Actor,
        customer: Customer,
        delta: int,
        reason: str,
        *,
        key: str,
        limit: int | None,
        since: datetime,
    ) -> Adjustment:
        """An agent's correction of the customer's points, audited by LoyaltyService.adjust.
        `limit` caps what one agent moves (up or down) since `since`; None: no cap (admins).
        Raises OverLimit, or InsufficientPoints for a debit larger than the balance."""
        assert agent.telegram_id is not None
        lock = self._agent_locks.setdefault(agent.telegram_id, asyncio.Lock())
        async with lock:  # one agent's two commands at once cannot both pass the check
            if limit is not None:
                async with self._storage.read() as uow:
                    used = await uow.support.points_given_by(agent.telegram_id, since)
                if used + abs(delta) > limit:
                    raise OverLimit(used, limit)
            return await self._loyalty.adjust(agent, customer, delta, reason, key)
