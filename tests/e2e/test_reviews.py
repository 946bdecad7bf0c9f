"""Reviews end to end: /review with stars and a comment, the bonus once, low ratings reach
the admins, and a rating request a while after a purchase recorded through the API."""

import asyncio

from tests.databases import query, rows
from tests.e2e.harness import BotProcess, buy, ticket_number, topic_of


def buttons(message):
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button for row in rows for button in row]


async def balance(api, customer):
    async with api.get(f"/api/v1/customers/{customer.id}") as response:
        return (await response.json())["balance"]


async def test_a_review_is_stored_thanked_and_rewarded_once(bot, emulator, api):
    rita = emulator.add_user(first_name="Rita", language_code="en")
    rita.send_text("/start")
    await rita.next_message()
    await buy(api, "REV-1", rita.id, "10.00")
    await rita.next_message()  # points earned
    rita.send_text("/review")
    question = await rita.next_message()
    stars = buttons(question)
    assert len(stars) == 5
    press = rita.press(question, stars[4]["callback_data"])
    await emulator.wait_for(lambda: emulator.callback_answer(press) is not None)
    thanks = rita.messages[-1]
    assert "⭐⭐⭐⭐⭐" in thanks["text"] and "+20 points" in thanks["text"]
    rita.send_text("Lovely coffee, quick service")
    assert "added it to your review" in (await rita.next_message())["text"]
    assert await balance(api, rita) == 50 + 50 + 20

    again = rita.press(question, stars[0]["callback_data"], forge=True)  # an old button
    await emulator.wait_for(lambda: emulator.callback_answer(again) is not None)
    assert "recently" in emulator.callback_answer(again)["text"]
    rita.send_text("/review")
    assert "recently" in (await rita.next_message())["text"]
    assert await balance(api, rita) == 120  # the bonus came once
    stored = rows(
        bot.database_url,
        "SELECT r.stars, r.text, r.purchase_id IS NOT NULL FROM reviews r "
        "JOIN customers c ON c.id = r.customer_id WHERE c.telegram_id = ?",
        (rita.id,),
    )
    assert stored == [(5, "Lovely coffee, quick service", 1)]


async def test_a_low_rating_alerts_the_admins_and_they_list_reviews(bot, emulator, admin):
    admin.send_text("/start")
    await admin.next_message()
    admin.skip_messages()
    sam = emulator.add_user(first_name="Sam", username="sam_r", language_code="en")
    sam.send_text("/review")
    question = await sam.next_message()
    sam.press(question, buttons(question)[1]["callback_data"])  # two stars
    alert = await admin.next_message()
    assert "⭐⭐ from Sam @sam_r" in alert["text"]
    await emulator.wait_for(lambda: "sorry" in sam.messages[-1]["text"])
    sam.send_sticker()
    assert "text or a photo" in (await sam.next_message())["text"]
    sam.send_photo(caption="cold soup")
    assert "added it" in (await sam.next_message())["text"]
    admin.send_text("/reviews 2")
    listing = await admin.next_message()
    assert "Sam" in listing["text"] and "cold soup" in listing["text"] and "📷" in listing["text"]


async def test_a_low_ratings_comment_and_photo_reach_the_recovery_topic(
    bot, emulator, support_chat, admin
):
    """Service recovery: what the customer adds after a 1-2 star rating is what the agent
    needs to call back with; it joins the recovery ticket's topic (a photo as a photo)."""
    if admin.chat is None:
        admin.start_chat()  # the admins hear of low ratings too

    def from_bot(thread):
        return [m for m in support_chat.messages_in(thread) if m.get("from", {}).get("is_bot")]

    async def low_rating(customer):
        customer.send_text("/review")
        question = await customer.next_message()
        customer.press(question, buttons(question)[1]["callback_data"])  # two stars
        await emulator.wait_for(lambda: "ticket #" in customer.messages[-1]["text"])
        recovery = ticket_number(customer.messages[-1]["text"].split("ticket")[-1])
        thread = await topic_of(emulator, support_chat, recovery)
        await emulator.wait_for(
            lambda: any("Low rating: ⭐⭐" in m.get("text", "") for m in from_bot(thread))
        )
        return thread

    una = emulator.add_user(first_name="Una", language_code="en")
    thread = await low_rating(una)
    una.send_text("The soup was <cold> & the waiter rude")
    assert "added it" in (await una.next_message())["text"]
    await emulator.wait_for(
        lambda: any(
            "The soup was <cold> & the waiter rude" in m.get("text", "") for m in from_bot(thread)
        )
    )

    vic = emulator.add_user(first_name="Vic", language_code="en")
    thread = await low_rating(vic)
    vic.send_photo(caption="look at this plate")
    assert "added it" in (await vic.next_message())["text"]
    await emulator.wait_for(lambda: any("photo" in m for m in from_bot(thread)))
    [photo] = [m for m in from_bot(thread) if "photo" in m]
    assert photo.get("caption") == "look at this plate"
    alerts = [m["text"] for m in admin.chat.bot_messages[-2:]]
    assert [alert.split(" from ")[0] for alert in alerts] == ["⚠️ ⭐⭐", "⚠️ ⭐⭐"]
    admin.skip_messages()


async def test_a_purchase_is_followed_by_one_rating_request(own_emulator, tmp_path, api_for):
    process = BotProcess(
        own_emulator,
        tmp_path / "bot",
        env={
            "REVIEW_REQUEST_DELAY_MINUTES": "0.02",
            "JOBS_TICK_SECONDS": "1",
            "QUIET_HOURS": "",
        },
    )
    await process.start()
    try:
        api = await api_for(process)
        ola = own_emulator.add_user(first_name="Ola", language_code="en")
        ivo = own_emulator.add_user(first_name="Ivo", language_code="en")
        for customer in (ola, ivo):
            customer.send_text("/start")
            await customer.next_message()
        query(
            process.database_url,
            "UPDATE customers SET consent_surveys = 0 WHERE telegram_id = ?",
            (ivo.id,),
        )
        await buy(api, "ASK-1", ola.id, "12.00")
        await buy(api, "ASK-2", ivo.id, "12.00")
        await ola.next_message()  # points earned
        await ivo.next_message()
        request = await ola.next_message(timeout=15)
        assert "How was your purchase of €12.00" in request["text"]
        press = ola.press(request, buttons(request)[3]["callback_data"])
        await own_emulator.wait_for(lambda: own_emulator.callback_answer(press) is not None)
        await asyncio.sleep(3)  # more scheduler ticks: nobody is asked again
        assert "Thank you for your rating: ⭐⭐⭐⭐" in ola.messages[-1]["text"]
        assert ola.skip_messages() == 0  # the request became the thanks; nothing more came
        replay = ola.press(request, buttons(request)[0]["callback_data"], forge=True)
        await own_emulator.wait_for(lambda: own_emulator.callback_answer(replay) is not None)
        assert own_emulator.callback_answer(replay).get("text") == "This survey is closed."
        assert ivo.skip_messages() == 0  # opted out of surveys: never asked
        rated = rows(
            process.database_url,
            "SELECT r.stars, r.source, p.order_id FROM reviews r "
            "JOIN purchases p ON p.id = r.purchase_id",
        )
        assert rated == [(4, "request", "ASK-1")]
    finally:
        assert await process.stop() == 0


async def test_an_nps_survey_is_answered_once_with_a_reason(bot, emulator, admin):
    admin.send_text("/start")
    await admin.next_message()
    admin.skip_messages()
    nia = emulator.add_user(first_name="Nia", language_code="uk")
    nia.send_text("/start")
    await nia.next_message()
    admin.send_text("/nps send")
    sent = await admin.next_message()
    assert "is on its way to" in sent["text"]
    survey = await nia.next_message(timeout=10)
    assert "порекомендуєте" in survey["text"]
    scores = buttons(survey)
    assert [b["text"] for b in scores] == [str(n) for n in range(11)]
    nia.press(survey, scores[10]["callback_data"])
    await emulator.wait_for(lambda: "10 з 10" in nia.messages[-1]["text"])
    nia.send_text("Смачна кава")
    assert "Дякуємо" in (await nia.next_message())["text"]
    again = nia.press(survey, scores[0]["callback_data"], forge=True)
    await emulator.wait_for(lambda: emulator.callback_answer(again) is not None)
    assert emulator.callback_answer(again)["text"] == "Це опитування закрито."
    stats = await bot.cli("stats", "--period", "7d", "--json")
    figures = stats.json()
    # Staff are not asked unless they opted in to promotions with /subscribe.
    assert not any("recommend us" in (m.get("text") or "") for m in admin.messages)
    assert figures["nps_answers"] >= 1 and figures["nps"] is not None
    audit = await bot.cli("audit", "--json")
    assert '"nps.send"' in audit.stdout


async def test_reviews_of_emoji_heavy_comments_fit_telegram(bot, emulator, admin):
    for index in range(10):
        fan = emulator.add_user(first_name=f"Fan{index} 🎉", language_code="en")
        fan.send_text("/review")
        question = await fan.next_message()
        stars = fan.press(question, buttons(question)[3]["callback_data"])  # four stars
        await emulator.wait_for(lambda stars=stars: emulator.callback_answer(stars) is not None)
        # 300 characters, 600 UTF-16 units: ten of them overflow a message.
        fan.send_text("🎉👍🏽" * 150)
        assert "added it" in (await fan.next_message())["text"]
    admin.send_text("/start")
    await admin.next_message()
    admin.skip_messages()
    admin.send_text("/reviews 4")
    listing = await admin.next_message()
    assert "Latest reviews" in listing["text"] and "🎉" in listing["text"]
    assert len(listing["text"].encode("utf-16-le")) // 2 <= 4096
    assert not [call for call in emulator.calls if not call.ok and call.error_code == 400]
