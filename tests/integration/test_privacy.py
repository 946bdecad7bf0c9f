"""A customer's data: the export holds every section, and forgetting leaves no trace in the
database file while the books still add up."""

import hashlib
from datetime import timedelta

import pytest

from bot.services.access import CLI
from bot.services.faq.service import new_query_id
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.purchases import CustomerRef, PurchaseRequest, PurchaseService
from bot.services.loyalty.rules import load_rules
from bot.services.loyalty.service import LoyaltyService
from bot.services.privacy import THE_CUSTOMER, AlreadyForgotten, PrivacyService
from bot.services.privacy.catalogue import DATA_SECTIONS
from storage.clock import utcnow
from storage.repositories import NewInteraction, TelegramProfile
from storage.repositories.faq import FaqRepository

RULES = load_rules()
SECRET = "my-unique-question-about-zanzibar"


async def record_question(uow, **fields):
    statement = FaqRepository.record_query(query_id=new_query_id(), **fields)
    await uow.session.execute(statement.sql, statement.params)


async def customer_with_history(
    storage, telegram_id=501, name="Zebedee", username="zeb_uniq", last_name="Quintavalle"
):
    now = utcnow()
    secret = f"{SECRET}-{telegram_id}"
    async with storage.write() as uow:
        customer = await uow.customers.touch(
            TelegramProfile(telegram_id, name, last_name, username, "en"), now
        )
        await uow.customers.set_phone(customer.id, f"+380671234{telegram_id}")
        await uow.customers.set_birthday(customer.id, "03-14")
        await uow.interactions.add_many(
            [(customer.id, NewInteraction("in", "text", secret, now, update_id=telegram_id))]
        )
        await record_question(
            uow,
            customer_id=customer.id,
            at=now,
            language="en",
            text=secret + " faq",
            entry_id=None,
            score=0.1,
            confident=False,
            outcome="declined",
        )
    ledger = PointsLedger(RULES)
    loyalty = LoyaltyService(storage, RULES, ledger)
    customer = await loyalty.ensure_codes(customer)
    await PurchaseService(storage, RULES, ledger).record(
        PurchaseRequest(
            order_id=f"PRIV-{telegram_id}",
            customer=CustomerRef(telegram_id=telegram_id),
            amount_minor=4000,
            currency="EUR",
            purchased_at=None,
            recorded_by="test",
        )
    )
    await loyalty.adjust(CLI, customer, 7, "goodwill")
    async with storage.read() as uow:
        return await uow.customers.by_id(customer.id)


async def test_the_export_holds_every_section(storage):
    customer = await customer_with_history(storage)
    document = await PrivacyService(storage, DATA_SECTIONS).export(THE_CUSTOMER, customer)
    assert [name for name in document if name not in {"format", "exported_at"}] == [
        section.name for section in DATA_SECTIONS
    ]
    assert document["profile"]["first_name"] == "Zebedee"
    assert document["profile"]["phone"] == "+380671234501"
    assert document["profile"]["birthday"] == "03-14"
    assert document["consents"]["promotions"] is True
    assert [p["order_id"] for p in document["purchases"]["purchases"]] == ["PRIV-501"]
    assert {entry["reason"] for entry in document["points_movements"]} == {"purchase", "adjust"}
    assert [item["text"] for item in document["interactions"]] == [f"{SECRET}-501"]
    assert document["faq_questions"][0]["text"] == f"{SECRET}-501 faq"
    assert {notice["kind"] for notice in document["notices"]} >= {"points_earned"}
    async with storage.read() as uow:
        entries = await uow.audit.find(None, None, 10)
    assert [(e.action, e.via, e.subject) for e in entries if e.action == "data.export"] == [
        ("data.export", "customer", f"customer:#{customer.id}")
    ]


async def test_forgetting_leaves_no_trace_in_the_file_and_the_books_add_up(storage, tmp_path):
    customer = await customer_with_history(storage)
    other = await customer_with_history(storage, 502, "Other", "other_user", "Otherson")
    async with storage.read() as uow:
        totals_before = await uow.ledger.totals()
        balance_before = await uow.ledger.balance(customer.id)
    privacy = PrivacyService(storage, DATA_SECTIONS)
    counts = await privacy.forget(CLI, customer)
    assert counts["interactions"] == 1 and counts["profile"] == 1

    with pytest.raises(AlreadyForgotten):
        await privacy.forget(CLI, customer)
    async with storage.read() as uow:
        assert await uow.ledger.totals() == totals_before
        assert totals_before[0] == totals_before[1]
        assert await uow.ledger.balance(customer.id) == balance_before
        assert await uow.customers.by_telegram_id(501) is None
        assert await uow.customers.by_telegram_id(502) is not None
        forgotten = await uow.customers.by_id(customer.id)
        assert forgotten is not None and forgotten.forgotten_at is not None
        assert await uow.purchases.count(customer.id) == 1
        audit = [e for e in await uow.audit.find(None, None, 50) if e.action == "data.forget"]
        adjusted = [e.subject for e in await uow.audit.find(None, None, 50) if e.after]
    assert len(audit) == 1 and "Zebedee" not in str(audit[0])
    # The adjustment stays in the trail, naming the customer by number, not Telegram id.
    assert f"customer:#{customer.id}" in adjusted and "customer:501" not in adjusted

    if storage.database.path is None:
        # PostgreSQL: the files are the server's (dead row versions stay in its pages until
        # vacuum reuses them); only SQLite's own file can be scanned here.
        return
    raw = b"".join(
        path.read_bytes() for path in tmp_path.iterdir() if path.name.startswith("bot.sqlite3")
    )
    for trace in (
        "Zebedee",
        "Quintavalle",
        "zeb_uniq",
        "380671234501",
        f"{SECRET}-501",
        customer.card_code,
        customer.referral_code,
    ):
        assert trace is not None
        assert trace.encode() not in raw, trace
    assert b"other_user" in raw  # the scan does see what is there
    assert f"{SECRET}-502".encode() in raw
    assert other.card_code is not None and other.card_code.encode() in raw


async def test_nothing_is_recorded_against_a_forgotten_customer(storage):
    customer = await customer_with_history(storage)
    await PrivacyService(storage, DATA_SECTIONS).forget(CLI, customer)
    now = utcnow()
    async with storage.write() as uow:
        # A stale copy of the row (another process's cache) writing after the erasure.
        await uow.interactions.add_many([(customer.id, NewInteraction("in", "text", "late", now))])
        assert not await uow.outbox.add(customer.id, "points_earned", {"x": 1}, now)
        await record_question(
            uow,
            customer_id=customer.id,
            at=now + timedelta(seconds=1),
            language="en",
            text="late question",
            entry_id=None,
            score=None,
            confident=False,
            outcome="declined",
        )
        texts = await uow.personal_data.interactions(customer.id)
        questions = await uow.session.fetch_all("SELECT customer_id, text FROM faq_queries")
    assert [row["text"] for row in texts] == ["[erased]"]
    assert "late question" not in [row["text"] for row in questions]


async def test_retention_blanks_only_texts_older_than_the_limit(storage):
    from bot.services.privacy import retention as module
    from bot.services.privacy.retention import TextRetention

    now = utcnow()
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    async with storage.write() as uow:
        customer = await uow.customers.touch(TelegramProfile(601, "Olga", None, None, "en"), now)
        await uow.interactions.add_many(
            [(customer.id, NewInteraction("in", "text", f"old {n}", old)) for n in range(7)]
            + [
                (customer.id, NewInteraction("in", "callback", None, old, meta='{"b": 1}')),
                (customer.id, NewInteraction("in", "text", "recent", recent)),
            ]
        )
        for at, text in ((old, "old question"), (recent, "recent question")):
            await record_question(
                uow,
                customer_id=customer.id,
                at=at,
                language="en",
                text=text,
                entry_id=None,
                score=None,
                confident=False,
                outcome="declined",
            )
    module.BATCH = 3  # several transactions' worth
    try:
        job = TextRetention(storage, 30, clock=lambda: now)
        assert await job.blank_old_texts() == {"interactions": 8, "faq_questions": 1}
        assert await job.blank_old_texts() == {"interactions": 0, "faq_questions": 0}
    finally:
        module.BATCH = 500
    async with storage.read() as uow:
        rows = await uow.personal_data.interactions(customer.id)
        questions = await uow.personal_data.faq_queries(customer.id)
    assert [(row["text"], row["meta"]) for row in rows] == [("[erased]", None)] * 7 + [
        (None, None),
        ("recent", None),
    ]
    assert [q["text"] for q in questions] == ["[erased]", "recent question"]
    with pytest.raises(ValueError):
        TextRetention(storage, 0)


def test_retention_setting_defaults_to_a_year_and_refuses_negative_days(monkeypatch):
    from bot.config import SettingsError, load_settings

    monkeypatch.delenv("INTERACTION_RETENTION_DAYS", raising=False)
    assert load_settings().privacy.interaction_retention_days == 365
    monkeypatch.setenv("INTERACTION_RETENTION_DAYS", "0")
    assert load_settings().privacy.interaction_retention_days == 0
    monkeypatch.setenv("INTERACTION_RETENTION_DAYS", "-1")
    with pytest.raises(SettingsError, match="^INTERACTION_RETENTION_DAYS .*0 keeps them forever"):
        load_settings()


async def test_a_forgotten_friend_s_name_leaves_the_inviter_s_record(storage):
    now = utcnow()
    async with storage.write() as uow:
        ann = await uow.customers.touch(TelegramProfile(701, "Annabel", None, None, "en"), now)
        bart = await uow.customers.touch(TelegramProfile(702, "Bartholomew", None, None, "en"), now)
        await uow.referrals.attribute(bart.id, ann.id, now)
        await uow.interactions.add_many(
            [
                (ann.id, NewInteraction("out", "sendMessage", "Bartholomew bought: +50", now)),
                (ann.id, NewInteraction("in", "text", "Bartholomew is my cousin", now)),
                (bart.id, NewInteraction("out", "sendMessage", "Invited by Annabel", now)),
            ]
        )
        await uow.outbox.add(ann.id, "referral_reward", {"friend": "Bartholomew"}, now)
    await PrivacyService(storage, DATA_SECTIONS).forget(THE_CUSTOMER, bart)
    async with storage.read() as uow:
        texts = [row["text"] for row in await uow.personal_data.interactions(ann.id)]
        notices = await uow.personal_data.notices(ann.id)
        exported = await PrivacyService(storage, DATA_SECTIONS).export(THE_CUSTOMER, ann)
    # What the bot wrote to Ann loses the name; what Ann wrote herself is hers.
    assert texts == ["[erased] bought: +50", "Bartholomew is my cousin"]
    assert notices[0]["payload"] == {"friend": "[erased]"}
    assert exported["referrals"]["friends_invited"][0]["friend"] == "friend-1"
    async with storage.write() as uow:
        await uow.customers.set_phone(bart.id, "+1555000111")
        assert (await uow.customers.by_id(bart.id)).phone is None


async def test_forget_then_start_again_pays_no_welcome_or_referral_bonus_twice(storage):
    """The attack: /forget, /start again through a friend's link, collect the bonuses anew."""
    ledger = PointsLedger(RULES)
    loyalty = LoyaltyService(storage, RULES, ledger)
    inviter = await loyalty.ensure_codes(await customer_with_history(storage, 601, "Inviter"))
    farmer = await customer_with_history(storage, 602, "Farmer")
    assert await loyalty.grant_welcome_bonus(farmer) == RULES.welcome_bonus
    await PrivacyService(storage, DATA_SECTIONS).forget(THE_CUSTOMER, farmer)

    async with storage.write() as uow:
        again = await uow.customers.touch(
            TelegramProfile(602, "Farmer", None, None, "en"), utcnow()
        )
    assert again.id != farmer.id  # a fresh start otherwise, as before
    assert await loyalty.grant_welcome_bonus(again) == 0
    assert await loyalty.attribute_referral(again, f"r-{inviter.referral_code}") is None
    async with storage.read() as uow:
        assert await uow.ledger.balance(again.id) == 0
        stored = await uow.session.fetch_all("SELECT * FROM erased_telegram_ids")
    # A keyed hash: neither the id nor its plain SHA-256 is in the table.
    # (Compared whole: a hex hash or a timestamp may well hold the digits 602 by chance.)
    assert len(stored) == 1
    values = {str(value) for value in stored[0]}
    assert "602" not in values
    assert hashlib.sha256(b"602").hexdigest() not in values

    # Somebody else is still welcome.
    newcomer = await customer_with_history(storage, 603, "Newcomer")
    assert await loyalty.grant_welcome_bonus(newcomer) == RULES.welcome_bonus
