"""Surveys answer only by invitation: a forged NPS score, support (CSAT) rating or purchase
rating, pressed on a survey the bot never sent the presser, on someone else's, or on one
already answered, records nothing and is answered "survey closed"."""

from __future__ import annotations

from typing import Any

from bot.telegram.callbacks import NpsScore, RateTicket, ReviewStars
from tests.databases import query, rows
from tests.e2e.harness import buttons, buy, press, ticket_number, topic_of

SURVEY_CLOSED = "This survey is closed."


def _nps_answers(database_url: str, survey: int) -> list[tuple[Any, ...]]:
    return rows(
        database_url,
        "SELECT c.telegram_id, r.score FROM nps_responses r "
        "JOIN customers c ON c.id = r.customer_id WHERE r.survey_id = ? ORDER BY c.telegram_id",
        (survey,),
    )


async def test_a_forged_nps_score_records_nothing_and_a_genuine_one_records_once(
    bot, emulator, admin
):
    if admin.chat is None:
        admin.start_chat()
    admin.skip_messages()
    ann = emulator.add_user(first_name="Ann", language_code="en")
    bob = emulator.add_user(first_name="Bob", language_code="ru")
    for customer in (ann, bob):
        customer.send_text("/start")
        await customer.next_message()
    assert (await bot.cli("tag", "add", str(ann.id), "invited_panel")).returncode == 0
    admin.send_text("/nps send tag=invited_panel")
    assert "on its way to 1 customers" in (await admin.next_message())["text"]
    survey_message = await ann.next_message(timeout=10)
    survey = NpsScore.unpack(buttons(survey_message)["9"]).survey
    home = bob.messages[-1]

    # Bob was never asked: neither this survey nor one that does not exist takes his score.
    for forged in (NpsScore(survey=survey, score=0), NpsScore(survey=survey + 1000, score=0)):
        answer, _ = await press(emulator, bob, home, forged.pack(), forge=True)
        assert answer.get("text") == "Этот опрос закрыт."
    assert _nps_answers(bot.database_url, survey) == []
    assert bob.skip_messages() == 0  # no "why?" question either

    # Ann's genuine answer records once; a second press (another score) records nothing.
    await press(emulator, ann, survey_message, buttons(survey_message)["9"])
    await emulator.wait_for(lambda: "9 of 10" in ann.messages[-1]["text"])
    again, _ = await press(emulator, ann, survey_message, buttons(survey_message)["2"], forge=True)
    assert again.get("text") == SURVEY_CLOSED
    assert _nps_answers(bot.database_url, survey) == [(ann.id, 9)]
    assert admin.skip_messages() == 0  # no detractor alert from the forged 2


async def test_a_forged_support_rating_records_nothing(bot, emulator, support_chat):
    eve = emulator.add_user(first_name="Eve", username="eve_csat", language_code="en")
    mal = emulator.add_user(first_name="Mal", username="mal_csat", language_code="uk")
    kim = emulator.add_user(first_name="Kim", username="kim_csat", language_code="en")
    eve.send_text("/support")
    eve_ticket = ticket_number((await eve.next_message())["text"])
    thread = await topic_of(emulator, support_chat, eve_ticket)
    kim.send_text("/close", chat=support_chat, message_thread_id=thread)
    rating = await eve.next_message()
    assert "How did we do" in rating["text"]
    mal.send_text("/support")
    mal_opened = await mal.next_message()
    [mal_ticket] = [
        row["id"]
        for row in query(
            bot.database_url,
            "SELECT t.id FROM tickets t JOIN customers c ON c.id = t.customer_id "
            "WHERE c.telegram_id = ?",
            (mal.id,),
        )
    ]

    # Eve's ticket is not Mal's to rate; his own ticket is open, so nobody asked him yet.
    for forged in (
        RateTicket(ticket=eve_ticket, stars=1),
        RateTicket(ticket=mal_ticket, stars=1),
        RateTicket(ticket=mal_ticket + 1000, stars=1),
    ):
        answer, _ = await press(emulator, mal, mal_opened, forged.pack(), forge=True)
        assert answer.get("text") == "Це опитування закрито."

    # Eve's genuine rating records once; a second press records nothing.
    await press(emulator, eve, rating, buttons(rating)["4 ⭐"])
    again, _ = await press(emulator, eve, rating, buttons(rating)["1 ⭐"], forge=True)
    assert again.get("text") == SURVEY_CLOSED
    rated = rows(
        bot.database_url,
        "SELECT id, rating, status FROM tickets WHERE id IN (?, ?) ORDER BY id",
        (eve_ticket, mal_ticket),
    )
    assert rated == [(eve_ticket, 4, "closed"), (mal_ticket, None, "open")]


async def test_a_forged_purchase_rating_records_nothing_and_credits_no_bonus(bot, emulator, api):
    cal = emulator.add_user(first_name="Cal", language_code="en")
    dee = emulator.add_user(first_name="Dee", language_code="en")
    for customer in (cal, dee):
        customer.send_text("/start")
        await customer.next_message()
    await buy(api, "FORGE-CAL-1", cal.id, "10.00")
    await buy(api, "FORGE-DEE-1", dee.id, "10.00")
    await cal.next_message()  # points earned
    purchases = {
        row["order_id"]: row["id"]
        for row in query(
            bot.database_url,
            "SELECT id, order_id FROM purchases WHERE order_id IN (?, ?)",
            ("FORGE-CAL-1", "FORGE-DEE-1"),
        )
    }
    async with api.get(f"/api/v1/customers/{cal.id}") as response:
        balance_before = (await response.json())["balance"]
    home = cal.messages[-1]

    # Nobody asked Cal to rate his purchase (the request comes hours later), nor Dee's.
    for purchase in (purchases["FORGE-CAL-1"], purchases["FORGE-DEE-1"]):
        forged = ReviewStars(stars=5, purchase=purchase).pack()
        answer, _ = await press(emulator, cal, home, forged, forge=True)
        assert answer.get("text") == SURVEY_CLOSED
    reviewed = rows(
        bot.database_url,
        "SELECT id FROM reviews WHERE purchase_id IN (?, ?)",
        tuple(purchases.values()),
    )
    assert reviewed == []
    async with api.get(f"/api/v1/customers/{cal.id}") as response:
        assert (await response.json())["balance"] == balance_before  # no review bonus
    assert cal.skip_messages() == 0
