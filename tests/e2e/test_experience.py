"""The experience end to end (issue 20): customers are never stuck in a question, a ticket
closed moments ago comes back, and agents see their cards, histories and menus right."""

from __future__ import annotations

import re
from typing import Any

from bot.emulator.state import EmulatedChat
from bot.telegram.callbacks import UsePoints
from tests.databases import rows
from tests.e2e.harness import (
    BotProcess,
    buttons,
    buy,
    press,
    rejected_calls,
    ticket_number,
    topic_of,
)
from tests.e2e.test_rewards_cashier import customer_with_points


async def test_a_menu_button_leaves_the_use_points_question(bot, emulator, api):
    una = await customer_with_points(emulator, api, "Una-menu", "40.00")  # 250 points
    una.send_text("/rewards")
    catalogue = await una.next_message()
    await press(emulator, una, catalogue, UsePoints().pack())
    assert "How many points" in (await una.next_message())["text"]
    # The review entry comes after the question's router: it used to be read as a number.
    una.press_reply_button("✍️ Review")
    question = await una.next_message()
    assert len(buttons(question)) == 5, question  # the stars of the review question
    una.send_text("100")  # the question was left: no code, the FAQ answers
    assert "browse the FAQ" in (await una.next_message())["text"]
    una.send_text("/rewards")
    assert "Your open codes" not in (await una.next_message())["text"]


async def test_a_menu_button_or_command_leaves_the_review_comment(bot, emulator, api):
    rosa = emulator.add_user(first_name="Rosa-menu", language_code="en")
    rosa.send_text("/start")
    await rosa.next_message()
    await buy(api, "MENU-REV-1", rosa.id, "10.00")
    await rosa.next_message()  # points earned
    rosa.send_text("/review")
    question = await rosa.next_message()
    await press(emulator, rosa, question, list(buttons(question).values())[-1])  # 5 stars
    assert "add a comment" in rosa.messages[-1]["text"]
    rosa.press_reply_button("📚 FAQ")
    assert "Pick a topic" in (await rosa.next_message())["text"]
    rosa.send_text("Where is the shop?")  # a question now, not the review's comment
    assert "added it to your review" not in (await rosa.next_message())["text"]
    review = rows(
        bot.database_url,
        "SELECT r.text FROM reviews r JOIN customers c ON c.id = r.customer_id "
        "WHERE c.telegram_id = ?",
        (rosa.id,),
    )
    assert review == [(None,)]


async def test_a_command_leaves_the_birthday_question(bot, emulator):
    bea = emulator.add_user(first_name="Bea-menu", language_code="en")
    bea.send_text("/start")
    await bea.next_message()
    bea.send_text("/profile")
    screen = await bea.next_message()
    await press(emulator, bea, screen, buttons(screen)["🎂 Add birthday"])
    assert "DD.MM" in (await bea.next_message())["text"]
    bea.send_text("/support")  # a command after the question's router
    assert "Ticket #" in (await bea.next_message())["text"]
    bea.send_text("/points")
    assert "points" in (await bea.next_message())["text"]
    bea.send_text("14.03")  # goes to the agents, not into the profile
    assert (await bot.customer(bea.id))["birthday"] is None


def _card(chat: EmulatedChat, thread: int) -> dict[str, Any]:
    """The ticket card: the bot's first message of the topic (topic service messages aside)."""
    return next(
        message
        for message in chat.messages_in(thread)
        if message.get("from", {}).get("is_bot") and "Ticket #" in (message.get("text") or "")
    )


def _card_labels(message: dict[str, Any]) -> set[str]:
    return set(buttons(message))


async def test_take_close_and_a_reopen_edit_the_card_in_place(bot, emulator, support_chat):
    """The card is the same message throughout: it shows the status, the assignee and the
    times as they change; a closed ticket written to within SUPPORT_REOPEN_MINUTES is the
    same ticket again (number, topic, card), and the customer is told so."""
    cleo = emulator.add_user(first_name="Cleo", username="cleo_card", language_code="en")
    tom = emulator.add_user(first_name="Tom", username="tom_agent", language_code="en")
    support_chat.members[tom.id] = "member"
    cleo.send_text("/support")
    ticket = ticket_number((await cleo.next_message())["text"])
    thread = await topic_of(emulator, support_chat, ticket)
    card = _card(support_chat, thread)
    card_id = card["message_id"]
    assert "Status: open" in card["text"] and "Nobody has taken it yet" in card["text"]

    take = tom.press(card, buttons(card)["🙋 Take"])
    await emulator.wait_for(lambda: emulator.callback_answer(take) is not None)
    await emulator.wait_for(
        lambda: "Assignee: Tom (@tom_agent)" in support_chat.get(card_id).payload["text"]
    )

    tom.send_text("Hi Cleo!", chat=support_chat, message_thread_id=thread)
    assert (await cleo.next_message())["text"] == "Hi Cleo!"
    await emulator.wait_for(lambda: "first reply" in support_chat.get(card_id).payload["text"])

    tom.send_text("/close", chat=support_chat, message_thread_id=thread)
    assert "closed" in (await cleo.next_message())["text"]
    await emulator.wait_for(lambda: "Status: closed" in support_chat.get(card_id).payload["text"])
    assert _card_labels(support_chat.get(card_id).payload) == set()  # nothing left to press

    cleo.send_text("Sorry, one more question")
    told = (await cleo.next_message())["text"]
    assert told == (f"🔄 Your ticket #{ticket} is open again: a person will answer in this chat.")
    await emulator.wait_for(lambda: "Status: open" in support_chat.get(card_id).payload["text"])
    card = support_chat.get(card_id).payload
    assert f"Ticket #{ticket}" in card["text"] and "Assignee: Tom" in card["text"]
    assert _card_labels(card) == {"🙋 Take", "✅ Close"}
    await emulator.wait_for(lambda: support_chat.topics[thread].name.startswith("🟡"))
    assert support_chat.topics[thread].name.endswith(f"#{ticket}")
    await emulator.wait_for(
        lambda: any(
            message.get("text") == "Sorry, one more question"
            for message in support_chat.messages_in(thread)
        )
    )
    tickets = rows(
        bot.database_url,
        "SELECT t.id, t.status, t.closed_at FROM tickets t "
        "JOIN customers c ON c.id = t.customer_id WHERE c.telegram_id = ?",
        (cleo.id,),
    )
    assert tickets == [(ticket, "open", None)]
    # One card in the topic all along.
    assert sum("🎫" in (m.get("text") or "") for m in support_chat.messages_in(thread)) == 1


async def test_after_the_reopen_window_free_text_goes_to_the_faq(own_emulator, tmp_path):
    support_chat = own_emulator.add_forum_supergroup("Support", chat_id=-1_009_000_000_077)
    bot = BotProcess(
        own_emulator,
        tmp_path,
        env={"SUPPORT_CHAT_ID": str(support_chat.id), "SUPPORT_REOPEN_MINUTES": "0"},
    )
    await bot.start()
    dan = own_emulator.add_user(first_name="Dan", language_code="en")
    agent = own_emulator.add_user(first_name="Ivy", language_code="en")
    dan.send_text("/support")
    ticket = ticket_number((await dan.next_message())["text"])
    thread = await topic_of(own_emulator, support_chat, ticket)
    agent.send_text("/close", chat=support_chat, message_thread_id=thread)
    assert "closed" in (await dan.next_message())["text"]
    dan.send_text("Where is the shop?")  # answered by the FAQ, not relayed
    assert "12 Market Street" in (await dan.next_message())["text"]
    statuses = rows(
        bot.database_url,
        "SELECT t.status FROM tickets t JOIN customers c ON c.id = t.customer_id "
        "WHERE c.telegram_id = ?",
        (dan.id,),
    )
    assert statuses == [("closed",)]
    assert await bot.stop() == 0
    assert rejected_calls(own_emulator) == []


async def test_history_labels_notes_as_internal_and_reads_every_kind(bot, emulator, support_chat):
    hal = emulator.add_user(first_name="Hal", username="hal_history", language_code="en")
    ada = emulator.add_user(first_name="Ada", username="ada_agent_h", language_code="en")
    hal.send_text("/support")
    ticket = ticket_number((await hal.next_message())["text"])
    thread = await topic_of(emulator, support_chat, ticket)
    hal.send_text("My card <b>broke</b>")
    hal.send_photo(caption="the receipt")
    hal.send_document(file_name="invoice.pdf")
    hal.send_voice(duration=4)
    hal.send_sticker()
    hal.send_text("/faq")
    topics = await hal.next_message()
    await press(emulator, hal, topics, next(iter(buttons(topics).values())))
    ada.send_text("/note a loyal customer", chat=support_chat, message_thread_id=thread)
    ada.send_text("Hello Hal, on it.", chat=support_chat, message_thread_id=thread)
    await emulator.wait_for(lambda: hal.messages[-1].get("text") == "Hello Hal, on it.")

    def history() -> str | None:
        return next(
            (
                message["text"]
                for message in support_chat.messages_in(thread)
                if "Last interactions" in (message.get("text") or "")
            ),
            None,
        )

    ada.send_text("/history", chat=support_chat, message_thread_id=thread)
    await emulator.wait_for(lambda: history() is not None)
    text = history() or ""
    lines = text.splitlines()
    [note] = [line for line in lines if "a loyal customer" in line]
    assert "🔒 Internal note" in note and "→" not in note  # never shown as sent to them
    # The customer's words as written (markup they typed is not taken for formatting).
    assert any(line.endswith("← My card <b>broke</b>") for line in lines), text
    assert any("← 📷 Photo: the receipt" in line for line in lines), text
    assert any("← 📄 Document: invoice.pdf" in line for line in lines), text
    assert any("← 🎤 Voice message (4 s)" in line for line in lines), text
    assert any("← 🖼 Sticker" in line for line in lines), text
    assert any("← 🔘 Pressed a button" in line for line in lines), text
    assert any("← ⌨️ /faq" in line for line in lines), text
    assert any(line.endswith("→ Hello Hal, on it.") for line in lines), text
    # The bot's own messages read as their text, without their markup.
    [opened] = [line for line in lines if "→ 🙋 Ticket #" in line]
    assert "in this chat. A person" in opened  # one line, however many it had
    assert "[" not in text and "sendMessage" not in text, text


def _listed(help_text: str) -> set[str]:
    """The commands a /help text lists, one a line ("/points — …")."""
    return {match.group(1) for match in re.finditer(r"^/(\w+)", help_text, re.MULTILINE)}


def _menu(emulator: Any, scope: dict[str, Any] | None) -> set[str]:
    return {command["command"] for command in emulator.commands(scope, "en")}


async def test_help_lists_exactly_the_menu_of_each_role(bot, emulator, admin, support_chat):
    # The admin has opened the bot: their own menu is set on /start.
    admin.send_text("/start")
    await admin.next_message()
    admin_menu = {"type": "chat", "chat_id": admin.id}
    await emulator.wait_for(lambda: bool(_menu(emulator, admin_menu)))

    kit = emulator.add_user(first_name="Kit", language_code="en")
    kit.send_text("/help")
    customer_help = (await kit.next_message())["text"]
    assert _listed(customer_help) == _menu(emulator, None)

    admin.send_text("/help")
    admin_help = (await admin.next_message())["text"]
    assert _listed(admin_help) == _menu(emulator, admin_menu)

    agents_menu = _menu(emulator, {"type": "chat", "chat_id": support_chat.id})
    assert {"note", "close", "history", "points", "snippet", "help"} <= agents_menu
    kit.send_text("/support")
    ticket = ticket_number((await kit.next_message())["text"])
    thread = await topic_of(emulator, support_chat, ticket)
    agent = emulator.add_user(first_name="Gus", language_code="en")
    agent.send_text("/help", chat=support_chat, message_thread_id=thread)

    def agent_help() -> str | None:
        return next(
            (
                message["text"]
                for message in support_chat.messages_in(thread)
                if message.get("from", {}).get("is_bot") and "/note" in (message.get("text") or "")
            ),
            None,
        )

    await emulator.wait_for(lambda: agent_help() is not None)
    assert _listed(agent_help() or "") == agents_menu


async def test_admins_read_their_own_language_not_the_customers(bot, emulator, admin, api):
    """A Ukrainian customer's low rating reaches the (English) admin in English, and the
    admin's /customer card reads as words in English, with no raw method names."""
    admin.send_text("/start")
    await admin.next_message()
    admin.skip_messages()
    olena = emulator.add_user(first_name="Olena", language_code="uk")
    olena.send_text("/start")
    await olena.next_message()
    await buy(api, "LANG-REV-1", olena.id, "10.00")
    await olena.next_message()  # points earned
    olena.send_text("/review")
    question = await olena.next_message()
    await press(emulator, olena, question, list(buttons(question).values())[0])  # 1 star

    def alert() -> str | None:
        return next(
            (m.get("text") for m in admin.messages if f"(id {olena.id})" in (m.get("text") or "")),
            None,
        )

    await emulator.wait_for(lambda: alert() is not None)
    assert (alert() or "").startswith("⚠️ ⭐ from Olena"), alert()

    admin.skip_messages()
    admin.send_text(f"/customer {olena.id}")
    card = (await admin.next_message())["text"]
    assert "Recent interactions" in card
    assert "sendMessage" not in card and "callback:" not in card, card
    assert "🔘 Pressed a button" in card, card


async def test_an_admins_errors_are_in_their_own_language(bot, emulator, admin):
    """The errors the services explain (a segment that does not parse, a broadcast in the
    wrong state) read in the admin's language, not English inside a Ukrainian sentence."""
    taras = emulator.add_user(first_name="Taras", language_code="uk")
    taras.send_text("/start")
    await taras.next_message()
    admin.skip_messages()
    admin.send_text(f"/grant admin {taras.id}")
    assert (await admin.next_message())["text"] == f"{taras.id} is now admin."
    try:
        taras.send_text("/nps send tag=panel and (")
        refusal = (await taras.next_message())["text"]
        assert "сегмент обривається зарано" in refusal, refusal
        assert "the segment" not in refusal, refusal
    finally:
        admin.send_text(f"/revoke admin {taras.id}")
        await admin.next_message()
