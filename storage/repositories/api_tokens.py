"""Bearer tokens of the integration API, stored as hashes only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.clock import from_db, to_db
from storage.database import Session


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class ActiveToken:
    name: str
    scopes: frozenset[str]


class ApiTokenRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(
        self, name: str, token_hash: str, prefix: str, at: datetime, scopes: tuple[str, ...]
    ) -> int | None:
        """None when an active token already has this name."""
        return await self._session.insert(
            "INSERT INTO api_tokens (name, token_hash, prefix, created_at, scopes) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (name, token_hash, prefix, to_db(at), " ".join(scopes)),
        )

    async def active(self, token_hash: str) -> ActiveToken | None:
        row = await self._session.fetch_one(
            "SELECT name, scopes FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
            (token_hash,),
        )
        if row is None:
            return None
        return ActiveToken(str(row["name"]), frozenset(str(row["scopes"]).split()))

    async def all(self) -> list[ApiToken]:
        rows = await self._session.fetch_all("SELECT * FROM api_tokens ORDER BY id")
        return [
            ApiToken(
                id=row["id"],
                name=row["name"],
                prefix=row["prefix"],
                created_at=from_db(row["created_at"]),
                revoked_at=from_db(row["revoked_at"]) if row["revoked_at"] else None,
                last_used_at=from_db(row["last_used_at"]) if row["last_used_at"] else None,
                scopes=tuple(str(row["scopes"]).split()),
            )
            for row in rows
        ]

    async def revoke(self, name: str, at: datetime) -> bool:
        changed = await self._session.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (to_db(at), name),
        )
        return changed > 0

    async def touch(self, name: str, at: datetime) -> None:
        # Bookkeeping: when another transaction is stamping the token right now (a burst of
        # first requests, on several replicas), this one skips it rather than wait its turn.
        await self._session.execute(
            "UPDATE api_tokens SET last_used_at = ? WHERE id IN (SELECT id FROM api_tokens "
            "WHERE name = ? AND revoked_at IS NULL"
            + self._session.for_update(skip_locked=True)
            + ")",
            (to_db(at), name),
        )
