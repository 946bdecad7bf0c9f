"""Automated campaigns: who is due, at most once per period, never to the opted-out, and the
account notices they replace."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import SettingsError, load_settings
from bot.services.campaigns import Campaigns, CampaignSettings
from bot.services.loyalty.birthdays import BirthdayBonus
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.rules import load_rules
from bot.services.privacy import THE_CUSTOMER, PrivacyService
from bot.services.privacy.catalogue import DATA_SECTIONS
from storage.clock import to_db, utcnow
from storage.repositories import TelegramProfile
from storage.repositories.customers import CustomerRepository

RULES = load_rules()
UTC = ZoneInfo("UTC")


async def _customers(storage, count, seen_at=None):
    async with storage.write() as uow:
        return [
            await uow.customers.touch(
                TelegramProfile(700 + n, f"C{n}", None, None, "en"), seen_at or utcnow()
            )
            for n in range(count)
        ]


def _campaigns(storage, **options):
    return Campaigns(storage, CampaignSettings(**options), RULES, UTC, "en")


async def _recipients(storage):
    async with storage.read() as uow:
        rows = await uow.session.fetch_all(
            "SELECT b.campaign, r.customer_id, r.state, r.payload FROM broadcast_recipients r "
            "JOIN broadcasts b ON b.id = r.broadcast_id ORDER BY r.customer_id"
        )
    return [tuple(row) for row in rows]


async def test_reactivation_once_per_inactivity_spell_and_never_to_the_opted_out(storage):
    long_ago = utcnow() - timedelta(days=90)
    ann, bob, cid, dan = await _customers(storage, 4, seen_at=long_ago)
    async with storage.write() as uow:
        await uow.customers.set_promotions_consent(bob.id, False)
        statement = CustomerRepository.mark_unreachable(cid.telegram_id, utcnow())
        await uow.session.execute(statement.sql, statement.params)
        # dan bought a week ago: active.
        await uow.session.execute(
            "INSERT INTO purchases (order_id, customer_id, amount_minor, currency, purchased_at,"
            " recorded_at, recorded_by, points, balance_after)"
            " VALUES ('R-1', ?, 100, 'EUR', ?, ?, 't', 0, 0)",
            (dan.id, to_db(utcnow() - timedelta(days=7)), to_db(utcnow())),
        )
    campaigns = _campaigns(storage, reactivation_days=60)
    today = utcnow().date()
    assert (await campaigns.reactivation(today))["queued"] == 2
    rows = await _recipients(storage)
    assert [(r[1], r[2]) for r in rows] == [(ann.id, "pending"), (cid.id, "blocked")]
    assert rows[0][0] == "reactivation" and '"days": 60' in rows[0][3]
    # A second run (a resumed job, the operator by hand, the next day): nothing new.
    assert (await campaigns.reactivation(today))["queued"] == 0
    assert (await campaigns.reactivation(today + timedelta(days=1)))["queued"] == 0
    async with storage.read() as uow:
        broadcasts = await uow.session.fetch_value("SELECT COUNT(*) FROM broadcasts")
    assert broadcasts == 1  # an empty run leaves no broadcast behind


async def test_welcome_follows_up_only_those_who_joined_long_enough_ago(storage):
    now = utcnow()
    async with storage.write() as uow:
        customers = [
            await uow.customers.touch(TelegramProfile(800 + n, "W", None, None, "en"), seen)
            for n, seen in enumerate((now - timedelta(days=30), now - timedelta(hours=30), now))
        ]
    campaigns = _campaigns(storage, welcome_hours=24)
    await campaigns.welcome(now)
    await campaigns.welcome(now + timedelta(minutes=5))
    queued = [r[1] for r in await _recipients(storage)]
    assert queued == [customers[1].id]


async def test_birthday_greeting_replaces_the_bonus_notice_only_for_those_it_reaches(storage):
    ann, bob = await _customers(storage, 2)
    async with storage.write() as uow:
        for customer in (ann, bob):
            await uow.customers.set_birthday(customer.id, f"{utcnow():%m-%d}")
        await uow.customers.set_promotions_consent(bob.id, False)
    campaigns = _campaigns(storage, birthday=True)
    ledger = PointsLedger(RULES)
    bonus = BirthdayBonus(storage, RULES, ledger, greeted_by_campaign=campaigns.greets_birthday)
    today = utcnow().date()
    assert (await bonus.grant(today))["customers"] == 2
    assert (await campaigns.birthday(today))["queued"] == 1
    async with storage.read() as uow:
        notices = await uow.session.fetch_all("SELECT customer_id, kind FROM outbox")
    # ann accepts promotions: the campaign greets her, naming the bonus; bob opted out of
    # promotions: the account notice tells him of his points. One message each.
    assert [tuple(n) for n in notices] == [(bob.id, "birthday_bonus")]
    [(campaign, customer_id, state, payload)] = await _recipients(storage)
    assert (campaign, customer_id, state) == ("birthday", ann.id, "pending")
    assert f'"points": {RULES.birthday_bonus}' in payload
    assert (await campaigns.birthday(today))["queued"] == 0


async def test_an_event_told_by_a_notice_before_the_campaign_was_on_is_not_told_again(storage):
    ann, bob = await _customers(storage, 2)
    async with storage.write() as uow:
        for customer in (ann, bob):
            await uow.customers.set_birthday(customer.id, f"{utcnow():%m-%d}")
    today = utcnow().date()
    ledger = PointsLedger(RULES)
    # The campaign was off when the bonus job ran: both got the account notice.
    await BirthdayBonus(storage, RULES, ledger).grant(today)
    campaigns = _campaigns(storage, birthday=True)
    assert (await campaigns.birthday(today))["queued"] == 0


async def test_campaign_history_is_exported_and_forgotten(storage):
    [ann] = await _customers(storage, 1, seen_at=utcnow() - timedelta(days=90))
    await _campaigns(storage, reactivation_days=30).reactivation(utcnow().date())
    privacy = PrivacyService(storage, DATA_SECTIONS)
    async with storage.read() as uow:
        customer = await uow.customers.by_id(ann.id)
    document = await privacy.export(THE_CUSTOMER, customer)
    [delivery] = document["promotions"]["campaigns"]
    assert delivery["campaign"] == "reactivation" and delivery["state"] == "pending"
    await privacy.forget(THE_CUSTOMER, customer)
    async with storage.read() as uow:
        assert await uow.campaigns.deliveries_of(ann.id) == []
        payloads = await uow.session.fetch_value(
            "SELECT COUNT(*) FROM broadcast_recipients WHERE payload IS NOT NULL"
        )
    assert payloads == 0


@pytest.mark.parametrize(
    ("name", "value", "start"),
    [
        ("CAMPAIGN_REACTIVATION_DAYS", "-3", "CAMPAIGN_REACTIVATION_DAYS Input should be"),
        ("CAMPAIGN_BIRTHDAY", "perhaps", "CAMPAIGN_BIRTHDAY Input should be a valid boolean"),
        ("CAMPAIGN_WELCOME_HOURS", "a day", "CAMPAIGN_WELCOME_HOURS Input should be"),
    ],
)
def test_malformed_campaign_settings_give_one_line(monkeypatch, tmp_path, name, value, start):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith(start) and "\n" not in str(error.value)


def test_campaigns_are_off_unless_set(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAMPAIGN_REACTIVATION_DAYS", "45")
    options = CampaignSettings(**load_settings().campaigns.model_dump())
    assert options == CampaignSettings(reactivation_days=45)
    assert [options.enabled(c) for c in ("birthday", "reactivation", "expiry", "welcome")] == [
        False,
        True,
        False,
        False,
    ]
