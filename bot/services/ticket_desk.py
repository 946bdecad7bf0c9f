"""The rules of an agent's work on a ticket, apart from how Telegram shows it.

Closing tells the desk and asks the customer to rate the help once (a ticket reopened after
its rating is only said to be closed again); the first agent who reaches the customer holds
the ticket, and the desk hears of it; Take gives the ticket to the first who presses it.
What the desk and the customer see is the port's business: `bot/telegram/support_desk.py`
implements it over the agents' forum.
"""

from __future__ import annotations

from typing import Protocol

from bot.services.support import SupportService, TakeOutcome
from storage.models import Customer
from storage.repositories.support import Ticket


class DeskPort(Protocol):
    """What the ticket rules need the agents' desk and the customer to be told."""

    async def ticket_changed(self, customer: Customer, ticket: Ticket) -> None: ...

    async def refresh_card(self, customer: Customer, ticket: Ticket) -> None: ...

    async def announce_assignee(self, customer: Customer, ticket: Ticket) -> None: ...

    async def announce_closed(self, customer: Customer, ticket: Ticket, agent: str) -> None: ...

    async def ask_for_rating(self, customer: Customer, ticket: Ticket) -> None: ...

    async def tell_closed_again(self, customer: Customer, ticket: Ticket) -> None: ...


class TicketDesk:
    def __init__(self, support: SupportService, desk: DeskPort) -> None:
        self._support = support
        self._desk = desk

    async def close(self, ticket_id: int, customer: Customer, agent_id: int, agent: str) -> bool:
        """Close the ticket on the agent's word; False when it was closed already."""
        closed = await self._support.close(ticket_id, agent_id)
        if closed is None:
            return False
        await self._desk.ticket_changed(customer, closed)
        await self._desk.announce_closed(customer, closed, agent)
        if closed.rating is None:
            await self._desk.ask_for_rating(customer, closed)
        else:  # reopened after the customer had rated it: asked once
            await self._desk.tell_closed_again(customer, closed)
        return True

    async def close_open_ticket(self, customer: Customer, agent_id: int, agent: str) -> bool:
        """/close in the customer's topic: False when nothing is open."""
        ticket = await self._support.open_ticket_of(customer.id)
        return ticket is not None and await self.close(ticket.id, customer, agent_id, agent)

    async def agent_replied(self, customer: Customer, agent_id: int, agent: str) -> None:
        """Something reached the customer from this agent: the first response is recorded,
        and the ticket goes to the first agent who replies."""
        ticket = await self._support.open_ticket_of(customer.id)
        if ticket is None:
            return
        assigned, first_response, current = await self._support.agent_replied(
            ticket.id, agent_id, agent
        )
        if current is None:
            return
        if assigned:
            await self._announce(customer, current)
        elif first_response:  # taken before: only the card's first-reply time is new
            await self._desk.refresh_card(customer, current)

    async def take(
        self, ticket_id: int, customer: Customer, agent_id: int, agent: str
    ) -> tuple[TakeOutcome, Ticket | None]:
        outcome, current = await self._support.take(ticket_id, agent_id, agent)
        if outcome is TakeOutcome.TAKEN and current is not None:
            await self._announce(customer, current)
        return outcome, current

    async def _announce(self, customer: Customer, ticket: Ticket) -> None:
        await self._desk.ticket_changed(customer, ticket)
        await self._desk.announce_assignee(customer, ticket)
