"""Everything held about one customer, read for an export and erased for /forget.

Rows come back as plain dicts (column name → value): an export shows what is stored, as it
is stored. Erasure keeps every row that money, points or counts depend on and blanks what
identifies a person or repeats what they wrote.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage.clock import to_db
from storage.database import Session

# What a blanked text reads as, where a column must keep some text (or where "erased" should
# be told apart from "there never was a text").
ERASED = "[erased]"

# Internal bookkeeping columns an export leaves out: they describe our machinery, not the
# customer, and one (outbound_key) is unique per process start.
_INTERACTION_COLUMNS = "id, at, direction, kind, text, status, error, meta, message_id"


class PersonalDataRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def _rows(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        return [dict(row) for row in await self._session.fetch_all(sql, params)]

    # Reading

    async def points_entries(self, customer_id: int) -> list[dict[str, Any]]:
        return await self._rows(
            "SELECT id, at, delta, reason, source, expires_at, note FROM points_entries "
            "WHERE customer_id = ? ORDER BY id",
            (customer_id,),
        )

    async def purchases(self, customer_id: int) -> list[dict[str, Any]]:
        return await self._rows(
            "SELECT id, order_id, amount_minor, currency, purchased_at, recorded_at, points, "
            "balance_after, tier FROM purchases WHERE customer_id = ? ORDER BY purchased_at, id",
            (customer_id,),
        )

    async def refunds(self, customer_id: int) -> list[dict[str, Any]]:
        return await self._rows(
            "SELECT r.id, p.order_id, r.amount_minor, r.points_reversed, r.points_uncollected, "
            "r.balance_after, r.at FROM refunds r JOIN purchases p ON p.id = r.purchase_id "
            "WHERE p.customer_id = ? ORDER BY r.id",
            (customer_id,),
        )

    async def referrals_made(self, customer_id: int) -> list[dict[str, Any]]:
        """Friends this customer invited, oldest first (the friend is not identified)."""
        return await self._rows(
            "SELECT attributed_at, converted_at, referrer_points AS points_earned "
            "FROM referrals WHERE referrer_id = ? ORDER BY attributed_at",
            (customer_id,),
        )

    async def referral_received(self, customer_id: int) -> dict[str, Any] | None:
        rows = await self._rows(
            "SELECT attributed_at, converted_at, order_id, referee_points AS points_earned "
            "FROM referrals WHERE referee_id = ?",
            (customer_id,),
        )
        return rows[0] if rows else None

    async def redemptions(self, customer_id: int) -> list[dict[str, Any]]:
        return await self._rows(
            "SELECT id, code, reward_id, points, created_at, expires_at, state, closed_at, "
            "sale_amount_minor FROM redemptions WHERE customer_id = ? ORDER BY id",
            (customer_id,),
        )

    async def faq_queries(self, customer_id: int) -> list[dict[str, Any]]:
        return await self._rows(
            "SELECT id, at, language, text, entry_id, outcome, feedback FROM faq_queries "
            "WHERE customer_id = ? ORDER BY id",
            (customer_id,),
        )

    async def interactions(self, customer_id: int) -> list[dict[str, Any]]:
        return await self._rows(
            f"SELECT {_INTERACTION_COLUMNS} FROM interactions "  # noqa: S608
            "WHERE customer_id = ? ORDER BY id",
            (customer_id,),
        )

    async def notices(self, customer_id: int) -> list[dict[str, Any]]:
        rows = await self._rows(
            "SELECT id, kind, payload, created_at, state, sent_at FROM outbox "
            "WHERE customer_id = ? ORDER BY id",
            (customer_id,),
        )
        for row in rows:
            row["payload"] = json.loads(row["payload"])
        return rows

    # Erasing

    async def erase_points_notes(self, customer_id: int) -> int:
        """Movements keep their amounts, reasons and dates (the books); notes may be prose."""
        return await self._session.execute(
            "UPDATE points_entries SET note = NULL WHERE customer_id = ? AND note IS NOT NULL",
            (customer_id,),
        )

    async def erase_interactions(self, customer_id: int) -> int:
        return await self._session.execute(
            "UPDATE interactions SET text = CASE WHEN text IS NULL THEN NULL ELSE ? END, "
            "meta = NULL, error = NULL WHERE customer_id = ?",
            (ERASED, customer_id),
        )

    async def erase_faq_queries(self, customer_id: int) -> int:
        """The questions stay counted in the FAQ's statistics, without their words."""
        return await self._session.execute(
            "UPDATE faq_queries SET text = ? WHERE customer_id = ?", (ERASED, customer_id)
        )

    async def erase_notices(self, customer_id: int) -> int:
        """Notices lose their contents; one still waiting will never be sent."""
        return await self._session.execute(
            "UPDATE outbox SET payload = '{}', error = CASE WHEN state = 'pending' "
            "THEN 'customer forgotten' ELSE NULL END, "
            "state = CASE WHEN state = 'pending' THEN 'failed' ELSE state END "
            "WHERE customer_id = ?",
            (customer_id,),
        )

    async def referral_counterparts(self, customer_id: int) -> list[int]:
        """Who invited this customer and whom they invited."""
        rows = await self._session.fetch_all(
            "SELECT referrer_id AS other FROM referrals WHERE referee_id = ? "
            "UNION SELECT referee_id FROM referrals WHERE referrer_id = ?",
            (customer_id, customer_id),
        )
        return [row["other"] for row in rows]

    async def erase_name_from(self, customer_ids: Sequence[int], names: Sequence[str]) -> int:
        """Blank a name where it was written into other customers' messages and notices
        ("your friend Bob made a purchase"), leaving the rest of those records intact."""
        changed = 0
        for other in customer_ids:
            for name in names:
                in_json = json.dumps(name, ensure_ascii=False)[1:-1]
                changed += await self._session.execute(
                    "UPDATE interactions SET text = replace(text, ?, ?) "
                    "WHERE customer_id = ? AND direction = 'out' AND replace(text, ?, '') <> text",
                    (name, ERASED, other, name),
                )
                changed += await self._session.execute(
                    "UPDATE outbox SET payload = "  # noqa: S608
                    + self._session.as_json("replace(CAST(payload AS TEXT), ?, ?)")
                    + " WHERE customer_id = ? AND replace(CAST(payload AS TEXT), ?, '')"
                    " <> CAST(payload AS TEXT)",
                    (in_json, ERASED, other, in_json),
                )
        return changed

    async def rename_audit_subject(self, old: str, new: str) -> int:
        """The audit trail keeps who did what to a forgotten customer, naming them by a
        number that no longer leads to a person."""
        return await self._session.execute(
            "UPDATE audit SET subject = ? WHERE subject = ?", (new, old)
        )

    async def erase_customer(self, customer_id: int, at: datetime) -> int:
        """The row stays (points, purchases and counts refer to it) with nothing personal:
        without its Telegram id, the same person writing again is a new customer."""
        return await self._session.execute(
            """
            UPDATE customers SET telegram_id = NULL, first_name = NULL, last_name = NULL,
                username = NULL, telegram_language = NULL, language = NULL, phone = NULL,
                birthday = NULL, card_code = NULL, referral_code = NULL, start_payload = NULL,
                consent_promotions = 0, consent_surveys = 0, consents_changed_at = NULL,
                reachable = 0, unreachable_since = NULL, forgotten_at = ?
            WHERE id = ? AND forgotten_at IS NULL
            """,
            (to_db(at), customer_id),
        )

    # Retention

    async def blank_old_interaction_texts(self, before: datetime, limit: int) -> int:
        """Blank up to `limit` interaction texts written before `before`; how many were."""
        return await self._session.execute(
            "UPDATE interactions SET text = CASE WHEN text IS NULL THEN NULL ELSE ? END, "
            "meta = NULL WHERE id IN ("
            "SELECT id FROM interactions WHERE at < ? "
            "AND ((text IS NOT NULL AND text <> ?) OR meta IS NOT NULL) ORDER BY id LIMIT ?)",
            (ERASED, to_db(before), ERASED, limit),
        )

    async def blank_old_faq_texts(self, before: datetime, limit: int) -> int:
        return await self._session.execute(
            "UPDATE faq_queries SET text = ? WHERE id IN ("
            "SELECT id FROM faq_queries WHERE at < ? AND text <> ? ORDER BY id LIMIT ?)",
            (ERASED, to_db(before), ERASED, limit),
        )

    async def reviews(self, customer_id: int) -> list[dict[str, Any]]:
        return await self._rows(
            "SELECT r.stars, r.text, CASE WHEN r.photo IS NOT NULL THEN 1 ELSE 0 END AS photo, "
            "r.source, p.order_id, "
            "r.created_at, r.published_at FROM reviews r "
            "LEFT JOIN purchases p ON p.id = r.purchase_id "
            "WHERE r.customer_id = ? ORDER BY r.id",
            (customer_id,),
        )

    async def erase_reviews(self, customer_id: int) -> int:
        """Comments and photos go, and the ids of their channel posts (withdrawn by the
        caller, see bot/services/review_posts.py); the stars stay, anonymous, for the
        averages."""
        return await self._session.execute(
            "UPDATE reviews SET text = NULL, photo = NULL, published_message_id = NULL "
            "WHERE customer_id = ? "
            "AND (text IS NOT NULL OR photo IS NOT NULL OR published_message_id IS NOT NULL)",
            (customer_id,),
        )

    async def nps_answers(self, customer_id: int) -> list[dict[str, Any]]:
        return await self._rows(
            "SELECT survey_id, score, reason, answered_at FROM nps_responses "
            "WHERE customer_id = ? ORDER BY answered_at",
            (customer_id,),
        )

    async def nps_invitations(self, customer_id: int) -> list[dict[str, Any]]:
        return await self._rows(
            "SELECT survey_id, invited_at FROM nps_invitations WHERE customer_id = ? "
            "ORDER BY invited_at",
            (customer_id,),
        )

    async def erase_nps_invitations(self, customer_id: int) -> int:
        return await self._session.execute(
            "DELETE FROM nps_invitations WHERE customer_id = ?", (customer_id,)
        )

    async def erase_nps_reasons(self, customer_id: int) -> int:
        return await self._session.execute(
            "UPDATE nps_responses SET reason = NULL WHERE customer_id = ? AND reason IS NOT NULL",
            (customer_id,),
        )

    async def tags(self, customer_id: int) -> list[str]:
        rows = await self._session.fetch_all(
            "SELECT tag FROM customer_tags WHERE customer_id = ? ORDER BY tag", (customer_id,)
        )
        return [row[0] for row in rows]

    async def erase_tags(self, customer_id: int) -> int:
        return await self._session.execute(
            "DELETE FROM customer_tags WHERE customer_id = ?", (customer_id,)
        )

    async def broadcasts_received(self, customer_id: int) -> list[dict[str, Any]]:
        return await self._rows(
            "SELECT broadcast_id, state, at FROM broadcast_recipients WHERE customer_id = ? "
            "ORDER BY broadcast_id",
            (customer_id,),
        )

    async def tickets(self, customer_id: int) -> list[dict[str, Any]]:
        return await self._rows(
            "SELECT id, status, source, opened_at, first_response_at, closed_at, rating, "
            "rating_comment FROM tickets WHERE customer_id = ? ORDER BY id",
            (customer_id,),
        )

    async def erase_tickets(self, customer_id: int, at: datetime) -> int:
        """Rating comments go, and the map of relayed messages (only needed to mirror
        edits); tickets stay with their times and stars for the support figures. An open
        ticket is closed: nobody is left to answer."""
        await self._session.execute(
            "UPDATE tickets SET status = 'closed', closed_at = ? "
            "WHERE customer_id = ? AND status = 'open'",
            (to_db(at), customer_id),
        )
        comments = await self._session.execute(
            "UPDATE tickets SET rating_comment = NULL WHERE customer_id = ? "
            "AND rating_comment IS NOT NULL",
            (customer_id,),
        )
        relays = await self._session.execute(
            "DELETE FROM support_relays WHERE customer_id = ?", (customer_id,)
        )
        return comments + relays
