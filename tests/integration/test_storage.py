"""The storage mechanisms every feature leans on: migrations, the update inbox, concurrency."""

import asyncio
import json
import sqlite3
import sys
from datetime import timedelta

import asyncpg
import pytest

from bot.services.intake import InboundEvent, IntakeService
from bot.services.interactions import InteractionLog
from storage.batching import Statement
from storage.clock import utcnow
from storage.database import IntegrityError
from storage.migrations import apply_migrations
from storage.migrations.upgrade import revisions
from storage.postgres import translate
from storage.repositories import ClaimResult, TelegramProfile
from storage.unit_of_work import open_storage
from tests.databases import ON_POSTGRES, fresh_database_url, query


def profile(telegram_id, first_name="Ann", language="en"):
    return TelegramProfile(telegram_id, first_name, None, "ann", language)


def text_event(update_id, telegram_id, text="hello", **kwargs):
    return InboundEvent(
        update_id=update_id,
        profile=kwargs.pop("who", profile(telegram_id)),
        kind="text",
        text=text,
        message_id=update_id,
        **kwargs,
    )


def test_migrations_apply_once_and_are_recorded(tmp_path):
    url = f"sqlite:///{tmp_path / 'db' / 'bot.sqlite3'}"
    first = apply_migrations(url)
    second = apply_migrations(url)
    assert first.applied == revisions()
    assert second.applied == []
    tables = {
        row[0]
        for row in sqlite3.connect(tmp_path / "db" / "bot.sqlite3").execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    assert {"customers", "interactions", "processed_updates", "faq_entries"} <= tables


async def test_sqlite_is_configured_for_concurrency(storage):
    if storage.database.dialect != "sqlite":
        pytest.skip("SQLite's settings")
    async with storage.read() as uow:
        assert await uow.session.fetch_value("PRAGMA journal_mode") == "wal"
        assert await uow.session.fetch_value("PRAGMA foreign_keys") == 1
        assert await uow.session.fetch_value("PRAGMA busy_timeout") >= 5000


async def test_first_contact_creates_and_later_contact_refreshes(storage):
    intake = IntakeService(storage)
    first = await intake.receive(text_event(1, 42))
    renamed = await intake.receive(text_event(2, 42, who=profile(42, "Anna", "uk")))
    assert first.claim is ClaimResult.NEW
    assert first.customer.first_name == "Ann"
    assert renamed.customer.id == first.customer.id
    assert renamed.customer.first_name == "Anna"
    assert renamed.customer.telegram_language == "uk"
    assert renamed.customer.first_seen == first.customer.first_seen
    assert renamed.customer.last_seen >= first.customer.last_seen


async def test_redelivered_update_is_handled_once_and_logged_once(storage):
    intake = IntakeService(storage)
    first = await intake.receive(text_event(7, 42))
    intake.finish(7)
    await storage.batcher.barrier()
    again = await intake.receive(text_event(7, 42))
    assert first.should_handle
    assert not again.should_handle
    history = await InteractionLog(storage).history(42)
    assert [item.update_id for item in history.interactions] == [7]


async def test_update_cut_short_by_a_crash_is_retried_after_restart(storage):
    intake = IntakeService(storage)
    await intake.receive(text_event(9, 42))  # handler never finished: the process died
    in_flight_elsewhere = await intake.receive(text_event(9, 42))
    assert in_flight_elsewhere.claim is ClaimResult.DUPLICATE
    assert await intake.recover_after_restart() == 1
    retried = await intake.receive(text_event(9, 42))
    assert retried.claim is ClaimResult.RETRY
    history = await InteractionLog(storage).history(42)
    assert len(history.interactions) == 1  # the retry is not a second inbound message


async def test_same_update_twice_in_one_batch_is_handled_once(storage):
    intake = IntakeService(storage)
    first, second = await asyncio.gather(
        intake.receive(text_event(11, 42)), intake.receive(text_event(11, 42))
    )
    assert sorted([first.should_handle, second.should_handle]) == [False, True]
    assert storage.batcher.flushes == 1  # both went in one transaction
    history = await InteractionLog(storage).history(42)
    assert len(history.interactions) == 1


async def test_a_burst_is_written_in_few_transactions(storage):
    intake = IntakeService(storage)
    await asyncio.gather(*(intake.receive(text_event(i, 1000 + i % 7)) for i in range(300)))
    assert storage.batcher.jobs == 300
    assert storage.batcher.flushes <= 3
    async with storage.read() as uow:
        assert await uow.session.fetch_value("SELECT COUNT(*) FROM interactions") == 300
        assert await uow.session.fetch_value("SELECT COUNT(*) FROM customers") == 7


async def test_a_failing_job_does_not_sink_its_batch(storage):
    from storage.batching import Statement

    good = storage.batcher.write(
        Statement(
            "INSERT INTO processed_updates (update_id, received_at)"
            " VALUES (1, '2026-01-01 00:00:00.000000')"
        )
    )
    bad = storage.batcher.write(Statement("INSERT INTO no_such_table VALUES (1)"))
    results = await asyncio.gather(good, bad, return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], sqlite3.OperationalError | asyncpg.UndefinedTableError)
    async with storage.read() as uow:
        assert await uow.session.fetch_value("SELECT COUNT(*) FROM processed_updates") == 1


async def test_stale_claim_is_taken_over(storage):
    async with storage.write() as uow:
        old = utcnow() - timedelta(hours=1)
        assert await uow.updates.claim(5, old, timedelta(minutes=5)) is ClaimResult.NEW
    async with storage.write() as uow:
        assert await uow.updates.claim(5, utcnow(), timedelta(minutes=5)) is ClaimResult.RETRY


async def test_concurrent_writers_never_hit_database_is_locked(storage):
    intake = IntakeService(storage)
    log = InteractionLog(storage)

    async def customer_session(telegram_id):
        for step in range(5):
            update_id = telegram_id * 100 + step
            await intake.receive(text_event(update_id, telegram_id))
            await log.begin_outbound(telegram_id, "sendMessage", "reply")
            intake.finish(update_id)

    def write_elsewhere():
        # A second process writing at the same time, like the operator CLI.
        query(storage.database.url, "UPDATE customers SET consent_surveys = 1")

    async def foreign_writer():
        for _ in range(20):
            await asyncio.to_thread(write_elsewhere)
            await asyncio.sleep(0)

    await asyncio.gather(*(customer_session(i) for i in range(1, 101)), foreign_writer())
    await storage.batcher.barrier()
    async with storage.read() as uow:
        assert await uow.session.fetch_value("SELECT COUNT(*) FROM customers") == 100
        assert await uow.session.fetch_value("SELECT COUNT(*) FROM interactions") == 1000
        done = await uow.session.fetch_value(
            "SELECT COUNT(*) FROM processed_updates WHERE state = 'done'"
        )
        assert done == 500


async def test_outbound_to_a_chat_that_is_no_customer_is_not_logged(storage):
    log = InteractionLog(storage)
    await log.begin_outbound(-100123, "sendMessage", "to a group")
    await log.begin_outbound(555, "sendMessage", "to a stranger")
    async with storage.read() as uow:
        assert await uow.session.fetch_value("SELECT COUNT(*) FROM interactions") == 0


async def test_outbound_settles_as_sent_or_failed(storage):
    await IntakeService(storage).receive(text_event(1, 42))
    log = InteractionLog(storage)
    sent = await log.begin_outbound(42, "sendMessage", "hello")
    failed = await log.begin_outbound(42, "sendMessage", "hello again")
    log.settle_outbound(sent, message_id=10, error=None)
    log.settle_outbound(failed, message_id=None, error="Forbidden: bot was blocked")
    await storage.batcher.barrier()
    history = await log.history(42)
    outbound = [item for item in history.interactions if item.direction == "out"]
    assert [(item.status, item.message_id) for item in outbound] == [("sent", 10), ("failed", None)]
    assert outbound[1].error == "Forbidden: bot was blocked"


async def test_blocking_marks_the_customer_unreachable(storage):
    intake = IntakeService(storage)
    await intake.receive(text_event(1, 42))
    blocked = await intake.receive(
        InboundEvent(update_id=2, profile=profile(42), kind="blocked", text=None, reachable=False)
    )
    assert blocked.customer.reachable is False
    history = await InteractionLog(storage).history(42)
    assert history.customer.unreachable_since is not None
    back = await intake.receive(text_event(3, 42, reachable=True))
    assert back.customer.reachable is True


async def test_first_start_payload_is_kept(storage):
    from bot.services.customers import CustomerService

    reception = await IntakeService(storage).receive(text_event(1, 42))
    assert reception.customer is not None
    customers = CustomerService(storage)
    assert await customers.keep_start_payload(reception.customer, "friend_1") is True
    assert await customers.keep_start_payload(reception.customer, "friend_2") is False
    history = await InteractionLog(storage).history(42)
    assert history.customer.start_payload == "friend_1"


async def test_a_burst_from_an_unchanged_customer_does_not_rewrite_the_row(storage):
    from bot.services.customer_cache import CustomerCache

    cache = CustomerCache()
    intake = IntakeService(storage, cache)
    first = await intake.receive(text_event(1, 42))
    second = await intake.receive(text_event(2, 42))
    # Equal down to last_seen: the row was not rewritten.
    assert second.customer == first.customer
    renamed = await intake.receive(text_event(3, 42, who=profile(42, "Annabel")))
    assert renamed.customer.first_name == "Annabel"  # a changed profile is written at once
    history = await InteractionLog(storage).history(42)
    assert history.customer.first_name == "Annabel"
    assert len(history.interactions) == 3  # every update is still recorded


def test_sql_placeholders_become_numbered_parameters():
    assert translate("SELECT * FROM t WHERE a = ? AND b = ?") == (
        "SELECT * FROM t WHERE a = $1 AND b = $2",
        None,
    )
    # A name used twice is one parameter; literals, quoted names, casts and comments stay.
    sql = "SELECT ':x ?', \"a?\", CAST(:at AS TEXT)::text -- ?\nWHERE x >= :at AND y < :end"
    assert translate(sql) == (
        "SELECT ':x ?', \"a?\", CAST($1 AS TEXT)::text -- ?\nWHERE x >= $1 AND y < $2",
        ("at", "end"),
    )
    with pytest.raises(ValueError, match="mixes"):
        translate("SELECT ? WHERE a = :a")


async def test_migrating_from_several_processes_at_once_applies_each_once(tmp_path):
    url = fresh_database_url(tmp_path)
    script = (
        "import json, sys; from storage.migrations import apply_migrations; "
        "print(json.dumps(apply_migrations(sys.argv[1]).applied))"
    )

    async def migrate() -> list[str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, url, stdout=asyncio.subprocess.PIPE
        )
        stdout, _ = await process.communicate()
        assert process.returncode == 0
        applied: list[str] = json.loads(stdout)
        return applied

    reports = await asyncio.gather(*(migrate() for _ in range(4)))
    applied = sorted(migration for report in reports for migration in report)
    assert applied == revisions()


async def test_durations_in_sql_read_the_same_on_every_backend(storage):
    async with storage.read() as uow:
        minutes = await uow.session.fetch_value(
            "SELECT ROUND((julianday(?) - julianday(?)) * 1440, 1)",
            ("2026-11-23 15:00:00.000000", "2026-11-23 14:00:00.500000"),
        )
    assert minutes == 60.0


async def test_a_role_is_held_by_one_process_at_a_time_and_freed_when_it_closes(tmp_path):
    # Two opened storages stand for two processes: each holds its own lock (a file lock on
    # SQLite, a session advisory lock on PostgreSQL), so they exclude each other here too.
    url = fresh_database_url(tmp_path)
    apply_migrations(url)
    first, second = await open_storage(url), await open_storage(url)
    try:
        assert await first.database.hold_role("broadcast-sender")
        assert await first.database.hold_role("broadcast-sender")  # asked again: still held
        assert not await second.database.hold_role("broadcast-sender")
        assert await second.database.hold_role("another-role")
        await first.close()
        assert await second.database.hold_role("broadcast-sender")
    finally:
        await second.close()


async def test_closing_while_a_batch_is_written_flushes_the_rest_and_returns(storage):
    # SIGTERM during a burst: close() arrives while one batch is being written and another
    # is queued. Both must be written and close() must return (it used to wait forever for
    # a wake-up that had already been spent).
    statement = Statement("UPDATE customers SET language = language WHERE id = ?", (-1,))
    first = asyncio.create_task(storage.batcher.write(statement))
    await asyncio.sleep(0)  # the flusher takes the first batch and starts writing it
    second = asyncio.create_task(storage.batcher.write(statement))
    await asyncio.sleep(0)
    await asyncio.wait_for(storage.batcher.close(), 5)
    await asyncio.wait_for(asyncio.gather(first, second), 5)


async def test_a_transaction_cut_off_at_its_begin_does_not_wedge_the_connection(storage):
    """A stop or a timeout can cancel a read or a write while its BEGIN is on the way: the
    statement still runs in aiosqlite's thread, but the rollback never comes. The next
    transaction on that connection must work all the same."""
    if storage.database.dialect != "sqlite":
        pytest.skip("PostgreSQL takes a fresh pooled connection per transaction")
    database = storage.database
    # What a cancellation between BEGIN and the block leaves behind, on both connections.
    await database._reader.execute("BEGIN")
    await database._writer.execute("BEGIN IMMEDIATE")
    async with storage.write() as uow:
        await uow.session.execute("CREATE TABLE wedge_probe (n INTEGER)")
        await uow.session.execute("INSERT INTO wedge_probe VALUES (1)")
    async with storage.read() as uow:
        assert await uow.session.fetch_value("SELECT n FROM wedge_probe") == 1


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's WAL checkpoint; PostgreSQL has none of ours")
async def test_a_checkpoint_a_reader_holds_up_gives_way_quickly_and_writes_go_on(storage):
    path = storage.database.url.removeprefix("sqlite:///")
    async with storage.write() as uow:
        await uow.customers.touch(profile(1), utcnow())
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM customers").fetchone()  # a snapshot, held
        async with storage.write() as uow:  # a frame the reader's snapshot pins in the WAL
            await uow.customers.touch(profile(2), utcnow())
        started = asyncio.get_running_loop().time()
        assert not await storage.database.checkpoint()
        # Bounded: not the 15 s busy timeout every other write would queue behind.
        assert asyncio.get_running_loop().time() - started < 5
        async with storage.write() as uow:
            await uow.customers.touch(profile(3), utcnow())
    finally:
        reader.close()
    assert await storage.database.checkpoint()


async def test_a_failing_batched_write_rolls_back_its_whole_transaction(storage):
    """On SQLite executemany is held until the next statement or the commit (one hop to the
    connection's thread for both): its failure must still undo the transaction."""
    async with storage.write() as uow:
        await uow.session.execute("CREATE TABLE held_probe (n INTEGER PRIMARY KEY)")
    with pytest.raises(IntegrityError):
        async with storage.write() as uow:
            await uow.session.execute("INSERT INTO held_probe (n) VALUES (1)")
            await uow.session.execute_many("INSERT INTO held_probe (n) VALUES (?)", [(2,), (1,)])
    async with storage.read() as uow:
        assert await uow.session.fetch_value("SELECT COUNT(*) FROM held_probe") == 0
    async with storage.write() as uow:
        await uow.session.execute_many("INSERT INTO held_probe (n) VALUES (?)", [(3,), (4,)])
        # A read in the same transaction sees the writes queued before it.
        assert await uow.session.fetch_value("SELECT COUNT(*) FROM held_probe") == 2


async def test_a_batched_write_failing_inside_a_savepoint_is_undone_there(storage):
    async with storage.write() as uow:
        await uow.session.execute("CREATE TABLE held_probe (n INTEGER PRIMARY KEY)")
    async with storage.write() as uow:
        await uow.session.execute("INSERT INTO held_probe (n) VALUES (1)")
        with pytest.raises(IntegrityError):
            async with uow.session.savepoint():
                await uow.session.execute_many(
                    "INSERT INTO held_probe (n) VALUES (?)", [(2,), (1,)]
                )
        await uow.session.execute_many("INSERT INTO held_probe (n) VALUES (?)", [(5,)])
    async with storage.read() as uow:
        rows = await uow.session.fetch_all("SELECT n FROM held_probe ORDER BY n")
        assert [row[0] for row in rows] == [1, 5]


async def test_an_installation_secret_is_made_once_and_read_back_after(storage):
    now = utcnow()
    async with storage.write() as uow:
        first = await uow.erased_ids.secret("test-key", "first-candidate", now)
    async with storage.write() as uow:
        again = await uow.erased_ids.secret("test-key", "second-candidate", now)
        other = await uow.erased_ids.secret("other-key", "its-own", now)
    assert first == again == "first-candidate"
    assert other == "its-own"
