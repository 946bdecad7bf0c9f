"""The scheduler and the loyalty programme's daily jobs against a real SQLite database."""

import asyncio
import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main as cli_main
from bot.config import Settings, SettingsError, load_settings
from bot.i18n import create_i18n
from bot.jobs.catalogue import BIRTHDAY_BONUS, EXPIRY_REMINDERS, POINTS_EXPIRY, register_jobs
from bot.jobs.scheduler import Outcome, Scheduler, UnknownJob, day_bounds
from bot.services.loyalty.birthdays import BirthdayBonus
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.rules import load_rules
from bot.telegram.callbacks import ShowRewards
from bot.telegram.notices import RenderContext
from bot.telegram.notices.expiry import RENDERERS
from storage.repositories import TelegramProfile
from storage.unit_of_work import open_storage

RULES = load_rules()
KYIV = ZoneInfo("Europe/Kyiv")
YEAR = timedelta(days=RULES.expiry.days)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def kyiv(year, month, day, hour=0, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=KYIV)


def settings(**overrides):
    return Settings(_env_file=None, timezone="Europe/Kyiv", **overrides)


def scheduler_for(storage, clock, ledger=None, **kwargs):
    scheduler = Scheduler(storage, KYIV, clock=clock, **kwargs)
    register_jobs(scheduler, storage, settings(), RULES, ledger or PointsLedger(RULES))
    return scheduler


async def new_customer(storage, telegram_id, *, birthday=None, reachable=True, promotions=True):
    async with storage.write() as uow:
        customer = await uow.customers.touch(
            TelegramProfile(telegram_id, f"C{telegram_id}", None, None, "en"),
            datetime.now(UTC),
        )
        if birthday:
            await uow.customers.set_birthday(customer.id, birthday)
        if not reachable:
            await uow.customers.set_reachable_many([(customer.id, False)], datetime.now(UTC))
        if not promotions:
            await uow.customers.set_promotions_consent(customer.id, False)
    return customer


async def earn(storage, customer, points, *, expires_at, key=None):
    """A lot of `points` burning at `expires_at` (earned one expiry period before)."""
    async with storage.write() as uow:
        return await PointsLedger(RULES).credit(
            uow,
            customer.id,
            points,
            "purchase",
            at=expires_at - YEAR,
            earned_at=expires_at - YEAR,
            key=key,
        )


async def spend(storage, customer, points, at):
    async with storage.write() as uow:
        return await PointsLedger(RULES).debit(uow, customer.id, points, "redeem", at=at)


async def balance(storage, customer):
    async with storage.read() as uow:
        return await uow.ledger.balance(customer.id)


async def lots(storage, customer):
    async with storage.read() as uow:
        return [(lot.remaining, lot.expires_at) for lot in await uow.ledger.open_lots(customer.id)]


async def consistent(storage):
    async with storage.read() as uow:
        deltas, lots_left = await uow.ledger.totals()
    return deltas == lots_left


def by_date(notice):
    customer_id, payload = notice
    return customer_id, payload["date"]


async def notices(storage, kind):
    async with storage.read() as uow:
        due = await uow.outbox.due(datetime.now(UTC) + timedelta(days=3650), 10_000)
    return [(notice.customer_id, notice.payload) for notice in due if notice.kind == kind]


async def expire_entries(storage, customer):
    async with storage.read() as uow:
        history = await uow.ledger.history(customer.id, 100)
    return [(entry.delta, entry.idempotency_key) for entry in history if entry.reason == "expire"]


async def test_expiry_burns_only_what_is_left_of_due_lots(storage):
    clock = Clock(kyiv(2026, 12, 1, 9, 0))
    now = clock.now
    ann = await new_customer(storage, 1)
    old = await earn(storage, ann, 100, expires_at=now - timedelta(days=1))
    await earn(storage, ann, 100, expires_at=now + timedelta(days=200))
    await spend(storage, ann, 30, now - timedelta(days=2))  # FIFO: from the lot due first
    bob = await new_customer(storage, 2, reachable=False)
    await earn(storage, bob, 50, expires_at=now - timedelta(days=30))
    await earn(storage, bob, 20, expires_at=now - timedelta(minutes=1))
    cid = await new_customer(storage, 3)
    await earn(storage, cid, 80, expires_at=now + timedelta(minutes=1))

    report = await scheduler_for(storage, clock).run_now(POINTS_EXPIRY)

    assert report.outcome is Outcome.DONE
    assert report.result == {"customers": 2, "points": 140}
    assert await balance(storage, ann) == 100
    assert [remaining for remaining, _ in await lots(storage, ann)] == [100]
    assert await expire_entries(storage, ann) == [(-70, f"expire:{old}")]
    assert await balance(storage, bob) == 0
    assert len(await expire_entries(storage, bob)) == 2  # one debit per lot
    assert await balance(storage, cid) == 80  # not due for another minute
    # One notice per customer and run; none for a customer who blocked the bot.
    assert await notices(storage, "points_expired") == [(ann.id, {"points": 70, "balance": 100})]
    assert await consistent(storage)


async def test_a_day_runs_once_and_a_later_day_burns_what_fell_due_since(storage):
    clock = Clock(kyiv(2026, 12, 1, 9, 0))
    ann = await new_customer(storage, 1)
    await earn(storage, ann, 100, expires_at=clock.now - timedelta(hours=1))
    scheduler = scheduler_for(storage, clock)
    assert (await scheduler.run_now(POINTS_EXPIRY)).result == {"customers": 1, "points": 100}

    clock.advance(hours=2)
    await earn(storage, ann, 40, expires_at=clock.now - timedelta(minutes=5))
    again = await scheduler_for(storage, clock).run_now(POINTS_EXPIRY)  # a restart, same day
    assert again.outcome is Outcome.SKIPPED
    assert again.finished_at is not None
    assert await balance(storage, ann) == 40

    clock.advance(days=1)
    next_day = await scheduler.run_now(POINTS_EXPIRY)
    assert (next_day.run_key, next_day.result) == ("2026-12-02", {"customers": 1, "points": 40})
    assert await balance(storage, ann) == 0
    assert [payload["points"] for _, payload in await notices(storage, "points_expired")] == [
        100,
        40,
    ]
    assert await consistent(storage)


class Killed(BaseException):
    """The process dying mid-run (kill -9): nothing after it runs, not even `except`."""


class DyingLedger(PointsLedger):
    def __init__(self, rules, die_at_call):
        super().__init__(rules)
        self.calls = 0
        self.die_at_call = die_at_call

    async def debit(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.die_at_call:
            raise Killed
        return await super().debit(*args, **kwargs)


async def test_a_run_killed_midway_is_resumed_at_the_next_start_without_burning_twice(storage):
    clock = Clock(kyiv(2026, 12, 1, 9, 0))
    due = clock.now - timedelta(days=1)
    customers = [await new_customer(storage, n) for n in (1, 2, 3)]
    for customer in customers:
        await earn(storage, customer, 100, expires_at=due)
        await earn(storage, customer, 10, expires_at=due - timedelta(days=1))
    first = scheduler_for(storage, clock, DyingLedger(RULES, die_at_call=3))
    with pytest.raises(Killed):
        await first.tick()  # the first customer's two lots burn, then the process dies
    async with storage.read() as uow:
        assert await uow.jobs.unfinished(POINTS_EXPIRY) == ["2026-12-01"]
    assert [await balance(storage, customer) for customer in customers] == [0, 110, 110]

    clock.advance(seconds=30)
    reports = await scheduler_for(storage, clock).tick()  # the next start

    resumed = [report for report in reports if report.job == POINTS_EXPIRY]
    assert [(report.outcome, report.run_key) for report in resumed] == [
        (Outcome.RESUMED, "2026-12-01")
    ]
    assert resumed[0].result == {"customers": 2, "points": 220}
    assert [await balance(storage, customer) for customer in customers] == [0, 0, 0]
    for customer in customers:
        assert len(await expire_entries(storage, customer)) == 2
    assert sorted(customer for customer, _ in await notices(storage, "points_expired")) == [
        customer.id for customer in customers
    ]
    async with storage.read() as uow:
        assert await uow.jobs.unfinished(POINTS_EXPIRY) == []
    assert await consistent(storage)


async def test_reminders_come_once_per_customer_and_date(storage):
    clock = Clock(kyiv(2026, 11, 20, 9, 0))
    ann = await new_customer(storage, 1)
    await earn(storage, ann, 300, expires_at=kyiv(2026, 12, 1, 12, 0))
    await earn(storage, ann, 50, expires_at=kyiv(2026, 12, 1, 23, 30))  # same local date
    # 23:30 UTC is already 2 December in Kyiv: a date of its own.
    await earn(storage, ann, 20, expires_at=datetime(2026, 12, 1, 23, 30, tzinfo=UTC))
    await earn(storage, ann, 100, expires_at=kyiv(2026, 12, 20, 12, 0))  # beyond 14 days
    blocked = await new_customer(storage, 2, reachable=False)
    await earn(storage, blocked, 100, expires_at=kyiv(2026, 11, 25, 12, 0))
    no_ads = await new_customer(storage, 3, promotions=False)
    await earn(storage, no_ads, 70, expires_at=kyiv(2026, 11, 21, 8, 0))
    scheduler = scheduler_for(storage, clock)

    first = await scheduler.run_now(EXPIRY_REMINDERS)
    assert first.result == {"reminders": 3}
    expected = [
        (ann.id, {"points": 350, "date": "2026-12-01"}),
        (ann.id, {"points": 20, "date": "2026-12-02"}),
        (no_ads.id, {"points": 70, "date": "2026-11-21"}),
    ]
    assert sorted(await notices(storage, "points_expiring"), key=by_date) == expected

    # 21 November to 5 December: the dates reminded of are still ahead (until they pass),
    # and 20 December is more than 14 days away.
    for _day in range(15):
        clock.advance(days=1)
        assert (await scheduler.run_now(EXPIRY_REMINDERS)).result == {"reminders": 0}
    clock.advance(days=1)
    assert clock.now.date() == date(2026, 12, 6)
    assert (await scheduler.run_now(EXPIRY_REMINDERS)).result == {"reminders": 1}
    reminders = await notices(storage, "points_expiring")
    assert reminders[-1] == (ann.id, {"points": 100, "date": "2026-12-20"})
    assert len(reminders) == 4


async def test_reminders_render_with_the_rewards_button_in_every_language():
    i18n = create_i18n("en")
    texts = {}
    for language in ("en", "ru", "uk"):
        with i18n.context(), i18n.use_locale(language):
            context = RenderContext(language, RULES)
            rendered = RENDERERS["points_expiring"]({"points": 300, "date": "2026-12-01"}, context)
            texts[language] = rendered.text
            [[button]] = rendered.reply_markup.inline_keyboard
            assert button.callback_data == ShowRewards().pack()
            for kind in ("points_expired", "birthday_bonus"):
                other = RENDERERS[kind]({"points": 1500, "balance": 2500}, context)
                assert "1,500" in other.text or "1 500" in other.text or "1\xa0500" in other.text
    assert texts["en"] == "⏳ 300 points burn on Dec 1, 2026. Spend them on a reward before then!"
    assert "2026" in texts["ru"]
    assert texts["ru"].startswith("⏳ 300 баллов сгорят")
    assert texts["uk"].startswith("⏳ 300 балів згорять")


async def test_birthday_bonus_is_given_once_a_year_and_29_february_on_28_in_other_years(storage):
    clock = Clock(kyiv(2027, 3, 15, 9, 0))
    march = await new_customer(storage, 1, birthday="03-15")
    blocked = await new_customer(storage, 2, birthday="03-15", reachable=False)
    leapling = await new_customer(storage, 3, birthday="02-29")
    february = await new_customer(storage, 4, birthday="02-28")
    bonus = BirthdayBonus(storage, RULES, PointsLedger(RULES), clock)
    points = RULES.birthday_bonus

    assert await bonus.grant(date(2027, 3, 15)) == {"customers": 2, "points": 2 * points}
    assert await bonus.grant(date(2027, 3, 15)) == {"customers": 0, "points": 0}  # resumed run
    assert await balance(storage, march) == points
    assert await balance(storage, blocked) == points  # the points are theirs; no message
    assert await notices(storage, "birthday_bonus") == [
        (march.id, {"points": points, "balance": points})
    ]
    await bonus.grant(date(2028, 3, 15))
    assert await balance(storage, march) == 2 * points

    await bonus.grant(date(2027, 2, 28))  # not a leap year: both celebrate today
    assert (await balance(storage, leapling), await balance(storage, february)) == (points, points)
    await bonus.grant(date(2028, 2, 28))  # a leap year: 29 February has its own day
    assert (await balance(storage, leapling), await balance(storage, february)) == (
        points,
        2 * points,
    )
    await bonus.grant(date(2028, 2, 29))
    assert await balance(storage, leapling) == 2 * points
    assert await consistent(storage)


async def test_two_schedulers_on_one_database_run_a_day_once(storage):
    other = await open_storage(storage.database.url)
    try:
        clock = Clock(kyiv(2026, 12, 1, 9, 0))
        ann = await new_customer(storage, 1)
        await earn(storage, ann, 100, expires_at=clock.now - timedelta(days=1))
        calls = []

        async def probe(day):
            calls.append(day)
            await asyncio.sleep(0.05)  # long enough for the other scheduler to try meanwhile
            return {"day": day.isoformat()}

        schedulers = []
        for opened in (storage, other):
            scheduler = scheduler_for(opened, clock)
            scheduler.daily("probe", time(3, 0), probe)
            schedulers.append(scheduler)
        for _round in range(3):
            reports = await asyncio.gather(*(scheduler.tick() for scheduler in schedulers))
            if _round == 0:
                outcomes = sorted(
                    report.outcome for batch in reports for report in batch if report.job == "probe"
                )
                assert outcomes == [Outcome.DONE, Outcome.SKIPPED]
        assert calls == [date(2026, 12, 1)]
        assert await balance(storage, ann) == 0
        assert len(await expire_entries(storage, ann)) == 1
        assert len(await notices(storage, "points_expired")) == 1
    finally:
        await other.close()


async def test_a_daily_job_waits_for_its_time_and_catches_up_only_where_asked(storage):
    clock = Clock(kyiv(2026, 11, 23, 0, 30))
    runs = []

    def recorder(name):
        async def run(day):
            runs.append((name, day.isoformat()))

        return run

    scheduler = Scheduler(storage, KYIV, clock=clock)
    scheduler.daily("plain", time(3, 0), recorder("plain"))
    scheduler.daily("birthdays", time(3, 0), recorder("birthdays"), catch_up_days=3)
    await scheduler.tick()
    assert runs == []
    clock.now = kyiv(2026, 11, 23, 3, 0)
    await scheduler.tick()
    await scheduler.tick()
    # A job that never ran does not invent a history to catch up on.
    assert runs == [("plain", "2026-11-23"), ("birthdays", "2026-11-23")]

    runs.clear()
    clock.now = kyiv(2026, 11, 29, 5, 0)  # down for five days; started again after 03:00
    restarted = Scheduler(storage, KYIV, clock=clock)
    restarted.daily("plain", time(3, 0), recorder("plain"))
    restarted.daily("birthdays", time(3, 0), recorder("birthdays"), catch_up_days=3)
    await restarted.tick()
    assert runs == [
        ("plain", "2026-11-29"),
        ("birthdays", "2026-11-26"),
        ("birthdays", "2026-11-27"),
        ("birthdays", "2026-11-28"),
        ("birthdays", "2026-11-29"),
    ]
    runs.clear()
    clock.now = kyiv(2026, 11, 30, 2, 59)
    await restarted.tick()
    assert runs == []  # not yet its time, and yesterday ran


async def test_a_failed_run_is_kept_unfinished_and_retried_later(storage):
    clock = Clock(kyiv(2026, 12, 1, 9, 0))
    attempts = []

    async def flaky(day):
        attempts.append(clock.now)
        if len(attempts) == 1:
            raise RuntimeError("the database was busy")
        return {"ok": 1}

    scheduler = Scheduler(storage, KYIV, clock=clock, retry_after=timedelta(hours=1))
    scheduler.daily("flaky", time(3, 0), flaky)
    [failed] = await scheduler.tick()
    assert (failed.outcome, failed.error) == (Outcome.FAILED, "RuntimeError: the database was busy")
    async with storage.read() as uow:
        run = await uow.jobs.get("flaky", "2026-12-01")
    assert run.finished_at is None
    assert run.result == {"error": "RuntimeError: the database was busy"}
    clock.advance(minutes=59)
    assert await scheduler.tick() == []
    clock.advance(minutes=2)
    [retried] = await scheduler.tick()
    assert (retried.outcome, retried.result) == (Outcome.RESUMED, {"ok": 1})
    async with storage.read() as uow:
        [listed] = await uow.jobs.recent()
    assert listed.finished_at == clock.now
    assert listed.result == {"ok": 1}


async def test_the_task_runs_periodic_jobs_and_stops_cleanly(storage):
    ticks = []
    started = asyncio.Event()

    async def periodic(now):
        ticks.append(now)

    async def slow(day):
        started.set()
        await asyncio.sleep(30)

    scheduler = Scheduler(storage, ZoneInfo("UTC"), tick_seconds=0.01)
    scheduler.every("often", 0.02, periodic)
    scheduler.daily("slow", time(0, 0), slow)
    scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    await scheduler.stop(grace=0.1)  # the slow job is cancelled after the grace period
    assert not [task for task in asyncio.all_tasks() if task.get_name() == "scheduler"]
    async with storage.read() as uow:
        assert await uow.jobs.unfinished("slow") == [datetime.now(UTC).date().isoformat()]

    scheduler = Scheduler(storage, ZoneInfo("UTC"), tick_seconds=0.01)
    scheduler.every("often", 0.02, periodic)
    scheduler.start()
    await asyncio.sleep(0.2)
    await scheduler.stop()
    assert 2 <= len(ticks) <= 12
    await scheduler.stop()  # stopping twice is harmless


async def test_run_now_refuses_future_days_and_unknown_jobs(storage):
    clock = Clock(kyiv(2026, 12, 1, 0, 30))  # still 30 November in UTC
    scheduler = scheduler_for(storage, clock)
    assert scheduler.today() == date(2026, 12, 1)
    with pytest.raises(ValueError, match="future"):
        await scheduler.run_now(BIRTHDAY_BONUS, date(2026, 12, 2))
    with pytest.raises(UnknownJob, match="points-expiry"):
        await scheduler.run_now("points")
    report = await scheduler.run_now(BIRTHDAY_BONUS, date(2026, 11, 1))
    assert (report.outcome, report.run_key) == (Outcome.DONE, "2026-11-01")
    with pytest.raises(ValueError, match="registered already"):
        scheduler.daily(
            BIRTHDAY_BONUS, time(1, 0), BirthdayBonus(storage, RULES, PointsLedger(RULES)).grant
        )


def test_day_bounds_follow_the_local_calendar():
    start, end = day_bounds(date(2026, 3, 29), KYIV)  # clocks go forward: a 23-hour day
    assert start == datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
    assert end - start == timedelta(hours=23)


def test_job_settings_are_validated(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAILY_JOBS_AT", "4:30")
    monkeypatch.setenv("JOBS_TICK_SECONDS", "0.5")
    loaded = load_settings()
    assert (loaded.jobs.daily_at, loaded.jobs.tick_seconds) == (time(4, 30), 0.5)
    monkeypatch.setenv("DAILY_JOBS_AT", "23:59:30")
    assert load_settings().jobs.daily_at == time(23, 59, 30)
    for bad in ("25:00", "3pm", "03:00+02:00", ""):
        monkeypatch.setenv("DAILY_JOBS_AT", bad)
        with pytest.raises(SettingsError, match="^DAILY_JOBS_AT is not a time of day: give"):
            load_settings()
    monkeypatch.setenv("DAILY_JOBS_AT", "03:00")
    monkeypatch.setenv("JOBS_TICK_SECONDS", "0")
    with pytest.raises(SettingsError, match="^JOBS_TICK_SECONDS .*: give the seconds"):
        load_settings()


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    monkeypatch.setenv("TIMEZONE", "Europe/Kyiv")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")


def test_the_jobs_cli_lists_runs_and_refuses_bad_input(cli_env, monkeypatch, capsys):
    assert cli_main(["jobs", "list"]) == 0
    listing = capsys.readouterr().out
    assert "points-expiry  (daily at 03:00:00 Europe/Kyiv)\n  never ran" in listing
    assert "birthday-bonus  (daily at 03:00:00 Europe/Kyiv, catching up 7 missed days)" in listing
    assert "text-retention  (daily at 03:00:00 Europe/Kyiv)" in listing

    assert cli_main(["jobs", "run", "birthday-bonus", "--date", "2020-01-01"]) == 0
    assert capsys.readouterr().out == (
        'birthday-bonus 2020-01-01: done {"customers": 0, "points": 0}\n'
    )
    assert cli_main(["jobs", "run", "birthday-bonus", "--date", "2020-01-01"]) == 0
    assert capsys.readouterr().out.startswith("birthday-bonus 2020-01-01: already ran (finished 20")
    assert cli_main(["jobs", "list", "--json"]) == 0
    [run] = next(
        job for job in json.loads(capsys.readouterr().out) if job["name"] == "birthday-bonus"
    )["runs"]
    assert (run["run_key"], run["result"]) == ("2020-01-01", {"customers": 0, "points": 0})

    assert cli_main(["jobs", "run", "expire-everything"]) == 1
    assert capsys.readouterr().err == (
        "no job named 'expire-everything' "
        "(known: points-expiry, expiry-reminders, birthday-bonus, text-retention)\n"
    )
    assert cli_main(["jobs", "run", "points-expiry", "--date", "1 Dec"]) == 2
    assert capsys.readouterr().err == "--date '1 Dec' is not a date like 2026-12-01\n"
    assert cli_main(["jobs", "run", "points-expiry", "--date", "2999-01-01"]) == 1
    assert capsys.readouterr().err == "2999-01-01 is in the future in Europe/Kyiv\n"
    monkeypatch.setenv("DAILY_JOBS_AT", "3 am")
    assert cli_main(["jobs", "list"]) == 2
    assert capsys.readouterr().err.startswith("DAILY_JOBS_AT is not a time of day: give")
