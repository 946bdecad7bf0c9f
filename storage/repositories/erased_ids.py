"""Installation secrets, and the keyed hashes of Telegram ids whose owners were forgotten."""

from __future__ import annotations

from datetime import datetime

from storage.clock import to_db
from storage.database import Session


class ErasedIdRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def secret(self, name: str, candidate: str, at: datetime) -> str:
        """The installation's secret `name`; `candidate` becomes it if there is none yet (of
        two first uses at once, both get the one that was stored first)."""
        # Read first: it exists after the first use, and the insert is a round trip more.
        value = await self._session.fetch_value(
            "SELECT value FROM installation_secrets WHERE name = ?", (name,)
        )
        if value is not None:
            return str(value)
        await self._session.execute(
            "INSERT INTO installation_secrets (name, value, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (name, candidate, to_db(at)),
        )
        value = await self._session.fetch_value(
            "SELECT value FROM installation_secrets WHERE name = ?", (name,)
        )
        return str(value)

    async def remember(self, id_hash: str, at: datetime) -> None:
        await self._session.execute(
            "INSERT INTO erased_telegram_ids (id_hash, erased_at) VALUES (?, ?) "
            "ON CONFLICT (id_hash) DO NOTHING",
            (id_hash, to_db(at)),
        )

    async def contains(self, id_hash: str) -> bool:
        found = await self._session.fetch_value(
            "SELECT COUNT(*) FROM erased_telegram_ids WHERE id_hash = ?", (id_hash,)
        )
        return int(found) > 0
