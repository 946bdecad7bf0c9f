from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from storage.clock import to_db
from storage.database import Session


class ClaimResult(enum.Enum):
    NEW = "new"  # first delivery: handle it
    RETRY = "retry"  # delivered before, but its handling never finished: handle it again
    DUPLICATE = "duplicate"  # handled already, or being handled right now


class ProcessedUpdateRepository:
    """The inbox of update ids that makes redelivered updates harmless."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def claim(self, update_id: int, now: datetime, stale_after: timedelta) -> ClaimResult:
        return (await self.claim_many([update_id], now, stale_after))[0]

    async def claim_many(
        self, update_ids: Sequence[int], now: datetime, stale_after: timedelta
    ) -> list[ClaimResult]:
        """Claim updates in order; a repeat of an id within the list is a duplicate."""
        token = uuid.uuid4().hex
        moment = to_db(now)
        await self._session.execute_many(
            "INSERT INTO processed_updates (update_id, received_at, claim) VALUES (?, ?, ?) "
            "ON CONFLICT (update_id) DO NOTHING",
            [(update_id, moment, token) for update_id in update_ids],
        )
        unique_ids = list(dict.fromkeys(update_ids))
        placeholders = ",".join("?" * len(unique_ids))
        rows = await self._session.fetch_all(
            f"SELECT update_id, state, received_at, claim FROM processed_updates "  # noqa: S608
            f"WHERE update_id IN ({placeholders})",
            unique_ids,
        )
        known = {row["update_id"]: row for row in rows}
        stale_before = to_db(now - stale_after)
        results: list[ClaimResult] = []
        retried: list[int] = []
        seen: set[int] = set()
        for update_id in update_ids:
            row = known[update_id]
            if update_id in seen:
                results.append(ClaimResult.DUPLICATE)
            elif row["claim"] == token:
                results.append(ClaimResult.NEW)
            elif row["state"] == "orphaned" or (
                row["state"] == "received" and row["received_at"] < stale_before
            ):
                results.append(ClaimResult.RETRY)
                retried.append(update_id)
            else:
                results.append(ClaimResult.DUPLICATE)
            seen.add(update_id)
        if retried:
            await self._session.execute_many(
                "UPDATE processed_updates SET state = 'received', received_at = ?, claim = ? "
                "WHERE update_id = ?",
                [(moment, token, update_id) for update_id in retried],
            )
        return results

    async def orphan_unfinished(self) -> int:
        """Mark updates whose handler was cut short (crash, kill) so redelivery retries them."""
        return await self._session.execute(
            "UPDATE processed_updates SET state = 'orphaned' WHERE state = 'received'"
        )

    async def forget_older_than(self, moment: datetime) -> int:
        return await self._session.execute(
            "DELETE FROM processed_updates WHERE state = 'done' AND received_at < ?",
            (to_db(moment),),
        )


FINISH_SQL = "UPDATE processed_updates SET state = 'done', finished_at = ? WHERE update_id = ?"
