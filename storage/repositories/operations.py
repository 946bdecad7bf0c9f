"""Figures operators watch (/metrics, /healthz): queue depths and work in progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from storage.clock import to_db
from storage.database import Session


@dataclass(frozen=True)
class OperationsSnapshot:
    tickets_open: int
    notices_pending: int
    inbox_pending: int
    broadcasts: dict[str, int] = field(default_factory=dict)
    # Recipients of broadcasts still under way (scheduled, sending, paused), by state.
    broadcast_recipients: dict[str, int] = field(default_factory=dict)


class OperationsRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def snapshot(self, now: datetime) -> OperationsSnapshot:
        tickets = await self._session.fetch_value(
            "SELECT COUNT(*) FROM tickets WHERE status = 'open'"
        )
        notices = await self._session.fetch_value(
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND not_before <= ?",
            (to_db(now),),
        )
        inbox = await self._session.fetch_value(
            "SELECT COUNT(*) FROM webhook_inbox WHERE state = 'pending'"
        )
        broadcasts = await self._session.fetch_all(
            "SELECT state, COUNT(*) AS n FROM broadcasts GROUP BY state"
        )
        recipients = await self._session.fetch_all(
            "SELECT r.state AS state, COUNT(*) AS n FROM broadcast_recipients r "
            "JOIN broadcasts b ON b.id = r.broadcast_id "
            "WHERE b.state IN ('scheduled', 'sending', 'paused') GROUP BY r.state"
        )
        return OperationsSnapshot(
            tickets_open=int(tickets or 0),
            notices_pending=int(notices or 0),
            inbox_pending=int(inbox or 0),
            broadcasts={row["state"]: int(row["n"]) for row in broadcasts},
            broadcast_recipients={row["state"]: int(row["n"]) for row in recipients},
        )
