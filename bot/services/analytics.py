"""Retention figures for a period: is the bot keeping customers? Definitions in the README.

Period P = [end − d, end) and the previous one Q = [end − 2d, end − d). A customer "at" a
moment is one who bought in the d days before it: one population, whatever the moment.
- S = customers at the start of P (bought in Q); E = customers at its end (bought in P);
  N = customers gained in P: those of E who were not customers at its start (first-time
  buyers, and earlier buyers who came back after a gap). CRR = (E − N) / S × 100, which is
  the share of S still customers at the end (E − N = E ∩ S), so 0–100 % by definition, no
  clamp; churn = 100 − CRR, the share of S lost. (Counting as N only first-time buyers, as
  before, counted the comebacks as retained though they were not in S: up to E / S, 200 %.)
- new = first purchase ever in P; returning = E − new; lost = bought before P, not in P.
- returning buyers are banded by purchases in the last 90 days into frequent / medium /
  rare at the terciles of the returning buyers themselves.
- CSAT = support ratings of 4-5 stars / all support ratings given in P × 100, overall and
  per agent (the ticket's assignee).
- tickets: opened and closed in P; medians of first-response time (tickets opened in P and
  answered) and of resolution time (tickets closed in P); within SLA = tickets opened in P
  first answered within SUPPORT_FIRST_RESPONSE_MINUTES / tickets opened in P that were
  answered or have waited longer than that × 100.
- FAQ deflection = confident answers in P not followed by a ticket of the same customer
  within 24 h / confident answers in P × 100.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from bot.services.loyalty.rules import LoyaltyRules
from bot.services.reviews import net_promoter_score
from storage.clock import utcnow
from storage.repositories.analytics import AgentRatings, BuyerHistories, TicketTimes
from storage.unit_of_work import Storage, UnitOfWork

FREQUENCY_WINDOW = timedelta(days=90)
# A confident FAQ answer counts as deflected when no ticket follows within this.
DEFLECTION_WINDOW = timedelta(hours=24)
# Support ratings counted as satisfied (CSAT).
SATISFIED_RATING = 4
RFM_DIMENSIONS = ("recency", "frequency", "monetary")


def buyer_groups(h: BuyerHistories, start: datetime) -> dict[str, np.ndarray]:
    """Per buyer (one element per row of `h`), the period's groups: new, returning, the
    returning banded into frequent / medium / rare, and lost. One definition for /stats and
    for broadcast segments."""
    bought = h.in_period > 0
    is_new = bought & (h.first_at >= int(start.timestamp()))
    is_returning = bought & ~is_new
    counts = h.in_frequency_window[is_returning]
    low, high = np.quantile(counts, [1 / 3, 2 / 3]) if counts.size else (0.0, 0.0)
    window = h.in_frequency_window
    return {
        "new": is_new,
        "returning": is_returning,
        "frequent": is_returning & (window > high),
        "medium": is_returning & (window > low) & (window <= high),
        "rare": is_returning & (window <= low),
        "lost": ~bought,
    }


def rfm_scores(h: BuyerHistories) -> dict[str, np.ndarray]:
    """Per buyer, the 1–5 score of recency, frequency and monetary value (quintiles of the
    buyers themselves; ties share a score)."""
    scores = {}
    for name, values in zip(RFM_DIMENSIONS, (h.last_at, h.purchases, h.monetary), strict=True):
        if not values.size:
            scores[name] = np.zeros(0, dtype=np.int64)
            continue
        cuts = np.quantile(values, [0.2, 0.4, 0.6, 0.8], method="lower")
        scores[name] = np.searchsorted(cuts, values, side="right") + 1
    return scores


async def audiences(uow: UnitOfWork, days: int, end: datetime) -> dict[str, frozenset[int]]:
    """The customers in each analytics group of the `days` before `end` ("new", "lost",
    ...) and with each RFM score ("recency:5", ...): what broadcast segments select."""
    start = end - timedelta(days=days)
    h = await uow.analytics.buyer_histories(
        end, start, end - 2 * timedelta(days=days), end - FREQUENCY_WINDOW
    )
    found = {
        name: frozenset(int(i) for i in h.customer_id[members])
        for name, members in buyer_groups(h, start).items()
    }
    for name, scores in rfm_scores(h).items():
        for score in range(1, 6):
            found[f"{name}:{score}"] = frozenset(int(i) for i in h.customer_id[scores == score])
    return found


@dataclass(frozen=True)
class Segment:
    name: str
    customers: int
    revenue: Decimal
    purchases: int
    average_check: Decimal | None
    revenue_share: float | None


@dataclass(frozen=True)
class CohortRow:
    cohort: str  # 'YYYY-MM' of the first purchase
    customers: int
    shares: list[float]  # % of the cohort buying in its month 0, 1, 2, ... (up to now)


@dataclass(frozen=True)
class AgentCsat:
    agent_id: int | None
    agent: str  # as the agents' chat shows them; "—" for tickets nobody took
    ratings: int
    satisfied: int  # 4-5 stars
    csat: float | None  # satisfied / ratings × 100


@dataclass(frozen=True)
class WeekActivity:
    start: datetime
    active: int  # customers who bought in the week
    retained: int  # of them, customers who had bought before the week


@dataclass(frozen=True)
class Figures:
    period_start: datetime
    period_end: datetime
    days: int
    customers_total: int
    customers_active: int
    buyers: int
    buyers_previous: int
    new: int
    returning: int
    lost: int
    # CRR's terms (the module's docstring): customers at the period's start (S) and end (E),
    # and those gained in it (N).
    customers_start: int
    customers_end: int
    gained: int
    crr: float | None
    churn: float | None
    revenue: Decimal
    revenue_new: Decimal
    revenue_returning: Decimal
    refunds: Decimal
    purchases: int
    average_check: Decimal | None
    purchase_frequency: float | None
    repeat_purchase_rate: float | None
    clv: Decimal | None
    points_issued: int
    points_spent: int
    points_expired: int
    points_refunded: int
    points_liability: int
    points_liability_value: Decimal
    reviews: int
    average_rating: float | None
    nps: float | None
    nps_answers: int
    faq_questions: int
    faq_answered: int
    faq_suggested: int
    faq_declined: int
    faq_helpful: int
    faq_unhelpful: int
    faq_deflected: int
    faq_deflection_rate: float | None
    csat: float | None
    csat_ratings: int
    csat_by_agent: list[AgentCsat]
    tickets_opened: int
    tickets_closed: int
    first_response_median_minutes: float | None
    resolution_median_minutes: float | None
    sla_minutes: float | None
    first_response_within_sla: float | None
    broadcasts_started: int
    broadcast_delivered: int
    broadcast_blocked: int
    broadcast_failed: int
    unsubscribed: int
    segments: list[Segment] = field(default_factory=list)
    rfm: dict[str, dict[int, int]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, Decimal):
                return float(value)
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {str(key): plain(item) for key, item in value.items()}
            if isinstance(value, list):
                return [plain(item) for item in value]
            return value

        return {key: plain(value) for key, value in asdict(self).items()}


def _money(minor: int) -> Decimal:
    return (Decimal(minor) / 100).quantize(Decimal("0.01"))


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator * 100, 2) if denominator else None


def _median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 1) if values else None


def within_sla(times: TicketTimes, sla_minutes: float | None) -> float | None:
    """Tickets first answered within the SLA, as a share of those whose SLA is decided:
    answered, or still unanswered after longer than the SLA."""
    if not sla_minutes:
        return None
    met = decided = 0
    for response, age in zip(
        times.first_response_minutes, times.opened_minutes_before_end, strict=True
    ):
        if response is not None:
            decided += 1
            met += response <= sla_minutes
        elif age > sla_minutes:
            decided += 1
    return _ratio(met, decided)


def agent_csat(rows: list[AgentRatings]) -> list[AgentCsat]:
    return [
        AgentCsat(
            row.agent_id,
            row.agent or "—",
            row.ratings,
            row.satisfied,
            _ratio(row.satisfied, row.ratings),
        )
        for row in rows
    ]


class AnalyticsService:
    def __init__(
        self, storage: Storage, rules: LoyaltyRules, sla_minutes: float | None = None
    ) -> None:
        self._storage = storage
        self._rules = rules
        self._sla_minutes = sla_minutes or None

    async def figures(self, days: int, end: datetime | None = None) -> Figures:
        end = end or utcnow()
        period = timedelta(days=days)
        start, previous = end - period, end - 2 * period
        async with self._storage.read() as uow:
            histories = await uow.analytics.buyer_histories(
                end, start, previous, end - FREQUENCY_WINDOW
            )
            total, active_seen = await uow.analytics.customers(end, start)
            refunds = await uow.analytics.refunds(start, end)
            points = await uow.analytics.points(start, end)
            faq = await uow.analytics.faq(start, end)
            reviews, average_rating = await uow.reviews.average(start, end)
            nps_scores = await uow.nps.scores(start, end)
            deflected = await uow.analytics.faq_deflected(
                start, end, int(DEFLECTION_WINDOW.total_seconds())
            )
            tickets = await uow.analytics.ticket_times(start, end)
            ratings = await uow.analytics.support_ratings(start, end)
            broadcasts = await uow.analytics.broadcasts(start, end)

        h = histories
        groups = buyer_groups(h, start)
        bought = h.in_period > 0
        is_new, is_returning = groups["new"], groups["returning"]
        buyers, new = int(bought.sum()), int(is_new.sum())
        at_start = h.in_previous > 0
        previous_buyers = int(at_start.sum())
        gained = int((bought & ~at_start).sum())
        crr = _ratio(buyers - gained, previous_buyers)
        purchases = int(h.in_period.sum())
        revenue = int(h.revenue_in_period.sum())
        average_check = _money(round(revenue / purchases)) if purchases else None
        frequency = round(purchases / buyers, 3) if buyers else None
        repeaters = int((bought & (h.purchases > 1)).sum())
        clv = None
        if average_check is not None and frequency is not None and crr is not None and crr < 100:
            # Expected lifetime in periods is 1 / churn rate (a geometric survival).
            lifetime = Decimal(100) / Decimal(str(100 - crr))
            clv = (average_check * Decimal(str(frequency)) * lifetime).quantize(Decimal("0.01"))
        segments = self._segments(h, groups, revenue)
        return Figures(
            period_start=start,
            period_end=end,
            days=days,
            customers_total=total,
            # Seen in the bot in the period; a buyer counts even if they never wrote.
            customers_active=max(active_seen, buyers),
            buyers=buyers,
            buyers_previous=previous_buyers,
            new=new,
            returning=int(is_returning.sum()),
            lost=int((~bought).sum()),
            customers_start=previous_buyers,
            customers_end=buyers,
            gained=gained,
            crr=crr,
            churn=None if crr is None else round(100 - crr, 2),
            revenue=_money(revenue),
            revenue_new=_money(int(h.revenue_in_period[is_new].sum())),
            revenue_returning=_money(int(h.revenue_in_period[is_returning].sum())),
            refunds=_money(refunds),
            purchases=purchases,
            average_check=average_check,
            purchase_frequency=frequency,
            repeat_purchase_rate=_ratio(repeaters, buyers),
            clv=clv,
            points_issued=points.issued,
            points_spent=points.spent,
            points_expired=points.expired,
            points_refunded=points.refunded,
            points_liability=points.liability,
            points_liability_value=_money(self._rules.points_value_minor(points.liability)),
            reviews=reviews,
            average_rating=average_rating,
            nps=net_promoter_score(nps_scores),
            nps_answers=len(nps_scores),
            faq_questions=faq.asked,
            faq_answered=faq.answered,
            faq_suggested=faq.suggested,
            faq_declined=faq.declined,
            faq_helpful=faq.helpful,
            faq_unhelpful=faq.unhelpful,
            faq_deflected=deflected,
            faq_deflection_rate=_ratio(deflected, faq.answered),
            csat=_ratio(sum(r.satisfied for r in ratings), sum(r.ratings for r in ratings)),
            csat_ratings=sum(r.ratings for r in ratings),
            csat_by_agent=agent_csat(ratings),
            tickets_opened=tickets.opened,
            tickets_closed=tickets.closed,
            first_response_median_minutes=_median(
                [m for m in tickets.first_response_minutes if m is not None]
            ),
            resolution_median_minutes=_median(tickets.resolution_minutes),
            sla_minutes=self._sla_minutes,
            first_response_within_sla=within_sla(tickets, self._sla_minutes),
            broadcasts_started=broadcasts.broadcasts,
            broadcast_delivered=broadcasts.delivered,
            broadcast_blocked=broadcasts.blocked,
            broadcast_failed=broadcasts.failed,
            unsubscribed=broadcasts.unsubscribed,
            segments=segments,
            rfm=self._rfm(histories),
        )

    def _segments(
        self, h: BuyerHistories, groups: dict[str, np.ndarray], revenue: int
    ) -> list[Segment]:
        groups = {name: members for name, members in groups.items() if name != "returning"}
        segments = []
        for name, members in groups.items():
            segment_revenue = int(h.revenue_in_period[members].sum())
            segment_purchases = int(h.in_period[members].sum())
            segments.append(
                Segment(
                    name=name,
                    customers=int(members.sum()),
                    revenue=_money(segment_revenue),
                    purchases=segment_purchases,
                    average_check=(
                        _money(round(segment_revenue / segment_purchases))
                        if segment_purchases
                        else None
                    ),
                    revenue_share=_ratio(segment_revenue, revenue),
                )
            )
        return segments

    @staticmethod
    def _rfm(h: BuyerHistories) -> dict[str, dict[int, int]]:
        """How many customers have each 1–5 score of recency, frequency and monetary value
        (quintiles of the customers themselves; ties share a score)."""
        if not h.purchases.size:
            return {}
        return {
            name: {
                value: int(count)
                for value, count in enumerate(np.bincount(score, minlength=6))
                if value
            }
            for name, score in rfm_scores(h).items()
        }

    async def weekly_activity(
        self, weeks: int = 12, end: datetime | None = None
    ) -> list[WeekActivity]:
        """Customers active (bought) in each of the last `weeks` 7-day weeks, and of them the
        retained ones (who had bought before that week); oldest week first."""
        end = end or utcnow()
        async with self._storage.read() as uow:
            rows = await uow.analytics.weekly_activity(end, weeks)
        found = {week: (active, retained) for week, active, retained in rows}
        origin = end - timedelta(weeks=weeks)
        return [
            WeekActivity(origin + timedelta(weeks=week), *found.get(week, (0, 0)))
            for week in range(weeks)
        ]

    async def cohorts(self, months: int, now: datetime | None = None) -> list[CohortRow]:
        """Monthly cohorts by first purchase: the share of each buying in each later month."""
        now = now or utcnow()
        first = _shift_month(now.year, now.month, -(months - 1))
        async with self._storage.read() as uow:
            activity = await uow.analytics.cohort_activity(f"{first[0]:04d}-{first[1]:02d}")
        by_cohort: dict[str, dict[str, int]] = {}
        for cohort, active_month, customers in activity:
            by_cohort.setdefault(cohort, {})[active_month] = customers
        rows = []
        for cohort, months_active in sorted(by_cohort.items()):
            year, month = (int(part) for part in cohort.split("-"))
            size = months_active.get(cohort, 0)
            shares = []
            offset = 0
            while _shift_month(year, month, offset) <= (now.year, now.month):
                key = "{:04d}-{:02d}".format(*_shift_month(year, month, offset))
                shares.append(round(months_active.get(key, 0) / size * 100, 1) if size else 0.0)
                offset += 1
            rows.append(CohortRow(cohort, size, shares))
        return rows


def _shift_month(year: int, month: int, offset: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + offset
    return index // 12, index % 12 + 1
