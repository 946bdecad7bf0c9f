"""The foundation, as customers and an admin meet it: `python -m bot` against the emulator."""

import time

import pytest

from tests.e2e.harness import eventually, rejected_calls, settled

WELCOME = {
    "en": "Use the menu below",
    "ru": "Воспользуйтесь меню ниже",
    "uk": "Скористайтеся меню нижче",
}
HELP_BUTTON = {"en": "❓ Help", "ru": "❓ Помощь", "uk": "❓ Допомога"}


def sent_markup(emulator, user):
    """The reply markup of the bot's latest message to this user, as the bot sent it
    (Telegram echoes inline keyboards in the Message, but never reply keyboards)."""
    calls = [call for call in emulator.calls if call.ok and call.params.get("chat_id") == user.id]
    return calls[-1].params.get("reply_markup") or {}


def keyboard_labels(message):
    markup = message.get("reply_markup") or {}
    rows = markup.get("keyboard") or markup.get("inline_keyboard") or []
    return [
        button["text"] if isinstance(button, dict) else button for row in rows for button in row
    ]


@pytest.mark.parametrize("language", ["en", "ru", "uk"])
async def test_start_answers_in_the_customers_language_with_a_menu(bot, emulator, language):
    customer = emulator.add_user(
        first_name="Олена" if language != "en" else "Ann", language_code=language
    )
    customer.send_text("/start")
    reply = await customer.next_message(timeout=5)
    assert WELCOME[language] in reply["text"]
    assert customer.first_name in reply["text"]
    keyboard = sent_markup(emulator, customer)["keyboard"]
    assert HELP_BUTTON[language] in [button["text"] for row in keyboard for button in row]


async def test_menu_button_works_and_the_record_holds_both_directions(bot, emulator):
    ann = emulator.add_user(first_name="Ann", username="ann", language_code="en")
    ann.send_text("/start")
    await ann.next_message()
    ann.press_reply_button("❓ Help")
    help_text = await ann.next_message()
    assert "/language" in help_text["text"]

    record = await bot.customer(ann.id)
    assert record["telegram_id"] == ann.id
    assert record["first_name"] == "Ann"
    assert record["username"] == "ann"
    kinds = [(item["direction"], item["kind"], item["text"]) for item in record["interactions"]]
    assert kinds[0] == ("in", "command", "/start")
    assert kinds[1][:2] == ("out", "sendMessage")
    assert kinds[2] == ("in", "text", "❓ Help")
    assert kinds[3][:2] == ("out", "sendMessage")
    assert record["interactions"][1]["status"] == "sent"
    assert record["interactions"][1]["message_id"] == ann.messages[0]["message_id"]


async def test_the_cli_as_a_process_prints_what_its_main_prints_in_process(bot, emulator):
    """The suite calls the CLI's main(argv) in-process; this is the smoke test that the real
    `python -m bot customer show` process reads its settings and prints the same record."""
    sue = emulator.add_user(first_name="Sue", language_code="en")
    sue.send_text("/start")
    await sue.next_message()
    in_process = await bot.cli("customer", "show", str(sue.id), "--json")
    as_process = await bot.cli_process("customer", "show", str(sue.id), "--json")
    assert as_process.returncode == in_process.returncode == 0, as_process.stderr
    assert as_process.json() == in_process.json()
    assert in_process.json()["first_name"] == "Sue"
    missing = await bot.cli_process("customer", "show", "1")
    assert missing.returncode == 1
    assert "no customer with Telegram id 1" in missing.stderr


async def test_every_inbound_and_outbound_interaction_is_recorded(bot, emulator):
    bob = emulator.add_user(first_name="Bob", language_code="en")
    bob.send_text("/start")
    await bob.next_message()
    bob.send_sticker(emoji="🙂")
    await bob.next_message()
    bob.send_photo(caption="my receipt")
    await bob.next_message()
    bob.send_voice()
    await bob.next_message()
    bob.send_text("/language")
    picker = await bob.next_message()
    bob.press(picker, "lang:uk")
    await bob.next_message()
    written = bob.send_text("hello there")
    await bob.next_message()
    bob.edit_text(written, "hello there, edited")
    await settled(bot)

    record = await bot.customer(bob.id)
    inbound = [item for item in record["interactions"] if item["direction"] == "in"]
    outbound = [item for item in record["interactions"] if item["direction"] == "out"]
    assert [item["kind"] for item in inbound] == [
        "command",
        "sticker",
        "photo",
        "voice",
        "command",
        "callback",
        "text",
        "edited_text",
    ]
    assert inbound[7]["text"] == "hello there, edited"
    assert inbound[1]["text"] == "[sticker 🙂]"
    assert inbound[2]["text"] == "[photo] my receipt"
    assert inbound[5]["text"] == "lang:uk"
    delivered = emulator.calls_to("sendMessage", chat_id=bob.id)
    assert len(outbound) == len(delivered) == 7
    assert [item["text"] for item in outbound] == [call.params["text"] for call in delivered]
    assert all(item["status"] == "sent" for item in outbound)


async def test_sticker_photo_and_voice_get_a_helpful_reply(bot, emulator):
    cat = emulator.add_user(first_name="Cat", language_code="ru")
    for send in (cat.send_sticker, cat.send_photo, cat.send_voice, cat.send_document):
        send()
        reply = await cat.next_message()
        assert "только текст" in reply["text"]


async def test_a_5000_character_text_is_answered_and_kept_whole(bot, emulator):
    dan = emulator.add_user(first_name="Dan", language_code="en")
    long_text = ("Where is my order? " * 300)[:5000]
    dan.send_text(long_text)
    reply = await dan.next_message()
    assert "5000" in reply["text"] and "shorter" in reply["text"]
    dan.send_text("/help")
    assert "/menu" in (await dan.next_message())["text"]  # still answering
    record = await bot.customer(dan.id)
    assert record["interactions"][0]["text"] == long_text


async def test_forged_and_stale_buttons_are_answered_and_change_nothing(bot, emulator):
    eve = emulator.add_user(first_name="Eve", language_code="en")
    eve.send_text("/language")
    picker = await eve.next_message()
    sends_before = len(emulator.calls_to("sendMessage", chat_id=eve.id))

    forged = eve.press(picker, "admin:grant:999", forge=True)
    unknown_language = eve.press(picker, "lang:xx", forge=True)
    oversized = eve.press(picker, "lang:" + "e" * 58, forge=True)
    for query in (forged, unknown_language, oversized):
        await emulator.wait_for(lambda q=query: emulator.callback_answer(q) is not None)
        assert emulator.callback_answer(query)["text"] == "This button is no longer active."

    await settled(bot)
    assert len(emulator.calls_to("sendMessage", chat_id=eve.id)) == sends_before
    record = await bot.customer(eve.id)
    assert record["language"] is None
    assert [i["text"] for i in record["interactions"] if i["kind"] == "callback"] == [
        "admin:grant:999",
        "lang:xx",
        "lang:" + "e" * 58,
    ]


async def test_language_switch_is_remembered(bot, emulator):
    fay = emulator.add_user(first_name="Fay", language_code="en")
    fay.send_text("/language")
    picker = await fay.next_message()
    assert {"🇬🇧 English", "🇷🇺 Русский", "🇺🇦 Українська"} <= set(keyboard_labels(picker))
    query = fay.press(picker, "lang:ru")
    confirmation = await fay.next_message()
    assert confirmation["text"] == "Теперь я буду говорить с вами по-русски."
    keyboard = sent_markup(emulator, fay)["keyboard"]
    assert "❓ Помощь" in [button["text"] for row in keyboard for button in row]
    await emulator.wait_for(lambda: emulator.callback_answer(query) is not None)
    assert emulator.callback_answer(query)["text"] == "Готово!"

    fay.send_text("/help")
    assert "Вот что я умею" in (await fay.next_message())["text"]
    fay.send_text("❓ Help")  # an old English keyboard still works after the switch
    assert "Вот что я умею" in (await fay.next_message())["text"]
    chat_commands = emulator.commands({"type": "chat", "chat_id": fay.id})
    assert "Выбрать язык" in [command["description"] for command in chat_commands]
    assert (await bot.customer(fay.id))["language"] == "ru"


async def test_unknown_command_and_free_text_get_clear_answers(bot, emulator):
    gus = emulator.add_user(first_name="Gus", language_code="uk")
    gus.send_text("/frobnicate now")
    assert "не знаю команди /frobnicate" in (await gus.next_message())["text"]
    gus.send_text("коли ви працюєте?")  # free text goes to the FAQ
    assert "щодня з 8:00 до 22:00" in (await gus.next_message())["text"]
    gus.send_text("/customer 1")
    assert "лише адміністраторам" in (await gus.next_message())["text"]


async def test_admin_reads_a_customer_record_in_telegram(bot, emulator, admin):
    hal = emulator.add_user(first_name="Hal <b>", username="hal", language_code="en")
    hal.send_text("/start promo_2026")
    await hal.next_message()
    admin.send_text(f"/customer {hal.id}")
    card = await admin.next_message()
    assert "Hal &lt;b&gt;" in card["text"] or "Hal <b>" in card["text"]
    assert "/start promo_2026" in card["text"]
    assert (await bot.customer(hal.id))["start_payload"] == "promo_2026"


async def test_commands_are_registered_per_language_and_admins_see_theirs(bot, emulator, admin):
    admin.send_text("/start")  # Telegram knows the admin's chat only once they open the bot
    await admin.next_message()
    admin_scope = {"type": "chat", "chat_id": admin.id}
    await emulator.wait_for(lambda: emulator.commands(admin_scope, "") != [])
    customer_commands = [c["command"] for c in emulator.commands(None, "")]
    assert customer_commands[0] == "start"
    assert {"menu", "language", "help"} <= set(customer_commands)

    def described(language):
        return {c["command"]: c["description"] for c in emulator.commands(None, language)}

    assert described("uk")["language"] == "Обрати мову"
    assert described("ru")["language"] == "Выбрать язык"
    assert "customer" in [c["command"] for c in emulator.commands(admin_scope, "")]
    assert "customer" not in [c["command"] for c in emulator.commands(None, "")]


async def test_redelivered_update_is_processed_once(bot, emulator):
    ivy = emulator.add_user(first_name="Ivy", language_code="en")
    message = ivy.send_text("/help")
    await ivy.next_message()
    # Delivered twice before the bot confirms either: a webhook retry or a polling restart.
    queued = emulator.inject_update({"message": message})
    emulator.inject_update({"update_id": queued["update_id"], "message": message})
    await ivy.next_message()

    async def second_copy_skipped() -> bool:
        return f"update {queued['update_id']} delivered again; already handled" in bot.log()

    await eventually(second_copy_skipped)
    await settled(bot)
    assert len(emulator.calls_to("sendMessage", chat_id=ivy.id)) == 2
    record = await bot.customer(ivy.id)
    assert sum(1 for item in record["interactions"] if item["direction"] == "in") == 2


async def test_telegram_flood_limit_and_server_error_delay_a_reply_but_lose_nothing(bot, emulator):
    jay = emulator.add_user(first_name="Jay", language_code="en")
    emulator.fail_next("sendMessage", error_code=429, retry_after=1, chat_id=jay.id)
    jay.send_text("/help")
    assert "/menu" in (await jay.next_message(timeout=10))["text"]
    emulator.fail_next("sendMessage", error_code=502, description="Bad Gateway", chat_id=jay.id)
    jay.send_text("/menu")
    assert (await jay.next_message(timeout=10))["text"] == "Here's the menu 👇"

    # A reply's status is written after it went out (group commit): wait for it, not on it.
    async def both_sent() -> bool:
        record = await bot.customer(jay.id)
        outbound = [item for item in record["interactions"] if item["direction"] == "out"]
        return [item["status"] for item in outbound] == ["sent", "sent"]

    await eventually(both_sent)


async def test_a_failing_handler_apologises_and_polling_goes_on(bot, emulator):
    kim = emulator.add_user(first_name="Kim", language_code="ru")
    # Telegram keeps failing the reply: the handler gives up and the error handler apologises.
    emulator.fail_next(
        "sendMessage", error_code=500, description="Internal Server Error", chat_id=kim.id, times=3
    )
    kim.send_text("/help")
    apology = await kim.next_message(timeout=15)
    assert apology["text"].startswith("Извините, у нас что-то пошло не так")
    kim.send_text("/menu")
    assert (await kim.next_message())["text"] == "Вот меню 👇"
    assert "update" in bot.log() and "failed" in bot.log()


async def test_blocking_the_bot_marks_the_customer_unreachable(bot, emulator):
    lou = emulator.add_user(first_name="Lou", language_code="en")
    lou.send_text("/start")
    await lou.next_message()
    lou.block_bot()
    await settled(bot)
    record = await bot.customer(lou.id)
    assert record["reachable"] is False
    assert record["interactions"][-1]["kind"] == "blocked"
    lou.unblock_bot()
    lou.send_text("/menu")
    await lou.next_message()
    assert (await bot.customer(lou.id))["reachable"] is True


async def test_flood_control_warns_once_and_still_records_everything(bot, emulator):
    max_ = emulator.add_user(first_name="Max", language_code="en")
    started = time.monotonic()
    for index in range(26):
        max_.send_text(f"message {index}")
    await settled(bot)
    calls = emulator.calls_to("sendMessage", chat_id=max_.id)
    warnings = [call for call in calls if "very fast" in call.params["text"]]
    answers = [call for call in calls if "very fast" not in call.params["text"]]
    assert len(warnings) == 1
    # THROTTLE_RATE 20/10s is a leaky bucket: 20 at once, then it drains one place every
    # 0.5 s. Handling a burst takes longer on a loaded machine, so a few more may be let in,
    # but never more than the bucket drained while the burst was being handled.
    elapsed = answers[-1].at - started
    assert 20 <= len(answers) <= 20 + int(elapsed * 20 / 10) + 1, (len(answers), elapsed)
    record = await bot.customer(max_.id)
    assert sum(1 for item in record["interactions"] if item["direction"] == "in") == 26


async def test_no_call_was_refused_by_the_bot_api(bot, emulator):
    assert rejected_calls(emulator) == []


async def test_a_reply_refused_with_403_marks_the_customer_unreachable(bot, emulator):
    ned = emulator.add_user(first_name="Ned", language_code="en")
    ned.send_text("/start")
    await ned.next_message()
    # Blocked between writing and our reply: Telegram refuses the reply.
    emulator.fail_next(
        "sendMessage",
        error_code=403,
        description="Forbidden: bot was blocked by the user",
        chat_id=ned.id,
    )
    ned.send_text("/help")
    await settled(bot)
    record = await bot.customer(ned.id)
    assert record["reachable"] is False
    assert record["interactions"][-1]["status"] == "failed"
    assert "blocked" in record["interactions"][-1]["error"]
    # No apology was attempted into a chat that refuses messages.
    assert len(emulator.calls_to("sendMessage", chat_id=ned.id)) == 2
