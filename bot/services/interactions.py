"""The customer's record of interactions: the outbound half, and reading it back."""

from __future__ import annotations

import itertools
import json
import os
import uuid
from dataclasses import dataclass

from bot.services.customer_cache import CustomerCache
from storage.clock import utcnow
from storage.models import Customer, Interaction
from storage.repositories import CustomerRepository, InteractionRepository, NewInteraction
from storage.unit_of_work import Storage


class _OutboundKeys:
    """Outbound keys: unique per process start, then a counter (cheaper than a uuid per
    message)."""

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        self._process = uuid.uuid4().hex[:12]
        self._sequence = itertools.count(1)

    def next(self) -> str:
        return f"{self._process}-{next(self._sequence)}"


_OUTBOUND_KEYS = _OutboundKeys()
# A process forked after this import (a server that preloads the bot and forks it, as the
# tests' bot launcher does) is another process start: it draws keys of its own.
os.register_at_fork(after_in_child=_OUTBOUND_KEYS.renew)


@dataclass(frozen=True)
class CustomerHistory:
    customer: Customer
    interactions: list[Interaction]


class InteractionLog:
    def __init__(self, storage: Storage, cache: CustomerCache | None = None) -> None:
        self._storage = storage
        self._cache = cache or CustomerCache()

    async def begin_outbound(
        self, telegram_id: int, kind: str, text: str | None, meta: str | None = None
    ) -> str:
        """Write the outgoing message before it is sent; returns the key to settle it with.
        Nothing is written when the chat is no customer's."""
        key = _OUTBOUND_KEYS.next()
        interaction = NewInteraction(
            direction="out",
            kind=kind,
            text=text,
            at=utcnow(),
            status="pending",
            meta=meta,
            outbound_key=key,
        )
        await self._storage.batcher.write(
            InteractionRepository.add_for_telegram_id(telegram_id, interaction)
        )
        return key

    async def record_note(self, telegram_id: int, text: str, agent_id: int) -> None:
        """An agent's internal note about the customer: in their record (kind 'note', status
        'internal'), never sent to them."""
        interaction = NewInteraction(
            direction="out",
            kind="note",
            text=text,
            at=utcnow(),
            status="internal",
            meta=json.dumps({"agent": agent_id}),
        )
        await self._storage.batcher.write(
            InteractionRepository.add_for_telegram_id(telegram_id, interaction)
        )

    def settle_outbound(self, key: str, *, message_id: int | None, error: str | None) -> None:
        """Record how the call went. Not awaited: if the process dies first, the message
        stays in the record as 'pending', which is what we then know about it."""
        status = "failed" if error else "sent"
        self._storage.batcher.write_soon(
            InteractionRepository.settle(key, status, message_id, error)
        )

    def mark_unreachable(self, telegram_id: int) -> None:
        """Telegram answered 403 for this chat: the customer blocked the bot (or is gone)."""
        self._storage.batcher.write_soon(CustomerRepository.mark_unreachable(telegram_id, utcnow()))
        self._cache.forget(telegram_id)

    async def history(self, telegram_id: int, limit: int | None = None) -> CustomerHistory | None:
        async with self._storage.read() as uow:
            customer = await uow.customers.by_telegram_id(telegram_id)
            if customer is None:
                return None
            interactions = await uow.interactions.for_customer(customer.id, limit)
            return CustomerHistory(customer, interactions)
