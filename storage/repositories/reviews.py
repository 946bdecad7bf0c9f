"""Reviews: stars, an optional comment and photo, tied to a purchase when there is one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.clock import to_db
from storage.database import Session
from storage.models import Moment, Record


class Review(Record):
    id: int
    customer_id: int
    purchase_id: int | None
    stars: int
    text: str | None
    photo: str | None
    source: str
    created_at: Moment
    updated_at: Moment
    published_at: Moment | None = None
    published_message_id: int | None = None


class ReviewRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(
        self,
        customer_id: int,
        purchase_id: int | None,
        stars: int,
        source: str,
        at: datetime,
    ) -> int | None:
        """None when the purchase has a review already."""
        return await self._session.insert(
            "INSERT INTO reviews (customer_id, purchase_id, stars, source, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (customer_id, purchase_id, stars, source, to_db(at), to_db(at)),
        )

    async def by_id(self, review_id: int) -> Review | None:
        row = await self._session.fetch_one("SELECT * FROM reviews WHERE id = ?", (review_id,))
        return None if row is None else Review.model_validate(dict(row))

    async def for_purchase(self, purchase_id: int) -> Review | None:
        row = await self._session.fetch_one(
            "SELECT * FROM reviews WHERE purchase_id = ?", (purchase_id,)
        )
        return None if row is None else Review.model_validate(dict(row))

    async def latest_of(self, customer_id: int) -> Review | None:
        row = await self._session.fetch_one(
            "SELECT * FROM reviews WHERE customer_id = ? ORDER BY created_at DESC LIMIT 1",
            (customer_id,),
        )
        return None if row is None else Review.model_validate(dict(row))

    async def unreviewed_purchase(self, customer_id: int, since: datetime) -> int | None:
        """The customer's latest purchase since `since` that has no review yet."""
        value = await self._session.fetch_value(
            """
            SELECT p.id FROM purchases p
            WHERE p.customer_id = ? AND p.purchased_at >= ?
              AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.purchase_id = p.id)
            ORDER BY p.purchased_at DESC LIMIT 1
            """,
            (customer_id, to_db(since)),
        )
        return None if value is None else int(value)

    async def set_comment(
        self, review_id: int, text: str | None, photo: str | None, at: datetime
    ) -> None:
        await self._session.execute(
            "UPDATE reviews SET text = COALESCE(?, text), photo = COALESCE(?, photo), "
            "updated_at = ? WHERE id = ?",
            (text, photo, to_db(at), review_id),
        )

    async def claim_publication(self, review_id: int, at: datetime) -> bool:
        """Mark a 5-star review with text as published; False if it was already (or is not
        eligible): two admins approving at once publish it once."""
        changed = await self._session.execute(
            "UPDATE reviews SET published_at = ? WHERE id = ? AND stars = 5 "
            "AND text IS NOT NULL AND published_at IS NULL",
            (to_db(at), review_id),
        )
        return changed > 0

    async def set_published_message(self, review_id: int, message_id: int | None) -> None:
        await self._session.execute(
            "UPDATE reviews SET published_message_id = ? WHERE id = ?", (message_id, review_id)
        )

    async def published_posts(self, customer_id: int) -> list[tuple[int, bool]]:
        """(channel message id, whether it carries a photo) of the customer's posted reviews."""
        rows = await self._session.fetch_all(
            "SELECT published_message_id, CASE WHEN photo IS NULL THEN 0 ELSE 1 END AS photo "
            "FROM reviews WHERE customer_id = ? AND published_message_id IS NOT NULL "
            "ORDER BY id",
            (customer_id,),
        )
        return [(int(row["published_message_id"]), bool(row["photo"])) for row in rows]

    async def release_publication(self, review_id: int) -> None:
        """The channel refused the post: the review may be approved again."""
        await self._session.execute(
            "UPDATE reviews SET published_at = NULL WHERE id = ? AND published_message_id IS NULL",
            (review_id,),
        )

    async def latest(self, stars: int | None, limit: int) -> list[tuple[Review, str | None]]:
        """The latest reviews (with the author's first name), optionally of one star count."""
        rows = await self._session.fetch_all(
            "SELECT r.*, c.first_name AS author FROM reviews r "
            "JOIN customers c ON c.id = r.customer_id "
            "WHERE (CAST(? AS BIGINT) IS NULL OR r.stars = ?) "
            "ORDER BY r.created_at DESC, r.id DESC LIMIT ?",
            (stars, stars, limit),
        )
        return [(Review.model_validate(dict(row)), row["author"]) for row in rows]

    async def queue_rating_requests(
        self, recorded_from: datetime, recorded_to: datetime, at: datetime
    ) -> int:
        """Queue one rating request per purchase recorded in [from, to) that has no review,
        for customers who accept surveys and can be reached (once: the outbox's dedupe key)."""
        json_object = (
            "json_build_object" if self._session.dialect == "postgresql" else "json_object"
        )
        return await self._session.execute(
            f"""
            INSERT INTO outbox (customer_id, kind, payload, dedupe_key, created_at, not_before)
            SELECT p.customer_id, 'rating_request',
                   {
                self._session.as_json(
                    f"{json_object}('purchase_id', p.id, "
                    "'order_id', p.order_id, 'amount_minor', p.amount_minor, "
                    "'currency', p.currency)"
                )
            },
                   'rate:' || p.order_id, :at, :at
            FROM purchases p JOIN customers c ON c.id = p.customer_id
            WHERE p.recorded_at >= :start AND p.recorded_at < :end
              AND c.consent_surveys = 1 AND c.reachable = 1 AND c.telegram_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.purchase_id = p.id)
            ON CONFLICT (dedupe_key) DO NOTHING
            """,
            {"at": to_db(at), "start": to_db(recorded_from), "end": to_db(recorded_to)},
        )

    async def rating_requested(self, purchase_id: int, customer_id: int) -> bool:
        """Whether the bot asked this customer to rate this purchase of theirs: the rating
        request queued by `queue_rating_requests` (its dedupe key names the order). A
        button's data is never trusted: a forged purchase id finds no request."""
        value = await self._session.fetch_value(
            """
            SELECT 1 FROM purchases p
            JOIN outbox o ON o.dedupe_key = 'rate:' || p.order_id
            WHERE p.id = ? AND p.customer_id = ?
              AND o.customer_id = p.customer_id AND o.kind = 'rating_request'
            """,
            (purchase_id, customer_id),
        )
        return value is not None

    async def average(self, start: datetime, end: datetime) -> tuple[int, float | None]:
        row = await self._session.fetch_one(
            "SELECT COUNT(*), AVG(stars) FROM reviews WHERE created_at >= ? AND created_at < ?",
            (to_db(start), to_db(end)),
        )
        assert row is not None
        return int(row[0]), None if row[1] is None else round(float(row[1]), 2)


class NpsRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def create_survey(
        self,
        created_by: int | None,
        at: datetime,
        *,
        segment: str = "all",
        condition: str = "1 = 1",
        params: tuple[Any, ...] = (),
        origin: str = "admin",
        not_before: datetime | None = None,
        not_asked_since: datetime | None = None,
    ) -> int:
        """A survey sent to the customers of a segment (`condition`: a compiled segment over
        ``customers c``) who accept surveys and can be reached, and, with `not_asked_since`,
        were not asked since then; returns its id. The questions go out through the outbox
        (not before `not_before`), each customer once; who was asked is kept."""
        survey_id = await self._session.insert(
            "INSERT INTO nps_surveys (created_at, created_by, recipients, segment, origin) "
            "VALUES (?, ?, 0, ?, ?)",
            (to_db(at), created_by, segment, origin),
        )
        assert survey_id is not None
        since = None if not_asked_since is None else to_db(not_asked_since)
        queued = await self._session.execute(
            f"""
            INSERT INTO nps_invitations (survey_id, customer_id, invited_at)
            SELECT ?, c.id, ? FROM customers c
            WHERE c.consent_surveys = 1 AND c.reachable = 1 AND c.telegram_id IS NOT NULL
              AND ({condition})
              AND (CAST(? AS TEXT) IS NULL OR NOT EXISTS (
                  SELECT 1 FROM nps_invitations i
                  WHERE i.customer_id = c.id AND i.invited_at > ?))
            ON CONFLICT DO NOTHING
            """,
            (survey_id, to_db(at), *params, since, since),
        )
        payload = self._session.as_json("""'{"survey_id": ' || i.survey_id || '}'""")
        await self._session.execute(
            f"""
            INSERT INTO outbox (customer_id, kind, payload, dedupe_key, created_at, not_before)
            SELECT i.customer_id, 'nps_request', {payload},
                   'nps:' || i.survey_id || ':' || i.customer_id, ?, ?
            FROM nps_invitations i WHERE i.survey_id = ?
            ON CONFLICT (dedupe_key) DO NOTHING
            """,
            (to_db(at), to_db(not_before or at), survey_id),
        )
        await self._session.execute(
            "UPDATE nps_surveys SET recipients = ? WHERE id = ?", (queued, survey_id)
        )
        return survey_id

    async def recipients(self, survey_id: int) -> int:
        value = await self._session.fetch_value(
            "SELECT recipients FROM nps_surveys WHERE id = ?", (survey_id,)
        )
        return int(value or 0)

    async def answer(self, survey_id: int, customer_id: int, score: int, at: datetime) -> bool:
        """False when the customer was not invited to the survey (a forged button: someone
        else's survey, or one that does not exist) or answered it already."""
        inserted = await self._session.execute(
            "INSERT INTO nps_responses (survey_id, customer_id, score, answered_at) "
            "SELECT survey_id, customer_id, ?, ? FROM nps_invitations "
            "WHERE survey_id = ? AND customer_id = ? "
            "ON CONFLICT (survey_id, customer_id) DO NOTHING",
            (score, to_db(at), survey_id, customer_id),
        )
        return inserted > 0

    async def set_reason(self, survey_id: int, customer_id: int, reason: str) -> bool:
        changed = await self._session.execute(
            "UPDATE nps_responses SET reason = ? WHERE survey_id = ? AND customer_id = ?",
            (reason, survey_id, customer_id),
        )
        return changed > 0

    async def scores(self, start: datetime, end: datetime) -> list[int]:
        rows = await self._session.fetch_all(
            "SELECT score FROM nps_responses WHERE answered_at >= ? AND answered_at < ?",
            (to_db(start), to_db(end)),
        )
        return [int(row[0]) for row in rows]
