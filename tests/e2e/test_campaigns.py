"""Automated campaigns end to end: the daily jobs (run by the operator's `jobs run`, as the
scheduler runs them) queue campaign messages that the running bot's broadcast worker
delivers, once per period, never to the opted-out, and the welcome follow-up falls due on
its own."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.emulator import BotAPIEmulator
from bot.emulator.users import EmulatedUser
from tests.databases import value
from tests.e2e.harness import (
    BotProcess,
    buttons,
    buy,
    eventually,
    midday_zone,
    press,
    rejected_calls,
)
from tests.e2e.test_jobs import api_session

YEAR = timedelta(days=365)  # expiry.days in the bundled rules


async def _bot(emulator: BotAPIEmulator, workdir: Any, **env: str) -> BotProcess:
    process = BotProcess(
        emulator,
        workdir,
        env={
            "TIMEZONE": midday_zone(),
            "DAILY_JOBS_AT": "23:59:59",  # hours away: only `jobs run` runs the daily jobs
            "JOBS_TICK_SECONDS": "0.2",
            "BROADCAST_POLL_SECONDS": "0.3",
            "BROADCAST_RATE": "20",
            **env,
        },
    )
    await process.start()
    return process


async def _started(emulator: BotAPIEmulator, name: str, language: str) -> EmulatedUser:
    user = emulator.add_user(first_name=name, language_code=language)
    user.send_text("/start")
    await user.next_message()
    return user


async def _set_birthday_today(emulator: BotAPIEmulator, user: EmulatedUser, zone: str) -> None:
    user.send_text("/profile")
    screen = await user.next_message()
    label = next(text for text in buttons(screen) if text.startswith("🎂"))
    await press(emulator, user, screen, buttons(screen)[label])
    await user.next_message()  # "DD.MM?"
    today = datetime.now(ZoneInfo(zone))
    user.send_text(f"{today:%d.%m}")
    await user.next_message()  # saved


async def _jobs_run(bot: BotProcess, name: str, *extra: str) -> str:
    result = await bot.cli("jobs", "run", name, *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _broadcast_ids(output: str) -> list[int]:
    ids: list[int] = json.loads(output[output.index("{") :])["broadcasts"]
    return ids


async def _wait_done(bot: BotProcess, broadcast_id: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        result = await bot.cli("broadcast", "status", str(broadcast_id), "--json")
        assert result.returncode == 0, result.stderr
        status: dict[str, Any] = result.json()
        if status["state"] == "done":
            return status
        assert time.monotonic() < deadline, f"{status}\n{bot.log()[-3000:]}"
        await asyncio.sleep(0.3)


async def _reply(user: EmulatedUser, contains: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next bot message whose text contains ``contains`` (others are passed over)."""
    deadline = time.monotonic() + timeout
    while True:
        message = await user.next_message(timeout=max(0.1, deadline - time.monotonic()))
        if contains in (message.get("text") or ""):
            return message


def _texts(user: EmulatedUser, contains: str) -> list[dict[str, Any]]:
    return [m for m in user.messages if contains in (m.get("text") or "")]


def _callbacks(message: dict[str, Any]) -> list[str]:
    return [
        button.get("callback_data", "")
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
        for button in row
    ]


async def test_birthday_expiry_and_reactivation_campaigns(own_emulator, tmp_path):
    emulator = own_emulator
    bot = await _bot(
        emulator,
        tmp_path / "bot",
        CAMPAIGN_BIRTHDAY="true",
        CAMPAIGN_EXPIRY="true",
        CAMPAIGN_REACTIVATION_DAYS="30",
    )
    zone = bot.env["TIMEZONE"]
    ann = await _started(emulator, "Ann", "en")  # accepts promotions
    bob = await _started(emulator, "Bob", "ru")  # opted out of promotions
    cid = await _started(emulator, "Cid", "uk")  # blocked the bot
    dan = await _started(emulator, "Dan", "en")  # bought this week: active
    for user in (ann, bob):
        await _set_birthday_today(emulator, user, zone)
    now = datetime.now(UTC)
    async with await api_session(bot, "till") as http:
        for user in (ann, bob, cid):
            # Points that burn in five days, and a last purchase 40 days ago.
            await buy(http, f"OLD-{user.id}", user.id, "30.00", now - YEAR + timedelta(days=5))
            await buy(http, f"LAST-{user.id}", user.id, "10.00", now - timedelta(days=40))
        await buy(http, f"NEW-{dan.id}", dan.id, "10.00", now - timedelta(days=2))
    for user, purchases in ((ann, 2), (bob, 2), (cid, 2), (dan, 1)):
        await emulator.wait_for(
            lambda user=user, purchases=purchases: len(_texts(user, f"-{user.id}")) == purchases,
            timeout=10,
        )
    bob.send_text("/stop")
    await emulator.wait_for(
        lambda: any("/subscribe" in (m["text"] or "") for m in bob.messages[-1:])
    )
    cid.block_bot()
    await emulator.wait_for(lambda: emulator.pending_updates == 0, timeout=10)

    async def cid_unreachable() -> bool:
        return (await bot.customer(cid.id))["reachable"] is False

    await eventually(cid_unreachable)
    marks = {user.id: len(user.messages) for user in (ann, bob, cid, dan)}

    # Birthday: the bonus job first, then the greeting naming the bonus.
    assert '"customers": 2' in await _jobs_run(bot, "birthday-bonus")
    birthday = _broadcast_ids(await _jobs_run(bot, "campaign-birthday"))
    assert len(birthday) == 1
    status = await _wait_done(bot, birthday[0])
    assert (status["total"], status["sent"]) == (1, 1)
    greeting = await _reply(ann, "🎂")
    assert greeting["text"].startswith("🎂 Happy birthday! Here are 100 bonus points")
    # Bob opted out of promotions: the account notice tells him of the points, in Russian.
    notice = await _reply(bob, "🎂")
    assert notice["text"].startswith("🎂") and "100" in notice["text"]
    assert "unsub" not in _callbacks(notice)
    assert _callbacks(greeting) == ["unsub"]

    # Expiry reminders: the campaign for Ann (with Unsubscribe), the notice for Bob.
    await _jobs_run(bot, "expiry-reminders")
    expiry = _broadcast_ids(await _jobs_run(bot, "campaign-expiry"))
    await _wait_done(bot, expiry[0])
    reminder = await _reply(ann, "⏳")
    assert reminder["text"].startswith("⏳ 150 points burn on")
    assert _callbacks(reminder) == ["rewards", "unsub"]
    bob_reminder = await _reply(bob, "⏳")
    assert bob_reminder["text"].startswith("⏳ 150") and _callbacks(bob_reminder) == ["rewards"]

    # Reactivation: 40 days without a purchase; Cid blocked the bot, Dan is active.
    reactivation = _broadcast_ids(await _jobs_run(bot, "campaign-reactivation"))
    status = await _wait_done(bot, reactivation[0])
    assert (status["total"], status["sent"], status["blocked"]) == (2, 1, 1)
    comeback = await _reply(ann, "👋")
    assert comeback["text"].startswith("👋 We haven't seen you for a while")
    # 50 welcome + 150 + 50 for the purchases + 100 for the birthday.
    assert "You have 350 points waiting for you." in comeback["text"]

    # Each at most once per period: the same runs again, and for yesterday, queue nothing.
    yesterday = (datetime.now(ZoneInfo(zone)) - timedelta(days=1)).date().isoformat()
    for job in ("campaign-birthday", "campaign-expiry", "campaign-reactivation"):
        assert "already ran" in await _jobs_run(bot, job)
        again = await _jobs_run(bot, job, "--date", yesterday)
        assert '"queued": 0' in again, again
    await asyncio.sleep(1.5)
    received = {user.id: len(user.messages) - marks[user.id] for user in (ann, bob, cid, dan)}
    assert received == {ann.id: 3, bob.id: 2, cid.id: 0, dan.id: 0}

    # Logged in the customer's record, as the conversation it is.
    record = await bot.customer(ann.id)
    logged = [item for item in record["interactions"] if item["kind"] == "campaign"]
    assert [item["text"].split()[0] for item in logged] == ["🎂", "⏳", "👋"]
    listing = await bot.cli("broadcast", "list")
    assert "campaign" in listing.stdout
    export = await bot.cli("customer", "export", str(ann.id))
    assert export.returncode == 0, export.stderr
    campaigns = json.loads(export.stdout)["promotions"]["campaigns"]
    assert sorted(c["campaign"] for c in campaigns) == ["birthday", "expiry", "reactivation"]
    assert await bot.stop() == 0
    assert rejected_calls(emulator) == []


async def test_welcome_follow_up_falls_due_once_and_settings_are_checked(own_emulator, tmp_path):
    emulator = own_emulator
    # A follow-up 3.6 seconds after the first /start (a day in production).
    # Promotion quiet hours around now: the follow-up falls due but waits.
    now = datetime.now(UTC)
    quiet = f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"
    bot = await _bot(
        emulator,
        tmp_path / "bot",
        CAMPAIGN_WELCOME_HOURS="0.001",
        TIMEZONE="UTC",
        PROMOTION_QUIET_HOURS=quiet,
    )
    eve = await _started(emulator, "Eve", "uk")
    fay = await _started(emulator, "Fay", "en")
    fay.send_text("/stop")
    await _reply(fay, "/subscribe")  # the /stop reply names the way back

    async def follow_up_queued() -> bool:
        listing = (await bot.cli("broadcast", "list")).stdout
        return "campaign" in listing and "sending" in listing

    # The welcome falls due (in 3.6 s) and its campaign is queued, held by the quiet hours.
    await eventually(follow_up_queued, timeout=30)
    assert not _texts(eve, "Раді")
    # Quiet hours over (here: the operator changed them and restarted).
    assert await bot.stop() == 0
    bot.env["PROMOTION_QUIET_HOURS"] = ""
    await bot.start()
    follow_up = await _reply(eve, "Раді", timeout=15)
    assert follow_up["text"].startswith("👋 Раді, що ви з нами!")
    assert _callbacks(follow_up) == ["rewards", "unsub"]

    async def campaigns_sent() -> bool:
        unsent = value(
            bot.database_url,
            "SELECT COUNT(*) FROM broadcasts WHERE state IN ('scheduled', 'sending')",
        )
        return bool(unsent == 0)

    await eventually(campaigns_sent)  # every recipient's send recorded after Telegram took it
    assert len(_texts(eve, "Раді, що ви з нами")) == 1
    assert not _texts(fay, "Glad you joined")
    # Unsubscribe under the follow-up works like under any promotion.
    await press(emulator, eve, follow_up, "unsub")
    assert (await bot.customer(eve.id))["consent_promotions"] is False
    assert await bot.stop() == 0

    # A malformed campaign setting stops the start with one line naming it.
    bot.env["CAMPAIGN_REACTIVATION_DAYS"] = "sixty"
    result = await bot.cli("jobs", "list")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("CAMPAIGN_REACTIVATION_DAYS")
    assert len(result.stderr.strip().splitlines()) == 1
    # The expiry campaign needs rules that remind at all.
    bot.env["CAMPAIGN_REACTIVATION_DAYS"] = "0"
    rules = tmp_path / "rules.yaml"
    default_rules = Path(__file__).parents[2] / "bot/services/loyalty/default_rules.yaml"
    rules.write_text(default_rules.read_text().replace("days: 365", "days: 0"))
    bot.env.update(CAMPAIGN_EXPIRY="true", LOYALTY_RULES=str(rules))
    result = await bot.cli("jobs", "list")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith("CAMPAIGN_EXPIRY is on")
