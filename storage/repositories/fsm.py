"""Conversation state (aiogram FSM) rows: which step a customer is at, and its data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.clock import to_db
from storage.database import Session


@dataclass(frozen=True)
class FsmRow:
    state: str | None
    data: str


class FsmStateRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def get(self, key: str) -> FsmRow | None:
        row = await self._session.fetch_one(
            "SELECT state, data FROM fsm_states WHERE storage_key = ?", (key,)
        )
        return None if row is None else FsmRow(row["state"], row["data"])

    async def keys(self) -> set[str]:
        """Every key with a row: the chats in a conversation (a handful, not every chat)."""
        rows = await self._session.fetch_all("SELECT storage_key FROM fsm_states")
        return {row["storage_key"] for row in rows}

    async def set_state(
        self, key: str, chat_id: int, user_id: int, state: str | None, now: datetime
    ) -> None:
        await self._session.execute(
            "INSERT INTO fsm_states (storage_key, chat_id, user_id, state, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (storage_key) "
            "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            (key, chat_id, user_id, state, to_db(now)),
        )
        await self._drop_if_empty(key)

    async def set_data(
        self, key: str, chat_id: int, user_id: int, data: str, now: datetime
    ) -> None:
        await self._session.execute(
            "INSERT INTO fsm_states (storage_key, chat_id, user_id, data, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (storage_key) "
            "DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
            (key, chat_id, user_id, data, to_db(now)),
        )
        await self._drop_if_empty(key)

    async def _drop_if_empty(self, key: str) -> None:
        # A conversation that ended leaves no row behind.
        await self._session.execute(
            "DELETE FROM fsm_states WHERE storage_key = ? AND state IS NULL AND data = '{}'",
            (key,),
        )

    async def for_user(self, user_id: int) -> list[FsmRow]:
        rows = await self._session.fetch_all(
            "SELECT state, data FROM fsm_states WHERE user_id = ? OR chat_id = ?",
            (user_id, user_id),
        )
        return [FsmRow(row["state"], row["data"]) for row in rows]

    async def forget_user(self, user_id: int) -> int:
        return await self._session.execute(
            "DELETE FROM fsm_states WHERE user_id = ? OR chat_id = ?", (user_id, user_id)
        )
