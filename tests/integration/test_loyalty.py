"""The points engine against a real SQLite database: earning, spending, refunds, expiry."""

import asyncio
from datetime import timedelta

import pytest

from bot.config.errors import SettingsError
from bot.services.loyalty.ledger import InsufficientPoints, PointsLedger, Restored
from bot.services.loyalty.purchases import (
    CustomerRef,
    OrderConflict,
    PurchaseRequest,
    PurchaseService,
    UnknownCustomer,
)
from bot.services.loyalty.rules import load_rules
from bot.services.loyalty.service import LoyaltyService, is_valid_card_code, new_card_code
from storage.clock import utcnow
from storage.repositories import TelegramProfile

RULES = load_rules()


@pytest.fixture
def services(storage):
    ledger = PointsLedger(RULES)
    return (
        LoyaltyService(storage, RULES, ledger),
        PurchaseService(storage, RULES, ledger),
        ledger,
    )


async def new_customer(storage, telegram_id, name="Ann"):
    async with storage.write() as uow:
        return await uow.customers.touch(
            TelegramProfile(telegram_id, name, None, None, "en"), utcnow()
        )


def purchase(order_id, telegram_id, amount_minor, purchased_at=None):
    return PurchaseRequest(
        order_id=order_id,
        customer=CustomerRef(telegram_id=telegram_id),
        amount_minor=amount_minor,
        currency="EUR",
        purchased_at=purchased_at,
        recorded_by="test",
    )


async def consistent(storage):
    async with storage.read() as uow:
        balance, lots = await uow.ledger.totals()
    return balance == lots


async def notices(storage, kind):
    async with storage.read() as uow:
        due = await uow.outbox.due(utcnow() + timedelta(days=1), 1000)
    return [notice for notice in due if notice.kind == kind]


async def test_a_purchase_earns_its_percent_once_however_often_replayed(storage, services):
    _loyalty, purchases, _ledger = services
    await new_customer(storage, 1)
    first = await purchases.record(purchase("A-1", 1, 2000))
    assert first.created
    assert first.purchase.points == 100  # 5 % of 20.00 at 0.01 a point
    replays = await asyncio.gather(*(purchases.record(purchase("A-1", 1, 2000)) for _ in range(9)))
    assert not any(result.created for result in replays)
    assert {result.purchase.balance_after for result in replays} == {100}
    assert len(await notices(storage, "points_earned")) == 1
    with pytest.raises(OrderConflict):
        await purchases.record(purchase("A-1", 1, 2500))
    with pytest.raises(UnknownCustomer):
        await purchases.record(purchase("A-2", 999, 2500))
    assert await consistent(storage)


async def test_concurrent_spends_never_overspend(storage, services):
    loyalty, purchases, ledger = services
    customer = await new_customer(storage, 2)
    await purchases.record(purchase("B-1", 2, 10000))  # 500 points

    async def spend(number):
        async with storage.write() as uow:
            await ledger.debit(uow, customer.id, 200, "redeem", at=utcnow(), key=f"spend-{number}")

    results = await asyncio.gather(*(spend(n) for n in range(5)), return_exceptions=True)
    refused = [result for result in results if isinstance(result, InsufficientPoints)]
    assert len(refused) == 3
    assert await loyalty.balance(customer.id) == 100
    assert await consistent(storage)


async def test_refunds_take_points_back_in_proportion_and_add_up(storage, services):
    loyalty, purchases, _ledger = services
    customer = await new_customer(storage, 3)
    await purchases.record(purchase("C-1", 3, 3333))  # 166 points
    parts = [await purchases.refund("C-1", 1111, None) for _ in range(2)]
    assert not parts[1].created  # the same partial amount without a refund_id is a replay
    second = await purchases.refund("C-1", 1111, "second-third")
    rest = await purchases.refund("C-1", None, None)
    assert rest.amount_minor == 1111
    reversed_total = parts[0].points_reversed + second.points_reversed + rest.points_reversed
    assert reversed_total == 166
    assert await loyalty.balance(customer.id) == 0
    assert (await purchases.refund("C-1", None, None)).created is False
    assert await consistent(storage)


async def test_a_refund_of_spent_points_never_makes_the_balance_negative(storage, services):
    loyalty, purchases, ledger = services
    customer = await new_customer(storage, 4)
    await purchases.record(purchase("D-1", 4, 4000))  # 200 points
    async with storage.write() as uow:
        await ledger.debit(uow, customer.id, 150, "redeem", at=utcnow())
    refund = await purchases.refund("D-1", None, None)
    assert (refund.points_reversed, refund.points_uncollected) == (50, 150)
    assert await loyalty.balance(customer.id) == 0


async def test_spending_takes_the_lots_that_burn_first(storage, services):
    _loyalty, purchases, ledger = services
    customer = await new_customer(storage, 5)
    now = utcnow()
    await purchases.record(purchase("E-new", 5, 2000, now))
    await purchases.record(purchase("E-old", 5, 2000, now - timedelta(days=300)))
    async with storage.write() as uow:
        debit = await ledger.debit(uow, customer.id, 120, "redeem", at=now)
        lots = await uow.ledger.open_lots(customer.id)
    assert [lot.remaining for lot in lots] == [80]  # the older lot is used up first
    assert lots[0].expires_at > now + timedelta(days=300)
    async with storage.write() as uow:
        restored = await ledger.restore(uow, debit.entry_id, customer.id, "redeem_return", at=now)
        lots = await uow.ledger.open_lots(customer.id)
    assert restored == Restored(returned=120, expired=0)
    assert sorted(lot.remaining for lot in lots) == [100, 100]
    assert await consistent(storage)


async def test_tier_rises_with_the_rolling_spend_and_multiplies_points(storage, services):
    _loyalty, purchases, _ledger = services
    customer = await new_customer(storage, 6)
    await purchases.record(purchase("F-1", 6, 30000))  # reaches Silver (300)
    assert len([n for n in await notices(storage, "tier_up") if n.customer_id == customer.id]) == 1
    result = await purchases.record(purchase("F-2", 6, 10000))
    assert result.purchase.points == 625  # 500 x 1.25
    old = await purchases.record(purchase("F-old", 6, 200000, utcnow() - timedelta(days=400)))
    assert old.purchase.tier == "silver"  # a purchase older than 12 months counts for no tier


async def test_referral_rewards_both_on_the_first_purchase_within_the_cap(storage, services):
    loyalty, purchases, _ledger = services
    referrer = await loyalty.ensure_codes(await new_customer(storage, 7, "Rita"))
    friends = [await new_customer(storage, 100 + n, f"Friend{n}") for n in range(12)]
    for friend in friends:
        assert await loyalty.attribute_referral(friend, f"r-{referrer.referral_code}")
    assert await loyalty.attribute_referral(referrer, f"r-{referrer.referral_code}") is None
    for number, friend in enumerate(friends):
        await purchases.record(purchase(f"G-{number}", friend.telegram_id, 1000))
        await purchases.record(purchase(f"G-{number}-2", friend.telegram_id, 1000))
    stats = await loyalty.referral_stats(referrer)
    assert (stats.invited, stats.converted) == (12, 12)
    assert stats.points == RULES.referral.referrer_points * RULES.referral.monthly_cap
    assert await loyalty.balance(referrer.id) == stats.points
    assert await loyalty.balance(friends[0].id) == 50 + 50 + RULES.referral.referee_points


async def test_cards_carry_a_check_digit():
    codes = {new_card_code() for _ in range(200)}
    assert all(is_valid_card_code(code) for code in codes)
    code = next(iter(codes))
    typo = code[:5] + str((int(code[5]) + 1) % 10) + code[6:]
    assert not is_valid_card_code(typo)


def test_bad_rules_name_the_field(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("tiers:\n  - {id: bronze, spend: 0, name: {en: B}}\nearn_percent: -1\n")
    with pytest.raises(SettingsError, match="earn_percent"):
        load_rules(path)
    path.write_text("tiers:\n  - {id: gold, spend: 100, name: {en: Gold}}\n")
    with pytest.raises(SettingsError, match="first tier must start at spend 0"):
        load_rules(path)
    path.write_text("tiers: [")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_rules(path)


def test_points_round_down_and_follow_the_multiplier():
    bronze, silver, gold = RULES.tiers
    assert RULES.points_for(2000, bronze) == 100
    assert RULES.points_for(1999, bronze) == 99
    assert RULES.points_for(1000, gold) == 75
    assert RULES.tier_for(29999) is bronze
    assert RULES.tier_for(30000) is silver


async def test_a_referral_converts_only_on_a_purchase_of_at_least_the_minimum(storage, services):
    """The attack: invite yourself a second account and buy a sweet for €0.01."""
    loyalty, purchases, _ledger = services
    referrer = await loyalty.ensure_codes(await new_customer(storage, 8, "Rita"))
    friend = await new_customer(storage, 200, "Farmer")
    assert await loyalty.attribute_referral(friend, f"r-{referrer.referral_code}")
    await purchases.record(purchase("H-1", friend.telegram_id, 1))
    await purchases.record(purchase("H-2", friend.telegram_id, 999))
    stats = await loyalty.referral_stats(referrer)
    assert (stats.invited, stats.converted, stats.points) == (1, 0, 0)
    assert await loyalty.balance(referrer.id) == 0
    assert await notices(storage, "referral_converted") == []

    # Still pending: the first purchase of the minimum converts it, once.
    await purchases.record(purchase("H-3", friend.telegram_id, 1000))
    await purchases.record(purchase("H-4", friend.telegram_id, 5000))
    stats = await loyalty.referral_stats(referrer)
    assert (stats.invited, stats.converted, stats.points) == (1, 1, 100)
    assert await loyalty.balance(referrer.id) == 100
    async with storage.read() as uow:
        assert (await uow.referrals.of_referee(friend.id)).order_id == "H-3"


async def test_refunding_the_qualifying_purchase_claws_back_both_rewards(storage, services):
    """The attack: buy, collect both referral bonuses, spend them, refund the purchase."""
    loyalty, purchases, ledger = services
    referrer = await loyalty.ensure_codes(await new_customer(storage, 9, "Rita"))
    friend = await new_customer(storage, 300, "Farmer")
    assert await loyalty.attribute_referral(friend, f"r-{referrer.referral_code}")
    await purchases.record(purchase("J-1", friend.telegram_id, 2000))  # 100 + 50 referral
    assert await loyalty.balance(referrer.id) == 100
    async with storage.write() as uow:  # the referrer has spent 60 of the 100 meanwhile
        await ledger.debit(uow, referrer.id, 60, "redeem", at=utcnow())

    # Half back: 10.00 is still the minimum, nothing of the referral moves.
    await purchases.refund("J-1", 1000, None)
    assert await loyalty.balance(referrer.id) == 40
    assert await loyalty.balance(friend.id) == 50 + 50
    # One cent more, and the purchase no longer qualifies.
    await purchases.refund("J-1", 1, None)
    await purchases.refund("J-1", 1, None)  # a replay changes nothing
    assert await loyalty.balance(referrer.id) == 0  # what was left, never below 0
    assert await loyalty.balance(friend.id) == 50
    async with storage.read() as uow:
        referrer_movements = await uow.ledger.history(referrer.id, 10)
        friend_movements = await uow.ledger.history(friend.id, 10)
    assert [(e.reason, e.delta, e.note) for e in referrer_movements[:1]] == [
        ("referral_reversed", -40, "referral reversed: the friend's order J-1 was refunded")
    ]
    assert [(e.reason, e.delta, e.note) for e in friend_movements[:1]] == [
        ("referral_reversed", -50, "referral reversed: order J-1 refunded")
    ]
    told = await notices(storage, "referral_reversed")
    assert sorted((n.customer_id, n.payload["points"], n.payload["balance"]) for n in told) == [
        (referrer.id, 40, 0),
        (friend.id, 50, 50),
    ]
    stats = await loyalty.referral_stats(referrer)
    assert (stats.invited, stats.converted, stats.points) == (1, 0, 0)
    # A reversed referral stays closed: buying again converts nothing.
    await purchases.record(purchase("J-2", friend.telegram_id, 5000))
    assert await loyalty.balance(referrer.id) == 0
    assert await consistent(storage)
