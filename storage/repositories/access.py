from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.clock import from_db, to_db
from storage.database import Session


@dataclass(frozen=True)
class RoleGrant:
    telegram_id: int
    role: str
    granted_by: int | None
    granted_at: datetime | None  # None: configured in ADMIN_IDS, not granted


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: int | None
    via: str
    action: str
    subject: str | None
    before: Any
    after: Any


class RoleRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def all(self) -> list[RoleGrant]:
        rows = await self._session.fetch_all(
            "SELECT telegram_id, role, granted_by, granted_at FROM roles ORDER BY role, telegram_id"
        )
        return [
            RoleGrant(
                row["telegram_id"], row["role"], row["granted_by"], from_db(row["granted_at"])
            )
            for row in rows
        ]

    async def grant(self, telegram_id: int, role: str, by: int | None, at: datetime) -> bool:
        inserted = await self._session.execute(
            "INSERT INTO roles (telegram_id, role, granted_by, granted_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (telegram_id, role) DO NOTHING",
            (telegram_id, role, by, to_db(at)),
        )
        return inserted > 0

    async def revoke(self, telegram_id: int, role: str) -> bool:
        deleted = await self._session.execute(
            "DELETE FROM roles WHERE telegram_id = ? AND role = ?", (telegram_id, role)
        )
        return deleted > 0


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def record(
        self,
        *,
        at: datetime,
        actor: int | None,
        via: str,
        action: str,
        subject: str | None = None,
        before: Any = None,
        after: Any = None,
    ) -> None:
        await self._session.execute(
            "INSERT INTO audit (at, actor, via, action, subject, before, after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                to_db(at),
                actor,
                via,
                action,
                subject,
                None if before is None else json.dumps(before, ensure_ascii=False),
                None if after is None else json.dumps(after, ensure_ascii=False),
            ),
        )

    async def has_action(self, action: str) -> bool:
        return bool(
            await self._session.fetch_value(
                "SELECT COUNT(*) FROM audit WHERE action = ?", (action,)
            )
        )

    async def find(
        self, since: datetime | None = None, actor: int | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        since_text = to_db(since) if since else None  # None: from the start
        rows = await self._session.fetch_all(
            "SELECT * FROM audit WHERE (CAST(? AS TEXT) IS NULL OR at >= ?) "
            "AND (CAST(? AS BIGINT) IS NULL OR actor = ?) ORDER BY id DESC LIMIT ?",
            (since_text, since_text, actor, actor, limit),
        )
        return [
            AuditEntry(
                id=row["id"],
                at=from_db(row["at"]),
                actor=row["actor"],
                via=row["via"],
                action=row["action"],
                subject=row["subject"],
                before=json.loads(row["before"]) if row["before"] else None,
                after=json.loads(row["after"]) if row["after"] else None,
            )
            for row in reversed(rows)
        ]
