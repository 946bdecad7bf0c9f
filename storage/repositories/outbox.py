"""Notices to customers queued inside a transaction and sent after it, and daily job claims."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage.batching import Statement
from storage.clock import from_db, to_db
from storage.database import Row, Session


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

    async def due(self, now: datetime, limit: int = 100, *, claim: bool = False) -> list[Notice]:
        # Claimed on PostgreSQL: the rows another process is claiming are skipped, and one
        # it has claimed meanwhile no longer matches `not_before <= now` when re-checked.
        rows = await self._session.fetch_all(
            """
            SELECT o.id, o.customer_id, o.kind, o.payload, o.attempts, o.created_at,
                   c.telegram_id, c.language, c.telegram_language
            FROM outbox o JOIN customers c ON c.id = o.customer_id
            WHERE o.state = 'pending' AND o.not_before <= ? ORDER BY o.not_before, o.id LIMIT ?
            """
            + (self._session.for_update("o", skip_locked=True) if claim else ""),
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

    async def claim_due(self, now: datetime, lease: timedelta, limit: int = 100) -> list[Notice]:
        """The due notices, made not due for `lease` (their `not_before` moved on): inside a
        write transaction, another process polling meanwhile does not get them too. Sent or
        failed, a notice is settled; if its claimer dies first, it is due again after the
        lease (sent at least once, as before)."""
        notices = await self.due(now, limit, claim=True)
        await self._session.execute_many(
            "UPDATE outbox SET not_before = ? WHERE id = ? AND state = 'pending'",
            [(to_db(now + lease), notice.id) for notice in notices],
        )
        return notices

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


@dataclass(frozen=True)
class JobRun:
    job: str
    run_key: str
    started_at: datetime
    finished_at: datetime | None
    # What the run reported (counts), or {"error": ...} while a failed run awaits its retry.
    result: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Row) -> JobRun:
        return cls(
            job=row["job"],
            run_key=row["run_key"],
            started_at=from_db(row["started_at"]),
            finished_at=from_db(row["finished_at"]) if row["finished_at"] else None,
            result=json.loads(row["result"]) if row["result"] else None,
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

    async def get(self, job: str, run_key: str) -> JobRun | None:
        row = await self._session.fetch_one(
            "SELECT * FROM job_runs WHERE job = ? AND run_key = ?", (job, run_key)
        )
        return None if row is None else JobRun.from_row(row)

    async def fail(self, job: str, run_key: str, error: str) -> None:
        """Note why a run stopped; it stays unfinished, so it is taken over and retried."""
        await self._session.execute(
            "UPDATE job_runs SET result = ? WHERE job = ? AND run_key = ? AND finished_at IS NULL",
            (json.dumps({"error": error}), job, run_key),
        )

    async def take_over(
        self, job: str, started_before: datetime, at: datetime, run_key: str | None = None
    ) -> list[str]:
        """Unfinished runs (of `run_key` or any) started before `started_before`: their
        runner crashed, failed or was stopped. They are restamped as started `at` by the
        caller, who resumes them; in one write transaction, so of two processes looking at
        once only the first takes a run (SQLite: one writer at a time; PostgreSQL: row locks)."""
        rows = await self._session.fetch_all(
            "SELECT run_key FROM job_runs WHERE job = ? AND finished_at IS NULL "
            "AND started_at < ? AND (CAST(? AS TEXT) IS NULL OR run_key = ?) ORDER BY run_key"
            # On PostgreSQL: a run another process is taking over is skipped, and one it has
            # restamped meanwhile no longer matches `started_at < ?` when re-checked.
            + self._session.for_update(skip_locked=True),
            (job, to_db(started_before), run_key, run_key),
        )
        keys = [row["run_key"] for row in rows]
        await self._session.execute_many(
            "UPDATE job_runs SET started_at = ? WHERE job = ? AND run_key = ?",
            [(to_db(at), job, key) for key in keys],
        )
        return keys

    async def latest_key(self, job: str) -> str | None:
        value = await self._session.fetch_value(
            "SELECT MAX(run_key) FROM job_runs WHERE job = ?", (job,)
        )
        return str(value) if value is not None else None

    async def recent(self, per_job: int = 5) -> list[JobRun]:
        """The latest runs of every job (by run key), newest first within a job."""
        rows = await self._session.fetch_all(
            """
            SELECT job, run_key, started_at, finished_at, result FROM (
                SELECT *, ROW_NUMBER() OVER (PARTITION BY job ORDER BY run_key DESC) AS n
                FROM job_runs
            ) AS ranked WHERE n <= ? ORDER BY job, run_key DESC
            """,
            (per_job,),
        )
        return [JobRun.from_row(row) for row in rows]
