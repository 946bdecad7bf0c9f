"""Broadcasts and their per-recipient delivery queue."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.batching import Statement
from storage.clock import from_db, to_db
from storage.database import Row, Session

ACTIVE_STATES = ("scheduled", "sending")
OPEN_RECIPIENT_STATES = ("pending", "sending")

# Who may ever receive a promotion: known on Telegram and not opted out. Customers known to
# be unreachable are materialised as 'blocked' (counted, never sent to).
ELIGIBLE = "c.telegram_id IS NOT NULL AND c.consent_promotions = 1"


@dataclass(frozen=True)
class UrlButton:
    text: str
    url: str


@dataclass(frozen=True)
class Broadcast:
    id: int
    text: str
    photo: str | None
    photo_file_id: str | None
    buttons: list[list[UrlButton]]
    segment: str
    state: str
    created_by: str
    created_at: datetime
    send_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    total: int | None
    resent: int
    progress_chat_id: int | None
    progress_message_id: int | None
    # The automated campaign that queued it (bot/services/campaigns.py); None: an admin's.
    campaign: str | None = None
    # A text per language code, sent instead of `text` to the customers spoken to in it.
    texts: dict[str, str] = field(default_factory=dict)

    def text_for(self, language: str) -> str:
        return self.texts.get(language, self.text)

    @classmethod
    def from_row(cls, row: Row) -> Broadcast:
        buttons = json.loads(row["buttons"]) if row["buttons"] else []
        return cls(
            id=row["id"],
            text=row["text"],
            photo=row["photo"],
            photo_file_id=row["photo_file_id"],
            buttons=[[UrlButton(b["text"], b["url"]) for b in line] for line in buttons],
            segment=row["segment"],
            state=row["state"],
            created_by=row["created_by"],
            created_at=from_db(row["created_at"]),
            send_at=_moment(row["send_at"]),
            started_at=_moment(row["started_at"]),
            finished_at=_moment(row["finished_at"]),
            total=row["total"],
            resent=row["resent"],
            progress_chat_id=row["progress_chat_id"],
            progress_message_id=row["progress_message_id"],
            campaign=row["campaign"],
            texts=json.loads(row["texts"]) if row["texts"] else {},
        )


@dataclass(frozen=True)
class Recipient:
    customer_id: int
    # None once the customer was forgotten after the broadcast started.
    telegram_id: int | None
    # False once they opted out (or were forgotten) after it started: skipped.
    eligible: bool
    language: str | None
    telegram_language: str | None
    state: str
    attempts: int
    # What a campaign's message says to this recipient; None for an admin's broadcast.
    payload: dict[str, Any] | None = None


def _moment(value: str | None) -> datetime | None:
    return from_db(value) if value else None


class BroadcastRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def create(
        self,
        *,
        text: str,
        photo: str | None,
        buttons: Sequence[Sequence[UrlButton]],
        segment: str,
        state: str,
        created_by: str,
        created_at: datetime,
        send_at: datetime | None,
        texts: Mapping[str, str] | None = None,
    ) -> int:
        document = [[{"text": b.text, "url": b.url} for b in line] for line in buttons]
        broadcast_id = await self._session.insert(
            """
            INSERT INTO broadcasts (text, photo, buttons, segment, state, created_by,
                                    created_at, send_at, texts)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (
                text,
                photo,
                json.dumps(document, ensure_ascii=False) if document else None,
                segment,
                state,
                created_by,
                to_db(created_at),
                to_db(send_at) if send_at else None,
                json.dumps(dict(texts), ensure_ascii=False) if texts else None,
            ),
        )
        assert broadcast_id is not None
        return broadcast_id

    async def get(self, broadcast_id: int) -> Broadcast | None:
        row = await self._session.fetch_one(
            "SELECT * FROM broadcasts WHERE id = ?", (broadcast_id,)
        )
        return None if row is None else Broadcast.from_row(row)

    async def latest(self, limit: int = 20) -> list[Broadcast]:
        rows = await self._session.fetch_all(
            "SELECT * FROM broadcasts ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [Broadcast.from_row(row) for row in rows]

    async def active(self) -> list[Broadcast]:
        """Broadcasts sending or waiting for their time, oldest first."""
        rows = await self._session.fetch_all(
            "SELECT * FROM broadcasts WHERE state IN ('scheduled', 'sending') "
            "ORDER BY state = 'scheduled', send_at, id"
        )
        return [Broadcast.from_row(row) for row in rows]

    async def set_state(
        self, broadcast_id: int, allowed: Sequence[str], state: str, at: datetime | None = None
    ) -> bool:
        placeholders = ",".join("?" * len(allowed))
        changed = await self._session.execute(
            f"UPDATE broadcasts SET state = ?, "  # noqa: S608
            "finished_at = CASE WHEN ? IN ('done', 'cancelled') THEN ? ELSE finished_at END "
            f"WHERE id = ? AND state IN ({placeholders})",
            (state, state, to_db(at) if at else None, broadcast_id, *allowed),
        )
        return changed > 0

    async def schedule(self, broadcast_id: int, send_at: datetime) -> bool:
        changed = await self._session.execute(
            "UPDATE broadcasts SET state = 'scheduled', send_at = ? "
            "WHERE id = ? AND state = 'draft'",
            (to_db(send_at), broadcast_id),
        )
        return changed > 0

    async def set_segment(self, broadcast_id: int, segment: str) -> bool:
        changed = await self._session.execute(
            "UPDATE broadcasts SET segment = ? WHERE id = ? AND state = 'draft'",
            (segment, broadcast_id),
        )
        return changed > 0

    async def set_texts(self, broadcast_id: int, texts: Mapping[str, str]) -> bool:
        changed = await self._session.execute(
            "UPDATE broadcasts SET texts = ? WHERE id = ? AND state = 'draft'",
            (json.dumps(dict(texts), ensure_ascii=False) if texts else None, broadcast_id),
        )
        return changed > 0

    async def set_progress_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        await self._session.execute(
            "UPDATE broadcasts SET progress_chat_id = ?, progress_message_id = ? WHERE id = ?",
            (chat_id, message_id, broadcast_id),
        )

    async def start(
        self, broadcast_id: int, condition: str, params: Sequence[Any], at: datetime
    ) -> int:
        """Materialise the recipients and turn 'scheduled' into 'sending', in the caller's
        transaction; returns the number of recipients, or -1 if it was not scheduled."""
        changed = await self._session.execute(
            "UPDATE broadcasts SET state = 'sending', started_at = ? "
            "WHERE id = ? AND state = 'scheduled'",
            (to_db(at), broadcast_id),
        )
        if not changed:
            return -1
        await self._session.execute(
            f"""
            INSERT INTO broadcast_recipients (broadcast_id, customer_id, state, at)
            SELECT ?, c.id, CASE WHEN c.reachable = 1 THEN 'pending' ELSE 'blocked' END,
                   CASE WHEN c.reachable = 1 THEN NULL ELSE {self._session.as_moment()} END
            FROM customers c WHERE {ELIGIBLE} AND ({condition})
            ORDER BY c.id
            ON CONFLICT DO NOTHING
            """,  # noqa: S608 - the condition is compiled from a parsed segment, values bound
            (broadcast_id, to_db(at), *params),
        )
        total: int = await self._session.fetch_value(
            "SELECT COUNT(*) FROM broadcast_recipients WHERE broadcast_id = ?", (broadcast_id,)
        )
        await self._session.execute(
            "UPDATE broadcasts SET total = ? WHERE id = ?", (total, broadcast_id)
        )
        return total

    async def count_segment(self, condition: str, params: Sequence[Any]) -> tuple[int, int]:
        """(reachable, unreachable) eligible customers in a segment: a preview's count."""
        row = await self._session.fetch_one(
            f"SELECT COALESCE(SUM(c.reachable), 0), COUNT(*) - COALESCE(SUM(c.reachable), 0) "  # noqa: S608
            f"FROM customers c WHERE {ELIGIBLE} AND ({condition})",
            tuple(params),
        )
        assert row is not None
        return int(row[0]), int(row[1])

    async def segment_telegram_ids(self, condition: str, params: Sequence[Any]) -> list[int]:
        rows = await self._session.fetch_all(
            f"SELECT c.telegram_id FROM customers c WHERE {ELIGIBLE} AND c.reachable = 1 "  # noqa: S608
            f"AND ({condition}) ORDER BY c.id",
            tuple(params),
        )
        return [int(row[0]) for row in rows]

    async def next_chunk(
        self, broadcast_id: int, now: datetime, after_customer: int, limit: int
    ) -> list[Recipient]:
        """Pending recipients due now, in customer order after ``after_customer``."""
        rows = await self._session.fetch_all(
            """
            SELECT r.customer_id, c.telegram_id, c.language, c.telegram_language, r.state,
                   r.attempts, c.consent_promotions, r.payload
            FROM broadcast_recipients r JOIN customers c ON c.id = r.customer_id
            WHERE r.broadcast_id = ? AND r.state IN ('pending', 'sending')
              AND r.customer_id > ? AND (r.not_before IS NULL OR r.not_before <= ?)
            ORDER BY r.customer_id LIMIT ?
            """,
            (broadcast_id, after_customer, to_db(now), limit),
        )
        return [
            Recipient(
                customer_id=row["customer_id"],
                telegram_id=row["telegram_id"],
                eligible=row["telegram_id"] is not None and bool(row["consent_promotions"]),
                language=row["language"],
                telegram_language=row["telegram_language"],
                state=row["state"],
                attempts=row["attempts"],
                payload=json.loads(row["payload"]) if row["payload"] else None,
            )
            for row in rows
        ]

    async def open_count(self, broadcast_id: int) -> int:
        value: int = await self._session.fetch_value(
            "SELECT COUNT(*) FROM broadcast_recipients "
            "WHERE broadcast_id = ? AND state IN ('pending', 'sending')",
            (broadcast_id,),
        )
        return value

    async def counts(self, broadcast_id: int) -> dict[str, int]:
        rows = await self._session.fetch_all(
            "SELECT state, COUNT(*) FROM broadcast_recipients WHERE broadcast_id = ? "
            "GROUP BY state",
            (broadcast_id,),
        )
        counts = dict.fromkeys(("pending", "sending", "sent", "failed", "blocked", "skipped"), 0)
        counts.update({row[0]: row[1] for row in rows})
        return counts

    async def recover_in_flight(self) -> int:
        """After a stop: rows left 'sending' go back to the queue. Each may have reached the
        customer already (Telegram has no idempotency key), so it is counted as resent."""
        rows = await self._session.fetch_all(
            "SELECT broadcast_id, COUNT(*) FROM broadcast_recipients WHERE state = 'sending' "
            "GROUP BY broadcast_id"
        )
        for broadcast_id, count in rows:
            await self._session.execute(
                "UPDATE broadcasts SET resent = resent + ? WHERE id = ?", (count, broadcast_id)
            )
        await self._session.execute(
            "UPDATE broadcast_recipients SET state = 'pending' WHERE state = 'sending'"
        )
        return sum(int(row[1]) for row in rows)

    async def skip_open(self, broadcast_id: int, at: datetime) -> None:
        await self._session.execute(
            "UPDATE broadcast_recipients SET state = 'skipped', at = ? "
            "WHERE broadcast_id = ? AND state IN ('pending', 'sending')",
            (to_db(at), broadcast_id),
        )

    async def add_tag(self, customer_id: int, tag: str) -> bool:
        changed = await self._session.execute(
            "INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (customer_id, tag),
        )
        return changed > 0

    async def remove_tag(self, customer_id: int, tag: str) -> bool:
        changed = await self._session.execute(
            "DELETE FROM customer_tags WHERE customer_id = ? AND tag = ?", (customer_id, tag)
        )
        return changed > 0

    # Delivery bookkeeping, written through the group-commit batcher.

    @staticmethod
    def mark_sending(broadcast_id: int, customer_id: int) -> Statement:
        return Statement(
            "UPDATE broadcast_recipients SET state = 'sending', attempts = attempts + 1 "
            "WHERE broadcast_id = ? AND customer_id = ?",
            (broadcast_id, customer_id),
        )

    @staticmethod
    def settle(
        broadcast_id: int,
        customer_id: int,
        state: str,
        at: datetime,
        message_id: int | None = None,
        error: str | None = None,
    ) -> Statement:
        return Statement(
            "UPDATE broadcast_recipients SET state = ?, at = ?, message_id = ?, error = ?, "
            "not_before = NULL WHERE broadcast_id = ? AND customer_id = ?",
            (state, to_db(at), message_id, error, broadcast_id, customer_id),
        )

    @staticmethod
    def retry_later(
        broadcast_id: int, customer_id: int, not_before: datetime, error: str
    ) -> Statement:
        return Statement(
            "UPDATE broadcast_recipients SET state = 'pending', not_before = ?, error = ? "
            "WHERE broadcast_id = ? AND customer_id = ?",
            (to_db(not_before), error, broadcast_id, customer_id),
        )

    @staticmethod
    def remember_photo(broadcast_id: int, file_id: str) -> Statement:
        return Statement(
            "UPDATE broadcasts SET photo_file_id = ? WHERE id = ? AND photo_file_id IS NULL",
            (file_id, broadcast_id),
        )
