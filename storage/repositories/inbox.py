"""The webhook inbox: updates stored before Telegram is answered, claimed by one process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.clock import to_db
from storage.database import Session

# A claim takes the oldest pending updates nobody holds (or whose holder stopped renewing).
# On PostgreSQL the inner SELECT gets FOR UPDATE SKIP LOCKED so replicas never wait on each
# other nor take the same rows; SQLite serialises writers, which gives the same exclusivity.
_CLAIM_SQL = (
    "UPDATE webhook_inbox SET claimed_by = ?, claimed_at = ?, attempts = attempts + 1 "
    "WHERE update_id IN (SELECT update_id FROM webhook_inbox "
    "WHERE state = 'pending' AND (claimed_by IS NULL OR claimed_at < ?) "
    "ORDER BY update_id LIMIT ?{lock}) "
    "RETURNING update_id, payload, attempts"
)


def claim_sql(dialect: str) -> str:
    return _CLAIM_SQL.format(lock=" FOR UPDATE SKIP LOCKED" if dialect == "postgresql" else "")


STORE_SQL = (
    "INSERT INTO webhook_inbox (update_id, payload, received_at) VALUES (?, ?, ?) "
    "ON CONFLICT (update_id) DO NOTHING"
)
DONE_SQL = (
    "UPDATE webhook_inbox SET state = 'done', payload = NULL, finished_at = ? "
    "WHERE update_id = ? AND claimed_by = ?"
)


@dataclass(frozen=True)
class InboxUpdate:
    update_id: int
    payload: str
    attempts: int


@dataclass(frozen=True)
class InboxDepth:
    pending: int
    claimed: int


class WebhookInboxRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def store_many(self, updates: Sequence[tuple[int, str]], now: datetime) -> None:
        moment = to_db(now)
        await self._session.execute_many(
            STORE_SQL, [(update_id, payload, moment) for update_id, payload in updates]
        )

    async def claim(
        self, owner: str, now: datetime, stale_before: datetime, limit: int
    ) -> list[InboxUpdate]:
        dialect = self._session.dialect
        rows = await self._session.fetch_all(
            claim_sql(dialect), (owner, to_db(now), to_db(stale_before), limit)
        )
        claimed = sorted(
            (InboxUpdate(row["update_id"], row["payload"], row["attempts"]) for row in rows),
            key=lambda update: update.update_id,
        )
        retaken = [update.update_id for update in claimed if update.attempts > 1]
        if retaken:
            # Their first holder died while handling them: its intake claim is void, so the
            # intake lets this attempt handle them again (see ProcessedUpdateRepository).
            placeholders = ",".join("?" * len(retaken))
            await self._session.execute(
                "UPDATE processed_updates SET state = 'orphaned' "  # noqa: S608
                f"WHERE state = 'received' AND update_id IN ({placeholders})",
                retaken,
            )
        return claimed

    async def renew(self, owner: str, now: datetime) -> int:
        return await self._session.execute(
            "UPDATE webhook_inbox SET claimed_at = ? WHERE claimed_by = ? AND state = 'pending'",
            (to_db(now), owner),
        )

    async def release(self, owner: str, update_ids: Sequence[int]) -> None:
        """Give back updates claimed but not started (at shutdown): others take them at once."""
        await self._session.execute_many(
            "UPDATE webhook_inbox SET claimed_by = NULL, claimed_at = NULL, "
            "attempts = attempts - 1 WHERE update_id = ? AND claimed_by = ? AND state = 'pending'",
            [(update_id, owner) for update_id in update_ids],
        )

    async def depth(self, stale_before: datetime) -> InboxDepth:
        row = await self._session.fetch_one(
            "SELECT COUNT(*) AS pending, "
            "COALESCE(SUM(CASE WHEN claimed_by IS NOT NULL AND claimed_at >= ? "
            "THEN 1 ELSE 0 END), 0) AS claimed "
            "FROM webhook_inbox WHERE state = 'pending'",
            (to_db(stale_before),),
        )
        assert row is not None
        return InboxDepth(pending=int(row["pending"]), claimed=int(row["claimed"]))

    async def forget_done_before(self, moment: datetime) -> int:
        return await self._session.execute(
            "DELETE FROM webhook_inbox WHERE state = 'done' AND finished_at < ?", (to_db(moment),)
        )
