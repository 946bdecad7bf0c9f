"""Issue 20, the admins' part: broadcasts in every customer's language, segments that name
no tier refused, staff left out unless they opted in, and one progress message edited in
place with one final report. Each scenario runs a bot of its own against its own Telegram.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.emulator.users import EmulatedUser
from tests.e2e.harness import rejected_calls
from tests.e2e.test_broadcasts import (
    _bot,
    _button,
    _create,
    _customers,
    _received,
    _reply,
    _wait_done,
)

ADMIN_ID = 900_000_081
CASHIER_ID = 900_000_082


def _labelled(message: dict[str, Any], label: str) -> str:
    """The callback data of the button whose label contains ``label``."""
    for row in message["reply_markup"]["inline_keyboard"]:
        for button in row:
            if label in button["text"]:
                return str(button["callback_data"])
    raise AssertionError(f"no {label!r} button in {message}")


def _texts_of(user: EmulatedUser) -> list[str]:
    return [str(m.get("text") or m.get("caption") or "") for m in user.messages]


async def test_a_cli_broadcast_reaches_each_customer_in_their_language_and_skips_staff(
    own_emulator, tmp_path
):
    emulator = own_emulator
    bot = await _bot(emulator, tmp_path, (ADMIN_ID,))
    admin = emulator.add_user(first_name="Ada", language_code="en", user_id=ADMIN_ID)
    cashier = emulator.add_user(first_name="Cas", language_code="en", user_id=CASHIER_ID)
    for staff in (admin, cashier):
        staff.send_text("/start")
        await _reply(staff, staff.first_name)
    admin.send_text(f"/grant cashier {CASHIER_ID}")
    await _reply(admin, "is now cashier")
    english, russian, ukrainian = await _customers(emulator, 3, prefix="L")
    # A German Telegram app: no text of its own, the default text.
    german = emulator.add_user(first_name="Gus", language_code="de")
    german.send_text("/start")
    await _reply(german, "Gus")

    # The bar: --text, --text-ru and --text-uk reach en, ru and uk customers in theirs.
    first = await _create(
        bot,
        "--text",
        "<b>Sale</b> today",
        "--text-ru",
        "<b>Распродажа</b> сегодня",
        "--text-uk",
        "<b>Розпродаж</b> сьогодні",
    )
    status = await _wait_done(bot, first)
    assert _texts_of(english)[-1] == "Sale today"
    assert _texts_of(russian)[-1] == "Распродажа сегодня"
    assert _texts_of(ukrainian)[-1] == "Розпродаж сьогодні"
    assert _texts_of(german)[-1] == "Sale today"
    # Staff are not customers of a promotion: neither the admin nor the cashier got it.
    assert not _received(admin, "Sale") and not _received(cashier, "Sale")
    assert (status["total"], status["sent"]) == (4, 4)
    # The per-language texts are stored with the broadcast and shown by status.
    assert status["texts"] == {"ru": "<b>Распродажа</b> сегодня", "uk": "<b>Розпродаж</b> сьогодні"}
    plain = await bot.cli("broadcast", "status", first)
    assert "text_ru: <b>Распродажа</b> сегодня" in plain.stdout

    # --text-en replaces the default for English speakers (the default still for others).
    second = await _create(bot, "--text", "Default", "--text-en", "English one")
    await _wait_done(bot, second)
    assert _texts_of(english)[-1] == "English one" and _texts_of(russian)[-1] == "Default"
    # German falls back to the bot's default language (en), as every message to them does.
    assert _texts_of(german)[-1] == "English one"

    # Each per-language text is checked as Telegram HTML, like the default.
    broken = await bot.cli("broadcast", "create", "--text", "Fine", "--text-uk", "<b>Погано</i>")
    assert broken.returncode == 1 and "uk" in broken.stderr and "</i>" in broken.stderr

    # A segment naming a tier that does not exist is refused, with the tiers that do.
    for arguments in (
        ("broadcast", "create", "--text", "Gold only", "--segment", "tier=no-such-tier"),
        ("broadcast", "count", "--segment", "tier=platinum or lang=en"),
    ):
        refused = await bot.cli(*arguments)
        assert refused.returncode == 1, refused.stdout
        assert "no-such-tier" in refused.stderr or "platinum" in refused.stderr
        assert "bronze, silver, gold" in refused.stderr
    assert (await bot.cli("broadcast", "count", "--segment", "tier=gold")).returncode == 0

    # An admin who asks for promotions with /subscribe gets them; the cashier still not.
    admin.send_text("/subscribe")
    await _reply(admin, "subscribed")
    counted = await bot.cli("broadcast", "count")
    assert counted.stdout.startswith("5 reachable"), counted.stdout
    third = await _create(bot, "--text", "Now staff too")
    assert (await _wait_done(bot, third))["sent"] == 5
    assert _received(admin, "Now staff too") and not _received(cashier, "Now staff too")
    # /stop withdraws it: staff again.
    admin.send_text("/stop")
    await _reply(admin, "/subscribe")
    counted = await bot.cli("broadcast", "count")
    assert counted.stdout.startswith("4 reachable"), counted.stdout
    assert await bot.stop() == 0
    assert rejected_calls(emulator) == []


async def test_the_composer_takes_a_text_per_language_and_reports_once(own_emulator, tmp_path):
    emulator = own_emulator
    process = await _bot(emulator, tmp_path, (ADMIN_ID,), BROADCAST_RATE="4")
    admin = emulator.add_user(first_name="Ada", language_code="en", user_id=ADMIN_ID)
    admin.send_text("/start")
    await _reply(admin, "Ada")
    customers = await _customers(emulator, 18, prefix="P")

    admin.send_text("/broadcast")
    await _reply(admin, "exactly as customers should see it")
    admin.send_text("Big news")
    offer = await _reply(admin, "text for another language")
    admin.press(offer, _labelled(offer, "Russian"))
    await _reply(admin, "Russian")
    admin.send_text("Большие новости")
    preview = await _reply(admin, "Большие новости")  # the Russian text as delivered
    assert preview["reply_markup"]["inline_keyboard"][-1][0]["callback_data"] == "unsub"
    offer = await _reply(admin, "text for another language")
    admin.press(offer, _labelled(offer, "Ukrainian"))
    await _reply(admin, "Ukrainian")
    admin.send_sticker()
    await _reply(admin, "send the text for this language")
    admin.send_text("Великі новини")
    await _reply(admin, "Великі новини")
    offer = await _reply(admin, "text for another language")
    admin.press(offer, _button(offer, "next"))
    picker = await _reply(admin, "Who should get it?")
    admin.send_text("tier=platinum")
    refused = await _reply(admin, "does not work")
    assert "bronze, silver, gold" in refused["text"]
    admin.press(picker, _button(picker, "seg").replace(":seg:-1", ":seg:0"), forge=True)
    # The final preview shows every language's text as delivered.
    for text in ("Big news", "Большие новости", "Великі новини"):
        await _reply(admin, text)
    summary = await _reply(admin, "exactly what customers will get")
    assert "Recipients: 18" in summary["text"]  # the admin is staff, not a recipient
    broadcast_id = _button(summary, "now").split(":")[1]
    admin.press(summary, _button(summary, "now"))
    question = await _reply(admin, "to 18 customers now?")
    before = len(admin.messages)
    admin.press(question, _button(question, "go"))
    status = await _wait_done(process, broadcast_id, timeout=60)
    assert status["sent"] == 18
    await emulator.wait_for(
        lambda: any("finished" in str(m.get("text")) for m in admin.messages),
        timeout=10,
    )
    # Settle: nothing more arrives for the admin after the report.
    await asyncio.sleep(1.5)
    for customer, text in zip(
        customers, ("Big news", "Большие новости", "Великі новини") * 6, strict=True
    ):
        assert [m["text"] for m in _received(customer, text.split()[0])] == [text]

    after = admin.messages[before:]
    assert len(after) == 2, [m.get("text") for m in after]
    progress, report = after
    # One progress message, edited in place as sending went on, ending on the final figures.
    edits = [
        call
        for call in emulator.calls_to("editMessageText")
        if call.params.get("message_id") == progress["message_id"]
    ]
    assert len(edits) >= 2, [call.params.get("text") for call in edits]
    assert "sent: 18" in progress["text"] and "sending…" not in progress["text"]
    # Telegram's edit rate: never two edits of the message within a second.
    gaps = [b.at - a.at for a, b in zip(edits, edits[1:], strict=False)]
    assert all(gap >= 1.0 for gap in gaps), gaps
    # Exactly one final report, sent as a new message.
    assert "finished" in report["text"] and "sent: 18" in report["text"]
    assert sum("finished" in str(m.get("text")) for m in admin.messages) == 1
    assert await process.stop() == 0
    assert rejected_calls(emulator) == []


async def test_a_russian_admin_reads_the_composers_refusals_in_russian(own_emulator, tmp_path):
    emulator = own_emulator
    process = await _bot(emulator, tmp_path, (ADMIN_ID,))
    admin = emulator.add_user(first_name="Ада", language_code="ru", user_id=ADMIN_ID)
    admin.send_text("/start")
    await _reply(admin, "Ада")
    admin.send_text("/broadcast")
    await emulator.wait_for(lambda: len(admin.messages) >= 2)
    admin.send_text("Большие новости")
    await emulator.wait_for(lambda: any(m.get("reply_markup") for m in admin.messages[2:]))
    offer = next(m for m in admin.messages[2:] if m.get("reply_markup"))
    # Buttons of a draft that is not this admin's (a stale or forged press), for a language
    # and for Continue: the refusal reads in the admin's language, not in English.
    for action in ("lang", "next"):
        data = next(
            button["callback_data"]
            for row in offer["reply_markup"]["inline_keyboard"]
            for button in row
            if button["callback_data"].split(":")[2] == action
        )
        forged = ":".join(["bc", "999999", *data.split(":")[2:]])
        query = admin.press(offer, forged, forge=True)
        await emulator.wait_for(lambda query=query: emulator.callback_answer(query) is not None)
        answer = emulator.callback_answer(query)
        assert answer is not None and answer["text"] == "у вас нет такого черновика", answer
    assert await process.stop() == 0
    assert rejected_calls(emulator) == []
