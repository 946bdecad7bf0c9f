"""Idempotency keys bound to one request, token scopes and the API's limits, below HTTP."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from bot.http.api.schemas import AdjustIn, ApiLimits, PurchaseIn
from bot.services.access import CLI
from bot.services.api_tokens import DEFAULT_SCOPES, ApiTokenService, UnknownScope, hash_token
from bot.services.loyalty.idempotency import RequestConflict
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.purchases import CustomerRef, PurchaseRequest, PurchaseService
from bot.services.loyalty.rules import load_rules
from bot.services.loyalty.service import LoyaltyService
from storage.clock import utcnow
from storage.repositories import TelegramProfile
from storage.unit_of_work import open_storage
from tests.databases import migrated_database_url, query

RULES = load_rules()


@pytest.fixture
def services(storage):
    ledger = PointsLedger(RULES)
    return LoyaltyService(storage, RULES, ledger), PurchaseService(storage, RULES, ledger)


async def new_customer(storage, telegram_id):
    async with storage.write() as uow:
        return await uow.customers.touch(
            TelegramProfile(telegram_id, "Ann", None, None, "en"), utcnow()
        )


def sale(order_id, telegram_id, amount_minor, purchased_at=None):
    return PurchaseRequest(
        order_id, CustomerRef(telegram_id), amount_minor, "EUR", purchased_at, "t"
    )


async def test_a_refund_id_reused_on_another_order_is_a_conflict(storage, services):
    loyalty, purchases = services
    ann = await new_customer(storage, 1)
    await purchases.record(sale("A", 1, 4000))
    await purchases.record(sale("B", 1, 4000))
    first = await purchases.refund("A", 1000, "1")
    with pytest.raises(RequestConflict) as conflict:
        await purchases.refund("B", 1000, "1")
    assert conflict.value.fields == ["order_id"]
    with pytest.raises(RequestConflict) as conflict:
        await purchases.refund("A", None, "1")
    assert conflict.value.fields == ["amount"]
    replays = await asyncio.gather(*(purchases.refund("A", 1000, "1") for _ in range(5)))
    assert {(r.created, r.points_reversed, r.balance) for r in replays} == {
        (False, first.points_reversed, first.balance)
    }
    assert await loyalty.balance(ann.id) == 400 - first.points_reversed


async def test_an_order_id_with_another_date_is_a_conflict(storage, services):
    _loyalty, purchases = services
    await new_customer(storage, 2)
    day = datetime.now(UTC) - timedelta(days=3)
    first = await purchases.record(sale("P", 2, 1000, day))
    with pytest.raises(RequestConflict) as conflict:
        await purchases.record(sale("P", 2, 1000, day + timedelta(days=1)))
    assert conflict.value.fields == ["purchased_at"]
    with pytest.raises(RequestConflict) as conflict:
        await purchases.record(sale("P", 2, 1200, None))
    assert conflict.value.fields == ["amount", "purchased_at"]
    again = await purchases.record(sale("P", 2, 1000, day.astimezone(UTC)))
    assert not again.created and again.purchase == first.purchase


async def test_an_adjustment_key_answers_its_first_result_or_a_conflict(storage, services):
    loyalty, _purchases = services
    ann = await new_customer(storage, 3)
    ben = await new_customer(storage, 4)
    first = await loyalty.adjust(CLI, ann, 40, "goodwill", key="adjust:K")
    replays = await asyncio.gather(
        *(loyalty.adjust(CLI, ann, 40, "goodwill", key="adjust:K") for _ in range(5))
    )
    assert {(r.balance_before, r.balance_after, r.replayed) for r in replays} == {(0, 40, True)}
    assert not first.replayed
    with pytest.raises(RequestConflict) as conflict:
        await loyalty.adjust(CLI, ben, 40, "goodwill", key="adjust:K")
    assert conflict.value.fields == ["telegram_id"]
    with pytest.raises(RequestConflict) as conflict:
        await loyalty.adjust(CLI, ann, -40, "undo", key="adjust:K")
    assert conflict.value.fields == ["delta", "reason"]
    assert (await loyalty.balance(ann.id), await loyalty.balance(ben.id)) == (40, 0)


async def test_tokens_have_scopes_and_old_tokens_keep_a_tills_three(tmp_path):
    url = migrated_database_url(tmp_path)
    # A token as stored before scopes existed: no scopes given, the schema's default applies.
    query(
        url,
        "INSERT INTO api_tokens (name, token_hash, prefix, created_at) VALUES (?, ?, ?, ?)",
        ("old-till", hash_token("lsb_old"), "lsb_old", "2026-01-01 00:00:00.000000"),
    )
    storage = await open_storage(url)
    try:
        tokens = ApiTokenService(storage)
        old = await tokens.verify("lsb_old")
        assert old is not None and old.scopes == frozenset(DEFAULT_SCOPES)
        new = await tokens.create(CLI, "adjuster", ("points:adjust",))
        verified = await tokens.verify(new)
        assert verified is not None and verified.scopes == {"points:adjust"}
        with pytest.raises(UnknownScope, match="customers:read"):
            await tokens.create(CLI, "typo", ("points",))
        assert {token.name: token.scopes for token in await tokens.all()} == {
            "old-till": DEFAULT_SCOPES,
            "adjuster": ("points:adjust",),
        }
    finally:
        await storage.close()


def test_limits_default_to_a_quarter_year_and_a_hundred_thousand():
    now = datetime.now(UTC)
    order = {"order_id": "L", "telegram_id": 1, "amount": "10.00"}
    PurchaseIn.model_validate({**order, "purchased_at": now - timedelta(days=89)})
    for purchased_at in (now - timedelta(days=91), now + timedelta(hours=1)):
        with pytest.raises(ValidationError, match="purchased_at"):
            PurchaseIn.model_validate({**order, "purchased_at": purchased_at})
    with pytest.raises(ValidationError, match="amount"):
        PurchaseIn.model_validate({**order, "amount": "100000.01"})
    with pytest.raises(ValidationError, match="delta"):
        AdjustIn.model_validate({"telegram_id": 1, "delta": -100_001, "reason": "abc"})
    looser = ApiLimits(Decimal(200_000), 400, 5)
    PurchaseIn.model_validate(
        {**order, "amount": "150000", "purchased_at": now - timedelta(days=399)}, context=looser
    )
    with pytest.raises(ValidationError, match="delta"):
        AdjustIn.model_validate({"telegram_id": 1, "delta": 6, "reason": "abc"}, context=looser)
