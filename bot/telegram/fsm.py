"""Where conversation state lives: the database by default, Redis when REDIS_URL is set.

aiogram keeps it in memory unless told otherwise, so a restart would drop every customer
mid-conversation back to the start, and a second replica would not know the first one's
conversations. Either storage here survives both.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.memory import SimpleEventIsolation

from storage.clock import utcnow
from storage.repositories.fsm import FsmRow
from storage.unit_of_work import Storage

_KEYS = DefaultKeyBuilder(with_bot_id=True, with_business_connection_id=True, with_destiny=True)


class DatabaseStorage(BaseStorage):
    """aiogram FSM storage in the bot's own database (table fsm_states).

    aiogram asks for the state on every update, and nearly every customer is in no
    conversation at all. With `sole_writer` (polling: one process takes all the updates),
    the keys that have a row are read once, at the first update, and kept up to date by
    this process's own writes: any other chat's state is known to be empty without a read
    (three round trips to the database's thread, which a new customer's first update used
    to pay). Only this process ever writes a state or data; others (the CLI's erasure) only
    delete rows, after which a remembered key costs one read that finds nothing and
    forgets it. In webhook mode another replica may start a conversation, so every update
    reads."""

    def __init__(self, storage: Storage, *, sole_writer: bool = False) -> None:
        self._storage = storage
        self._sole_writer = sole_writer
        # Keys that may have a row (sole writer): None until read at the first update.
        self._stateful: set[str] | None = None
        self._loading = asyncio.Lock()
        # Written before the keys were read: joined to them once they are.
        self._written_early: set[str] = set()
        # Bumped by every write: a read that saw no row while a write ran may be stale.
        self._writes = 0

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        value = state.state if isinstance(state, State) else state
        built = self._written(key)
        async with self._storage.write() as uow:
            await uow.fsm.set_state(built, key.chat_id, key.user_id, value, utcnow())

    async def get_state(self, key: StorageKey) -> str | None:
        row = await self._row(key)
        return None if row is None else row.state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        encoded = json.dumps(dict(data), ensure_ascii=False, sort_keys=True)
        built = self._written(key)
        async with self._storage.write() as uow:
            await uow.fsm.set_data(built, key.chat_id, key.user_id, encoded, utcnow())

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = await self._row(key)
        if row is None:
            return {}
        data: dict[str, Any] = json.loads(row.data)
        return data

    def _written(self, key: StorageKey) -> str:
        built = _KEYS.build(key)
        self._writes += 1
        if self._sole_writer:
            (self._written_early if self._stateful is None else self._stateful).add(built)
        return built

    async def _stateful_keys(self) -> set[str]:
        if self._stateful is None:
            async with self._loading:
                if self._stateful is None:
                    async with self._storage.read() as uow:
                        keys = await uow.fsm.keys()
                    self._stateful = keys | self._written_early
                    self._written_early.clear()
        return self._stateful

    async def _row(self, key: StorageKey) -> FsmRow | None:
        built = _KEYS.build(key)
        stateful = await self._stateful_keys() if self._sole_writer else None
        if stateful is not None and built not in stateful:
            return None
        writes_before = self._writes
        async with self._storage.read() as uow:
            row = await uow.fsm.get(built)
        if row is None and stateful is not None and self._writes == writes_before:
            stateful.discard(built)
        return row

    async def close(self) -> None:
        """The database is the bot's and closes with it."""


def create_fsm(
    storage: Storage, redis_url: str | None, *, polling: bool
) -> tuple[BaseStorage, BaseEventIsolation]:
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
    return DatabaseStorage(storage, sole_writer=polling), SimpleEventIsolation()
