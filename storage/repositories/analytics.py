"""Aggregates for retention analytics, computed in SQL over purchases, points and the FAQ."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from storage.clock import to_db
from storage.database import Row, Session


@dataclass(frozen=True)
class BuyerHistories:
    """Every customer's purchases up to the end of the period, one array element per
    customer (columns, not objects: 100,000 customers are summed in milliseconds)."""

    first_at: np.ndarray  # Unix seconds of the first purchase
    last_at: np.ndarray
    purchases: np.ndarray  # all, up to the end
    in_period: np.ndarray
    in_previous: np.ndarray
    in_frequency_window: np.ndarray
    revenue_in_period: np.ndarray  # minor units
    monetary: np.ndarray  # all spend up to the end, minor units


@dataclass(frozen=True)
class PointsFlow:
    issued: int
    spent: int
    expired: int
    refunded: int
    liability: int  # balance of everyone at the end


@dataclass(frozen=True)
class FaqFlow:
    asked: int
    answered: int
    suggested: int
    declined: int
    helpful: int
    unhelpful: int


class AnalyticsRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def buyer_histories(
        self,
        end: datetime,
        period_start: datetime,
        previous_start: datetime,
        frequency_start: datetime,
    ) -> BuyerHistories:
        rows = await self._session.fetch_all(
            """
            SELECT MIN(purchased_epoch) AS first_at,
                   MAX(purchased_epoch) AS last_at,
                   COUNT(*) AS purchases,
                   SUM(CASE WHEN purchased_epoch >= :period THEN 1 ELSE 0 END) AS in_period,
                   SUM(CASE WHEN purchased_epoch >= :previous AND purchased_epoch < :period
                            THEN 1 ELSE 0 END) AS in_previous,
                   SUM(CASE WHEN purchased_epoch >= :frequency THEN 1 ELSE 0 END)
                       AS in_frequency_window,
                   SUM(CASE WHEN purchased_epoch >= :period THEN amount_minor ELSE 0 END)
                       AS revenue_in_period,
                   SUM(amount_minor) AS monetary
            FROM purchases
            WHERE purchased_epoch < :end
            GROUP BY customer_id
            """,
            {
                "end": int(end.timestamp()),
                "period": int(period_start.timestamp()),
                "previous": int(previous_start.timestamp()),
                "frequency": int(frequency_start.timestamp()),
            },
        )
        columns = np.array(rows, dtype=np.int64).reshape(-1, 8)
        return BuyerHistories(*(columns[:, index] for index in range(8)))

    async def customers(self, end: datetime, active_since: datetime) -> tuple[int, int]:
        """(customers known at the end, customers seen in the bot since `active_since`)."""
        row = await self._session.fetch_one(
            "SELECT COUNT(*), SUM(CASE WHEN last_seen >= ? THEN 1 ELSE 0 END) "
            "FROM customers WHERE first_seen < ?",
            (to_db(active_since), to_db(end)),
        )
        assert row is not None
        return int(row[0]), int(row[1] or 0)

    async def refunds(self, start: datetime, end: datetime) -> int:
        value = await self._session.fetch_value(
            "SELECT COALESCE(SUM(amount_minor), 0) FROM refunds WHERE at >= ? AND at < ?",
            (to_db(start), to_db(end)),
        )
        return int(value)

    async def points(self, start: datetime, end: datetime) -> PointsFlow:
        row = await self._session.fetch_one(
            """
            SELECT
              COALESCE(SUM(CASE WHEN at >= :start AND delta > 0
                                 AND reason NOT IN ('redeem_return') THEN delta END), 0),
              COALESCE(SUM(CASE WHEN at >= :start AND reason IN ('redeem', 'redeem_return')
                                THEN -delta END), 0),
              COALESCE(SUM(CASE WHEN at >= :start AND reason = 'expire' THEN -delta END), 0),
              COALESCE(SUM(CASE WHEN at >= :start AND reason = 'refund' THEN -delta END), 0),
              COALESCE(SUM(delta), 0)
            FROM points_entries WHERE at < :end
            """,
            {"start": to_db(start), "end": to_db(end)},
        )
        assert row is not None
        return PointsFlow(*(int(value) for value in row))

    async def faq(self, start: datetime, end: datetime) -> FaqFlow:
        row = await self._session.fetch_one(
            """
            SELECT COALESCE(SUM(CASE WHEN outcome <> 'browsed' THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN outcome IN ('suggested', 'picked') THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN outcome = 'declined' THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN feedback = 'helpful' THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN feedback = 'unhelpful' THEN 1 ELSE 0 END), 0)
            FROM faq_queries WHERE at >= ? AND at < ?
            """,
            (to_db(start), to_db(end)),
        )
        assert row is not None
        return FaqFlow(*(int(value) for value in row))

    async def cohort_activity(self, since_month: str) -> list[tuple[str, str, int]]:
        """(cohort month of the first purchase, month of activity, customers) for cohorts
        from `since_month` ('YYYY-MM') on."""
        rows = await self._session.fetch_all(
            """
            WITH firsts AS (
                SELECT customer_id, substr(MIN(purchased_at), 1, 7) AS cohort
                FROM purchases GROUP BY customer_id
            ),
            active AS (
                SELECT DISTINCT customer_id, substr(purchased_at, 1, 7) AS month
                FROM purchases WHERE purchased_at >= ?
            )
            SELECT f.cohort, a.month, COUNT(*) AS customers
            FROM firsts f JOIN active a ON a.customer_id = f.customer_id
            WHERE f.cohort >= ?
            GROUP BY f.cohort, a.month
            ORDER BY f.cohort, a.month
            """,
            (since_month, since_month),
        )
        return [(row[0], row[1], int(row[2])) for row in rows]

    async def stream(self, sql: str, size: int = 2000) -> AsyncIterator[list[Row]]:
        """Rows of a query in chunks, so an export of any size never sits in memory whole."""
        async for chunk in self._session.stream(sql, size=size):
            yield chunk
