"""Write transactions side by side on PostgreSQL: a loser of a race runs again from the start,
and the guarantees that used to come from one global write lock come from row locks.

Each test runs on SQLite too (TEST_DATABASE_URL unset), where one writer at a time makes the
races impossible and the retries unnecessary: the outcome must be the same."""

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from bot.services.access import Actor
from bot.services.loyalty.ledger import InsufficientPoints, PointsLedger
from bot.services.loyalty.purchases import CustomerRef, PurchaseRequest, PurchaseService
from bot.services.loyalty.rules import load_rules
from bot.services.loyalty.service import LoyaltyService
from storage.clock import utcnow
from storage.conflicts import CONFLICT_ATTEMPTS, retry_on_conflict
from storage.repositories import TelegramProfile
from storage.unit_of_work import Storage, UnitOfWork, open_storage
from tests.databases import ON_POSTGRES

RULES = load_rules()

# A serialization failure raised by the server itself (SQLSTATE 40001).
FORCE_SERIALIZATION_FAILURE = (
    "DO $$ BEGIN RAISE EXCEPTION 'forced' USING ERRCODE = 'serialization_failure'; END $$"
)


async def new_customer(storage, telegram_id):
    async with storage.write() as uow:
        return await uow.customers.touch(
            TelegramProfile(telegram_id, f"C{telegram_id}", None, None, "en"), utcnow()
        )


async def fail_as_a_lost_race(uow):
    if uow.session.dialect == "postgresql":
        await uow.session.execute(FORCE_SERIALIZATION_FAILURE)
    raise asyncpg.SerializationError("forced")


async def test_a_serialization_failure_runs_the_whole_transaction_again(storage):
    customer = await new_customer(storage, 1)
    runs = 0

    @retry_on_conflict
    async def tag_once() -> int:
        nonlocal runs
        runs += 1
        async with storage.write() as uow:
            await uow.broadcasts.add_tag(customer.id, f"run-{runs}")
            if runs == 1:
                await fail_as_a_lost_race(uow)
        return runs

    assert await tag_once() == 2
    assert runs == 2
    async with storage.read() as uow:
        tags = await uow.session.fetch_all(
            "SELECT tag FROM customer_tags WHERE customer_id = ?", (customer.id,)
        )
    # The first run's write was rolled back with it; the second run's landed.
    assert [row["tag"] for row in tags] == ["run-2"]


async def test_an_error_that_is_no_lost_race_is_not_retried(storage):
    customer = await new_customer(storage, 1)
    runs = 0

    @retry_on_conflict
    async def refuse() -> None:
        nonlocal runs
        runs += 1
        async with storage.write() as uow:
            await uow.broadcasts.add_tag(customer.id, "kept?")
            raise ValueError("a rule said no")

    with pytest.raises(ValueError, match="a rule said no"):
        await refuse()
    assert runs == 1
    async with storage.read() as uow:
        assert await uow.session.fetch_all("SELECT tag FROM customer_tags") == []


async def test_a_race_lost_every_time_reaches_the_caller_after_the_last_attempt(storage):
    runs = 0

    @retry_on_conflict
    async def always_lose() -> None:
        nonlocal runs
        runs += 1
        async with storage.write() as uow:
            await fail_as_a_lost_race(uow)

    with pytest.raises(asyncpg.SerializationError):
        await always_lose()
    assert runs == CONFLICT_ATTEMPTS


async def test_inside_an_open_transaction_the_owner_retries_not_the_helper(storage):
    runs = 0

    @retry_on_conflict
    async def helper(uow: UnitOfWork) -> None:
        nonlocal runs
        runs += 1
        await fail_as_a_lost_race(uow)

    with pytest.raises(asyncpg.SerializationError):
        async with storage.write() as uow:
            await helper(uow)
    assert runs == 1  # re-running only the helper would repeat half a transaction


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite runs one write transaction at a time")
async def test_a_deadlock_between_two_transactions_is_retried_and_both_land(storage):
    first = await new_customer(storage, 1)
    second = await new_customer(storage, 2)
    both_hold_one = asyncio.Barrier(2)
    runs = {"a": 0, "b": 0}

    @retry_on_conflict
    async def lock_both(name: str, one: int, other: int) -> None:
        runs[name] += 1
        async with storage.write() as uow:
            await uow.customers.lock(one)
            if runs[name] == 1:
                await both_hold_one.wait()
            await uow.customers.lock(other)
            await uow.broadcasts.add_tag(one, f"by-{name}")

    await asyncio.wait_for(
        asyncio.gather(lock_both("a", first.id, second.id), lock_both("b", second.id, first.id)),
        30,
    )
    assert sorted(runs.values()) == [1, 2]  # PostgreSQL broke the cycle; the loser ran again
    async with storage.read() as uow:
        tags = await uow.session.fetch_all("SELECT tag FROM customer_tags ORDER BY tag")
    assert [row["tag"] for row in tags] == ["by-a", "by-b"]


async def test_replays_of_one_order_at_once_earn_once(storage):
    ledger = PointsLedger(RULES)
    purchases = PurchaseService(storage, RULES, ledger)
    await new_customer(storage, 1)
    request = PurchaseRequest(
        order_id="RACE-1",
        customer=CustomerRef(telegram_id=1),
        amount_minor=2000,
        currency="EUR",
        purchased_at=None,
        recorded_by="test",
    )
    results = await asyncio.gather(*(purchases.record(request) for _ in range(8)))
    assert sum(result.created for result in results) == 1
    assert {result.purchase.id for result in results} == {results[0].purchase.id}
    async with storage.read() as uow:
        assert await uow.session.fetch_value("SELECT COUNT(*) FROM purchases") == 1
        assert (
            await uow.session.fetch_value(
                "SELECT COUNT(*) FROM points_entries WHERE reason = 'purchase'"
            )
            == 1
        )


async def test_spends_of_one_balance_at_once_never_go_below_zero(storage):
    ledger = PointsLedger(RULES)
    loyalty = LoyaltyService(storage, RULES, ledger)
    customer = await new_customer(storage, 1)
    admin = Actor("cli", None)
    await loyalty.adjust(admin, customer, 100, "opening")
    outcomes = await asyncio.gather(
        *(loyalty.adjust(admin, customer, -30, f"spend {n}") for n in range(8)),
        return_exceptions=True,
    )
    accepted = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, InsufficientPoints)]
    assert (len(accepted), len(refused)) == (3, 5), outcomes
    assert sorted(adjustment.balance_before for adjustment in accepted) == [40, 70, 100]
    assert await loyalty.balance(customer.id) == 10


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite runs one write transaction at a time")
async def test_a_support_reminder_is_claimed_by_one_of_two_processes(storage):
    other = await open_storage(storage.database.url)  # a second pool: another replica
    try:
        customer = await new_customer(storage, 1)
        opened_at = utcnow() - timedelta(hours=2)
        async with storage.write() as uow:
            await uow.support.open_ticket(customer.id, "text", opened_at)
        first_claimed = asyncio.Event()
        release_first = asyncio.Event()

        async def claim(opened: Storage, hold: bool) -> list[int]:
            async with opened.write() as uow:
                tickets = await uow.support.claim_reminders(utcnow() - timedelta(hours=1), utcnow())
                if hold:
                    first_claimed.set()
                    await release_first.wait()
            return [ticket.id for ticket in tickets]

        first = asyncio.create_task(claim(storage, hold=True))
        await first_claimed.wait()
        second = asyncio.create_task(claim(other, hold=False))
        # The second claim either skips the locked ticket at once or (without SKIP LOCKED)
        # waits on its row lock: go on once it has done one or the other.
        while not second.done() and not await _waiting_for_a_lock(storage):
            await asyncio.sleep(0.01)
        release_first.set()
        claims = [await first, await second]
        assert sorted(len(claimed) for claimed in claims) == [0, 1], claims
    finally:
        await other.close()


async def _waiting_for_a_lock(storage: Storage) -> bool:
    async with storage.read() as uow:
        return bool(
            await uow.session.fetch_value(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted)"
            )
        )
