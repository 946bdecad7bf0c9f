"""Points movements on the append-only ledger: credits open lots, debits consume them FIFO.

Every function here runs inside the caller's write transaction. Reading the lots (or the
balance) in a write transaction locks the customer's row first on PostgreSQL, and SQLite
runs one write transaction at a time, so reading the lots and appending the debit cannot
interleave with another spend: two concurrent spends of the last 100 points see the balance
one after the other, and the second is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.services.loyalty.rules import LoyaltyRules
from storage.repositories.loyalty import Lot
from storage.unit_of_work import UnitOfWork


class InsufficientPoints(Exception):
    def __init__(self, wanted: int, available: int) -> None:
        super().__init__(f"{wanted} points wanted, {available} available")
        self.wanted = wanted
        self.available = available


@dataclass(frozen=True)
class Restored:
    returned: int  # back on the balance
    expired: int  # given back to lots that had burnt meanwhile, and burnt with them


@dataclass(frozen=True)
class Debit:
    entry_id: int | None  # None: nothing was taken (a zero debit, or a replayed key)
    taken: int


class PointsLedger:
    def __init__(self, rules: LoyaltyRules) -> None:
        self._rules = rules

    def expiry_for(self, earned_at: datetime) -> datetime | None:
        days = self._rules.expiry.days
        return earned_at + timedelta(days=days) if days else None

    async def credit(
        self,
        uow: UnitOfWork,
        customer_id: int,
        points: int,
        reason: str,
        *,
        at: datetime,
        earned_at: datetime | None = None,
        source: str | None = None,
        key: str | None = None,
        note: str | None = None,
    ) -> int | None:
        """Add a lot of points burning `expiry.days` after `earned_at`; None on a replay."""
        if points <= 0:
            return None
        return await uow.ledger.add(
            customer_id=customer_id,
            delta=points,
            reason=reason,
            at=at,
            source=source,
            idempotency_key=key,
            is_lot=True,
            expires_at=self.expiry_for(earned_at or at),
            note=note,
        )

    async def debit(
        self,
        uow: UnitOfWork,
        customer_id: int,
        points: int,
        reason: str,
        *,
        at: datetime,
        source: str | None = None,
        key: str | None = None,
        note: str | None = None,
        partial: bool = False,
        lots: list[Lot] | None = None,
    ) -> Debit:
        """Take points from the lots that burn first. Raises InsufficientPoints unless
        `partial`, where it takes what there is (a refund of points already spent)."""
        if points <= 0:
            return Debit(None, 0)
        open_lots = lots if lots is not None else await uow.ledger.open_lots(customer_id)
        available = sum(lot.remaining for lot in open_lots)
        if available < points and not partial:
            raise InsufficientPoints(points, available)
        taken = min(points, available)
        if taken == 0:
            return Debit(None, 0)
        entry_id = await uow.ledger.add(
            customer_id=customer_id,
            delta=-taken,
            reason=reason,
            at=at,
            source=source,
            idempotency_key=key,
            note=note,
        )
        if entry_id is None:
            return Debit(None, 0)
        usage: list[tuple[int, int]] = []
        left = taken
        for lot in open_lots:
            if left == 0:
                break
            used = min(left, lot.remaining)
            usage.append((lot.id, used))
            left -= used
        await uow.ledger.use_lots(entry_id, usage)
        return Debit(entry_id, taken)

    async def restore(
        self,
        uow: UnitOfWork,
        debit_entry_id: int,
        customer_id: int,
        reason: str,
        *,
        at: datetime,
        source: str | None = None,
        key: str | None = None,
    ) -> Restored:
        """Give back what a debit took, into the same lots so they keep their dates. Points
        whose lot has burnt since are expired, not revived: they go back to that lot and burn
        at once (an "expire" debit of exactly them), as they would have had they never been
        held. The daily expiry may have burnt the rest of such a lot under `expire:<lot>`,
        so this burn has a key of its own."""
        usage = await uow.ledger.usage_of(debit_entry_id)
        total = sum(points for _lot, points in usage)
        if total <= 0:
            return Restored(0, 0)
        entry_id = await uow.ledger.add(
            customer_id=customer_id,
            delta=total,
            reason=reason,
            at=at,
            source=source,
            idempotency_key=key,
        )
        if entry_id is None:
            return Restored(0, 0)
        await uow.ledger.use_lots(entry_id, [(lot_id, -points) for lot_id, points in usage])
        expired = 0
        for lot_id, points in usage:
            lot = await uow.ledger.entry(lot_id)
            if lot is None or lot.expires_at is None or lot.expires_at > at:
                continue
            burn_id = await uow.ledger.add(
                customer_id=customer_id,
                delta=-points,
                reason="expire",
                at=at,
                source=f"lot:{lot_id}",
                idempotency_key=f"{key}:expire:{lot_id}" if key else None,
            )
            if burn_id is not None:
                await uow.ledger.use_lots(burn_id, [(lot_id, points)])
                expired += points
        return Restored(total - expired, expired)
