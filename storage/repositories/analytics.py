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
    customer_id: np.ndarray  # whose row it is (for segments that pick these customers)


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


@dataclass(frozen=True)
class TicketTimes:
    """Tickets opened in the period with their waits (minutes; None while none), and the
    resolution times of tickets closed in it."""

    opened: int
    closed: int
    first_response_minutes: list[float | None]  # one per ticket opened, None: no reply yet
    opened_minutes_before_end: list[float]  # how long before the period's end each opened
    resolution_minutes: list[float]  # one per ticket closed in the period


@dataclass(frozen=True)
class AgentRatings:
    agent_id: int | None
    agent: str | None
    ratings: int
    satisfied: int  # 4 or 5 stars


@dataclass(frozen=True)
class BroadcastFlow:
    broadcasts: int  # started in the period
    delivered: int
    blocked: int
    failed: int
    unsubscribed: int  # customers who opted out of promotions in the period (still out)


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
                   SUM(amount_minor) AS monetary,
                   customer_id
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
        columns = np.array(rows, dtype=np.int64).reshape(-1, 9)
        return BuyerHistories(*(columns[:, index] for index in range(9)))

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
              COALESCE(SUM(CASE WHEN at >= :start AND reason IN ('refund', 'referral_reversed')
                                THEN -delta END), 0),
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

    async def faq_deflected(self, start: datetime, end: datetime, within_seconds: int) -> int:
        """Confident FAQ answers in the period not followed by a support ticket of the same
        customer within `within_seconds`."""
        value = await self._session.fetch_value(
            """
            SELECT COUNT(*) FROM faq_queries q
            WHERE q.at >= ? AND q.at < ? AND q.outcome = 'answered'
              AND NOT EXISTS (
                  SELECT 1 FROM tickets t
                  WHERE t.customer_id = q.customer_id AND t.opened_at >= q.at
                    AND julianday(t.opened_at) - julianday(q.at) < ? / 86400.0)
            """,
            (to_db(start), to_db(end), within_seconds),
        )
        return int(value or 0)

    async def ticket_times(self, start: datetime, end: datetime) -> TicketTimes:
        begin, finish = to_db(start), to_db(end)
        opened = await self._session.fetch_all(
            """
            SELECT (julianday(first_response_at) - julianday(opened_at)) * 1440,
                   (julianday(?) - julianday(opened_at)) * 1440
            FROM tickets WHERE opened_at >= ? AND opened_at < ?
            """,
            (finish, begin, finish),
        )
        closed = await self._session.fetch_all(
            """
            SELECT (julianday(closed_at) - julianday(opened_at)) * 1440
            FROM tickets WHERE closed_at >= ? AND closed_at < ?
            """,
            (begin, finish),
        )
        return TicketTimes(
            opened=len(opened),
            closed=len(closed),
            first_response_minutes=[None if row[0] is None else float(row[0]) for row in opened],
            opened_minutes_before_end=[float(row[1]) for row in opened],
            resolution_minutes=[float(row[0]) for row in closed],
        )

    async def support_ratings(self, start: datetime, end: datetime) -> list[AgentRatings]:
        """Support ratings given in the period, per agent (the ticket's assignee)."""
        rows = await self._session.fetch_all(
            """
            SELECT assignee_id, MAX(assignee_name), COUNT(*),
                   SUM(CASE WHEN rating >= 4 THEN 1 ELSE 0 END)
            FROM tickets WHERE rated_at >= ? AND rated_at < ? AND rating IS NOT NULL
            GROUP BY assignee_id ORDER BY COUNT(*) DESC, assignee_id
            """,
            (to_db(start), to_db(end)),
        )
        return [
            AgentRatings(
                None if row[0] is None else int(row[0]), row[1], int(row[2]), int(row[3] or 0)
            )
            for row in rows
        ]

    async def broadcasts(self, start: datetime, end: datetime) -> BroadcastFlow:
        row = await self._session.fetch_one(
            """
            SELECT COUNT(DISTINCT b.id),
                   COALESCE(SUM(CASE WHEN r.state = 'sent' THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN r.state = 'blocked' THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN r.state = 'failed' THEN 1 ELSE 0 END), 0)
            FROM broadcasts b LEFT JOIN broadcast_recipients r ON r.broadcast_id = b.id
            WHERE b.started_at >= ? AND b.started_at < ?
            """,
            (to_db(start), to_db(end)),
        )
        unsubscribed = await self._session.fetch_value(
            "SELECT COUNT(*) FROM customers WHERE consent_promotions = 0 "
            "AND consents_changed_at >= ? AND consents_changed_at < ?",
            (to_db(start), to_db(end)),
        )
        assert row is not None
        started, delivered, blocked, failed = (int(value) for value in row)
        return BroadcastFlow(started, delivered, blocked, failed, int(unsubscribed or 0))

    async def weekly_activity(self, end: datetime, weeks: int) -> list[tuple[int, int, int]]:
        """(week index 0..weeks-1, oldest first, buyers that week, of them customers who had
        bought before the week) for the `weeks` 7-day weeks ending at `end`."""
        finish = int(end.timestamp())
        origin = finish - weeks * 604800
        rows = await self._session.fetch_all(
            """
            WITH active AS (
                SELECT DISTINCT customer_id, (purchased_epoch - ?) / 604800 AS week
                FROM purchases WHERE purchased_epoch >= ? AND purchased_epoch < ?
            )
            SELECT a.week, COUNT(*),
                   SUM(CASE WHEN (SELECT MIN(p.purchased_epoch) FROM purchases p
                        WHERE p.customer_id = a.customer_id) < ? + a.week * 604800
                       THEN 1 ELSE 0 END)
            FROM active a GROUP BY a.week ORDER BY a.week
            """,
            (origin, origin, finish, origin),
        )
        return [(int(row[0]), int(row[1]), int(row[2] or 0)) for row in rows]

    async def cohort_activity(self, since_month: str) -> list[tuple[str, str, int]]:
        """(cohort month of the first purchase, month of activity, customers) for cohorts
        from `since_month` ('YYYY-MM') on."""
        rows = await self._session.fetch_all(
            """
            WITH firsts AS (
                SELECT customer_id, substr(CAST(MIN(purchased_at) AS TEXT), 1, 7) AS cohort
                FROM purchases GROUP BY customer_id
            ),
            active AS (
                SELECT DISTINCT customer_id, substr(CAST(purchased_at AS TEXT), 1, 7) AS month
                FROM purchases WHERE purchased_at >= ?
            )
            SELECT f.cohort, a.month, COUNT(*) AS customers
            FROM firsts f JOIN active a ON a.customer_id = f.customer_id
            WHERE f.cohort >= ?
            GROUP BY f.cohort, a.month
            ORDER BY f.cohort, a.month
            """,
            # The month's first moment for the timestamp, the month for the text; a
            # timestamptz as text starts with the UTC date and time (the session's zone is
            # UTC), as the text SQLite stores does.
            (f"{since_month}-01 00:00:00.000000", since_month),
        )
        return [(row[0], row[1], int(row[2])) for row in rows]

    async def stream(self, sql: str, size: int = 2000) -> AsyncIterator[list[Row]]:
        """Rows of a query in chunks, so an export of any size never sits in memory whole."""
        async for chunk in self._session.stream(sql, size=size):
            yield chunk
