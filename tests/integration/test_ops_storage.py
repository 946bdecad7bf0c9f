"""The webhook inbox's claims and the database FSM storage, against a real database."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import timedelta

import pytest
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey

from bot.telegram.fsm import DatabaseStorage, create_fsm
from storage.clock import utcnow
from storage.repositories import ClaimResult
from storage.repositories.inbox import claim_sql
from storage.unit_of_work import Storage, UnitOfWork

LEASE = timedelta(seconds=30)


async def test_an_update_is_stored_once_and_claimed_by_one_process(storage: Storage) -> None:
    now = utcnow()
    async with storage.write() as uow:
        await uow.webhook_inbox.store_many([(1, '{"update_id": 1}'), (2, "{}")], now)
        await uow.webhook_inbox.store_many([(1, '{"update_id": 1, "again": true}')], now)
    async with storage.write() as uow:
        first = await uow.webhook_inbox.claim("a", now, now - LEASE, 10)
        second = await uow.webhook_inbox.claim("b", now, now - LEASE, 10)
    assert [(item.update_id, item.payload, item.attempts) for item in first] == [
        (1, '{"update_id": 1}', 1),
        (2, "{}", 1),
    ]
    assert second == []
    async with storage.read() as uow:
        depth = await uow.webhook_inbox.depth(now - LEASE)
    assert (depth.pending, depth.claimed) == (2, 2)


async def test_a_dead_holders_update_is_retaken_and_its_intake_claim_voided(
    storage: Storage,
) -> None:
    start = utcnow()
    async with storage.write() as uow:
        await uow.webhook_inbox.store_many([(7, "{}")], start)
        assert [
            item.update_id for item in await uow.webhook_inbox.claim("a", start, start - LEASE, 5)
        ] == [7]
        # "a" began handling it: the intake claimed the update id, then "a" died.
        assert await uow.updates.claim(7, start, timedelta(minutes=5)) is ClaimResult.NEW
    later = start + timedelta(seconds=10)
    async with storage.write() as uow:
        assert await uow.webhook_inbox.claim("b", later, later - LEASE, 5) == []  # still leased
    much_later = start + LEASE + timedelta(seconds=11)
    async with storage.write() as uow:
        retaken = await uow.webhook_inbox.claim("b", much_later, much_later - LEASE, 5)
        assert [(item.update_id, item.attempts) for item in retaken] == [(7, 2)]
        # The intake now lets "b" handle it again instead of calling it a duplicate.
        assert await uow.updates.claim(7, much_later, timedelta(minutes=5)) is ClaimResult.RETRY


async def test_renewing_keeps_a_slow_update_with_its_holder(storage: Storage) -> None:
    start = utcnow()
    async with storage.write() as uow:
        await uow.webhook_inbox.store_many([(9, "{}")], start)
        await uow.webhook_inbox.claim("a", start, start - LEASE, 5)
    renewed_at = start + timedelta(seconds=25)
    async with storage.write() as uow:
        assert await uow.webhook_inbox.renew("a", renewed_at) == 1
    check = start + timedelta(seconds=40)  # past the first lease, within the renewed one
    async with storage.write() as uow:
        assert await uow.webhook_inbox.claim("b", check, check - LEASE, 5) == []
        await uow.webhook_inbox.release("a", [9])
        assert [
            item.update_id for item in await uow.webhook_inbox.claim("b", check, check - LEASE, 5)
        ] == [9]


def test_postgresql_claims_skip_rows_another_replica_locked() -> None:
    assert "SKIP LOCKED" in claim_sql("postgresql")
    assert "SKIP LOCKED" not in claim_sql("sqlite")


class Flow(StatesGroup):
    step = State()


async def test_conversation_state_lives_in_the_database(storage: Storage) -> None:
    fsm = DatabaseStorage(storage)
    key = StorageKey(bot_id=1, chat_id=42, user_id=42)
    other = StorageKey(bot_id=1, chat_id=-100, user_id=42)
    assert await fsm.get_state(key) is None
    assert await fsm.get_data(key) == {}
    await fsm.set_state(key, Flow.step)
    await fsm.update_data(key, {"review_id": 5, "note": "привіт"})
    await fsm.set_state(other, "Other:x")
    # A second storage on the same database (another replica, or after a restart) sees it.
    again = DatabaseStorage(storage)
    assert await again.get_state(key) == "Flow:step"
    assert await again.get_data(key) == {"review_id": 5, "note": "привіт"}
    assert await again.get_state(other) == "Other:x"
    await again.set_state(key, None)
    await again.set_data(key, {})
    async with storage.read() as uow:
        rows = await uow.fsm.for_user(42)
    assert [row.state for row in rows] == ["Other:x"]  # a finished conversation leaves no row
    async with storage.write() as uow:
        assert await uow.fsm.forget_user(42) == 1
    assert await again.get_state(other) is None


async def test_polling_reads_a_chat_in_no_conversation_once(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsm, _isolation = create_fsm(storage, None, polling=True)
    webhook_replica, _isolation = create_fsm(storage, None, polling=False)
    reads = 0
    read = storage.read

    def counted_read() -> AbstractAsyncContextManager[UnitOfWork]:
        nonlocal reads
        reads += 1
        return read()

    monkeypatch.setattr(storage, "read", counted_read)
    key = StorageKey(bot_id=1, chat_id=7, user_id=7)
    # A conversation left by the previous run (a restart mid-question) is still there.
    earlier = StorageKey(bot_id=1, chat_id=8, user_id=8)
    await DatabaseStorage(storage).set_state(earlier, Flow.step)
    # aiogram asks on every update; nearly every customer is in no conversation: the keys
    # in one are read once, and no chat outside them costs a read, a new one included.
    for _ in range(5):
        assert await fsm.get_state(key) is None
        assert await fsm.get_data(key) == {}
    assert reads == 1
    for chat in range(100, 110):
        assert await fsm.get_state(StorageKey(bot_id=1, chat_id=chat, user_id=chat)) is None
    assert reads == 1
    assert await fsm.get_state(earlier) == "Flow:step"
    # A conversation this process starts is seen at once, and its end too.
    await fsm.set_state(key, Flow.step)
    await fsm.update_data(key, {"review_id": 5})
    assert await fsm.get_state(key) == "Flow:step"
    assert await fsm.get_data(key) == {"review_id": 5}
    # An erasure by another process (the CLI) only deletes rows: still right.
    async with storage.write() as uow:
        await uow.fsm.forget_user(7)
    assert await fsm.get_state(key) is None
    assert await fsm.get_data(key) == {}
    # Webhook replicas share the updates: each read goes to the database.
    reads = 0
    for _ in range(3):
        assert await webhook_replica.get_state(key) is None
    assert reads == 3
