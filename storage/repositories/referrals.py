"""Who invited whom, and whether the friend has bought yet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.clock import to_db
from storage.database import Session
from storage.models import Moment, Record


class Referral(Record):
    referee_id: int
    referrer_id: int
    attributed_at: Moment
    converted_at: Moment | None
    order_id: str | None
    referrer_points: int
    referee_points: int
    reversed_at: Moment | None = None


@dataclass(frozen=True)
class ReferralStats:
    invited: int
    converted: int
    points: int


class ReferralRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def of_referee(self, referee_id: int) -> Referral | None:
        row = await self._session.fetch_one(
            "SELECT * FROM referrals WHERE referee_id = ?", (referee_id,)
        )
        return None if row is None else Referral.model_validate(dict(row))

    async def attribute(self, referee_id: int, referrer_id: int, at: datetime) -> bool:
        inserted = await self._session.execute(
            "INSERT INTO referrals (referee_id, referrer_id, attributed_at) VALUES (?, ?, ?) "
            "ON CONFLICT (referee_id) DO NOTHING",
            (referee_id, referrer_id, to_db(at)),
        )
        return inserted > 0

    async def convert(
        self,
        referee_id: int,
        order_id: str,
        at: datetime,
        referrer_points: int,
        referee_points: int,
    ) -> bool:
        changed = await self._session.execute(
            "UPDATE referrals SET converted_at = ?, order_id = ?, referrer_points = ?, "
            "referee_points = ? WHERE referee_id = ? AND converted_at IS NULL",
            (to_db(at), order_id, referrer_points, referee_points, referee_id),
        )
        return changed > 0

    async def reverse(self, referee_id: int, at: datetime) -> bool:
        """Close a converted referral for good (its qualifying purchase was refunded); False
        when it was not converted, or was reversed before."""
        changed = await self._session.execute(
            "UPDATE referrals SET reversed_at = ? "
            "WHERE referee_id = ? AND converted_at IS NOT NULL AND reversed_at IS NULL",
            (to_db(at), referee_id),
        )
        return changed > 0

    async def rewarded_since(self, referrer_id: int, since: datetime) -> int:
        """Conversions since `since` that earned the referrer points (the monthly cap)."""
        return int(
            await self._session.fetch_value(
                "SELECT COUNT(*) FROM referrals WHERE referrer_id = ? AND converted_at >= ? "
                "AND referrer_points > 0 AND reversed_at IS NULL",
                (referrer_id, to_db(since)),
            )
        )

    async def stats(self, referrer_id: int) -> ReferralStats:
        row = await self._session.fetch_one(
            "SELECT COUNT(*) AS invited, "
            "COALESCE(SUM(CASE WHEN converted_at IS NOT NULL AND reversed_at IS NULL "
            "THEN 1 ELSE 0 END), 0) AS converted, "
            "COALESCE(SUM(CASE WHEN reversed_at IS NULL THEN referrer_points ELSE 0 END), 0) "
            "AS points FROM referrals WHERE referrer_id = ?",
            (referrer_id,),
        )
        assert row is not None
        return ReferralStats(row["invited"], row["converted"], row["points"])

    async def chain_contains(self, start_id: int, wanted_id: int, limit: int = 100) -> bool:
        """Whether `wanted_id` is `start_id` or one of its referrers, up the chain."""
        current: int | None = start_id
        for _ in range(limit):
            if current is None:
                return False
            if current == wanted_id:
                return True
            current = await self._session.fetch_value(
                "SELECT referrer_id FROM referrals WHERE referee_id = ?", (current,)
            )
        return True
