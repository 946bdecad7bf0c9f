"""Where conversation state lives: the database by default, Redis when REDIS_URL is set.

aiogram keeps it in memory unless told otherwise, so a restart would drop every customer
mid-conversation back to the start, and a second replica would not know the first one's
conversations. Either storage here survives both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.memory import SimpleEventIsolation

from storage.clock import utcnow
from storage.unit_of_work import Storage

_KEYS = DefaultKeyBuilder(with_bot_id=True, with_business_connection_id=True, with_destiny=True)


class DatabaseStorage(BaseStorage):
    """aiogram FSM storage in the bot's own database (table fsm_states)."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self._storage.write() as uow:
            await uow.fsm.set_state(_KEYS.build(key), key.chat_id, key.user_id, value, utcnow())

    async def get_state(self, key: StorageKey) -> str | None:
        async with self._storage.read() as uow:
            row = await uow.fsm.get(_KEYS.build(key))
        return None if row is None else row.state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        encoded = json.dumps(dict(data), ensure_ascii=False, sort_keys=True)
        async with self._storage.write() as uow:
            await uow.fsm.set_data(_KEYS.build(key), key.chat_id, key.user_id, encoded, utcnow())

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self._storage.read() as uow:
            row = await uow.fsm.get(_KEYS.build(key))
        if row is None:
            return {}
        data: dict[str, Any] = json.loads(row.data)
        return data

    async def close(self) -> None:
        """The database is the bot's and closes with it."""


def create_fsm(storage: Storage, redis_url: str | None) -> tuple[BaseStorage, BaseEventIsolation]:
    """The FSM storage and event isolation for the Dispatcher.

    Event isolation: one customer's updates are handled one after another, each after the
    previous one finished. A handler that answers first and sets the next step after
    would otherwise race the customer's reply (the prompt arrives, the customer answers,
    and the answer is handled before the step is written). With Redis, the lock is in
    Redis, so it holds across replicas; without it, within the process.
    """
    if redis_url is not None:
        from aiogram.fsm.storage.redis import RedisStorage

        redis_storage = RedisStorage.from_url(redis_url, key_builder=_KEYS)
        return redis_storage, redis_storage.create_isolation()
    return DatabaseStorage(storage), SimpleEventIsolation()
