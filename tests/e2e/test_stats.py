"""Retention figures from a known history built through the purchase API (the issue's bar)."""

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.emulator.media import probe_image
from bot.emulator.users import EmulatedUser
from tests.e2e.harness import BotProcess, buttons, buy


async def test_crr_churn_and_segments_from_backdated_purchases(own_emulator, tmp_path, api_for):
    bot = BotProcess(own_emulator, tmp_path / "bot")
    await bot.start()
    try:
        api = await api_for(bot)
        customers = []
        for number in range(13):
            customer = own_emulator.add_user(first_name=f"Buyer{number}")
            customer.send_text("/start")
            await customer.next_message()
            customers.append(customer)
        now = datetime.now(UTC)
        previous = now - timedelta(days=45)
        recent = now - timedelta(days=10)

        for number, customer in enumerate(customers[:10]):  # previous 30 days: 10 buyers
            await buy(api, f"Q-{number}", customer.id, "1000.00", previous)
        for number, customer in enumerate(customers[:6]):  # 6 of them return
            await buy(api, f"P-{number}", customer.id, "1000.00", recent)
        for number, customer in enumerate(customers[10:]):  # and 3 new buyers appear
            await buy(api, f"N-{number}", customer.id, "500.00", recent)

        result = await bot.cli("stats", "--period", "30d", "--json")
        assert result.returncode == 0, result.stderr
        figures = result.json()
        assert figures["crr"] == 60
        assert figures["churn"] == 40
        assert figures["new"] == 3
        assert figures["returning"] == 6
        assert figures["average_check"] == 833.33
        assert figures["revenue_new"] == 1500
        segments = {segment["name"]: segment for segment in figures["segments"]}
        assert segments["lost"]["customers"] == 4  # the 4 who did not return
        banded = sum(segments[name]["customers"] for name in ("frequent", "medium", "rare"))
        assert banded == 6
        assert figures["points_liability"] > 0
        text = await bot.cli("stats", "--period", "30d")
        assert "CRR: 60.0 %" in text.stdout
        bad = await bot.cli("stats", "--period", "soon")
        assert bad.returncode == 2

        exported = await bot.cli("export", "purchases")
        rows = list(csv.DictReader(io.StringIO(exported.stdout)))
        assert len(rows) == 19
        assert {row["order_id"] for row in rows} >= {"Q-0", "P-5", "N-2"}
        assert {row["amount"] for row in rows if row["order_id"].startswith("N-")} == {"500.0"}
        customers = list(csv.DictReader(io.StringIO((await bot.cli("export", "customers")).stdout)))
        assert len(customers) == 13
        cohorts = await bot.cli("cohorts", "--months", "3", "--format", "csv")
        table = list(csv.DictReader(io.StringIO(cohorts.stdout)))
        assert sum(int(row["customers"]) for row in table) == 13
        assert all(row["month_0"] == "100.0" for row in table)
    finally:
        assert await bot.stop() == 0


async def test_admins_read_figures_in_telegram_and_switch_the_period(bot, emulator, admin):
    admin.send_text("/stats")
    figures = await admin.next_message(timeout=30)  # figures over the whole shared database
    assert "Last 30 days" in figures["text"]
    assert "CRR" in figures["text"]
    buttons = [b for row in figures["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["7 days", "• 30 days •", "90 days"]
    chart = await admin.next_message(timeout=30)  # the weekly chart follows the figures
    assert "photo" in chart and "retained" in chart["caption"]
    press = admin.press(figures, buttons[0]["callback_data"])
    await emulator.wait_for(lambda: emulator.callback_answer(press) is not None)
    edited = admin.chat.get(figures["message_id"]).payload
    assert "Last 7 days" in edited["text"]

    outsider = emulator.add_user(first_name="Nosy", language_code="en")
    outsider.send_text("/stats")
    assert "for administrators only" in (await outsider.next_message())["text"]
    forged = outsider.press(figures, buttons[2]["callback_data"], forge=True)
    await emulator.wait_for(lambda: emulator.callback_answer(forged) is not None)
    assert emulator.callback_answer(forged)["text"] == "This button is no longer active."


async def _next_photo(user: EmulatedUser, timeout: float = 30.0) -> dict[str, Any]:
    """The next photo the bot sends the user: alerts an admin gets meanwhile (a low rating,
    a report), which arrive whenever the bot gets to them, are passed over."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = max(0.1, deadline - asyncio.get_running_loop().time())
        message = await user.next_message(timeout=remaining)
        if "photo" in message:
            return message


def _png_of(emulator, message):
    """The bytes of a photo the bot sent, as the emulator stored the upload."""
    assert "photo" in message, message
    record = emulator.world.files.get(message["photo"][-1]["file_id"])
    assert record is not None and record.data is not None
    return record.data


async def test_support_faq_broadcast_figures_and_charts(own_emulator, tmp_path, api_for):
    """Tickets, CSAT per agent, FAQ deflection and broadcast figures from a scripted week;
    /stats sends a real PNG chart and the cohort table as an image."""
    admin_id = 900_000_077
    chat = own_emulator.add_forum_supergroup("Support", chat_id=-1_009_000_000_077)
    bot = BotProcess(
        own_emulator,
        tmp_path / "bot",
        admin_ids=(admin_id,),
        env={"SUPPORT_CHAT_ID": str(chat.id), "SUPPORT_FIRST_RESPONSE_MINUTES": "15"},
    )
    await bot.start()
    try:
        api = await api_for(bot)
        admin = own_emulator.add_user(first_name="Boss", language_code="en", user_id=admin_id)
        kim = own_emulator.add_user(first_name="Kim", language_code="en")
        lou = own_emulator.add_user(first_name="Lou", language_code="en")
        ann, ben, cid, dee = (
            own_emulator.add_user(first_name=name, language_code="en")
            for name in ("Ann", "Ben", "Cid", "Dee")
        )
        for person in (admin, ann, ben, cid, dee):
            person.send_text("/start")
            await person.next_message()

        # FAQ: Dee's answer stands (deflected); Ann asks, then opens a ticket (not deflected).
        for person in (dee, ann):
            person.send_text("is there wifi")
            assert "Wi-Fi" in (await person.next_message())["text"]

        async def ticket(customer, agent, stars):
            customer.send_text("/support")
            number = int((await customer.next_message())["text"].split("#")[1].split()[0])
            await own_emulator.wait_for(
                lambda: any(t.name.endswith(f"#{number}") for t in chat.topics.values())
            )
            thread = next(k for k, t in chat.topics.items() if t.name.endswith(f"#{number}"))
            customer.send_text("help please")
            await own_emulator.wait_for(
                lambda: any(m.get("text") == "help please" for m in chat.messages_in(thread))
            )
            if agent is None:
                return
            agent.send_text("On it", chat=chat, message_thread_id=thread)
            assert (await customer.next_message())["text"] == "On it"
            agent.send_text("/close", chat=chat, message_thread_id=thread)
            rating = await customer.next_message()
            customer.press(rating, buttons(rating)[f"{stars} ⭐"])
            await customer.next_message()  # thanks (or sorry, with a recovery ticket)

        await ticket(ann, kim, 5)
        await ticket(ben, lou, 2)  # opens a recovery ticket too
        await ticket(cid, None, 0)  # waits, younger than the SLA

        # A broadcast: Cid blocked the bot; Dee unsubscribes with the button under it.
        cid.block_bot()
        created = await bot.cli("broadcast", "create", "--text", "Autumn offer")
        assert created.returncode == 0, created.stderr
        offer = await dee.next_message(timeout=15)
        dee.press(offer, buttons(offer)["🔕 Unsubscribe"])
        assert "won't receive promotions" in (await dee.next_message())["text"]

        # Purchases: Ann bought before and this week (retained); Ben first this week.
        now = datetime.now(UTC)
        await buy(api, "W-1", ann.id, "10.00", now - timedelta(days=20))
        await buy(api, "W-2", ann.id, "10.00", now - timedelta(days=1))
        await buy(api, "W-3", ben.id, "10.00", now - timedelta(days=1))

        def done() -> bool:
            return any(
                call.method == "sendMessage" and call.params.get("chat_id") == cid.id
                for call in own_emulator.calls
            )

        await own_emulator.wait_for(done, timeout=15)
        result = await bot.cli("stats", "--period", "7d", "--json")
        assert result.returncode == 0, result.stderr
        figures = result.json()
        assert (figures["tickets_opened"], figures["tickets_closed"]) == (4, 2)
        assert figures["first_response_median_minutes"] < 1
        assert figures["resolution_median_minutes"] < 1
        # Ann's and Ben's answered at once; Cid's and the recovery ticket are not yet due.
        assert (figures["sla_minutes"], figures["first_response_within_sla"]) == (15, 100)
        assert (figures["csat"], figures["csat_ratings"]) == (50, 2)
        by_agent = {row["agent"]: (row["csat"], row["ratings"]) for row in figures["csat_by_agent"]}
        assert by_agent == {"Kim": (100, 1), "Lou": (0, 1)}
        assert (figures["faq_answered"], figures["faq_deflected"]) == (2, 1)
        assert figures["faq_deflection_rate"] == 50
        assert figures["broadcasts_started"] == 1
        # Ann, Ben and Dee; Cid blocked the bot; the admin is staff, not a recipient.
        assert (figures["broadcast_delivered"], figures["broadcast_blocked"]) == (3, 1)
        assert figures["unsubscribed"] == 1
        text = (await bot.cli("stats", "--period", "7d")).stdout
        assert "CSAT: 50.0 % of 2 ratings\n  · Kim: 100.0 % (1)\n  · Lou: 0.0 % (1)" in text

        exported = await bot.cli("export", "tickets", "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(exported.stdout)))
        assert [(row["source"], row["rating"]) for row in rows] == [
            ("command", "5"),
            ("command", "2"),
            ("support_rating", ""),
            ("command", ""),
        ]

        # In Telegram: the figures, then the chart as a real PNG with the weekly figures.
        admin.skip_messages()
        admin.send_text("/stats 7")
        shown = await admin.next_message()
        assert "CSAT: 50.0 % of 2 ratings" in shown["text"] and "Lou: 0.0 % (1)" in shown["text"]
        assert "deflection 50.0 %" in shown["text"]
        assert "1 started, 3 delivered, 1 blocked, 0 failed; 1 unsubscribed" in shown["text"]
        # One rendering: the admins read in Telegram exactly what the CLI prints.
        assert shown["text"].strip() == text.strip()
        chart = await _next_photo(admin)
        png = _png_of(own_emulator, chart)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and 10_000 < len(png) < 500_000
        assert probe_image(png) == (900, 480)
        assert chart["caption"].splitlines()[-1].endswith(": 2 active, 1 retained")
        admin.press(chart, buttons(chart)["📅 Cohorts"])
        table = await _next_photo(admin)
        assert _png_of(own_emulator, table).startswith(b"\x89PNG\r\n\x1a\n")
        assert "Cohorts of the last 12 months" in table["caption"]
        # A customer's forged press of the admins' button sends nothing.
        forged = dee.press(chart, buttons(chart)["📅 Cohorts"], forge=True)
        await own_emulator.wait_for(lambda: own_emulator.callback_answer(forged) is not None)
        dee.send_text("/cohorts")
        assert "administrators only" in (await dee.next_message())["text"]
        assert not any("photo" in message for message in dee.messages)
    finally:
        assert await bot.stop() == 0
