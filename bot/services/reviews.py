"""Reviews: a rating in the chat, an optional comment, the review bonus once, and the
rating requests sent a while after a purchase."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.domain.quiet_hours import QuietHours
from bot.services.access import Actor, audit
from bot.services.broadcasts.segments import Compiled, normalise
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.rules import LoyaltyRules
from bot.services.review_posts import PublishedPost, published_posts
from storage.clock import utcnow
from storage.models import Customer
from storage.repositories.reviews import Review
from storage.unit_of_work import Storage

# A customer without a purchase to rate may review once in this period.
REVIEW_PERIOD = timedelta(days=30)
# A comment or photo joins the rating only this soon after it.
COMMENT_WINDOW = timedelta(hours=1)
# Purchases older than this when the delay has passed are not asked about any more (the bot
# was down for days, say): a rating request a week late only annoys.
REQUEST_LOOKBACK = timedelta(days=2)
LOW_RATING = 3
# Reviews of this many stars with text may be published to REVIEWS_CHANNEL_ID.
PUBLISHED_STARS = 5


class Refusal(enum.Enum):
    RECENTLY_REVIEWED = "recently_reviewed"
    ALREADY_RATED = "already_rated"
    # A purchase rating nobody asked this customer for: someone else's purchase, or one of
    # theirs the rating request never went out for (a forged button).
    NOT_ASKED = "not_asked"


@dataclass(frozen=True)
class Rated:
    review: Review
    bonus: int
    # At or below LOW_RATING: somebody should call the customer back.
    needs_recovery: bool


class ReviewService:
    def __init__(
        self,
        storage: Storage,
        rules: LoyaltyRules,
        ledger: PointsLedger,
        request_delay: timedelta | None,
        quiet_hours: QuietHours | None,
        zone: ZoneInfo,
    ) -> None:
        self._storage = storage
        self._rules = rules
        self._ledger = ledger
        self._request_delay = request_delay
        self._quiet_hours = quiet_hours
        self._zone = zone

    async def published_posts(self, customer_id: int) -> list[PublishedPost]:
        """The customer's reviews on the channel; read before an erasure (review_posts.py)."""
        return await published_posts(self._storage, customer_id)

    async def can_review(self, customer: Customer) -> Refusal | None:
        """Whether /review may go on: a purchase to rate, or no review in the last 30 days."""
        now = utcnow()
        async with self._storage.read() as uow:
            if await uow.reviews.unreviewed_purchase(customer.id, now - REVIEW_PERIOD):
                return None
            latest = await uow.reviews.latest_of(customer.id)
        if latest is not None and latest.created_at > now - REVIEW_PERIOD:
            return Refusal.RECENTLY_REVIEWED
        return None

    async def rate(
        self, customer: Customer, stars: int, purchase_id: int | None = None
    ) -> Rated | Refusal:
        """Store a rating (of a given purchase, by its rating request only, else of the
        latest unrated one within 30 days, else a general one) and credit the review bonus
        once."""
        if not 1 <= stars <= 5:
            raise ValueError("stars go from 1 to 5")
        now = utcnow()
        async with self._storage.write() as uow:
            source = "request" if purchase_id is not None else "command"
            if purchase_id is not None:
                if not await uow.reviews.rating_requested(purchase_id, customer.id):
                    return Refusal.NOT_ASKED
                if await uow.reviews.for_purchase(purchase_id) is not None:
                    return Refusal.ALREADY_RATED
            else:
                purchase_id = await uow.reviews.unreviewed_purchase(
                    customer.id, now - REVIEW_PERIOD
                )
                if purchase_id is None:
                    latest = await uow.reviews.latest_of(customer.id)
                    if latest is not None and latest.created_at > now - REVIEW_PERIOD:
                        return Refusal.RECENTLY_REVIEWED
            review_id = await uow.reviews.add(customer.id, purchase_id, stars, source, now)
            if review_id is None:
                return Refusal.ALREADY_RATED
            bonus = self._rules.review_bonus
            credited = await self._ledger.credit(
                uow,
                customer.id,
                bonus,
                "review",
                at=now,
                source=f"review:{review_id}",
                key=f"review:{review_id}",
            )
            review = await uow.reviews.by_id(review_id)
            assert review is not None
        return Rated(review, bonus if credited else 0, stars <= LOW_RATING)

    async def comment(
        self, customer: Customer, review_id: int, text: str | None, photo: str | None
    ) -> Review | None:
        """Attach a comment or photo to the customer's own recent review."""
        now = utcnow()
        async with self._storage.write() as uow:
            review = await uow.reviews.by_id(review_id)
            if (
                review is None
                or review.customer_id != customer.id
                or review.created_at < now - COMMENT_WINDOW
            ):
                return None
            await uow.reviews.set_comment(review_id, text, photo, now)
            return await uow.reviews.by_id(review_id)

    @staticmethod
    def publishable(review: Review) -> bool:
        """A 5-star review with text may go to the reviews channel (after an admin's yes)."""
        return review.stars == PUBLISHED_STARS and bool(review.text) and review.published_at is None

    async def claim_publication(self, actor: Actor, review_id: int) -> tuple[Review, str] | None:
        """(the review, its author's first name) claimed for the channel, once; None when
        it was published already or is not a 5-star review with text. Audited."""
        async with self._storage.write() as uow:
            if not await uow.reviews.claim_publication(review_id, utcnow()):
                return None
            review = await uow.reviews.by_id(review_id)
            assert review is not None
            author = await uow.customers.by_id(review.customer_id)
            await audit(uow, actor, "review.publish", f"review:{review_id}", None, None)
        return review, (author.first_name if author is not None else None) or ""

    async def published(self, review_id: int, message_id: int) -> None:
        async with self._storage.write() as uow:
            await uow.reviews.set_published_message(review_id, message_id)

    async def publication_failed(self, review_id: int) -> None:
        async with self._storage.write() as uow:
            await uow.reviews.release_publication(review_id)

    async def latest(
        self, stars: int | None = None, limit: int = 10
    ) -> list[tuple[Review, str | None]]:
        async with self._storage.read() as uow:
            return await uow.reviews.latest(stars, limit)

    async def queue_rating_requests(self, now: datetime | None = None) -> int:
        """Ask for a rating of every purchase recorded `request_delay` ago (and not more than
        REQUEST_LOOKBACK before that), never in quiet hours; each purchase once."""
        now = now or utcnow()
        if self._request_delay is None:
            return 0
        if self._quiet_hours is not None and self._quiet_hours.contains(now, self._zone):
            return 0
        until = now - self._request_delay
        async with self._storage.write() as uow:
            return await uow.reviews.queue_rating_requests(until - REQUEST_LOOKBACK, until, now)


def net_promoter_score(scores: list[int]) -> float | None:
    """Promoters (9-10) % minus detractors (0-6) %."""
    if not scores:
        return None
    promoters = sum(1 for score in scores if score >= 9)
    detractors = sum(1 for score in scores if score <= 6)
    return round((promoters - detractors) / len(scores) * 100, 1)


class SegmentCompiler(Protocol):
    """The broadcasts' segment service (BroadcastService.compile): an expression to SQL."""

    def compile(self, segment: str, now: datetime | None = None) -> Compiled: ...


@dataclass(frozen=True)
class NpsSchedule:
    """NPS on a schedule: the daily jobs ask the segment's customers not asked (by any
    survey) in the last `every_days` days; questions wait for quiet hours to end."""

    every_days: int
    segment: str
    quiet_hours: QuietHours | None
    zone: ZoneInfo


class NpsService:
    DETRACTOR = 6

    def __init__(
        self,
        storage: Storage,
        segments: SegmentCompiler,
        schedule: NpsSchedule | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._storage = storage
        self._segments = segments
        self._schedule = schedule
        self._clock = clock

    async def send_survey(self, actor: Actor, segment: str = "all") -> tuple[int, int]:
        """(survey id, recipients queued) for the customers of `segment` (the broadcast
        segment grammar; SegmentError if malformed) who accept surveys; audited."""
        segment = normalise(segment)
        now = self._clock()
        compiled = self._segments.compile(segment, now)
        async with self._storage.write() as uow:
            survey_id = await uow.nps.create_survey(
                actor.telegram_id,
                now,
                segment=segment,
                condition=compiled.sql,
                params=compiled.params,
            )
            recipients = await uow.nps.recipients(survey_id)
            await audit(
                uow,
                actor,
                "nps.send",
                f"nps:{survey_id}",
                None,
                {"recipients": recipients, "segment": segment},
            )
        return survey_id, recipients

    async def scheduled_survey(self, day: date) -> dict[str, Any]:
        """The daily job: one survey to the scheduled segment's customers not asked in the
        last NPS_SURVEY_EVERY_DAYS days, delivered after quiet hours."""
        schedule = self._schedule
        if schedule is None or schedule.every_days <= 0:
            return {"survey": None, "recipients": 0}
        now = self._clock()
        compiled = self._segments.compile(schedule.segment, now)
        not_before = now
        if schedule.quiet_hours is not None:
            not_before = schedule.quiet_hours.ends_after(now, schedule.zone)
        async with self._storage.write() as uow:
            survey_id = await uow.nps.create_survey(
                None,
                now,
                segment=schedule.segment,
                condition=compiled.sql,
                params=compiled.params,
                origin="schedule",
                not_before=not_before,
                not_asked_since=now - timedelta(days=schedule.every_days),
            )
            recipients = await uow.nps.recipients(survey_id)
        return {"survey": survey_id, "recipients": recipients, "day": day.isoformat()}

    async def answer(self, customer: Customer, survey_id: int, score: int) -> bool:
        """Record the score once, only from a customer the survey was sent to."""
        if not 0 <= score <= 10:
            return False
        async with self._storage.write() as uow:
            return await uow.nps.answer(survey_id, customer.id, score, utcnow())

    async def explain(self, customer: Customer, survey_id: int, reason: str) -> bool:
        async with self._storage.write() as uow:
            return await uow.nps.set_reason(survey_id, customer.id, reason)

    async def recent_score(self, days: int = 90) -> tuple[float | None, int]:
        now = utcnow()
        async with self._storage.read() as uow:
            scores = await uow.nps.scores(now - timedelta(days=days), now)
        return net_promoter_score(scores), len(scores)
