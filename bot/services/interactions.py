"""The customer's record of interactions: the outbound half, and reading it back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from storage.clock import utcnow
from storage.models import Customer, Interaction
from storage.repositories import InteractionRepository, NewInteraction
from storage.unit_of_work import Storage


@dataclass(frozen=True)
class CustomerHistory:
    customer: Customer
    interactions: list[Interaction]


class InteractionLog:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def begin_outbound(
        self, telegram_id: int, kind: str, text: str | None, meta: str | None = None
    ) -> str:
        """Write the outgoing message before it is sent; returns the key to settle it with.
        Nothing is written when the chat is no customer's."""
        key = uuid.uuid4().hex
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

    async def settle_outbound(self, key: str, *, message_id: int | None, error: str | None) -> None:
        status = "failed" if error else "sent"
        await self._storage.batcher.write(
            InteractionRepository.settle(key, status, message_id, error)
        )

    async def history(self, telegram_id: int, limit: int | None = None) -> CustomerHistory | None:
        async with self._storage.read() as uow:
            customer = await uow.customers.by_telegram_id(telegram_id)
            if customer is None:
                return None
            interactions = await uow.interactions.for_customer(customer.id, limit)
            return CustomerHistory(customer, interactions)
