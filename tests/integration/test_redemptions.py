"""Redemption codes and cashiers' sales against a real SQLite database, with a clock the
tests move by passing `now`."""

import asyncio
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.services.access import AccessDenied, Actor, Role, RoleService
from bot.services.loyalty.expiry import PointsExpiry
from bot.services.loyalty.ledger import InsufficientPoints, PointsLedger
from bot.services.loyalty.purchases import (
    CustomerRef,
    OrderConflict,
    PurchaseError,
    PurchaseRequest,
    PurchaseService,
    UnknownCustomer,
)
from bot.services.loyalty.redemptions import (
    CodeClosed,
    CodeExpired,
    InvalidPoints,
    RedemptionService,
    SaleAmountRequired,
    ShareExceeded,
    UnknownCode,
    UnknownReward,
    normalise_code,
    parse_amount,
    till_order_id,
)
from bot.services.loyalty.rules import load_rules
from bot.services.loyalty.service import LoyaltyService
from storage.clock import utcnow
from storage.repositories import TelegramProfile
from storage.unit_of_work import open_storage

RULES = load_rules()  # coffee 150, dessert 300; codes valid 15 min; points pay up to 50 %
CASHIER_ID = 7001
ADMIN_ID = 7002
CASHIER = Actor.telegram(CASHIER_ID)


def build(storage):
    ledger = PointsLedger(RULES)
    purchases = PurchaseService(storage, RULES, ledger)
    roles = RoleService(storage, frozenset({ADMIN_ID}))
    return RedemptionService(storage, RULES, ledger, purchases, roles), purchases


@pytest.fixture
async def services(storage):
    async with storage.write() as uow:
        await uow.roles.grant(CASHIER_ID, Role.CASHIER, ADMIN_ID, utcnow())
    return build(storage)


async def customer_with(storage, purchases, telegram_id, amount_minor, name="Ann"):
    """A customer with a card and amount_minor * 5 % in points (20.00 -> 100 points)."""
    async with storage.write() as uow:
        customer = await uow.customers.touch(
            TelegramProfile(telegram_id, name, None, None, "en"), utcnow()
        )
    customer = await LoyaltyService(storage, RULES, PointsLedger(RULES)).ensure_codes(customer)
    if amount_minor:
        await purchases.record(
            PurchaseRequest(
                order_id=f"seed-{telegram_id}",
                customer=CustomerRef(telegram_id=telegram_id),
                amount_minor=amount_minor,
                currency="EUR",
                purchased_at=None,
                recorded_by="test",
            )
        )
    return customer


async def balance(storage, customer):
    async with storage.read() as uow:
        return await uow.ledger.balance(customer.id)


async def consistent(storage):
    async with storage.read() as uow:
        total, lots = await uow.ledger.totals()
    return total == lots


async def queued(storage, kind):
    async with storage.read() as uow:
        due = await uow.outbox.due(utcnow() + timedelta(days=1), 1000)
    return [notice for notice in due if notice.kind == kind]


async def test_a_code_reserves_the_points_and_asking_again_shows_the_same_code(storage, services):
    redemptions, purchases = services
    ann = await customer_with(storage, purchases, 1, 40000)  # 2000 points
    now = utcnow()
    issued = await redemptions.issue(ann, reward_id="coffee", now=now)
    assert issued.created
    code = issued.redemption
    assert len(code.code) == 8 and code.code.isdigit()
    assert code.expires_at == now + timedelta(minutes=15)
    assert code.points == 150 and code.state == "issued"
    assert issued.balance == 1850 == await balance(storage, ann)

    again = await redemptions.issue(ann, reward_id="coffee", now=now + timedelta(minutes=1))
    assert not again.created and again.redemption.code == code.code
    assert await balance(storage, ann) == 1850  # a double tap reserves nothing more

    dessert = await redemptions.issue(ann, reward_id="dessert", now=now)
    assert dessert.created and dessert.redemption.code != code.code
    assert await balance(storage, ann) == 1550

    # Points: the same number shows the open code; another number replaces it.
    first = await redemptions.issue(ann, points=200, now=now)
    assert (await redemptions.issue(ann, points=200, now=now)).redemption.id == first.redemption.id
    second = await redemptions.issue(ann, points=300, now=now)
    assert second.created and second.balance == 1550 - 300
    async with storage.read() as uow:
        replaced = await uow.redemptions.by_id(first.redemption.id)
    assert replaced.state == "cancelled"
    catalogue = await redemptions.catalogue(ann, now=now)
    assert [c.id for c in catalogue.open_codes] == [
        code.id,
        dessert.redemption.id,
        second.redemption.id,
    ]
    assert catalogue.balance == 1250
    assert await consistent(storage)


async def test_issuing_refuses_what_cannot_be_given(storage, services):
    redemptions, purchases = services
    bob = await customer_with(storage, purchases, 2, 4000)  # 200 points
    with pytest.raises(UnknownReward):
        await redemptions.issue(bob, reward_id="yacht")
    for wrong in (0, -5, None):
        with pytest.raises(InvalidPoints):
            await redemptions.issue(bob, points=wrong)
    with pytest.raises(InsufficientPoints) as short:
        await redemptions.issue(bob, reward_id="dessert")
    assert (short.value.wanted, short.value.available) == (300, 200)
    with pytest.raises(InsufficientPoints):
        await redemptions.issue(bob, points=201)
    assert await balance(storage, bob) == 200
    async with storage.read() as uow:
        assert await uow.redemptions.open_of(bob.id) == []


async def test_expiry_returns_the_points_once_and_tells_the_customer_once(storage, services):
    redemptions, purchases = services
    cleo = await customer_with(storage, purchases, 3, 10000)  # 500 points
    now = utcnow()
    issued = await redemptions.issue(cleo, reward_id="coffee", now=now)
    assert await redemptions.expire_due(now + timedelta(minutes=14)) == 0
    assert await balance(storage, cleo) == 350

    later = now + timedelta(minutes=15)
    results = await asyncio.gather(*(redemptions.expire_due(later) for _ in range(3)))
    assert sorted(results) == [0, 0, 1]
    assert await redemptions.expire_due(later + timedelta(hours=1)) == 0
    assert await balance(storage, cleo) == 500
    async with storage.read() as uow:
        expired = await uow.redemptions.by_id(issued.redemption.id)
        returns = [e for e in await uow.ledger.history(cleo.id, 50) if e.reason == "redeem_return"]
    assert expired.state == "expired" and expired.closed_at == later
    assert len(returns) == 1 and returns[0].delta == 150
    assert returns[0].source == f"redemption:{issued.redemption.code}"
    notices = await queued(storage, "redemption_expired")
    assert [(n.customer_id, n.payload["points"], n.payload["balance"]) for n in notices] == [
        (cleo.id, 150, 500)
    ]
    with pytest.raises(CodeExpired):
        await redemptions.confirm(CASHIER, issued.redemption.code, now=later)
    assert await balance(storage, cleo) == 500
    assert await consistent(storage)


async def test_reserved_points_whose_lot_burnt_meanwhile_come_back_expired(storage, services):
    """The attack: reserve points from a lot about to burn, let the daily expiry run (it
    finds nothing left in the lot), then let the code lapse. The points must not come back
    as a fresh lot of a year."""
    redemptions, purchases = services
    now = utcnow()
    gus = await customer_with(storage, purchases, 5, 0, name="Gus")
    await purchases.record(
        PurchaseRequest(
            order_id="burns-soon",
            customer=CustomerRef(telegram_id=5),
            amount_minor=6000,  # 300 points in one lot, burning in an hour
            currency="EUR",
            purchased_at=now - timedelta(days=RULES.expiry.days) + timedelta(hours=1),
            recorded_by="test",
        )
    )
    issued = await redemptions.issue(gus, reward_id="coffee", now=now)  # 150 held
    two_hours_on = now + timedelta(hours=2)
    expiry = PointsExpiry(
        storage, RULES, PointsLedger(RULES), ZoneInfo("UTC"), clock=lambda: two_hours_on
    )
    burnt = await expiry.expire(two_hours_on.astimezone(UTC).date())
    assert burnt == {"customers": 1, "points": 150}  # the part not held
    assert await balance(storage, gus) == 0

    assert await redemptions.expire_due(two_hours_on) == 1
    assert await balance(storage, gus) == 0
    async with storage.read() as uow:
        movements = [(e.reason, e.delta) for e in reversed(await uow.ledger.history(gus.id, 50))]
        open_lots = await uow.ledger.open_lots(gus.id)
    assert movements == [
        ("purchase", 300),
        ("redeem", -150),
        ("expire", -150),
        ("redeem_return", 150),
        ("expire", -150),
    ]
    assert open_lots == []
    notices = await queued(storage, "redemption_expired")
    assert [(n.payload["points"], n.payload["expired"], n.payload["balance"]) for n in notices] == [
        (0, 150, 0)
    ]
    # The next daily run finds nothing more to burn, and the books still balance.
    assert await expiry.expire(two_hours_on.date()) == {"customers": 0, "points": 0}
    assert await consistent(storage)
    with pytest.raises(CodeExpired):
        await redemptions.cancel(gus, issued.redemption.id, now=two_hours_on)


async def test_a_cancelled_code_gives_back_live_points_and_burns_those_past_their_date(
    storage, services
):
    redemptions, purchases = services
    now = utcnow()
    hal = await customer_with(storage, purchases, 6, 2000, name="Hal")  # 100, for a year
    await purchases.record(
        PurchaseRequest(
            order_id="burns-in-a-minute",
            customer=CustomerRef(telegram_id=6),
            amount_minor=2000,  # 100 more, burning in a minute: these are spent first
            currency="EUR",
            purchased_at=now - timedelta(days=RULES.expiry.days) + timedelta(minutes=1),
            recorded_by="test",
        )
    )
    issued = await redemptions.issue(hal, reward_id="coffee", now=now)  # 100 + 50
    cancelled = await redemptions.cancel(hal, issued.redemption.id, now=now + timedelta(minutes=5))
    assert (cancelled.points_returned, cancelled.points_expired) == (50, 100)
    assert cancelled.balance == 100 == await balance(storage, hal)
    async with storage.read() as uow:
        lots = await uow.ledger.open_lots(hal.id)
    assert [lot.remaining for lot in lots] == [100]
    assert lots[0].expires_at > now + timedelta(days=300)
    assert await consistent(storage)


async def test_a_cashier_meeting_an_expired_code_gives_its_points_back_then(storage, services):
    redemptions, purchases = services
    dan = await customer_with(storage, purchases, 4, 10000)
    now = utcnow()
    issued = await redemptions.issue(dan, reward_id="coffee", now=now)
    code = issued.redemption.code
    with pytest.raises(CodeExpired) as refusal:
        await redemptions.confirm(CASHIER, code, now=now + timedelta(minutes=20))
    assert refusal.value.redemption.expires_at == now + timedelta(minutes=15)
    assert await balance(storage, dan) == 500  # back at that moment, not at the next sweep
    assert len(await queued(storage, "redemption_expired")) == 1
    assert await redemptions.expire_due(now + timedelta(hours=1)) == 0
    with pytest.raises(CodeExpired):
        await redemptions.look_up(CASHIER, code, now=now + timedelta(minutes=21))
    assert await balance(storage, dan) == 500
    assert len(await queued(storage, "redemption_expired")) == 1


async def test_a_code_is_used_once_and_unknown_codes_are_refused(storage, services):
    redemptions, purchases = services
    eve = await customer_with(storage, purchases, 5, 10000)
    now = utcnow()
    issued = await redemptions.issue(eve, reward_id="coffee", now=now)
    code = issued.redemption.code
    view = await redemptions.look_up(CASHIER, code, now=now)
    assert view.customer.id == eve.id and view.reward.id == "coffee"

    at = now + timedelta(minutes=3)
    confirmed = await redemptions.confirm(CASHIER, code, now=at)
    assert confirmed.redemption.state == "confirmed"
    assert confirmed.redemption.confirmed_by == CASHIER_ID
    assert confirmed.balance == 350
    with pytest.raises(CodeClosed) as reused:
        await redemptions.confirm(CASHIER, code, now=at + timedelta(minutes=1))
    assert reused.value.redemption.state == "confirmed"
    assert reused.value.redemption.closed_at == at
    with pytest.raises(UnknownCode):
        await redemptions.confirm(CASHIER, "10000000" if code != "10000000" else "10000001")
    with pytest.raises(CodeClosed):
        await redemptions.cancel(eve, issued.redemption.id)  # used: no points come back
    assert await balance(storage, eve) == 350
    assert await redemptions.expire_due(now + timedelta(hours=1)) == 0  # closed stays closed
    assert await balance(storage, eve) == 350

    notices = await queued(storage, "redemption_confirmed")
    assert len(notices) == 1
    assert notices[0].payload == {
        "code": code,
        "reward_id": "coffee",
        "points": 150,
        "sale_amount_minor": None,
        "currency": "EUR",
        "balance": 350,
    }
    async with storage.read() as uow:
        trail = await uow.audit.find(actor=CASHIER_ID)
    assert [(entry.action, entry.subject) for entry in trail] == [
        ("redemption.confirm", f"redemption:{code}")
    ]
    assert trail[0].after["customer"] == 5
    assert await consistent(storage)


async def test_two_cashiers_confirming_at_once_one_succeeds(storage, services, tmp_path):
    redemptions, purchases = services
    fay = await customer_with(storage, purchases, 6, 10000)
    codes = [(await redemptions.issue(fay, reward_id=r)).redemption.code for r in ("coffee",)]
    # A second process's connection to the same database (another replica of the bot).
    other = await open_storage(storage.database.url)
    try:
        elsewhere, _purchases = build(other)
        results = await asyncio.gather(
            *(service.confirm(CASHIER, codes[0]) for service in (redemptions, elsewhere) * 3),
            return_exceptions=True,
        )
    finally:
        await other.close()
    succeeded = [result for result in results if not isinstance(result, BaseException)]
    refused = [result for result in results if isinstance(result, CodeClosed)]
    assert len(succeeded) == 1 and len(refused) == 5
    assert len(await queued(storage, "redemption_confirmed")) == 1
    async with storage.read() as uow:
        confirmations = [
            entry for entry in await uow.audit.find() if entry.action == "redemption.confirm"
        ]
    assert len(confirmations) == 1
    assert await balance(storage, fay) == 350


async def test_points_pay_at_most_the_share_of_a_sale(storage, services):
    redemptions, purchases = services
    gus = await customer_with(storage, purchases, 7, 10000)  # 500 points
    issued = await redemptions.issue(gus, points=200)  # worth 2.00 EUR
    code = issued.redemption.code
    assert redemptions.min_sale_for(200) == 400
    with pytest.raises(SaleAmountRequired):
        await redemptions.confirm(CASHIER, code)
    with pytest.raises(ShareExceeded) as exceeded:
        await redemptions.confirm(CASHIER, code, 399)
    assert exceeded.value.min_sale_minor == 400
    async with storage.read() as uow:
        assert (await uow.redemptions.by_code(code)).state == "issued"  # refusals change nothing
    confirmed = await redemptions.confirm(CASHIER, code, 400)
    assert confirmed.redemption.sale_amount_minor == 400
    assert confirmed.balance == 300


async def test_only_the_owner_cancels_and_gets_the_points_back_at_once(storage, services):
    redemptions, purchases = services
    hana = await customer_with(storage, purchases, 8, 10000, "Hana")
    ivan = await customer_with(storage, purchases, 9, 10000, "Ivan")
    issued = await redemptions.issue(hana, reward_id="dessert")
    with pytest.raises(UnknownCode):
        await redemptions.cancel(ivan, issued.redemption.id)
    with pytest.raises(UnknownCode):
        await redemptions.cancel(hana, issued.redemption.id + 1000)
    assert await balance(storage, hana) == 200
    cancelled = await redemptions.cancel(hana, issued.redemption.id)
    assert cancelled.points_returned == 300 and cancelled.balance == 500
    with pytest.raises(CodeClosed):
        await redemptions.cancel(hana, issued.redemption.id)
    with pytest.raises(CodeClosed) as used:
        await redemptions.confirm(CASHIER, issued.redemption.code)
    assert used.value.redemption.state == "cancelled"
    assert await balance(storage, hana) == 500
    assert await consistent(storage)


async def test_only_cashiers_and_admins_act_at_the_till(storage, services):
    redemptions, purchases = services
    jo = await customer_with(storage, purchases, 10, 10000)
    code = (await redemptions.issue(jo, reward_id="coffee")).redemption.code
    stranger = Actor.telegram(10)
    with pytest.raises(AccessDenied):
        await redemptions.confirm(stranger, code)
    with pytest.raises(AccessDenied):
        await redemptions.look_up(stranger, code)
    with pytest.raises(AccessDenied):
        await redemptions.record_sale(stranger, jo.card_code, 1000, "till-10-x")
    async with storage.read() as uow:
        assert (await uow.redemptions.by_code(code)).state == "issued"
    assert (await redemptions.confirm(Actor.telegram(ADMIN_ID), code)).balance == 350


async def test_a_cashier_sale_is_recorded_once_audited_and_earns_points(storage, services):
    redemptions, purchases = services
    kim = await customer_with(storage, purchases, 11, 0, "Kim")
    preview = await redemptions.preview_sale(CASHIER, kim.card_code, 1250)
    assert (preview.customer.id, preview.points) == (kim.id, 62)
    order_id = till_order_id(CASHIER_ID, "0" * 32)
    sales = await asyncio.gather(
        *(redemptions.record_sale(CASHIER, kim.card_code, 1250, order_id) for _ in range(4))
    )
    assert sorted(sale.created for sale in sales) == [False, False, False, True]
    assert {sale.purchase.balance_after for sale in sales} == {62}
    assert sales[0].purchase.recorded_by == f"cashier:{CASHIER_ID}"
    assert await balance(storage, kim) == 62
    assert len(await queued(storage, "points_earned")) == 1
    async with storage.read() as uow:
        trail = await uow.audit.find(actor=CASHIER_ID)
    assert [(entry.action, entry.subject, entry.after["order_id"]) for entry in trail] == [
        ("sale.record", "customer:11", order_id)
    ]
    with pytest.raises(OrderConflict):
        await redemptions.record_sale(CASHIER, kim.card_code, 9999, order_id)
    for wrong in (0, -1, 10_000_001):
        with pytest.raises(PurchaseError):
            await redemptions.record_sale(CASHIER, kim.card_code, wrong, order_id + "x")
    wrong_card = kim.card_code[:-1] + str((int(kim.card_code[-1]) + 1) % 10)
    with pytest.raises(UnknownCustomer):
        await redemptions.record_sale(CASHIER, wrong_card, 1000, till_order_id(CASHIER_ID, "1"))
    with pytest.raises(UnknownCustomer):
        await redemptions.preview_sale(CASHIER, wrong_card, 1000)


def test_amounts_and_codes_as_typed_at_the_till():
    assert parse_amount("12.50") == parse_amount("12,50") == parse_amount(" 12,5 ") == 1250
    assert parse_amount("7") == 700
    assert parse_amount("100000") == 10_000_000
    for wrong in ("0", "0.00", "-5", "12.505", "1e3", "abc", "", "100000.01", "NaN", "12..5"):
        assert parse_amount(wrong) is None, wrong
    assert normalise_code("1234 5678") == normalise_code("12345678") == "12345678"
    for wrong in ("1234567", "123456789", "1234abcd", ""):
        assert normalise_code(wrong) is None
