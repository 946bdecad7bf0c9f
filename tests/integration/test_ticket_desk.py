"""The ticket rules behind the agents' buttons and commands, over a real database, with the
desk (what Telegram would show) recorded instead of sent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.rules import load_rules
from bot.services.loyalty.service import LoyaltyService
from bot.services.support import SupportService, TakeOutcome
from bot.services.ticket_desk import TicketDesk
from storage.clock import utcnow
from storage.models import Customer
from storage.repositories import TelegramProfile
from storage.repositories.support import Ticket

RULES = load_rules()


class RecordingDesk:
    """The port, as a list of what the desk and the customer were told."""

    def __init__(self) -> None:
        self.told: list[tuple[str, int, str | None]] = []

    def _note(self, event: str, ticket: Ticket, extra: str | None = None) -> None:
        self.told.append((event, ticket.id, extra))

    async def ticket_changed(self, customer: Customer, ticket: Ticket) -> None:
        self._note("changed", ticket, ticket.status)

    async def refresh_card(self, customer: Customer, ticket: Ticket) -> None:
        self._note("card", ticket)

    async def announce_assignee(self, customer: Customer, ticket: Ticket) -> None:
        self._note("assignee", ticket, ticket.assignee_name)

    async def announce_closed(self, customer: Customer, ticket: Ticket, agent: str) -> None:
        self._note("closed", ticket, agent)

    async def ask_for_rating(self, customer: Customer, ticket: Ticket) -> None:
        self._note("rate?", ticket)

    async def tell_closed_again(self, customer: Customer, ticket: Ticket) -> None:
        self._note("closed again", ticket)


@pytest.fixture
async def opened(storage):
    support = SupportService(
        storage, LoyaltyService(storage, RULES, PointsLedger(RULES)), timedelta(minutes=30)
    )
    desk = RecordingDesk()
    async with storage.write() as uow:
        customer = await uow.customers.touch(TelegramProfile(1, "Ann", None, None, "en"), utcnow())
    ticket = (await support.open(customer.id, "command")).ticket
    return support, TicketDesk(support, desk), desk, customer, ticket


async def test_the_first_agent_to_reply_holds_the_ticket_and_the_desk_hears_it_once(opened):
    support, tickets, desk, customer, ticket = opened
    await tickets.agent_replied(customer, 10, "Kim")
    await tickets.agent_replied(customer, 11, "Lou")
    held = await support.ticket(ticket.id)
    assert held is not None and held.assignee_id == 10 and held.first_response_at is not None
    assert desk.told == [("changed", ticket.id, "open"), ("assignee", ticket.id, "Kim")]


async def test_take_gives_the_ticket_to_the_first_who_presses(opened):
    _, tickets, desk, customer, ticket = opened
    assert (await tickets.take(ticket.id, customer, 10, "Kim"))[0] is TakeOutcome.TAKEN
    assert (await tickets.take(ticket.id, customer, 10, "Kim"))[0] is TakeOutcome.ALREADY_YOURS
    outcome, current = await tickets.take(ticket.id, customer, 11, "Lou")
    assert outcome is TakeOutcome.TAKEN_BY_OTHER and current is not None
    assert current.assignee_name == "Kim"
    assert [event for event, _, _ in desk.told] == ["changed", "assignee"]
    # Taken before the first reply: the reply only updates the card's first-reply time.
    await tickets.agent_replied(customer, 10, "Kim")
    assert desk.told[-1] == ("card", ticket.id, None)


async def test_closing_asks_for_a_rating_once_and_a_second_close_is_refused(opened):
    support, tickets, desk, customer, ticket = opened
    assert await tickets.close(ticket.id, customer, 10, "Kim")
    assert desk.told == [
        ("changed", ticket.id, "closed"),
        ("closed", ticket.id, "Kim"),
        ("rate?", ticket.id, None),
    ]
    assert not await tickets.close(ticket.id, customer, 10, "Kim")
    assert not await tickets.close_open_ticket(customer, 10, "Kim")
    assert len(desk.told) == 3


async def test_a_ticket_reopened_after_its_rating_is_only_said_to_be_closed_again(opened):
    support, tickets, desk, customer, ticket = opened
    assert await tickets.close_open_ticket(customer, 10, "Kim")
    assert await support.rate(ticket.id, customer.id, 5) is not None
    reopened = (await support.resume(customer.id, "text")).ticket
    assert reopened.id == ticket.id  # within the reopen window: the same ticket
    desk.told.clear()
    assert await tickets.close_open_ticket(customer, 10, "Kim")
    assert desk.told[-1] == ("closed again", ticket.id, None)
    assert ("rate?", ticket.id, None) not in desk.told
