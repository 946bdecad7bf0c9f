"""Feedback loops closed end to end: a low support rating or a detractor's NPS opens a
service-recovery ticket in the customer's topic; NPS to a segment and on a schedule."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.emulator import BotAPIEmulator
from bot.emulator.state import EmulatedChat
from tests.databases import query, rows
from tests.e2e.harness import buttons, midday_zone, settled, ticket_number, topic_of

JSON = dict[str, Any]


def _texts(chat: EmulatedChat, thread: int) -> list[str]:
    return [
        message.get("text") or ""
        for message in chat.messages_in(thread)
        if message.get("from", {}).get("is_bot")
    ]


def _tickets(database_url: str, telegram_id: int) -> list[dict[str, Any]]:
    return query(
        database_url,
        "SELECT t.* FROM tickets t JOIN customers c ON c.id = t.customer_id "
        "WHERE c.telegram_id = ? ORDER BY t.id",
        (telegram_id,),
    )


async def _closed_ticket(
    customer: Any, agent: Any, emulator: BotAPIEmulator, chat: EmulatedChat
) -> tuple[int, int, JSON]:
    """A ticket opened, answered by `agent` and closed: (ticket, thread, rating request)."""
    customer.send_text("/support")
    ticket = ticket_number((await customer.next_message())["text"])
    thread = await topic_of(emulator, chat, ticket)
    customer.send_text("The app shows no points")
    await emulator.wait_for(lambda: "The app shows no points" in _texts(chat, thread))
    agent.send_text("Looking into it", chat=chat, message_thread_id=thread)
    assert (await customer.next_message())["text"] == "Looking into it"
    agent.send_text("/close", chat=chat, message_thread_id=thread)
    rating = await customer.next_message()
    assert "closed" in rating["text"]
    return ticket, thread, rating


async def test_a_low_support_rating_opens_a_recovery_ticket(bot, emulator, support_chat):
    eve = emulator.add_user(first_name="Eve", username="eve_low", language_code="en")
    kim = emulator.add_user(first_name="Kim", username="kim_agent", language_code="en")
    ticket, thread, rating = await _closed_ticket(eve, kim, emulator, support_chat)

    eve.press(rating, buttons(rating)["2 ⭐"])
    sorry = await eve.next_message()
    assert "sorry" in sorry["text"] and "ticket #" in sorry["text"]
    recovery = ticket_number(sorry["text"].split("ticket")[-1])
    assert recovery > ticket
    # The same topic, renamed to the new ticket, with the rating and then the comment.
    await emulator.wait_for(lambda: support_chat.topics[thread].name.endswith(f"#{recovery}"))
    await emulator.wait_for(
        lambda: any(
            f"Low support rating: 2/5 for ticket #{ticket} (agent: Kim (@kim_agent))" in text
            for text in _texts(support_chat, thread)
        )
    )
    eve.send_text("Nobody fixed my points")
    assert "passed your comment on" in (await eve.next_message())["text"]
    await emulator.wait_for(
        lambda: any(
            "comment on ticket" in text and "Nobody fixed my points" in text
            for text in _texts(support_chat, thread)
        )
    )
    rows = _tickets(bot.database_url, eve.id)
    assert [(row["status"], row["source"]) for row in rows] == [
        ("closed", "command"),
        ("open", "support_rating"),
    ]
    assert rows[0]["rating"] == 2 and rows[0]["rating_comment"] == "Nobody fixed my points"

    # A forged second rating of the same ticket changes nothing and opens nothing.
    replay = eve.press(rating, buttons(rating)["1 ⭐"], forge=True)
    await emulator.wait_for(lambda: emulator.callback_answer(replay) is not None)
    await settled(bot)
    assert len(_tickets(bot.database_url, eve.id)) == 2


async def test_a_good_support_rating_opens_nothing(bot, emulator, support_chat):
    ada = emulator.add_user(first_name="Ada", username="ada_good", language_code="en")
    kim = emulator.add_user(first_name="Kim", username="kim_agent2", language_code="en")
    _, thread, rating = await _closed_ticket(ada, kim, emulator, support_chat)
    ada.press(rating, buttons(rating)["3 ⭐"])
    thanks = await ada.next_message()
    assert "Thank you for rating 3" in thanks["text"]
    await emulator.wait_for(
        lambda: any("rated ticket" in text for text in _texts(support_chat, thread))
    )
    await settled(bot)
    assert [row["status"] for row in _tickets(bot.database_url, ada.id)] == ["closed"]
    assert not any("Low support rating" in text for text in _texts(support_chat, thread))


async def test_nps_to_a_segment_and_a_detractor_reaches_an_agent(
    bot, emulator, support_chat, admin
):
    if admin.chat is None:
        admin.start_chat()
    admin.skip_messages()
    dan = emulator.add_user(first_name="Dan", username="dan_nps", language_code="en")
    lea = emulator.add_user(first_name="Lea", language_code="en")
    out = emulator.add_user(first_name="Out", language_code="en")
    for customer in (dan, lea, out):
        customer.send_text("/start")
        await customer.next_message()
    for customer in (dan, lea):
        assert (await bot.cli("tag", "add", str(customer.id), "nps_panel")).returncode == 0

    admin.send_text("/nps send tag=nps_panel and (")
    assert "does not read" in (await admin.next_message())["text"]
    admin.send_text("/nps send tag=nps_panel")
    assert "on its way to 2 customers" in (await admin.next_message())["text"]
    survey = await dan.next_message(timeout=10)
    assert "recommend us" in survey["text"]
    assert "recommend us" in (await lea.next_message(timeout=10))["text"]

    # A detractor: the admins hear of it and a ticket opens in the customer's topic.
    dan.press(survey, buttons(survey)["3"])
    await emulator.wait_for(lambda: "3 of 10" in dan.messages[-1]["text"])
    assert "NPS 3/10 from Dan @dan_nps" in (await admin.next_message())["text"]
    [recovery] = _tickets(bot.database_url, dan.id)
    assert (recovery["source"], recovery["status"]) == ("nps", "open")
    thread = await topic_of(emulator, support_chat, recovery["id"])
    await emulator.wait_for(
        lambda: any("NPS 3/10" in text for text in _texts(support_chat, thread))
    )
    dan.send_text("Queues are too long")
    assert "helpful" in (await dan.next_message())["text"]
    await emulator.wait_for(
        lambda: any(
            "reason for NPS" in text and "Queues are too long" in text
            for text in _texts(support_chat, thread)
        )
    )
    await settled(bot)
    assert out.skip_messages() == 0  # not in the segment: never asked
    assert admin.skip_messages() == 0  # the admin was not in it either
    audit = await bot.cli("audit", "--json")
    assert '"segment": "tag=nps_panel"' in audit.stdout


async def test_scheduled_nps_asks_each_customer_once_per_period(own_emulator, tmp_path):
    from tests.e2e.harness import BotProcess

    zone = midday_zone()
    process = BotProcess(
        own_emulator,
        tmp_path / "bot",
        env={
            "NPS_SURVEY_EVERY_DAYS": "30",
            "NPS_SURVEY_SEGMENT": "not tag=staff",
            "QUIET_HOURS": "",
            # Midday there: the day's run (DAILY_JOBS_AT, 03:00) is due at start, whatever
            # the hour this runs at.
            "TIMEZONE": zone,
        },
    )
    await process.start()
    try:
        # The day's run at the start comes first (before anyone is known: it asks nobody).
        today = datetime.now(ZoneInfo(zone)).date()
        await own_emulator.wait_for(
            lambda: f"nps-survey for {today.isoformat()} done" in process.log(), timeout=15
        )
        una = own_emulator.add_user(first_name="Una", language_code="en")
        ben = own_emulator.add_user(first_name="Ben", language_code="en")
        sol = own_emulator.add_user(first_name="Sol", language_code="en")
        for customer in (una, ben, sol):
            customer.send_text("/start")
            await customer.next_message()
        assert (await process.cli("tag", "add", str(sol.id), "staff")).returncode == 0
        query(
            process.database_url,
            "UPDATE customers SET consent_surveys = 0 WHERE telegram_id = ?",
            (ben.id,),
        )
        # Run the job for two days it has not run for yet (it asks as of now whatever the day).
        first_day, second_day = (today - timedelta(days=n) for n in (2, 1))
        first = await process.cli("jobs", "run", "nps-survey", "--date", first_day.isoformat())
        assert first.returncode == 0, first.stderr
        assert '"recipients": 1' in first.stdout, first.stdout
        survey = await una.next_message(timeout=15)
        assert "recommend us" in survey["text"]
        # The next day's run asks nobody again within the 30 days.
        second = await process.cli("jobs", "run", "nps-survey", "--date", second_day.isoformat())
        assert '"recipients": 0' in second.stdout, second.stdout
        await asyncio.sleep(1.5)
        assert una.skip_messages() == 0
        assert ben.skip_messages() == 0  # opted out of surveys
        assert sol.skip_messages() == 0  # outside the segment
        una.press(survey, buttons(survey)["9"])
        await own_emulator.wait_for(lambda: "9 of 10" in una.messages[-1]["text"])
        una.send_text("Friendly staff")
        assert "helpful" in (await una.next_message())["text"]
    finally:
        assert await process.stop() == 0


async def test_a_five_star_review_is_published_once_and_withdrawn_when_forgotten(
    own_emulator, tmp_path
):
    from tests.e2e.harness import BotProcess

    admin_id = 900_000_088
    # The emulator has no channels: a group the bot may post in stands in for one.
    channel = own_emulator.add_group("Reviews", chat_id=-1_009_000_000_088, bot_is_admin=True)
    process = BotProcess(
        own_emulator,
        tmp_path / "bot",
        admin_ids=(admin_id,),
        env={"REVIEWS_CHANNEL_ID": str(channel.id)},
    )
    await process.start()
    try:
        admin = own_emulator.add_user(first_name="Boss", language_code="en", user_id=admin_id)
        admin.start_chat()
        zoe = own_emulator.add_user(first_name="Zoe", language_code="en")
        max_ = own_emulator.add_user(first_name="Max", language_code="en")

        async def review(customer, stars, text):
            customer.send_text("/review")
            question = await customer.next_message()
            customer.press(
                question, question["reply_markup"]["inline_keyboard"][0][stars - 1]["callback_data"]
            )
            await own_emulator.wait_for(lambda: "comment" in customer.messages[-1]["text"])
            customer.send_text(text)
            assert "added it" in (await customer.next_message())["text"]

        await review(max_, 4, "Good <b>but</b> slow")  # four stars: never offered
        await review(zoe, 5, "Best flat white in <town>")
        offer = await admin.next_message()
        assert "Best flat white in &lt;town&gt;" not in offer["text"]  # shown as text
        assert "Best flat white in <town>" in offer["text"] and "Zoe" in offer["text"]
        assert admin.skip_messages() == 0  # one offer, not one for Max

        forged = zoe.press(offer, buttons(offer)["📣 Publish"], forge=True)
        await own_emulator.wait_for(lambda: own_emulator.callback_answer(forged) is not None)
        assert "no longer active" in own_emulator.callback_answer(forged)["text"]
        assert channel.messages_in(None) == []  # a customer cannot publish

        first = admin.press(offer, buttons(offer)["📣 Publish"])
        await own_emulator.wait_for(lambda: own_emulator.callback_answer(first) is not None)
        assert own_emulator.callback_answer(first)["text"] == "Published ✅"
        posts = [m for m in channel.messages_in(None) if m.get("from", {}).get("is_bot")]
        assert len(posts) == 1
        assert posts[0]["text"] == "⭐⭐⭐⭐⭐\n“Best flat white in <town>”\n— Zoe"
        again = admin.press(offer, buttons(offer)["📣 Publish"], forge=True)
        await own_emulator.wait_for(lambda: own_emulator.callback_answer(again) is not None)
        assert "Already published" in own_emulator.callback_answer(again)["text"]
        assert len([m for m in channel.messages_in(None) if m.get("from", {}).get("is_bot")]) == 1
        published = rows(
            process.database_url,
            "SELECT stars, CASE WHEN published_message_id IS NOT NULL THEN 1 ELSE 0 END "
            "FROM reviews WHERE published_at IS NOT NULL",
        )
        assert published == [(5, 1)]

        # Zoe asks to be forgotten: her post comes off the channel with her data.
        zoe.send_text("/forget")
        question = await zoe.next_message()
        zoe.press(question, buttons(question)["🗑 Yes, erase my data"])
        await own_emulator.wait_for(lambda: "new customer" in zoe.messages[-1]["text"])
        await own_emulator.wait_for(
            lambda: own_emulator.calls_to("deleteMessage", chat_id=channel.id, ok=True) != []
        )
        assert [m for m in channel.messages_in(None) if m.get("from", {}).get("is_bot")] == []
        assert rows(
            process.database_url, "SELECT text, published_message_id FROM reviews WHERE stars = 5"
        ) == [(None, None)]

        # An older post (Telegram lets bots delete for 48 hours only) is blanked instead,
        # here by an operator's erasure from the command line.
        ada = own_emulator.add_user(first_name="Ada", language_code="en")
        await review(ada, 5, "Lovely croissants")
        offer = await admin.next_message()
        admin.press(offer, buttons(offer)["📣 Publish"])
        await own_emulator.wait_for(
            lambda: any("Lovely croissants" in m.get("text", "") for m in channel.messages_in(None))
        )
        own_emulator.fail_next(
            "deleteMessage", error_code=400, description="Bad Request: message can't be deleted"
        )
        done = await process.cli("customer", "forget", str(ada.id), "--yes")
        assert done.returncode == 0, done.stderr
        assert "reviews withdrawn from the channel: 1 of 1" in done.stdout
        posts = [m for m in channel.messages_in(None) if m.get("from", {}).get("is_bot")]
        assert [post["text"] for post in posts] == ["🗑"]
    finally:
        assert await process.stop() == 0
