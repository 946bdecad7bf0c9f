"""Notices to customers queued inside a transaction and sent after it, and daily job claims."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.batching import Statement
from storage.clock import from_db, to_db
from storage.database import Session


@dataclass(frozen=True)
class Notice:
    id: int
    customer_id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    # The addressee, read with the notice: None once the customer has been forgotten.
    telegram_id: int | None
    language: str | None
    telegram_language: str | None


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(
        self,
        customer_id: int,
        kind: str,
        payload: dict[str, Any],
        at: datetime,
        *,
        not_before: datetime | None = None,
        dedupe_key: str | None = None,
    ) -> bool:
        """Queue a notice; False when one with the same dedupe key was queued before."""
        inserted = await self._session.execute(
            "INSERT INTO outbox (customer_id, kind, payload, dedupe_key, created_at, not_before) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
            (
                customer_id,
                kind,
                json.dumps(payload, ensure_ascii=False, default=str),
                dedupe_key,
                to_db(at),
                to_db(not_before or at),
            ),
        )
        return inserted > 0

    async def due(self, now: datetime, limit: int = 100) -> list[Notice]:
        rows = await self._session.fetch_all(
            """
            SELECT o.id, o.customer_id, o.kind, o.payload, o.attempts, o.created_at,
                   c.telegram_id, c.language, c.telegram_language
            FROM outbox o JOIN customers c ON c.id = o.customer_id
            WHERE o.state = 'pending' AND o.not_before <= ? ORDER BY o.not_before, o.id LIMIT ?
            """,
            (to_db(now), limit),
        )
        return [
            Notice(
                id=row["id"],
                customer_id=row["customer_id"],
                kind=row["kind"],
                payload=json.loads(row["payload"]),
                attempts=row["attempts"],
                created_at=from_db(row["created_at"]),
                telegram_id=row["telegram_id"],
                language=row["language"],
                telegram_language=row["telegram_language"],
            )
            for row in rows
        ]

    async def next_due_at(self) -> datetime | None:
        value = await self._session.fetch_value(
            "SELECT MIN(not_before) FROM outbox WHERE state = 'pending'"
        )
        return from_db(value) if value else None

    @staticmethod
    def settle(notice_id: int, state: str, at: datetime, error: str | None) -> Statement:
        """Sent or failed for good: a statement for the group-commit batcher."""
        return Statement(
            "UPDATE outbox SET state = ?, sent_at = ?, error = ?, attempts = attempts + 1 "
            "WHERE id = ?",
            (state, to_db(at), error, notice_id),
        )

    async def retry_later(self, notice_id: int, not_before: datetime, error: str) -> None:
        await self._session.execute(
            "UPDATE outbox SET not_before = ?, error = ?, attempts = attempts + 1 WHERE id = ?",
            (to_db(not_before), error, notice_id),
        )


class JobRunRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def claim(self, job: str, run_key: str, at: datetime) -> bool:
        """Claim (job, run_key); False when it was claimed before, here or elsewhere."""
        inserted = await self._session.execute(
            "INSERT INTO job_runs (job, run_key, started_at) VALUES (?, ?, ?) "
            "ON CONFLICT (job, run_key) DO NOTHING",
            (job, run_key, to_db(at)),
        )
        return inserted > 0

    async def finish(self, job: str, run_key: str, at: datetime, result: dict[str, Any]) -> None:
        await self._session.execute(
            "UPDATE job_runs SET finished_at = ?, result = ? WHERE job = ? AND run_key = ?",
            (to_db(at), json.dumps(result), job, run_key),
        )

    async def unfinished(self, job: str) -> list[str]:
        rows = await self._session.fetch_all(
            "SELECT run_key FROM job_runs WHERE job = ? AND finished_at IS NULL", (job,)
        )
        return [row["run_key"] for row in rows]
