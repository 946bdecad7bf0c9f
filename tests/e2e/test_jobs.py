"""Scheduled jobs end to end: points earned through the HTTP API burn on schedule, with a
reminder first, and a restarted bot never runs a day's job twice."""

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
from babel.dates import format_date

from tests.e2e.harness import BotProcess, buy, midday_zone, rejected_calls

YEAR = timedelta(days=365)  # expiry.days in the bundled rules


async def api_session(bot: BotProcess, name: str) -> aiohttp.ClientSession:
    result = await bot.cli("api-token", "create", name)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    return aiohttp.ClientSession(bot.api_url, headers={"Authorization": f"Bearer {token}"})


async def profile(http, telegram_id):
    async with http.get(f"/api/v1/customers/{telegram_id}") as response:
        assert response.status == 200
        return await response.json()


def sends_to(emulator, user):
    return [
        call
        for call in emulator.calls
        if call.method == "sendMessage" and str(call.params.get("chat_id")) == str(user.id)
    ]


async def test_points_burn_after_a_reminder_and_a_restart_does_not_burn_twice(
    own_emulator, tmp_path
):
    zone_name = midday_zone()
    zone = ZoneInfo(zone_name)
    # First the bot runs before its daily time (23:59:59 local is hours away).
    bot = BotProcess(
        own_emulator,
        tmp_path,
        env={"TIMEZONE": zone_name, "DAILY_JOBS_AT": "23:59:59", "JOBS_TICK_SECONDS": "0.2"},
    )
    await bot.start()
    ann = own_emulator.add_user(first_name="Ann", language_code="en")
    bea = own_emulator.add_user(first_name="Bea", language_code="en")
    for user in (ann, bea):
        user.send_text("/start")
        await user.next_message()  # the greeting, with 50 welcome points
    now = datetime.now(UTC)
    async with await api_session(bot, "till-1") as http:
        # Points burn expiry.days after the purchase: a day ago, and in five days.
        await buy(http, "OLD-1", ann.id, "20.00", now - YEAR - timedelta(days=1))
        await buy(http, "SOON-1", ann.id, "60.00", now - YEAR + timedelta(days=5))
        await buy(http, "OLD-2", bea.id, "20.00", now - YEAR - timedelta(days=1))
        await buy(http, "SOON-2", bea.id, "20.00", now - YEAR + timedelta(days=5))
        for user in (ann, ann, bea, bea):
            assert "points for your purchase" in (await user.next_message())["text"]
        assert (await profile(http, ann.id))["balance"] == 450
        bea.block_bot()
        for _attempt in range(50):
            if not (await bot.customer(bea.id))["reachable"]:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the bot never noticed that Bea blocked it")
        # Nothing is due before the daily time: the lot past its date is still there.
        await asyncio.sleep(1)
        assert (await profile(http, ann.id))["balance"] == 450
    assert await bot.stop() == 0

    # The bot was down at its daily time (00:00 local): the jobs run at start-up.
    bot.env["DAILY_JOBS_AT"] = "00:00"
    await bot.start()
    expired = await ann.next_message(timeout=15)
    assert expired["text"] == "😔 100 points expired today.\nBalance: 350 points."
    reminder = await ann.next_message(timeout=15)
    burns_on = (now + timedelta(days=5)).astimezone(zone).date()
    assert reminder["text"] == (
        f"⏳ 300 points burn on {format_date(burns_on, 'medium', locale='en')}. "
        "Spend them on a reward before then!"
    )
    assert reminder["reply_markup"]["inline_keyboard"] == [
        [{"text": "🎁 See rewards", "callback_data": "rewards"}]
    ]
    async with await api_session(bot, "till-2") as http:
        ann_profile = await profile(http, ann.id)
        assert ann_profile["balance"] == 350
        assert [item["points"] for item in ann_profile["expiring_soon"]] == [300]
        # Bea blocked the bot: her points burn all the same, but nobody writes to her.
        assert (await profile(http, bea.id))["balance"] == 150
        sent_to_bea = [call.params["text"].split()[0] for call in sends_to(own_emulator, bea)]
        assert sent_to_bea == ["Hi,", "🎉", "🎉"]
        check = await bot.cli("points", "check")
        assert check.returncode == 0, check.stdout
        runs = (await bot.cli("jobs", "list", "--json")).json()
        today = datetime.now(zone).date().isoformat()
        first_runs = {job["name"]: job["runs"] for job in runs}
        run_keys = {name: [run["run_key"] for run in listed] for name, listed in first_runs.items()}
        assert run_keys == {
            "points-expiry": [today],
            "expiry-reminders": [today],
            "birthday-bonus": [today],
            "text-retention": [today],
        }
        assert first_runs["points-expiry"][0]["result"] == {"customers": 2, "points": 200}

        # More points fall due the same day; the day's expiry has run, so they wait for
        # tomorrow's run, however often the bot restarts or an operator asks.
        await buy(http, "OLD-3", ann.id, "20.00", now - YEAR - timedelta(days=2))
        assert "+100 points" in (await ann.next_message())["text"]
        again = await bot.cli("jobs", "run", "points-expiry")
        assert again.returncode == 0
        assert again.stdout.startswith(f"points-expiry {today}: already ran (finished ")
        assert await bot.stop() == 0

        await bot.start()
        await asyncio.sleep(2)  # ten scheduler ticks
        assert bot.log().count("running points-expiry for") == 1  # at the second start only
        assert (await profile(http, ann.id))["balance"] == 450
        assert len(ann.messages) == 6
        listing = (await bot.cli("jobs", "list", "--json")).json()
        assert {job["name"]: job["runs"] for job in listing} == first_runs

        # An operator can still catch up a missed earlier day: what was due by its end.
        yesterday = (datetime.now(zone).date() - timedelta(days=1)).isoformat()
        caught_up = await bot.cli("jobs", "run", "points-expiry", "--date", yesterday)
        assert caught_up.returncode == 0, caught_up.stderr
        assert caught_up.stdout.strip() == (
            f'points-expiry {yesterday}: done {{"customers": 1, "points": 100}}'
        )
        notice = await ann.next_message(timeout=15)
        assert notice["text"] == "😔 100 points expired today.\nBalance: 350 points."
        assert (await profile(http, ann.id))["balance"] == 350
    assert await bot.stop() == 0
    assert "Traceback" not in bot.log()
    assert rejected_calls(own_emulator) == []
