"""Human support: tickets in forum topics, messages relayed both ways, ratings in the chat."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from bot.emulator import BotAPIEmulator
from bot.emulator.state import EmulatedChat
from tests.databases import query
from tests.e2e.harness import BotProcess, settled, ticket_number, topic_of

JSON = dict[str, Any]


def _buttons(message: JSON) -> list[JSON]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button for row in rows for button in row]


def _button(message: JSON, starts_with: str) -> str:
    for button in _buttons(message):
        if button["text"].startswith(starts_with):
            data: str = button["callback_data"]
            return data
    raise AssertionError(f"no button {starts_with!r} in {_buttons(message)!r}")


def _from_bot(chat: EmulatedChat, thread: int) -> list[JSON]:
    return [
        message
        for message in chat.messages_in(thread)
        if message.get("from", {}).get("is_bot")
        and "forum_topic_created" not in message
        and "forum_topic_edited" not in message
    ]


async def _open_ticket(
    customer: Any, emulator: BotAPIEmulator, chat: EmulatedChat
) -> tuple[int, int]:
    customer.send_text("/support")
    opened = await customer.next_message()
    assert "Ticket #" in opened["text"], opened
    ticket = ticket_number(opened["text"])
    return ticket, await topic_of(emulator, chat, ticket)


def _tickets(database_url: str, customer_telegram_id: int) -> list[dict[str, Any]]:
    return query(
        database_url,
        "SELECT t.* FROM tickets t JOIN customers c ON c.id = t.customer_id "
        "WHERE c.telegram_id = ? ORDER BY t.id",
        (customer_telegram_id,),
    )


async def test_a_conversation_both_ways_closed_and_rated(bot, emulator, support_chat):
    ann = emulator.add_user(first_name="Ann", username="ann_support", language_code="en")
    sam = emulator.add_user(first_name="Sam", username="sam_agent", language_code="en")
    ticket, thread = await _open_ticket(ann, emulator, support_chat)
    name = support_chat.topics[thread].name
    assert name == f"🟢 Ann (@ann_support) #{ticket}"

    # The card comes first: who the customer is, with Take and Close.
    card = _from_bot(support_chat, thread)[0]
    assert f"Ticket #{ticket}" in card["text"] and "@ann_support" in card["text"]
    assert "balance" in card["text"]
    assert {button["text"] for button in _buttons(card)} >= {"🙋 Take", "✅ Close"}

    ann.send_text("My points did not arrive after yesterday's purchase")
    ann.send_photo(caption="the receipt")
    ann.send_media_group(2)

    def copies() -> list[JSON]:
        return [
            m for m in _from_bot(support_chat, thread) if m is not card and "reply_markup" not in m
        ]

    await emulator.wait_for(lambda: len(copies()) == 4)
    relayed = copies()
    assert any(
        m.get("text") == "My points did not arrive after yesterday's purchase" for m in relayed
    )
    assert sum(1 for m in relayed if "photo" in m) == 3
    assert any(m.get("caption") == "the receipt" for m in relayed)
    # One topic for the customer, however many messages.
    assert sum(1 for topic in support_chat.topics.values() if "@ann_support" in topic.name) == 1

    # The agent's reply reaches the customer; the first to reply is the assignee.
    ann.skip_messages()
    sam.send_text(
        "Hello Ann, let me check that for you.", chat=support_chat, message_thread_id=thread
    )
    reply = await ann.next_message()
    assert reply["text"] == "Hello Ann, let me check that for you."
    await emulator.wait_for(lambda: support_chat.topics[thread].name.startswith("🟡"))
    await emulator.wait_for(
        lambda: any("is handling" in (m.get("text") or "") for m in _from_bot(support_chat, thread))
    )

    # Edits are mirrored both ways.
    sent = sam.send_text(
        "We credit points within 24 hous.", chat=support_chat, message_thread_id=thread
    )
    assert (await ann.next_message())["text"] == "We credit points within 24 hous."
    sam.edit_text(sent, "We credit points within 24 hours.")
    await emulator.wait_for(lambda: ann.messages[-1]["text"] == "We credit points within 24 hours.")
    typo = ann.send_text("Thx, I'll wiat")
    await emulator.wait_for(
        lambda: any(m.get("text") == "Thx, I'll wiat" for m in _from_bot(support_chat, thread))
    )
    ann.edit_text(typo, "Thx, I'll wait")
    await emulator.wait_for(
        lambda: any(m.get("text") == "Thx, I'll wait" for m in _from_bot(support_chat, thread))
    )

    # A note stays in the topic.
    sam.send_text(
        "/note she is a regular, be generous", chat=support_chat, message_thread_id=thread
    )
    await settled(bot)
    assert all("generous" not in (m.get("text") or "") for m in ann.messages)

    sam.send_text("/close", chat=support_chat, message_thread_id=thread)
    rating = await ann.next_message()
    assert f"#{ticket}" in rating["text"] and "closed" in rating["text"]
    choices = [b for b in _buttons(rating) if b["callback_data"].startswith("rate:")]
    assert len(choices) >= 3
    await emulator.wait_for(lambda: support_chat.topics[thread].name.startswith("⚪"))

    ann.press(rating, _button(rating, "4"))
    ask_comment = await ann.next_message()
    assert "comment" in ask_comment["text"]
    ann.send_text("Quick and kind, thanks")
    assert "comment" in (await ann.next_message())["text"]
    await emulator.wait_for(
        lambda: any("4/5" in (m.get("text") or "") for m in _from_bot(support_chat, thread))
    )
    [stored] = _tickets(bot.database_url, ann.id)
    assert stored["status"] == "closed"
    assert stored["rating"] == 4
    assert stored["rating_comment"] == "Quick and kind, thanks"
    assert stored["assignee_id"] == sam.id
    assert stored["first_response_at"] is not None

    # Pressing the rating again (a replay) changes nothing.
    replay = ann.press(rating, _button(rating, "1"), forge=True)
    await emulator.wait_for(lambda: emulator.callback_answer(replay) is not None)
    assert _tickets(bot.database_url, ann.id)[0]["rating"] == 4

    # Writing soon after the close opens the same ticket again, in the same topic.
    ann.send_text("One more thing: my card number?")
    reopened = await ann.next_message()
    assert reopened["text"] == (
        f"🔄 Your ticket #{ticket} is open again: a person will answer in this chat."
    )
    await emulator.wait_for(lambda: support_chat.topics[thread].name.startswith("🟡"))
    await emulator.wait_for(
        lambda: any(
            m.get("text") == "One more thing: my card number?"
            for m in _from_bot(support_chat, thread)
        )
    )
    assert [row["status"] for row in _tickets(bot.database_url, ann.id)] == ["open"]

    # The customer's record holds the conversation both ways, and not the note.
    record = await bot.customer(ann.id)
    texts = [(item["direction"], item["text"]) for item in record["interactions"]]
    assert ("in", "My points did not arrive after yesterday's purchase") in texts
    assert ("in", "[photo] the receipt") in texts
    assert ("out", "Hello Ann, let me check that for you.") in texts
    # The note is in the record as an internal note, never sent.
    [note] = [item for item in record["interactions"] if "generous" in (item["text"] or "")]
    assert (note["kind"], note["status"]) == ("note", "internal")
    assert not any(
        "generous" in (item["text"] or "") for item in record["interactions"] if item is not note
    )


async def test_asking_for_a_person_again_soon_after_a_close_reopens_that_ticket(
    bot, emulator, support_chat
):
    eve = emulator.add_user(first_name="Eve", language_code="en")
    sam = emulator.add_user(first_name="Sam", username="sam_agent", language_code="en")
    ticket, thread = await _open_ticket(eve, emulator, support_chat)
    sam.send_text("/close", chat=support_chat, message_thread_id=thread)
    assert "closed" in (await eve.next_message())["text"]

    eve.send_text("/support")
    again = await eve.next_message()
    assert again["text"] == (
        f"🔄 Your ticket #{ticket} is open again: a person will answer in this chat."
    )
    await emulator.wait_for(lambda: support_chat.topics[thread].name.startswith("🟢"))
    await emulator.wait_for(
        lambda: any("open again" in (m.get("text") or "") for m in _from_bot(support_chat, thread))
    )
    assert [row["status"] for row in _tickets(bot.database_url, eve.id)] == ["open"]


async def test_two_agents_pressing_take_at_once_one_wins(bot, emulator, support_chat):
    cid = emulator.add_user(first_name="Cid", language_code="en")
    kim = emulator.add_user(first_name="Kim", username="kim_agent")
    lee = emulator.add_user(first_name="Lee", username="lee_agent")
    support_chat.members[kim.id] = "member"
    support_chat.members[lee.id] = "member"
    ticket, thread = await _open_ticket(cid, emulator, support_chat)
    card = _from_bot(support_chat, thread)[0]
    take = _button(card, "🙋 Take")
    first = kim.press(card, take)
    second = lee.press(card, take)
    await emulator.wait_for(
        lambda: (
            emulator.callback_answer(first) is not None
            and emulator.callback_answer(second) is not None
        )
    )
    answers = sorted(
        (emulator.callback_answer(query) or {}).get("text", "") for query in (first, second)
    )
    assert "has taken this ticket already" in answers[0], answers
    assert answers[1] == "The ticket is yours.", answers
    [stored] = _tickets(bot.database_url, cid.id)
    assert stored["assignee_id"] in (kim.id, lee.id)
    await settled(bot)
    handling = [
        m for m in _from_bot(support_chat, thread) if "is handling" in (m.get("text") or "")
    ]
    assert len(handling) == 1
    assert support_chat.topics[thread].name.startswith("🟡")

    # Someone outside the support chat cannot work the ticket, even with the right data.
    # Someone who has a chat with the bot but is not in the support chat.
    outsider = emulator.add_user(first_name="Eve", started=True)
    forged = outsider.press(card, _button(card, "✅ Close"), forge=True)
    await emulator.wait_for(lambda: emulator.callback_answer(forged) is not None)
    assert "Only support agents" in (emulator.callback_answer(forged) or {}).get("text", "")
    assert _tickets(bot.database_url, cid.id)[0]["status"] == "open"

    # Close by button; a second press finds it closed.
    closing = kim.press(card, _button(card, "✅ Close"))
    rating = await _next_with(cid, "closed")
    assert len([b for b in _buttons(rating) if b["callback_data"].startswith("rate:")]) >= 3
    await emulator.wait_for(lambda: emulator.callback_answer(closing) is not None)
    # The card lost its buttons with the close; a press sent before that finds it closed.
    await emulator.wait_for(lambda: not _buttons(support_chat.get(card["message_id"]).payload))
    again = lee.press(card, _button(card, "✅ Close"), forge=True)
    await emulator.wait_for(lambda: emulator.callback_answer(again) is not None)
    assert "closed already" in (emulator.callback_answer(again) or {}).get("text", "")
    # A rating for somebody else's ticket is refused.
    forged_rating = outsider.press(rating, _button(rating, "5"), forge=True)
    await emulator.wait_for(lambda: emulator.callback_answer(forged_rating) is not None)
    assert _tickets(bot.database_url, cid.id)[0]["rating"] is None
    assert ticket == _tickets(bot.database_url, cid.id)[0]["id"]


async def _next_with(user: Any, fragment: str) -> JSON:
    for _ in range(5):
        message: JSON = await user.next_message()
        if fragment in (message.get("text") or ""):
            return message
    raise AssertionError(f"no message with {fragment!r}")


async def test_a_customer_who_blocked_the_bot_is_reported_in_the_topic(bot, emulator, support_chat):
    dan = emulator.add_user(first_name="Dan", language_code="en")
    agent = emulator.add_user(first_name="Max", username="max_agent")
    _ticket, thread = await _open_ticket(dan, emulator, support_chat)
    dan.send_text("Hello?")
    await emulator.wait_for(
        lambda: any(m.get("text") == "Hello?" for m in _from_bot(support_chat, thread))
    )
    dan.block_bot()
    await settled(bot)
    agent.send_text("Hi Dan, here to help", chat=support_chat, message_thread_id=thread)
    await emulator.wait_for(
        lambda: any(
            "blocked the bot" in (m.get("text") or "") for m in _from_bot(support_chat, thread)
        )
    )
    record = await bot.customer(dan.id)
    assert record["reachable"] is False


@pytest.mark.parametrize(
    ("forum", "can_manage_topics", "reason"),
    [(False, True, "is not a forum"), (True, False, "may not manage topics")],
)
async def test_support_is_offline_without_a_forum_or_the_rights(
    own_emulator, tmp_path, forum, can_manage_topics, reason
):
    group = own_emulator.add_group(
        "Agents",
        supergroup=True,
        is_forum=forum,
        bot_is_admin=True,
        bot_rights={"can_manage_topics": can_manage_topics},
    )
    bot = BotProcess(own_emulator, tmp_path, env={"SUPPORT_CHAT_ID": str(group.id)})
    await bot.start()
    try:
        assert "HUMAN SUPPORT IS OFFLINE" in bot.log() and reason in bot.log()
        eve = own_emulator.add_user(first_name="Eve", language_code="en")
        eve.send_text("/support")
        reply = await eve.next_message()
        assert "support is offline" in reply["text"]
        assert own_emulator.calls_to("createForumTopic") == []
    finally:
        assert await bot.stop() == 0


async def test_a_support_chat_that_refuses_the_bot_is_not_a_silent_loss(
    bot, emulator, support_chat
):
    ola = emulator.add_user(first_name="Ola", language_code="en")
    _ticket, _thread = await _open_ticket(ola, emulator, support_chat)
    support_chat.bot_status = "kicked"
    try:
        ola.send_text("Is anyone there?")
        reply = await ola.next_message()
        assert "could not reach our support team" in reply["text"]
    finally:
        support_chat.bot_status = "administrator"


async def _support_bot(emulator: BotAPIEmulator, tmp_path: Any) -> tuple[BotProcess, EmulatedChat]:
    chat = emulator.add_forum_supergroup("Support")
    bot = BotProcess(emulator, tmp_path, env={"SUPPORT_CHAT_ID": str(chat.id)})
    await bot.start()
    return bot, chat


async def test_a_deleted_topic_is_created_again_and_nothing_is_lost(own_emulator, tmp_path):
    bot, chat = await _support_bot(own_emulator, tmp_path)
    try:
        fay = own_emulator.add_user(first_name="Fay", username="fay", language_code="en")
        agent = own_emulator.add_user(first_name="Gus")
        ticket, thread = await _open_ticket(fay, own_emulator, chat)
        fay.send_text("first message")
        await own_emulator.wait_for(
            lambda: any(m.get("text") == "first message" for m in _from_bot(chat, thread))
        )
        own_emulator.delete_topic_by_user(chat, thread)
        fay.send_text("second message")

        def new_thread() -> int | None:
            return next(
                (t for t in chat.topics if t != thread and "@fay" in chat.topics[t].name), None
            )

        await own_emulator.wait_for(lambda: new_thread() is not None)
        fresh = new_thread()
        assert fresh is not None
        await own_emulator.wait_for(
            lambda: any(m.get("text") == "second message" for m in _from_bot(chat, fresh))
        )
        assert chat.topics[fresh].name.endswith(f"#{ticket}")
        card = _from_bot(chat, fresh)[0]
        assert "deleted" in card["text"] and f"Ticket #{ticket}" in card["text"]
        # The agents carry on in the new topic.
        fay.skip_messages()
        agent.send_text("Sorry, we lost the topic", chat=chat, message_thread_id=fresh)
        assert (await fay.next_message())["text"] == "Sorry, we lost the topic"
    finally:
        assert await bot.stop() == 0


async def test_a_restart_in_the_middle_of_a_conversation_carries_on(own_emulator, tmp_path):
    bot, chat = await _support_bot(own_emulator, tmp_path)
    hal = own_emulator.add_user(first_name="Hal", username="hal", language_code="en")
    agent = own_emulator.add_user(first_name="Ivy")
    ticket, thread = await _open_ticket(hal, own_emulator, chat)
    hal.send_text("before the restart")
    await own_emulator.wait_for(
        lambda: any(m.get("text") == "before the restart" for m in _from_bot(chat, thread))
    )
    assert await bot.stop() == 0
    # Written while the bot was down: delivered when it is back.
    hal.send_text("while you were away")
    agent.send_text("We're back", chat=chat, message_thread_id=thread)
    await bot.start()
    try:
        await own_emulator.wait_for(
            lambda: any(m.get("text") == "while you were away" for m in _from_bot(chat, thread))
        )
        hal.skip_messages()
        await own_emulator.wait_for(
            lambda: any(m.get("text") == "We're back" for m in hal.messages)
        )
        # Still the same ticket and topic; the FAQ did not take the customer's text.
        assert [row["status"] for row in _tickets(bot.database_url, hal.id)] == ["open"]
        assert sum(1 for topic in chat.topics.values() if "@hal" in topic.name) == 1
        agent.send_text("/close", chat=chat, message_thread_id=thread)
        rating = await _next_with(hal, "closed")
        assert f"#{ticket}" in rating["text"]
    finally:
        assert await bot.stop() == 0


async def test_the_faq_and_the_menu_lead_to_a_person(bot, emulator, support_chat):
    kai = emulator.add_user(first_name="Kai", username="kai_faq", language_code="en")
    kai.send_text("what is the meaning of life")
    declined = await kai.next_message()
    assert "rather not guess" in declined["text"]
    kai.press(declined, _button(declined, "🙋 Talk to a person"))
    opened = await kai.next_message()
    ticket = ticket_number(opened["text"])
    thread = await topic_of(emulator, support_chat, ticket)
    # The agents see what the customer already tried.
    card = _from_bot(support_chat, thread)[0]
    assert "what is the meaning of life" in card["text"] and "not answered" in card["text"]
    # Pressed again (or /support, or the menu): the same ticket, no second topic.
    kai.press(declined, _button(declined, "🙋 Talk to a person"))
    assert f"#{ticket} is open" in (await kai.next_message())["text"]
    kai.send_text("/start")
    # Waiting on the menu's own message (not on the update being handled) says what came
    # instead if the menu is missing (seen once in CI, not reproduced since).
    menu = await kai.next_message()
    assert "Use the menu below" in menu["text"], (menu, bot.log()[-4000:])
    kai.press_reply_button("🙋 Support")
    assert f"#{ticket} is open" in (await kai.next_message())["text"]
    assert sum(1 for topic in support_chat.topics.values() if "@kai_faq" in topic.name) == 1
    # While the ticket is open, the text goes to the agents, not the FAQ.
    before = len(kai.messages)
    kai.send_text("what is the meaning of life, really")
    await emulator.wait_for(
        lambda: any(
            m.get("text") == "what is the meaning of life, really"
            for m in _from_bot(support_chat, thread)
        )
    )
    await settled(bot)
    assert len(kai.messages) == before  # nothing from the FAQ


async def test_agent_tools_history_points_snippets(bot, emulator, support_chat):
    lou = emulator.add_user(first_name="Lou", language_code="en")
    ned = emulator.add_user(first_name="Ned", username="ned_agent")
    _ticket, thread = await _open_ticket(lou, emulator, support_chat)
    lou.send_text("Where are my points?")
    await emulator.wait_for(
        lambda: any(
            m.get("text") == "Where are my points?" for m in _from_bot(support_chat, thread)
        )
    )

    def replies() -> list[str]:
        return [m.get("text") or "" for m in _from_bot(support_chat, thread)]

    ned.send_text("/history", chat=support_chat, message_thread_id=thread)
    await emulator.wait_for(lambda: any("Last interactions" in text for text in replies()))
    history = next(text for text in replies() if "Last interactions" in text)
    assert "← Where are my points?" in history and "→ 🙋 Ticket #" in history

    ned.send_text("/points +50 sorry for the wait", chat=support_chat, message_thread_id=thread)
    await emulator.wait_for(lambda: any(text.startswith("Done: +50") for text in replies()))
    ned.send_text("/points +480 too generous", chat=support_chat, message_thread_id=thread)
    await emulator.wait_for(lambda: any("exceed your limit of 500" in text for text in replies()))
    ned.send_text("/points -60 oops", chat=support_chat, message_thread_id=thread)
    await emulator.wait_for(lambda: any("fewer points" in text for text in replies()))
    ned.send_text("/points lots", chat=support_chat, message_thread_id=thread)
    await emulator.wait_for(lambda: any(text.startswith("Usage: /points") for text in replies()))
    audit = await bot.cli("audit", "--json")
    assert audit.returncode == 0, audit.stderr
    assert '"points.adjust"' in audit.stdout and "sorry for the wait" in audit.stdout
    # Points commands are not relayed; the customer hears of the adjustment as a notice.
    assert all("/points" not in (m.get("text") or "") for m in lou.messages)

    ned.send_text("/snippet", chat=support_chat, message_thread_id=thread)
    await emulator.wait_for(lambda: any("Usage: /snippet" in text for text in replies()))
    ned.send_text("/unknown", chat=support_chat, message_thread_id=thread)
    await emulator.wait_for(lambda: any("not sent to the customer" in text for text in replies()))
    await settled(bot)
    assert all("/unknown" not in (m.get("text") or "") for m in lou.messages)


async def test_snippets_hours_and_first_response_reminders(own_emulator, tmp_path):
    import datetime as dt

    snippets = tmp_path / "snippets.yaml"
    snippets.write_text(
        "hello:\n  en: Hello! How can I help?\n  ru: Здравствуйте! Чем помочь?\n",
        encoding="utf-8",
    )
    today = dt.datetime.now(dt.UTC).strftime("%a").lower()
    other_days = ",".join(
        d for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun") if d != today
    )
    admin = own_emulator.add_user(first_name="Ada", started=True)
    chat = own_emulator.add_forum_supergroup("Support")
    bot = BotProcess(
        own_emulator,
        tmp_path,
        admin_ids=(admin.id,),
        env={
            "SUPPORT_CHAT_ID": str(chat.id),
            "SUPPORT_SNIPPETS": str(snippets),
            "SUPPORT_HOURS": "09:00-18:00",
            "SUPPORT_DAYS": other_days,
            "SUPPORT_FIRST_RESPONSE_MINUTES": "0.02",
            "JOBS_TICK_SECONDS": "0.2",
        },
    )
    await bot.start()
    try:
        mia = own_emulator.add_user(first_name="Mia", language_code="ru")
        agent = own_emulator.add_user(first_name="Oli")
        mia.send_text("/support")
        opened = await mia.next_message()
        # Out of hours (today is not a working day): the customer is told when agents are back.
        assert "№" in opened["text"] and "09:00" in opened["text"]
        ticket = ticket_number(opened["text"].replace("№", "#"))
        thread = await topic_of(own_emulator, chat, ticket)
        # Nobody answered in time: a reminder in the topic and to the admin, once.
        await own_emulator.wait_for(
            lambda: any("waited over" in (m.get("text") or "") for m in _from_bot(chat, thread))
        )
        await own_emulator.wait_for(lambda: any("waited over" in m["text"] for m in admin.messages))
        await asyncio.sleep(1.0)
        assert sum("waited over" in (m.get("text") or "") for m in _from_bot(chat, thread)) == 1
        # A snippet goes to the customer in their language and counts as the first reply.
        agent.send_text("/snippet HELLO", chat=chat, message_thread_id=thread)
        await own_emulator.wait_for(
            lambda: any(m.get("text") == "Здравствуйте! Чем помочь?" for m in mia.messages)
        )
        await own_emulator.wait_for(lambda: chat.topics[thread].name.startswith("🟡"))
    finally:
        assert await bot.stop() == 0


async def test_a_low_rating_opens_a_ticket_for_an_agent(bot, emulator, support_chat, admin):
    if admin.chat is None:
        admin.start_chat()  # the admins are alerted too
    pia = emulator.add_user(first_name="Pia", username="pia_low", language_code="en")
    pia.send_text("/review")
    question = await pia.next_message()
    pia.press(question, _buttons(question)[0]["callback_data"])  # one star
    await emulator.wait_for(lambda: "ticket #" in (pia.messages[-1].get("text") or ""))
    ticket = ticket_number(pia.messages[-1]["text"].split("ticket")[-1])
    thread = await topic_of(emulator, support_chat, ticket)
    await emulator.wait_for(
        lambda: any(
            "Low rating: ⭐." in (m.get("text") or "") for m in _from_bot(support_chat, thread)
        )
    )
    assert _tickets(bot.database_url, pia.id)[0]["source"] == "review"


async def test_forget_closes_the_open_ticket_and_the_topic_is_told(bot, emulator, support_chat):
    log_before = len(bot.log())  # the shared bot's log holds other scenarios' failures too
    olga = emulator.add_user(first_name="Olga", username="olga_forgets", language_code="en")
    sam = emulator.add_user(first_name="Sam", username="sam_agent_forget", language_code="en")
    ticket, thread = await _open_ticket(olga, emulator, support_chat)
    olga.send_text("please help")
    await emulator.wait_for(
        lambda: any(m.get("text") == "please help" for m in _from_bot(support_chat, thread))
    )

    olga.send_text("/forget")
    question = await _next_with(olga, "Erase your data?")
    olga.press(question, _button(question, "🗑"))
    await _next_with(olga, "Goodbye")

    def told() -> list[JSON]:
        return [m for m in _from_bot(support_chat, thread) if "erased" in (m.get("text") or "")]

    await emulator.wait_for(lambda: bool(told()))
    assert f"#{ticket}" in told()[0]["text"] and "closed" in told()[0]["text"]
    assert [
        t["status"]
        for t in query(bot.database_url, "SELECT status FROM tickets WHERE id = ?", (ticket,))
    ] == ["closed"]
    await emulator.wait_for(lambda: support_chat.topics[thread].name.startswith("⚪"))
    assert "Olga" not in support_chat.topics[thread].name

    # An agent who answers afterwards learns why nothing goes out.
    sam.send_text("Hi Olga, still there?", chat=support_chat, message_thread_id=thread)
    await emulator.wait_for(lambda: len(told()) >= 2)
    assert "can no longer" in told()[-1]["text"]
    assert "Hi Olga" not in str([m.get("text") for m in olga.messages])
    log = bot.log()[log_before:]
    assert "AssertionError" not in log and "Traceback" not in log


_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200b-\u200f\u2060-\u2064\ufeff\u061c]")


async def test_history_of_emoji_heavy_messages_fits_telegram(bot, emulator, support_chat):
    emma = emulator.add_user(first_name="Emma", username="emma_emoji", language_code="en")
    sam = emulator.add_user(first_name="Sam", username="sam_agent_emoji", language_code="en")
    _ticket, thread = await _open_ticket(emma, emulator, support_chat)
    # 150 characters of emoji are 300 UTF-16 units: fifteen of them overflow 4096.
    for index in range(16):
        emma.send_text(f"{index} " + "🎉👍🏽" * 50)
    await emulator.wait_for(
        lambda: any(
            (m.get("text") or "").startswith("15 ") for m in _from_bot(support_chat, thread)
        ),
        timeout=30,
    )
    sam.send_text("/history", chat=support_chat, message_thread_id=thread)

    def history() -> list[JSON]:
        return [
            m
            for m in _from_bot(support_chat, thread)
            if "Last interactions" in (m.get("text") or "")
        ]

    await emulator.wait_for(lambda: bool(history()), timeout=15)
    text = history()[0]["text"]
    assert "🎉" in text and len(text.encode("utf-16-le")) // 2 <= 4096
    assert not [c for c in emulator.calls if not c.ok and c.error_code == 400]


async def test_names_shown_to_staff_carry_no_bidi_or_zero_width_controls(
    bot, emulator, support_chat, admin
):
    eve = emulator.add_user(
        first_name="\u202eevil\u202c", last_name="\u200bX\u2066", language_code="en"
    )
    ticket, thread = await _open_ticket(eve, emulator, support_chat)
    name = support_chat.topics[thread].name
    assert not _CONTROLS.search(name) and "evil X" in name
    card = _from_bot(support_chat, thread)[0]
    assert f"Ticket #{ticket}" in card["text"]
    assert not _CONTROLS.search(card["text"]) and "evil X" in card["text"]

    admin.skip_messages()
    admin.send_text(f"/customer {eve.id}")
    record = await _next_with(admin, str(eve.id))
    assert not _CONTROLS.search(record["text"]) and "evil X" in record["text"]
