"""The points ledger, purchases and refunds, referrals, redemption codes and API tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.clock import to_db
from storage.database import Row, Session
from storage.models import Moment, Record


class PointsEntry(Record):
    id: int
    customer_id: int
    at: Moment
    delta: int
    reason: str
    source: str | None
    idempotency_key: str | None
    is_lot: bool
    expires_at: Moment | None
    note: str | None


class Lot(Record):
    id: int
    customer_id: int
    remaining: int
    expires_at: Moment | None


class Purchase(Record):
    id: int
    order_id: str
    customer_id: int
    amount_minor: int
    currency: str
    purchased_at: Moment
    recorded_at: Moment
    points: int
    balance_after: int
    tier: str | None
    recorded_by: str


class Refund(Record):
    id: int
    refund_key: str
    purchase_id: int
    amount_minor: int
    points_reversed: int
    points_uncollected: int
    balance_after: int
    at: Moment


@dataclass(frozen=True)
class BuyerContext:
    spend_minor: int  # net spend since the window start
    has_purchases: bool
    balance: int


_LOT_REMAINDER = """
    SELECT l.id, l.customer_id, l.expires_at,
           l.delta - COALESCE((SELECT SUM(u.points) FROM lot_usage u WHERE u.lot_id = l.id), 0)
               AS remaining
    FROM points_entries l
"""


def _lot(row: Row) -> Lot:
    return Lot.model_validate(dict(row))


class LedgerRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(
        self,
        *,
        customer_id: int,
        delta: int,
        reason: str,
        at: datetime,
        source: str | None = None,
        idempotency_key: str | None = None,
        is_lot: bool = False,
        expires_at: datetime | None = None,
        note: str | None = None,
    ) -> int | None:
        """Append an entry; None when its idempotency key is already in the ledger."""
        return await self._session.insert(
            """
            INSERT INTO points_entries (customer_id, at, delta, reason, source, idempotency_key,
                                        is_lot, expires_at, note)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (idempotency_key) DO NOTHING
            """,
            (
                customer_id,
                to_db(at),
                delta,
                reason,
                source,
                idempotency_key,
                is_lot,
                to_db(expires_at) if expires_at else None,
                note,
            ),
        )

    async def balance(self, customer_id: int) -> int:
        """In a write transaction, the customer's row is locked first: the balance holds
        until the transaction ends (two spends of the last points take turns)."""
        await self._session.lock("customers", customer_id)
        value = await self._session.fetch_value(
            "SELECT COALESCE(SUM(delta), 0) FROM points_entries WHERE customer_id = ?",
            (customer_id,),
        )
        return int(value)

    async def by_key(self, idempotency_key: str) -> PointsEntry | None:
        row = await self._session.fetch_one(
            "SELECT * FROM points_entries WHERE idempotency_key = ?", (idempotency_key,)
        )
        return None if row is None else PointsEntry.model_validate(dict(row))

    async def entry(self, entry_id: int) -> PointsEntry | None:
        row = await self._session.fetch_one(
            "SELECT * FROM points_entries WHERE id = ?", (entry_id,)
        )
        return None if row is None else PointsEntry.model_validate(dict(row))

    async def history(self, customer_id: int, limit: int = 10) -> list[PointsEntry]:
        rows = await self._session.fetch_all(
            "SELECT * FROM points_entries WHERE customer_id = ? ORDER BY id DESC LIMIT ?",
            (customer_id, limit),
        )
        return [PointsEntry.model_validate(dict(row)) for row in rows]

    async def open_lots(self, customer_id: int) -> list[Lot]:
        """Lots with points left, the first to burn first (never-expiring ones last); the
        customer locked first, as for `balance`."""
        await self._session.lock("customers", customer_id)
        rows = await self._session.fetch_all(
            "SELECT * FROM ("
            + _LOT_REMAINDER
            + """
            WHERE l.customer_id = ? AND l.is_lot = 1) AS lots
            WHERE remaining > 0
            ORDER BY expires_at IS NULL, expires_at, id
            """,
            (customer_id,),
        )
        return [_lot(row) for row in rows]

    async def lots_expiring(self, start: datetime, end: datetime) -> list[Lot]:
        """Every customer's lots with points left that burn in [start, end)."""
        rows = await self._session.fetch_all(
            "SELECT * FROM ("
            + _LOT_REMAINDER
            + """
            WHERE l.is_lot = 1 AND l.expires_at >= ? AND l.expires_at < ?) AS lots
            WHERE remaining > 0
            ORDER BY customer_id, expires_at
            """,
            (to_db(start), to_db(end)),
        )
        return [_lot(row) for row in rows]

    async def use_lots(self, entry_id: int, usage: Sequence[tuple[int, int]]) -> None:
        """(lot id, points) pairs: positive consumes a lot, negative gives points back."""
        await self._session.execute_many(
            "INSERT INTO lot_usage (entry_id, lot_id, points) VALUES (?, ?, ?)",
            [(entry_id, lot_id, points) for lot_id, points in usage],
        )

    async def usage_of(self, entry_id: int) -> list[tuple[int, int]]:
        rows = await self._session.fetch_all(
            "SELECT lot_id, points FROM lot_usage WHERE entry_id = ? ORDER BY rowid", (entry_id,)
        )
        return [(row["lot_id"], row["points"]) for row in rows]

    async def totals(self) -> tuple[int, int]:
        """(sum of all deltas, sum of all lots' remainders): equal in a consistent ledger."""
        balance = await self._session.fetch_value(
            "SELECT COALESCE(SUM(delta), 0) FROM points_entries"
        )
        lots = await self._session.fetch_value(
            "SELECT COALESCE(SUM(remaining), 0) FROM ("
            + _LOT_REMAINDER
            + " WHERE l.is_lot = 1) AS lots"
        )
        return int(balance), int(lots)


class PurchaseRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def by_order(self, order_id: str) -> Purchase | None:
        row = await self._session.fetch_one(
            "SELECT * FROM purchases WHERE order_id = ?", (order_id,)
        )
        return None if row is None else Purchase.model_validate(dict(row))

    async def add(self, purchase: Purchase) -> int:
        """Store a new purchase (its `id` is ignored); returns the id it was given."""
        purchase_id = await self._session.insert(
            """
            INSERT INTO purchases (order_id, customer_id, amount_minor, currency, purchased_at,
                                   recorded_at, points, balance_after, tier, recorded_by,
                                   purchased_epoch)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (
                purchase.order_id,
                purchase.customer_id,
                purchase.amount_minor,
                purchase.currency,
                to_db(purchase.purchased_at),
                to_db(purchase.recorded_at),
                purchase.points,
                purchase.balance_after,
                purchase.tier,
                purchase.recorded_by,
                int(purchase.purchased_at.timestamp()),
            ),
        )
        assert purchase_id is not None
        return purchase_id

    async def buyer_context(self, customer_id: int, window_start: datetime) -> BuyerContext:
        """Everything a new purchase needs to know about its buyer, in one round trip (after
        locking the buyer, as `LedgerRepository.balance` does)."""
        await self._session.lock("customers", customer_id)
        row = await self._session.fetch_one(
            """
            SELECT
              (SELECT COALESCE(SUM(p.amount_minor - COALESCE(
                   (SELECT SUM(r.amount_minor) FROM refunds r WHERE r.purchase_id = p.id), 0)), 0)
               FROM purchases p WHERE p.customer_id = :customer AND p.purchased_at >= :since)
                AS spend,
              EXISTS (SELECT 1 FROM purchases WHERE customer_id = :customer) AS has_purchases,
              (SELECT COALESCE(SUM(delta), 0) FROM points_entries WHERE customer_id = :customer)
                AS balance
            """,
            {"customer": customer_id, "since": to_db(window_start)},
        )
        assert row is not None
        return BuyerContext(int(row["spend"]), bool(row["has_purchases"]), int(row["balance"]))

    async def count(self, customer_id: int) -> int:
        return int(
            await self._session.fetch_value(
                "SELECT COUNT(*) FROM purchases WHERE customer_id = ?", (customer_id,)
            )
        )

    async def recent(self, customer_id: int, limit: int = 5) -> list[Purchase]:
        rows = await self._session.fetch_all(
            "SELECT * FROM purchases WHERE customer_id = ? ORDER BY purchased_at DESC LIMIT ?",
            (customer_id, limit),
        )
        return [Purchase.model_validate(dict(row)) for row in rows]

    async def spend_since(self, customer_id: int, since: datetime) -> int:
        """Net spend (purchases minus their refunds) of purchases made since `since`."""
        value = await self._session.fetch_value(
            """
            SELECT COALESCE(SUM(p.amount_minor - COALESCE(
                       (SELECT SUM(r.amount_minor) FROM refunds r WHERE r.purchase_id = p.id), 0)
                   ), 0)
            FROM purchases p WHERE p.customer_id = ? AND p.purchased_at >= ?
            """,
            (customer_id, to_db(since)),
        )
        return int(value)

    async def refund_by_key(self, refund_key: str) -> Refund | None:
        row = await self._session.fetch_one(
            "SELECT * FROM refunds WHERE refund_key = ?", (refund_key,)
        )
        return None if row is None else Refund.model_validate(dict(row))

    async def refunded(self, purchase_id: int) -> tuple[int, int]:
        """(amount refunded so far in minor units, points reversed so far incl. uncollected).
        The purchase is locked first: two refunds of one order take turns."""
        await self._session.lock("purchases", purchase_id)
        row = await self._session.fetch_one(
            "SELECT COALESCE(SUM(amount_minor), 0) AS amount, "
            "COALESCE(SUM(points_reversed + points_uncollected), 0) AS points "
            "FROM refunds WHERE purchase_id = ?",
            (purchase_id,),
        )
        assert row is not None
        return int(row["amount"]), int(row["points"])

    async def add_refund(
        self,
        *,
        refund_key: str,
        purchase_id: int,
        amount_minor: int,
        points_reversed: int,
        points_uncollected: int,
        balance_after: int,
        at: datetime,
    ) -> None:
        await self._session.execute(
            """
            INSERT INTO refunds (refund_key, purchase_id, amount_minor, points_reversed,
                                 points_uncollected, balance_after, at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """,
            (
                refund_key,
                purchase_id,
                amount_minor,
                points_reversed,
                points_uncollected,
                balance_after,
                to_db(at),
            ),
        )
