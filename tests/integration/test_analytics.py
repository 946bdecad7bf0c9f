"""Retention figures against a real database: definitions on small, known histories."""

from datetime import timedelta

from bot.services.analytics import AnalyticsService
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.purchases import CustomerRef, PurchaseRequest, PurchaseService
from bot.services.loyalty.rules import load_rules
from storage.clock import utcnow
from storage.repositories import TelegramProfile

RULES = load_rules()


async def test_an_empty_business_has_no_rates_rather_than_errors(storage):
    figures = await AnalyticsService(storage, RULES).figures(30)
    assert (figures.buyers, figures.crr, figures.average_check, figures.clv) == (
        0,
        None,
        None,
        None,
    )
    assert [segment.customers for segment in figures.segments] == [0, 0, 0, 0, 0]
    assert figures.rfm == {}


async def test_frequency_bands_split_returning_buyers_by_their_purchases(storage):
    purchases = PurchaseService(storage, RULES, PointsLedger(RULES))
    now = utcnow()
    counts = [1, 1, 2, 3, 6, 9]  # purchases in the last 90 days, besides an old first one
    for number, count in enumerate(counts):
        async with storage.write() as uow:
            await uow.customers.touch(TelegramProfile(number + 1, "C", None, None, "en"), now)
        moments = [now - timedelta(days=200)] + [
            now - timedelta(days=1 + index) for index in range(count)
        ]
        for index, moment in enumerate(moments):
            await purchases.record(
                PurchaseRequest(
                    order_id=f"{number}-{index}",
                    customer=CustomerRef(telegram_id=number + 1),
                    amount_minor=1000,
                    currency="EUR",
                    purchased_at=moment,
                    recorded_by="test",
                )
            )
    figures = await AnalyticsService(storage, RULES).figures(30)
    bands = {segment.name: segment.customers for segment in figures.segments}
    assert bands == {"new": 0, "frequent": 2, "medium": 2, "rare": 2, "lost": 0}
    assert figures.returning == 6
    assert figures.repeat_purchase_rate == 100
    assert figures.points_liability == sum(counts + [len(counts)]) * 50
    assert sum(figures.rfm["frequency"].values()) == 6
