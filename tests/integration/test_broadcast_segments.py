"""Segment expressions: parsing, refusals, and who each one selects in a seeded database."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.quiet_hours import QuietHours
from bot.services.access import CLI
from bot.services.broadcasts.segments import SegmentContext, SegmentError, compile_segment
from bot.services.broadcasts.service import BroadcastError, BroadcastService
from storage.clock import to_db

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Kyiv")
CONTEXT = SegmentContext(NOW, ZONE, "en")


async def _customer(uow, telegram_id, **fields):
    columns = {
        "telegram_id": telegram_id,
        "first_name": f"C{telegram_id}",
        "first_seen": to_db(NOW - timedelta(days=fields.pop("joined_days_ago", 100))),
        "last_seen": to_db(NOW),
        **fields,
    }
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    return await uow.session.insert(
        f"INSERT INTO customers ({names}) VALUES ({marks})",  # noqa: S608
        tuple(columns.values()),
    )


async def _purchase(uow, customer_id, days_ago, order):
    await uow.session.execute(
        "INSERT INTO purchases (order_id, customer_id, amount_minor, currency, purchased_at, "
        "recorded_at, points, balance_after, recorded_by, purchased_epoch) "
        "VALUES (?, ?, 100, 'EUR', ?, ?, 5, 5, 't', ?)",
        (
            order,
            customer_id,
            to_db(NOW - timedelta(days=days_ago)),
            to_db(NOW),
            int((NOW - timedelta(days=days_ago)).timestamp()),
        ),
    )


async def _points(uow, customer_id, delta, expires_in_days=None):
    expires = to_db(NOW + timedelta(days=expires_in_days)) if expires_in_days else None
    await uow.session.execute(
        "INSERT INTO points_entries (customer_id, at, delta, reason, is_lot, expires_at) "
        "VALUES (?, ?, ?, 'adjust', ?, ?)",
        (customer_id, to_db(NOW - timedelta(days=5)), delta, int(delta > 0), expires),
    )


@pytest.fixture
async def seeded(storage):
    """1: ru gold, 150 points burning in 10 days, a purchase 5 days ago (new).
    2: en (Telegram app), silver, 50 points, first purchase 200 days ago (returning, inactive).
    3: uk chosen, never purchased, referred by 1, birthday in November, tag vip.
    4: opted out (gold).  5: unreachable (gold).  6: forgotten."""
    async with storage.write() as uow:
        c1 = await _customer(uow, 101, language="ru", tier="gold")
        c2 = await _customer(uow, 102, telegram_language="en-GB", tier="silver")
        c3 = await _customer(uow, 103, language="uk", birthday="11-02", joined_days_ago=3)
        c4 = await _customer(uow, 104, tier="gold", consent_promotions=0)
        c5 = await _customer(uow, 105, tier="gold", reachable=0)
        await _customer(uow, None, tier="gold")
        await _purchase(uow, c1, 5, "o1")
        await _purchase(uow, c2, 200, "o2")
        await _points(uow, c1, 150, expires_in_days=10)
        await _points(uow, c2, 50, expires_in_days=60)
        await uow.session.execute(
            "INSERT INTO referrals (referee_id, referrer_id, attributed_at) VALUES (?, ?, ?)",
            (c3, c1, to_db(NOW)),
        )
        await uow.broadcasts.add_tag(c3, "vip")
        await uow.broadcasts.add_tag(c4, "vip")
    return {"c1": c1, "c2": c2, "c3": c3, "c4": c4, "c5": c5}


async def _members(storage, expression):
    compiled = await BroadcastService(storage, ZONE, "en").resolve(expression, NOW)
    async with storage.read() as uow:
        return set(await uow.broadcasts.segment_telegram_ids(compiled.sql, compiled.params))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("all", {101, 102, 103}),
        ("lang=ru", {101}),
        ("lang=en", {102}),
        ("LANG=uk", {103}),
        ("tier=gold", {101}),
        ("tier=Silver", {102}),
        ("balance>=100", {101}),
        ("balance<100", {102, 103}),
        ("balance=0", {103}),
        ("inactive>=30d", {102}),
        ("inactive<30d", {101, 103}),
        ("new", {101}),
        ("returning", set()),  # 102 bought 200 days ago: lost, not returning
        ("lost", {102}),
        ("never_purchased", {103}),
        ("referred", {103}),
        ("birthday_month", {103}),
        ("expiring<=14d", {101}),
        ("expiring<=90d", {101, 102}),
        ("tag=vip", {103}),
        ("tier=gold or tag=vip", {101, 103}),
        ("not new and not referred", {102}),
        ("(lang=ru or lang=uk) and not tag=vip", {101}),
        ("not (new or returning)", {102, 103}),
        ("new or lost", {101, 102}),
        ("all and not all", set()),
        ("balance >= 100 OR referred", {101, 103}),
    ],
)
async def test_segments_select_the_right_customers(storage, seeded, expression, expected):
    assert await _members(storage, expression) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "everyone",
        "tier>gold",
        "balance>=lots",
        "inactive>=soon",
        "expiring>=14d",
        "(tier=gold",
        "tier=gold)",
        "tier=gold and",
        "and tier=gold",
        "not",
        "lang=ru; DROP TABLE customers",
        "tag='x' or 1=1",
        "x" * 501,
        "rating<=6",
        "rating<=bad",
        "recency>=0",
        "frequent=1",
    ],
)
def test_malformed_segments_are_refused(expression):
    with pytest.raises(SegmentError):
        compile_segment(expression, CONTEXT)


def test_values_never_reach_the_sql_text():
    compiled = compile_segment("tag=robert.tables and lang=zz and balance>=777", CONTEXT)
    assert "robert" not in compiled.sql and "zz" not in compiled.sql
    assert "777" not in compiled.sql and 777 in compiled.params
    assert compiled.params.count("robert.tables") == 1


async def test_materialised_recipients_exclude_opted_out_and_count_unreachable(storage, seeded):
    service = BroadcastService(storage, ZONE, "en")
    broadcast_id = await service.create(CLI, text="<b>Sale</b>", segment="tier=gold")
    compiled = service.compile("tier=gold")
    async with storage.write() as uow:
        total = await uow.broadcasts.start(broadcast_id, compiled.sql, compiled.params, NOW)
        counts = await uow.broadcasts.counts(broadcast_id)
        again = await uow.broadcasts.start(broadcast_id, compiled.sql, compiled.params, NOW)
    # 101 pending, 105 known unreachable (counted as blocked), 104 opted out: not at all.
    assert total == 2
    assert counts["pending"] == 1 and counts["blocked"] == 1
    assert again == -1  # starting twice materialises nothing more
    status = await service.status(broadcast_id)
    assert status is not None and status.document()["state"] == "sending"


async def test_state_changes_are_checked_and_audited(storage, seeded):
    service = BroadcastService(storage, ZONE, "en")
    broadcast_id = await service.create(CLI, text="hi")
    await service.pause(CLI, broadcast_id)
    with pytest.raises(BroadcastError):
        await service.pause(CLI, broadcast_id)
    await service.resume(CLI, broadcast_id)
    await service.cancel(CLI, broadcast_id)
    with pytest.raises(BroadcastError):
        await service.resume(CLI, broadcast_id)
    with pytest.raises(SegmentError):
        await service.create(CLI, text="x", segment="tier>1")
    with pytest.raises(BroadcastError):
        await service.create(CLI, text="x" * 1025, photo="https://example.com/a.jpg")
    async with storage.read() as uow:
        actions = [entry.action for entry in await uow.audit.find(None, None, 100)]
    assert sorted(actions) == sorted(
        ["broadcast.create", "broadcast.pause", "broadcast.resume", "broadcast.cancel"]
    )


def test_quiet_hours():
    quiet = QuietHours.parse("21:00-09:00")
    kyiv = ZoneInfo("Europe/Kyiv")
    late = datetime(2026, 11, 23, 20, 30, tzinfo=UTC)  # 22:30 in Kyiv
    assert quiet.contains(late, kyiv)
    assert quiet.ends_after(late, kyiv) == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    assert not quiet.contains(datetime(2026, 11, 23, 10, 0, tzinfo=UTC), kyiv)
    assert not QuietHours.parse("").contains(late, kyiv)
    day = QuietHours.parse("12:00-13:00")
    assert day.contains(datetime(2026, 11, 23, 10, 30, tzinfo=UTC), kyiv)
    for bad in ("21-09", "25:00-01:00", "10:00-10:00"):
        with pytest.raises(ValueError, match=r"."):
            QuietHours.parse(bad)


async def _review(uow, customer_id, stars, days_ago):
    at = to_db(NOW - timedelta(days=days_ago))
    await uow.session.execute(
        "INSERT INTO reviews (customer_id, stars, source, created_at, updated_at) "
        "VALUES (?, ?, 'command', ?, ?)",
        (customer_id, stars, at, at),
    )


async def _rated_ticket(uow, customer_id, rating, days_ago):
    at = to_db(NOW - timedelta(days=days_ago))
    await uow.session.execute(
        "INSERT INTO tickets (customer_id, status, source, opened_at, closed_at, rating, "
        "rated_at) VALUES (?, 'closed', 'command', ?, ?, ?, ?)",
        (customer_id, at, at, rating, at),
    )


async def test_last_rating_is_the_latest_review_and_the_latest_support_rating(storage, seeded):
    async with storage.write() as uow:
        await _review(uow, seeded["c1"], 1, days_ago=20)
        await _review(uow, seeded["c1"], 5, days_ago=2)  # latest: happy now
        await _review(uow, seeded["c2"], 2, days_ago=3)
        await _rated_ticket(uow, seeded["c3"], 1, days_ago=1)
        await _rated_ticket(uow, seeded["c2"], 4, days_ago=1)
    assert await _members(storage, "rating<=2") == {102}
    assert await _members(storage, "rating>=4") == {101}
    assert await _members(storage, "support_rating<=2") == {103}
    assert await _members(storage, "rating<=2 or support_rating<=2") == {102, 103}
    assert await _members(storage, "not rating<=5") == {103}  # never reviewed


async def test_analytics_segments_are_the_groups_and_scores_of_stats(storage):
    """frequent / medium / rare / lost and RFM scores select exactly the customers /stats
    counts in each group (one definition, bot/services/analytics.py)."""
    from bot.services.analytics import AnalyticsService
    from bot.services.loyalty.rules import load_rules

    async with storage.write() as uow:
        order = 0
        # 12 buyers: purchases in the last 90 days 1..12, the latest 2 days ago; the
        # first ones a year ago (returning); 3 more bought only 60 days ago (lost).
        for n in range(12):
            customer = await _customer(uow, 200 + n)
            await _purchase(uow, customer, 365, f"first-{n}")
            for k in range(n + 1):
                order += 1
                await _purchase(uow, customer, 2 + k * 3, f"o-{order}")
        for n in range(3):
            customer = await _customer(uow, 300 + n)
            await _purchase(uow, customer, 60, f"lost-{n}")
    figures = await AnalyticsService(storage, load_rules()).figures(30, NOW)
    counted = {segment.name: segment.customers for segment in figures.segments}
    for group in ("new", "frequent", "medium", "rare", "lost"):
        assert len(await _members(storage, group)) == counted[group], group
    assert await _members(storage, "lost") == {300, 301, 302}
    assert await _members(storage, "frequent") >= {211}
    assert 200 in await _members(storage, "rare")
    assert len(await _members(storage, "returning")) == figures.returning == 12
    for dimension in ("recency", "frequency", "monetary"):
        for score in range(1, 6):
            members = await _members(storage, f"{dimension}={score}")
            assert len(members) == figures.rfm[dimension].get(score, 0), (dimension, score)
    top = await _members(storage, "frequency>=4")
    assert top == await _members(storage, "frequency=4 or frequency=5")
    assert 211 in top and 300 not in top


def test_a_segment_using_analytics_says_so_and_validates_without_them():
    compiled = compile_segment("frequent and recency>=4", CONTEXT)
    assert compiled.uses_analytics
    assert not compile_segment("tier=gold", CONTEXT).uses_analytics
