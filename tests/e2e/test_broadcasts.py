"""Broadcasts end to end: the CLI queues, the running bot delivers through the emulator.

Each scenario runs a bot of its own against a Telegram of its own: a broadcast reaches every
customer of the bot, which must not disturb the shared bot's scenarios.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.emulator import BotAPIEmulator
from bot.emulator.state import RecordedCall
from bot.emulator.users import EmulatedUser
from tests.databases import value
from tests.e2e.harness import BotProcess, eventually, rejected_calls, settled

RATE = 20.0


async def _bot(
    emulator: BotAPIEmulator, tmp_path: Path, admin_ids: tuple[int, ...] = (), **env: str
) -> BotProcess:
    process = BotProcess(
        emulator,
        tmp_path / "bot",
        admin_ids=admin_ids,
        env={"BROADCAST_RATE": str(RATE), "BROADCAST_POLL_SECONDS": "0.3", **env},
    )
    await process.start()
    return process


async def _customers(emulator: BotAPIEmulator, count: int, prefix: str = "C") -> list[EmulatedUser]:
    languages = ("en", "ru", "uk")
    users = [
        emulator.add_user(first_name=f"{prefix}{index}", language_code=languages[index % 3])
        for index in range(count)
    ]
    for user in users:
        user.send_text("/start")
    await emulator.wait_for(lambda: all(user.messages for user in users), timeout=60)
    return users


def _received(user: EmulatedUser, marker: str) -> list[dict[str, Any]]:
    return [
        message
        for message in user.messages
        if marker in (message.get("text") or message.get("caption") or "")
    ]


def _broadcast_calls(emulator: BotAPIEmulator, marker: str) -> list[RecordedCall]:
    return [
        call
        for call in emulator.calls
        if call.method in {"sendMessage", "sendPhoto"}
        and marker in str(call.params.get("text") or call.params.get("caption") or "")
    ]


async def _status(bot: BotProcess, broadcast_id: str) -> dict[str, Any]:
    result = await bot.cli("broadcast", "status", broadcast_id, "--json")
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = result.json()
    return document


async def _wait_done(bot: BotProcess, broadcast_id: str, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = await _status(bot, broadcast_id)
        if status["state"] == "done":
            return status
        assert time.monotonic() < deadline, f"{status}\n{bot.log()[-3000:]}"
        await asyncio.sleep(0.5)


async def _create(bot: BotProcess, *arguments: str) -> str:
    result = await bot.cli("broadcast", "create", *arguments)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def _known_unreachable(bot: BotProcess, users: list[EmulatedUser]) -> Callable[[], Awaitable[bool]]:
    """Whether the bot has recorded that all of `users` blocked it (Telegram told it)."""

    async def recorded() -> bool:
        marks = ",".join("?" * len(users))
        unreachable = value(
            bot.database_url,
            f"SELECT COUNT(*) FROM customers WHERE reachable = 0 AND telegram_id IN ({marks})",
            tuple(user.id for user in users),
        )
        return bool(unreachable == len(users))

    return recorded


def _rate(calls: list[RecordedCall]) -> float:
    ok = [call for call in calls if call.ok]
    if len(ok) < 2:
        return 0.0
    return float((len(ok) - 1) / (ok[-1].at - ok[0].at))


def _best_second(calls: list[RecordedCall]) -> float:
    """The most messages delivered within any one second of a run (by the emulator's clock).
    The pacing shows here even on a machine busy with other work, where a whole run's average
    also counts the moments the bot waited for a CPU: a bot pacing itself below its rate never
    reaches it in any second."""
    moments = [call.at for call in calls if call.ok]
    return float(
        max(
            (
                sum(1 for later in moments[index:] if later - moment < 1.0)
                for index, moment in enumerate(moments)
            ),
            default=0,
        )
    )


async def test_a_broadcast_survives_sigkill_and_respects_rate_opt_outs_and_blocks(
    own_emulator, tmp_path
):
    emulator = own_emulator
    bot = await _bot(emulator, tmp_path)
    users = await _customers(emulator, 120)
    opted_out, known_blocked, silent_blocked = users[:5], users[5:11], users[11:17]
    reachable = users[17:]
    for user in opted_out:
        user.send_text("/stop")
    await emulator.wait_for(lambda: all(len(u.messages) >= 2 for u in opted_out), timeout=20)
    for user in known_blocked:
        user.block_bot()  # Telegram tells the bot (my_chat_member)
    for user in silent_blocked:
        user.blocked = True  # the bot learns it only from a 403 when it sends
    await emulator.wait_for(lambda: emulator.pending_updates == 0, timeout=20)
    await eventually(_known_unreachable(bot, known_blocked))

    emulator.set_rate_limit(RATE * 1.1)  # just above BROADCAST_RATE
    marker = "Autumn sale"
    broadcast_id = await _create(
        bot, "--text", f"<b>{marker}</b>: 20 % off <i>everything</i>", "--segment", "all"
    )
    await emulator.wait_for(
        lambda: len([c for c in _broadcast_calls(emulator, marker) if c.ok]) >= 40, timeout=30
    )
    await bot.kill()
    first_run = list(_broadcast_calls(emulator, marker))
    assert first_run, "nothing was sent before the kill"
    status = await _status(bot, broadcast_id)
    assert status["state"] == "sending" and status["pending"] > 0, status

    await bot.start()
    status = await _wait_done(bot, broadcast_id)
    second_run = _broadcast_calls(emulator, marker)[len(first_run) :]

    counts = [len(_received(user, marker)) for user in reachable]
    assert all(count >= 1 for count in counts), "a reachable customer was skipped"
    duplicates = sum(count - 1 for count in counts)
    assert duplicates <= 3
    assert status["resent_after_restart"] >= duplicates
    assert not any(_received(user, marker) for user in opted_out + known_blocked)
    assert status["sent"] == len(reachable)
    assert status["blocked"] == len(known_blocked) + len(silent_blocked) == 12
    assert status["failed"] == 0 and status["pending"] == 0
    assert status["total"] == 120 - 5
    # The formatting arrives as entities, with an Unsubscribe button under the message.
    message = _received(reachable[0], marker)[0]
    assert {entity["type"] for entity in message["entities"]} == {"bold", "italic"}
    buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["callback_data"] for b in buttons] == ["unsub"]

    # The bot paces itself to BROADCAST_RATE under an emulator limit just above it: never
    # faster on average, and as fast within its best second.
    for run in (first_run, second_run):
        assert _best_second(run) >= 0.85 * RATE, (_best_second(run), _rate(run))
        assert _rate(run) <= RATE * 1.1
    # The silently blocked are now known unreachable.
    customer = await bot.customer(silent_blocked[0].id)
    assert customer["reachable"] is False
    emulator.set_rate_limit(None)
    assert await bot.stop() == 0
    assert rejected_calls(emulator) == []


BAR_RATE = 50.0


async def test_the_bar_600_customers_60_blocked_5_opted_out_killed_mid_way(own_emulator, tmp_path):
    """The issue's bar at full size: 600 customers, 60 of whom blocked the bot (half told by
    Telegram, half found out by a 403), 5 opted out; a CLI broadcast, SIGKILL mid-way, a
    restart. A high BROADCAST_RATE under an emulator limit just above it keeps it short."""
    emulator = own_emulator
    bot = await _bot(emulator, tmp_path, BROADCAST_RATE=str(BAR_RATE))
    users = await _customers(emulator, 600, prefix="B")
    opted_out, known_blocked, silent_blocked = users[:5], users[5:35], users[35:65]
    reachable = users[65:]
    for user in opted_out:
        user.send_text("/stop")
    await emulator.wait_for(lambda: all(len(u.messages) >= 2 for u in opted_out), timeout=20)
    for user in known_blocked:
        user.block_bot()
    for user in silent_blocked:
        user.blocked = True
    await emulator.wait_for(lambda: emulator.pending_updates == 0, timeout=30)
    await eventually(_known_unreachable(bot, known_blocked))

    emulator.set_rate_limit(BAR_RATE * 1.1)
    marker = "Winter sale"
    broadcast_id = await _create(bot, "--text", f"<b>{marker}</b> starts now")
    await emulator.wait_for(
        lambda: len([c for c in _broadcast_calls(emulator, marker) if c.ok]) >= 200, timeout=60
    )
    await bot.kill()
    first_run = list(_broadcast_calls(emulator, marker))
    status = await _status(bot, broadcast_id)
    assert status["state"] == "sending" and status["pending"] > 0, status

    await bot.start()
    status = await _wait_done(bot, broadcast_id, timeout=120)
    second_run = _broadcast_calls(emulator, marker)[len(first_run) :]
    counts = [len(_received(user, marker)) for user in reachable]
    assert all(count >= 1 for count in counts), "a reachable customer was skipped"
    assert sum(count - 1 for count in counts) <= 3
    assert not any(_received(user, marker) for user in opted_out + known_blocked)
    assert (status["sent"], status["blocked"], status["failed"]) == (535, 60, 0)
    assert status["total"] == 595 and status["pending"] == 0
    for run in (first_run, second_run):
        assert _best_second(run) >= 0.85 * BAR_RATE, (_best_second(run), _rate(run))
        assert _rate(run) <= BAR_RATE * 1.1, _rate(run)
    emulator.set_rate_limit(None)
    assert await bot.stop() == 0
    assert rejected_calls(emulator) == []


async def test_unsubscribe_stop_and_start_decide_who_gets_promotions(own_emulator, tmp_path):
    emulator = own_emulator
    bot = await _bot(emulator, tmp_path)
    ann, bob, cid = await _customers(emulator, 3, prefix="U")

    first = await _create(bot, "--text", "Promo one", "--button", "Shop=https://example.com/shop")
    await _wait_done(bot, first)
    promo = _received(ann, "Promo one")[0]
    rows = promo["reply_markup"]["inline_keyboard"]
    assert rows[0][0]["url"] == "https://example.com/shop"
    ann.press(promo, "unsub")
    await emulator.wait_for(lambda: any("won't receive" in m["text"] for m in ann.messages), 10)
    bob.send_text("/stop")  # bob speaks Russian
    await emulator.wait_for(lambda: any("/subscribe" in m["text"] for m in bob.messages[2:]), 10)
    assert (await bot.customer(ann.id))["consent_promotions"] is False

    second = await _create(bot, "--text", "Promo two")
    status = await _wait_done(bot, second)
    assert status["total"] == 1 and status["sent"] == 1
    assert _received(cid, "Promo two") and not _received(ann, "Promo two")
    assert not _received(bob, "Promo two")

    # /start, plain or through a deep link, greets but leaves an opt-out in place.
    ann.send_text("/start")
    bob.send_text("/start ref_nobody")
    await emulator.wait_for(lambda: any("Hi, U0" in m["text"] for m in ann.messages[1:]), 10)
    await emulator.wait_for(lambda: len(bob.messages) >= 4, 10)
    assert not any("subscribed" in m["text"] for m in ann.messages[-1:])
    third = await _create(bot, "--text", "Promo three")
    status = await _wait_done(bot, third)
    assert status["total"] == 1 and _received(cid, "Promo three")
    assert not _received(ann, "Promo three") and not _received(bob, "Promo three")

    ann.send_text("/subscribe")
    await emulator.wait_for(lambda: any("subscribed" in m["text"] for m in ann.messages), 10)
    fourth = await _create(bot, "--text", "Promo four", "--segment", "lang=en or lang=ru")
    status = await _wait_done(bot, fourth)
    # ann (en) again, cid (uk) not in the segment, bob still opted out.
    assert _received(ann, "Promo four") and not _received(cid, "Promo four")
    assert status["sent"] == 1

    bad = await bot.cli("broadcast", "create", "--text", "x", "--segment", "tier>gold")
    assert bad.returncode == 1 and "tier" in bad.stderr
    missing = await bot.cli("broadcast", "status", "999", "--json")
    assert missing.returncode == 1
    audit = await bot.cli("audit", "--json")
    assert audit.stdout.count('"broadcast.create"') == 4
    assert await bot.stop() == 0
    assert rejected_calls(emulator) == []


async def test_429_pauses_all_sending_and_5xx_is_retried_pause_and_cancel(own_emulator, tmp_path):
    emulator = own_emulator
    bot = await _bot(emulator, tmp_path)
    users = await _customers(emulator, 30, prefix="F")
    # The fifth broadcast message gets a 429: nobody is sent anything for retry_after.
    marker = "Flood test"
    emulator.fail_next("sendMessage", error_code=500, chat_id=users[2].id)
    broadcast_id = await _create(bot, "--text", marker)
    await emulator.wait_for(lambda: len(_broadcast_calls(emulator, marker)) >= 5, timeout=20)
    emulator.fail_next("sendMessage", error_code=429, retry_after=2)
    status = await _wait_done(bot, broadcast_id)
    assert status["sent"] == 30 and status["failed"] == 0
    calls = _broadcast_calls(emulator, marker)
    flood = next(index for index, call in enumerate(calls) if call.error_code == 429)
    gap = calls[flood + 1].at - calls[flood].at
    assert gap >= 1.9, gap  # no broadcast call at all during retry_after
    assert len(_received(users[2], marker)) == 1  # the 500 was retried, delivered once

    # Pause holds the queue; resume finishes it; cancel skips the rest.
    emulator.set_latency(1.0)
    slow = await _create(bot, "--text", "Slow one")
    await emulator.wait_for(lambda: len(_broadcast_calls(emulator, "Slow one")) >= 3, timeout=20)
    assert (await bot.cli("broadcast", "pause", slow)).returncode == 0
    # Calls already on the wire (1 s each here) may still land; then nothing more does.
    paused_at = -1
    for _ in range(10):
        await asyncio.sleep(1.0)
        so_far = len(_broadcast_calls(emulator, "Slow one"))
        if so_far == paused_at:
            break
        paused_at = so_far
    await asyncio.sleep(1.5)
    assert len(_broadcast_calls(emulator, "Slow one")) == paused_at
    assert paused_at < 30
    assert (await _status(bot, slow))["state"] == "paused"
    assert (await bot.cli("broadcast", "pause", slow)).returncode == 1  # not sending now
    assert (await bot.cli("broadcast", "cancel", slow)).returncode == 0
    status = await _status(bot, slow)
    assert status["state"] == "cancelled" and status["pending"] == 0
    assert status["skipped"] + status["sent"] == 30
    listing = await bot.cli("broadcast", "list")
    assert "cancelled" in listing.stdout and "done" in listing.stdout
    emulator.set_latency(0)
    assert await bot.stop() == 0


ADMIN_ID = 900_000_077


async def _reply(user: EmulatedUser, contains: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next bot message whose text or caption contains ``contains``."""
    deadline = time.monotonic() + timeout
    while True:
        message = await user.next_message(timeout=max(0.1, deadline - time.monotonic()))
        if contains in (message.get("text") or message.get("caption") or ""):
            return message


def _button(message: dict[str, Any], action: str) -> str:
    for row in message["reply_markup"]["inline_keyboard"]:
        for button in row:
            if (
                button.get("callback_data", "").startswith("bc:")
                and f":{action}:" in button["callback_data"]
            ):
                return str(button["callback_data"])
    raise AssertionError(f"no {action} button in {message}")


async def test_admin_composes_previews_and_sends_a_broadcast_in_telegram(own_emulator, tmp_path):
    emulator = own_emulator
    process = await _bot(emulator, tmp_path, (ADMIN_ID,), BROADCAST_RATE="5")
    admin = emulator.add_user(first_name="Ada", language_code="en", user_id=ADMIN_ID)
    admin.send_text("/start")
    await _reply(admin, "Ada")
    customers = await _customers(emulator, 12, prefix="T")

    admin.send_text("/broadcast")
    await _reply(admin, "exactly as customers should see it")
    admin.send_sticker()
    await _reply(admin, "text or a photo")
    admin.send_text("Big news & <sale> for everyone")
    offer = await _reply(admin, "text for another language")
    admin.press(offer, _button(offer, "next"))
    picker = await _reply(admin, "Who should get it?")
    admin.send_text("tier>gold")
    await _reply(admin, "does not work")
    admin.press(picker, _button(picker, "seg").replace(":seg:-1", ":seg:0"), forge=True)
    preview = await _reply(admin, "Big news & <sale>")
    assert preview["reply_markup"]["inline_keyboard"][-1][0]["callback_data"] == "unsub"
    summary = await _reply(admin, "exactly what customers will get")
    assert "Recipients: 12" in summary["text"]  # the admin is staff, not a customer
    broadcast_id = _button(summary, "now").split(":")[1]

    # A customer forging the admin's buttons changes nothing.
    intruder = customers[0]
    intruder.press(summary, f"bc:{broadcast_id}:go:-1:0", forge=True)
    await settled(process)
    assert (await _status(process, broadcast_id))["state"] == "draft"

    admin.press(summary, _button(summary, "now"))
    question = await _reply(admin, "to 12 customers now?")
    admin.press(question, _button(question, "go"))
    await _reply(admin, f"Broadcast #{broadcast_id}")
    report = await _reply(admin, "finished", timeout=30)
    assert "sent: 12" in report["text"]
    for customer in customers:
        assert [m["text"] for m in _received(customer, "Big news")] == [
            "Big news & <sale> for everyone"
        ]
    # The progress message was edited into the final figures too.
    edits = emulator.calls_to("editMessageText")
    assert edits and "sending is over" in str(edits[-1].params["text"])
    assert "sent: 12" in str(edits[-1].params["text"])

    # A stale confirm (already sent) is refused.
    admin.press(question, _button(question, "go"))
    await settled(process)
    status = await _status(process, broadcast_id)
    assert (status["state"], status["sent"], status["pending"]) == ("done", 12, 0), status
    assert len(_received(customers[1], "Big news")) == 1

    # A photo, a typed segment, and scheduling for later.
    admin.send_text("/broadcast")
    await _reply(admin, "exactly as customers should see it")
    admin.send_photo(caption="Photo promo")
    offer = await _reply(admin, "text for another language")
    admin.press(offer, _button(offer, "next"))
    await _reply(admin, "Who should get it?")
    admin.send_text("lang=ru")
    preview = await _reply(admin, "Photo promo")
    assert preview.get("photo")
    summary = await _reply(admin, "exactly what customers will get")
    assert "Recipients: 4" in summary["text"]
    scheduled_id = _button(summary, "when").split(":")[1]
    admin.press(summary, _button(summary, "when"))
    await _reply(admin, "When?")
    admin.send_text("soon-ish")
    await _reply(admin, "can't read that time")
    admin.send_text("+1d")
    question = await _reply(admin, "customers at")
    admin.press(question, _button(question, "go"))
    await _reply(admin, "is scheduled")
    status = await _status(process, scheduled_id)
    assert status["state"] == "scheduled" and status["send_at"] > status["created_at"]
    audit = await process.cli("audit", "--json")
    assert audit.stdout.count('"broadcast.confirm"') == 2
    assert await process.stop() == 0
    assert rejected_calls(emulator) == []


async def test_quiet_hours_hold_promotions_and_a_later_opt_out_is_skipped(own_emulator, tmp_path):
    emulator = own_emulator
    now = datetime.now(UTC)
    quiet = f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"
    # 25 recipients at 3/s: the last one's turn comes ~8 s after the first, time enough for
    # its /stop to be handled first even on a loaded machine.
    bot = await _bot(emulator, tmp_path, BROADCAST_RATE="3", PROMOTION_QUIET_HOURS=quiet)
    users = await _customers(emulator, 25, prefix="Q")
    broadcast_id = await _create(bot, "--text", "Quiet promo")
    await asyncio.sleep(3.0)
    assert (await _status(bot, broadcast_id))["state"] == "scheduled"
    assert not _broadcast_calls(emulator, "Quiet promo")

    # Quiet hours over (here: the operator changed them and restarted).
    await bot.stop()
    bot.env["PROMOTION_QUIET_HOURS"] = ""
    await bot.start()
    await emulator.wait_for(lambda: bool(_broadcast_calls(emulator, "Quiet promo")), timeout=20)
    late = users[-1]
    late.send_text("/stop")  # after the recipients were materialised, before their turn
    status = await _wait_done(bot, broadcast_id)
    assert not _received(late, "Quiet promo")
    assert status["skipped"] == 1 and status["sent"] == 24
    assert await bot.stop() == 0


async def test_a_text_telegram_would_refuse_is_refused_at_create_not_failed_at_send(
    own_emulator, tmp_path
):
    emulator = own_emulator
    bot = await _bot(emulator, tmp_path)
    customers = await _customers(emulator, 3, prefix="H")

    refused = await bot.cli("broadcast", "create", "--text", "<today only> 20% off")
    assert refused.returncode == 1
    assert "broadcast text" in refused.stderr and "<today>" in refused.stderr
    unbalanced = await bot.cli("broadcast", "create", "--text", "<b>Sale</i>")
    assert unbalanced.returncode == 1 and "</i>" in unbalanced.stderr
    listed = await bot.cli("broadcast", "list", "--json")
    assert listed.stdout.strip() == ""

    sent = await _create(bot, "--text", "Sale 9<18 & <b>today only</b>")
    status = await _wait_done(bot, sent)
    assert (status["sent"], status["failed"]) == (3, 0)
    for customer in customers:
        (message,) = _received(customer, "Sale")
        assert message["text"] == "Sale 9<18 & today only"
        assert message["entities"] == [{"type": "bold", "offset": 12, "length": 10}]
    assert await bot.stop() == 0
    assert rejected_calls(emulator) == []
