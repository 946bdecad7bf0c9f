"""Retention figures from a known history built through the purchase API (the issue's bar)."""

import csv
import io
from datetime import UTC, datetime, timedelta

from tests.e2e.harness import BotProcess, buy


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
        assert "CRR 60.0 %" in text.stdout
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
    figures = await admin.next_message()
    assert "Last 30 days" in figures["text"]
    assert "CRR" in figures["text"]
    buttons = [b for row in figures["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["7 days", "• 30 days •", "90 days"]
    press = admin.press(figures, buttons[0]["callback_data"])
    await emulator.wait_for(lambda: emulator.callback_answer(press) is not None)
    assert "Last 7 days" in admin.messages[-1]["text"]

    outsider = emulator.add_user(first_name="Nosy", language_code="en")
    outsider.send_text("/stats")
    assert "for administrators only" in (await outsider.next_message())["text"]
    forged = outsider.press(figures, buttons[2]["callback_data"], forge=True)
    await emulator.wait_for(lambda: emulator.callback_answer(forged) is not None)
    assert emulator.callback_answer(forged)["text"] == "This button is no longer active."
