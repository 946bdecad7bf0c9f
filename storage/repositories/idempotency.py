"""Idempotency keys with the fingerprint of the request each was first used for."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.clock import to_db
from storage.database import Session


@dataclass(frozen=True)
class StoredRequest:
    kind: str
    request_key: str
    fields: dict[str, str]  # field name -> digest of its value
    result: dict[str, Any] | None


class RequestFingerprintRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def get(self, kind: str, request_key: str) -> StoredRequest | None:
        row = await self._session.fetch_one(
            "SELECT fields, result FROM request_fingerprints WHERE kind = ? AND request_key = ?",
            (kind, request_key),
        )
        if row is None:
            return None
        return StoredRequest(
            kind,
            request_key,
            json.loads(row["fields"]),
            json.loads(row["result"]) if row["result"] else None,
        )

    async def claim(
        self,
        kind: str,
        request_key: str,
        fields: dict[str, str],
        at: datetime,
        result: dict[str, Any] | None = None,
    ) -> bool:
        """Store the key's first request; False when the key is taken already."""
        changed = await self._session.execute(
            "INSERT INTO request_fingerprints (kind, request_key, fields, result, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, request_key) DO NOTHING",
            (
                kind,
                request_key,
                json.dumps(fields, sort_keys=True),
                None if result is None else json.dumps(result, sort_keys=True),
                to_db(at),
            ),
        )
        return changed > 0

    async def set_result(self, kind: str, request_key: str, result: dict[str, Any]) -> None:
        await self._session.execute(
            "UPDATE request_fingerprints SET result = ? WHERE kind = ? AND request_key = ?",
            (json.dumps(result, sort_keys=True), kind, request_key),
        )
