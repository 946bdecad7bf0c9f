"""Redemption codes: a reward (or N points) reserved for the till, one row per code."""

from __future__ import annotations

from datetime import datetime

from storage.clock import to_db
from storage.database import Session
from storage.models import Moment, Record


class Redemption(Record):
    id: int
    code: str
    customer_id: int
    reward_id: str | None  # None: "use N points" against a sale
    points: int
    created_at: Moment
    expires_at: Moment
    state: str  # issued, confirmed, expired, cancelled
    closed_at: Moment | None
    confirmed_by: int | None
    sale_amount_minor: int | None


class RedemptionRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(
        self,
        *,
        code: str,
        customer_id: int,
        reward_id: str | None,
        points: int,
        created_at: datetime,
        expires_at: datetime,
    ) -> int | None:
        """A new issued code; None when the code was ever used before (pick another)."""
        return await self._session.insert(
            """
            INSERT INTO redemptions (code, customer_id, reward_id, points, created_at, expires_at)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (code) DO NOTHING
            """,
            (code, customer_id, reward_id, points, to_db(created_at), to_db(expires_at)),
        )

    async def by_code(self, code: str) -> Redemption | None:
        row = await self._session.fetch_one("SELECT * FROM redemptions WHERE code = ?", (code,))
        return None if row is None else Redemption.model_validate(dict(row))

    async def by_id(self, redemption_id: int) -> Redemption | None:
        row = await self._session.fetch_one(
            "SELECT * FROM redemptions WHERE id = ?", (redemption_id,)
        )
        return None if row is None else Redemption.model_validate(dict(row))

    async def open_of(self, customer_id: int) -> list[Redemption]:
        """The customer's codes still in state 'issued' (some may be past their expiry)."""
        # Locked first, as the ledger does: two codes issued at once take turns.
        await self._session.lock("customers", customer_id)
        rows = await self._session.fetch_all(
            "SELECT * FROM redemptions WHERE customer_id = ? AND state = 'issued' ORDER BY id",
            (customer_id,),
        )
        return [Redemption.model_validate(dict(row)) for row in rows]

    async def close(
        self,
        redemption_id: int,
        state: str,
        at: datetime,
        *,
        confirmed_by: int | None = None,
        sale_amount_minor: int | None = None,
    ) -> bool:
        """Move an issued code to `state`; False when it was not 'issued' any more, so of two
        cashiers (or a cashier and the expiry job) closing the same code only one wins."""
        changed = await self._session.execute(
            """
            UPDATE redemptions
            SET state = ?, closed_at = ?, confirmed_by = ?, sale_amount_minor = ?
            WHERE id = ? AND state = 'issued'
            """,
            (state, to_db(at), confirmed_by, sale_amount_minor, redemption_id),
        )
        return changed > 0

    async def due_for_expiry(self, now: datetime, limit: int = 100) -> list[Redemption]:
        """Issued codes whose time ran out by `now`, the oldest first."""
        rows = await self._session.fetch_all(
            "SELECT * FROM redemptions WHERE state = 'issued' AND expires_at <= ? "
            "ORDER BY expires_at, id LIMIT ?",
            (to_db(now), limit),
        )
        return [Redemption.model_validate(dict(row)) for row in rows]
