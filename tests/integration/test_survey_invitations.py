"""Surveys answer only by invitation, on a real database: an NPS score from a customer the
survey was not sent to, and a purchase's stars without its rating request, record nothing."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.services.broadcasts.service import BroadcastService
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.purchases import CustomerRef, PurchaseRequest, PurchaseService
from bot.services.loyalty.rules import load_rules
from bot.services.reviews import NpsService, Rated, Refusal, ReviewService
from storage.clock import utcnow
from storage.repositories import TelegramProfile

RULES = load_rules()
ZONE = ZoneInfo("Europe/Berlin")


async def _customers(storage, *telegram_ids):
    async with storage.write() as uow:
        return [
            await uow.customers.touch(TelegramProfile(telegram_id, "C", None, None, "en"), utcnow())
            for telegram_id in telegram_ids
        ]


async def test_an_nps_score_counts_only_from_an_invited_customer_once(storage):
    asked, stranger = await _customers(storage, 1, 2)
    async with storage.write() as uow:
        survey = await uow.nps.create_survey(None, utcnow(), condition="c.telegram_id = 1")
    nps = NpsService(storage, BroadcastService(storage, ZONE, "en"))

    assert not await nps.answer(stranger, survey, 0)  # someone else's survey
    assert not await nps.answer(asked, survey + 1, 0)  # a survey that does not exist
    assert await nps.answer(asked, survey, 9)
    assert not await nps.answer(asked, survey, 2)  # answered already
    async with storage.read() as uow:
        answers = await uow.session.fetch_all(
            "SELECT customer_id, score FROM nps_responses ORDER BY customer_id"
        )
    assert [tuple(row) for row in answers] == [(asked.id, 9)]


async def test_a_purchase_is_rated_only_after_its_rating_request(storage):
    buyer, other = await _customers(storage, 1, 2)
    recorded = await PurchaseService(storage, RULES, PointsLedger(RULES)).record(
        PurchaseRequest(
            order_id="R-1",
            customer=CustomerRef(telegram_id=1),
            amount_minor=1000,
            currency="EUR",
            purchased_at=utcnow(),
            recorded_by="test",
        )
    )
    purchase_id = recorded.purchase.id
    reviews = ReviewService(storage, RULES, PointsLedger(RULES), timedelta(minutes=1), None, ZONE)

    assert await reviews.rate(buyer, 5, purchase_id) is Refusal.NOT_ASKED  # not asked yet
    assert await reviews.queue_rating_requests(utcnow() + timedelta(minutes=2)) == 1
    assert await reviews.rate(other, 1, purchase_id) is Refusal.NOT_ASKED  # not theirs
    rated = await reviews.rate(buyer, 4, purchase_id)
    assert isinstance(rated, Rated) and rated.bonus == RULES.review_bonus
    assert await reviews.rate(buyer, 1, purchase_id) is Refusal.ALREADY_RATED
    async with storage.read() as uow:
        stored = await uow.session.fetch_all("SELECT customer_id, stars FROM reviews")
    assert [tuple(row) for row in stored] == [(buyer.id, 4)]
