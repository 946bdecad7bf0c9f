"""Receiving an update: exactly-once handling and the inbound half of the interaction log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.services.customer_cache import CustomerCache
from storage.batching import Statement
from storage.clock import to_db, utcnow
from storage.database import Session
from storage.models import Customer
from storage.repositories import ClaimResult, NewInteraction, TelegramProfile
from storage.repositories.updates import FINISH_SQL
from storage.unit_of_work import Storage, UnitOfWork

# A handler that has not finished after this long is presumed dead with its process
# (another replica may take the update over when Telegram redelivers it).
STALE_CLAIM = timedelta(minutes=5)


@dataclass(frozen=True)
class InboundEvent:
    """What an update means for the customer record, already stripped of Telegram types."""

    update_id: int
    profile: TelegramProfile | None
    kind: str
    text: str | None
    message_id: int | None = None
    meta: str | None = None
    # True/False when the update says the customer unblocked/blocked the bot.
    reachable: bool | None = None


@dataclass(frozen=True)
class Reception:
    claim: ClaimResult
    customer: Customer | None

    @property
    def should_handle(self) -> bool:
        return self.claim is not ClaimResult.DUPLICATE


class IntakeBatch:
    """Claims and records a batch of updates in the flush's transaction (see storage.batching)."""

    def __init__(self, cache: CustomerCache) -> None:
        self._cache = cache

    async def apply(self, session: Session, events: list[InboundEvent]) -> list[Reception]:
        uow = UnitOfWork(session)
        now = utcnow()
        claims = await uow.updates.claim_many([e.update_id for e in events], now, STALE_CLAIM)
        handled = [
            (event, claim)
            for event, claim in zip(events, claims, strict=True)
            if claim is not ClaimResult.DUPLICATE and event.profile is not None
        ]
        customers: dict[int, Customer] = {}
        stale: list[TelegramProfile] = []
        for event, _claim in handled:
            assert event.profile is not None
            cached = self._cache.fresh(event.profile)
            if cached is None:
                stale.append(event.profile)
            else:
                customers[event.profile.telegram_id] = cached
        if stale:
            touched = await uow.customers.touch_many(stale, now)
            for customer in touched.values():
                self._cache.put(customer)
            customers.update(touched)
        new_rows: list[tuple[int, NewInteraction]] = []
        reachability: dict[int, bool] = {}
        for event, claim in handled:
            assert event.profile is not None
            customer = customers[event.profile.telegram_id]
            if claim is ClaimResult.NEW:
                new_rows.append((customer.id, _interaction(event, now)))
            if event.reachable is not None and event.reachable != customer.reachable:
                reachability[customer.id] = event.reachable
        await uow.interactions.add_many(new_rows)
        if reachability:
            await uow.customers.set_reachable_many(list(reachability.items()), now)
            for customer in customers.values():
                if customer.id in reachability:
                    self._cache.forget(customer.telegram_id)
        return [
            Reception(result, _current(event, result, customers, reachability))
            for event, result in zip(events, claims, strict=True)
        ]


def _current(
    event: InboundEvent,
    claim: ClaimResult,
    customers: dict[int, Customer],
    reachability: dict[int, bool],
) -> Customer | None:
    if claim is ClaimResult.DUPLICATE or event.profile is None:
        return None
    customer = customers[event.profile.telegram_id]
    if customer.id in reachability:
        return customer.model_copy(update={"reachable": reachability[customer.id]})
    return customer


def _interaction(event: InboundEvent, now: datetime) -> NewInteraction:
    return NewInteraction(
        direction="in",
        kind=event.kind,
        text=event.text,
        at=now,
        update_id=event.update_id,
        message_id=event.message_id,
        meta=event.meta,
    )


class IntakeService:
    def __init__(self, storage: Storage, cache: CustomerCache | None = None) -> None:
        self._storage = storage
        self._batch = IntakeBatch(cache or CustomerCache())

    async def receive(self, event: InboundEvent) -> Reception:
        """Claim the update and record it, committed before any handler runs."""
        return await self._storage.batcher.submit(self._batch, event)

    def finish(self, update_id: int) -> None:
        """Mark the update handled. Not awaited: should the process die before the write
        lands, the update is merely handled again when Telegram redelivers it."""
        self._storage.batcher.write_soon(Statement(FINISH_SQL, (to_db(utcnow()), update_id)))

    async def recover_after_restart(self, *, polling: bool = True) -> int:
        """Let redelivered updates whose handling a crash cut short be handled again.

        Only one process can long-poll a bot, so at start-up nobody else is handling them.
        In webhook mode other replicas may be, so the webhook inbox's leases decide instead.
        """
        async with self._storage.write() as uow:
            orphaned = await uow.updates.orphan_unfinished() if polling else 0
            await uow.updates.forget_older_than(utcnow() - timedelta(days=7))
            return orphaned
