"""The customer's loyalty screens as pure functions: formatting, labels, links, tier progress."""

import re
import struct
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import create_i18n
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.purchases import CustomerRef, PurchaseRequest, PurchaseService
from bot.services.loyalty.rules import ReferralRules, load_rules
from bot.services.loyalty.service import (
    ExpiringPoints,
    LoyaltyService,
    PointsSummary,
    card_payload,
    referral_payload,
)
from bot.telegram import loyalty_texts as texts
from bot.telegram.qr import qr_png
from storage.clock import utcnow
from storage.repositories import TelegramProfile
from storage.repositories.loyalty import PointsEntry
from storage.repositories.referrals import ReferralStats

ROOT = Path(__file__).resolve().parents[2]
RULES = load_rules()
BRONZE, SILVER, GOLD = RULES.tiers
UTC_ZONE = ZoneInfo("UTC")
I18N = create_i18n("en")


@pytest.fixture
def english():
    with I18N.context(), I18N.use_locale("en"):
        yield "en"


@pytest.fixture
def russian():
    with I18N.context(), I18N.use_locale("ru"):
        yield "ru"


def entry(delta, reason, *, source=None, note=None, at=datetime(2026, 11, 20, 23, 30, tzinfo=UTC)):
    return PointsEntry(
        id=1,
        customer_id=1,
        at=at,
        delta=delta,
        reason=reason,
        source=source,
        idempotency_key=None,
        is_lot=delta > 0,
        expires_at=None,
        note=note,
    )


def summary(tier, spend_minor, *, balance=0, expiring=(), movements=()):
    return PointsSummary(
        balance=balance,
        tier=tier,
        next_tier=RULES.next_tier(tier),
        spend_minor=spend_minor,
        expiring=list(expiring),
        movements=list(movements),
    )


def test_tier_progress_and_spend_still_needed():
    assert summary(BRONZE, 0).spend_to_next_minor == 30_000
    assert summary(BRONZE, 0).tier_progress == 0.0
    assert summary(BRONZE, 15_000).tier_progress == 0.5
    assert summary(SILVER, 30_000).spend_to_next_minor == 70_000
    assert summary(SILVER, 65_000).tier_progress == pytest.approx(0.5)
    assert summary(GOLD, 500_000).spend_to_next_minor is None
    assert summary(GOLD, 500_000).tier_progress == 1.0


def test_progress_bar_fills_a_cell_only_when_reached():
    assert texts.progress_bar(0.0) == "▱" * 10
    assert texts.progress_bar(0.29) == "▰▰▱▱▱▱▱▱▱▱"
    assert texts.progress_bar(0.999) == "▰" * 9 + "▱"
    assert texts.progress_bar(1.0) == "▰" * 10
    assert texts.progress_bar(1.5) == "▰" * 10
    assert texts.progress_bar(-1.0) == "▱" * 10


def test_signed_points_and_grouped_card_digits():
    assert texts.signed(1500, "en") == "+1,500"
    assert texts.signed(-30, "en") == "−30"
    assert texts.signed(-1500, "ru") == "−1\xa0500"
    assert texts.group_digits("123456789012") == "1234 5678 9012"
    assert texts.group_digits("12345") == "1234 5"


def test_reasons_read_as_people_say_them(english):
    assert texts.reason_label(entry(100, "purchase", source="order:A-1")) == "Purchase, order A-1"
    assert texts.reason_label(entry(-50, "refund", source="order:<b>")) == "Refund, order &lt;b&gt;"
    assert texts.reason_label(entry(50, "welcome")) == "Welcome bonus"
    assert (
        texts.reason_label(entry(-20, "adjust", note="typo <fix>"))
        == "Correction: typo &lt;fix&gt;"
    )
    long_note = texts.reason_label(entry(5, "adjust", note="x" * 200))
    assert long_note == "Correction: " + "x" * 79 + "…"
    assert texts.reason_label(entry(5, "adjust")) == "Correction"
    assert texts.reason_label(entry(5, "something_new")) == "Other"
    for reason in texts.REASONS:
        assert texts.reason_label(entry(1, reason))


def test_every_ledger_reason_has_a_label():
    source = (ROOT / "storage" / "schema.py").read_text(encoding="utf-8")
    listed = re.search(r"# Ledger reasons:(.*(?:\n\s*#.*)*)", source)
    assert listed is not None
    reasons = {word.strip(" #\n") for word in listed.group(1).split(",")} - {""}
    assert reasons == set(texts.REASONS)


def test_movement_dates_are_in_the_business_time_zone(english):
    late = entry(100, "welcome")  # 23:30 UTC on 20 Nov is already 21 Nov in Kyiv
    assert texts.movement_line(late, "en", UTC_ZONE).endswith("Nov 20, 2026")
    assert texts.movement_line(late, "en", ZoneInfo("Europe/Kyiv")).endswith("Nov 21, 2026")


def test_points_screen(english):
    burn = datetime(2026, 12, 1, 10, tzinfo=UTC)
    screen = texts.points_screen(
        summary(
            SILVER,
            44_000,
            balance=1250,
            expiring=[ExpiringPoints(300, burn)],
            movements=[entry(100, "purchase", source="order:A-1")],
        ),
        RULES,
        "en",
        UTC_ZONE,
    )
    assert "Balance: <b>1,250</b>" in screen
    assert "Tier: <b>Silver</b> (points ×1.25)" in screen
    assert "▰▰▱▱▱▱▱▱▱▱ 20%" in screen
    assert "Spend €560.00 more to reach Gold" in screen
    assert "• 300 on Dec 1, 2026" in screen
    assert "+100 · Purchase, order A-1 · Nov 20, 2026" in screen

    top = texts.points_screen(summary(GOLD, 200_000), RULES, "en", UTC_ZONE)
    assert "Tier: <b>Gold</b> (points ×1.5)" in top
    assert "highest tier" in top
    assert "▱" not in top
    assert "No points movements yet" in top
    assert "burn" not in top


def test_points_screen_in_russian(russian):
    screen = texts.points_screen(summary(BRONZE, 0, balance=50), RULES, "ru", UTC_ZONE)
    assert "Баланс: <b>50</b>" in screen
    assert "Уровень: <b>Бронза</b>" in screen
    assert "×" not in screen  # a multiplier of 1 is not worth a mention
    assert "До уровня «Серебро» осталось потратить 300,00\xa0€" in screen


def test_referral_rules_line_follows_the_rules_file(english):
    line = texts.referral_rules_line(ReferralRules(), "en")
    assert line == (
        "Points after your friend's first purchase: 100 for you and 50 for your friend "
        "(rewarded invitations a month: up to 10)."
    )
    only_you = texts.referral_rules_line(ReferralRules(referee_points=0), "en")
    assert "100 for you" in only_you
    assert "friend (" not in only_you
    capped = texts.referral_rules_line(ReferralRules(monthly_cap=0), "en")
    assert capped == "Points after your friend's first purchase: 50 for your friend."
    nothing = texts.referral_rules_line(ReferralRules(referrer_points=0, referee_points=0), "en")
    assert "Points" not in nothing


def test_share_link_survives_encoding(english):
    link = "https://t.me/some_bot?start=r-abc23"
    url = texts.share_url(link, "Join me & get 50% more: #1?")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "t.me", "/share/url")
    assert parse_qs(parts.query) == {"url": [link], "text": ["Join me & get 50% more: #1?"]}
    assert "bonus points" in shared_text(texts.invite_keyboard(link, ReferralRules()))
    assert "bonus" not in shared_text(texts.invite_keyboard(link, ReferralRules(referee_points=0)))


def shared_text(keyboard):
    url = keyboard.inline_keyboard[0][0].url
    assert url is not None
    return parse_qs(urlsplit(url).query)["text"][0]


def test_invite_screen(english):
    screen = texts.invite_screen(
        "https://t.me/b?start=r-x", ReferralStats(3, 1, 100), ReferralRules(), "en"
    )
    assert "https://t.me/b?start=r-x" in screen
    assert "Friends invited: 3" in screen
    assert "Made a purchase: 1" in screen
    assert "Points earned for invitations: 100" in screen


def test_deep_link_payloads_fit_telegram():
    assert referral_payload("abcdefgh") == "r-abcdefgh"
    assert card_payload("123456789012") == "card_123456789012"


def test_qr_code_is_a_square_png():
    image = qr_png("https://t.me/loyalty_test_bot?start=card_123456789012")
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", image[16:24])
    assert width == height >= 300
    assert qr_png("https://t.me/loyalty_test_bot?start=card_123456789012") is image  # cached
    assert qr_png("https://t.me/loyalty_test_bot?start=card_123456789013") != image


async def test_summary_counts_spend_towards_the_next_tier(storage):
    ledger = PointsLedger(RULES)
    loyalty = LoyaltyService(storage, RULES, ledger)
    purchases = PurchaseService(storage, RULES, ledger)
    async with storage.write() as uow:
        customer = await uow.customers.touch(TelegramProfile(77, "Ann", None, None, "en"), utcnow())
    for order, amount, days_ago in (("S-1", 12_000, 0), ("S-2", 4_000, 400)):
        await purchases.record(
            PurchaseRequest(
                order_id=order,
                customer=CustomerRef(telegram_id=77),
                amount_minor=amount,
                currency="EUR",
                purchased_at=utcnow() - timedelta(days=days_ago),
                recorded_by="test",
            )
        )
    result = await loyalty.summary(customer)
    assert result.spend_minor == 12_000  # the sale of 400 days ago is outside the window
    assert result.spend_to_next_minor == 18_000
    assert result.tier_progress == pytest.approx(0.4)
    assert result.next_tier == SILVER
    assert Decimal(result.spend_to_next_minor) / 100 == SILVER.spend - Decimal(120)
