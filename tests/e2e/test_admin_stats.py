"""Issue 20, /stats: CRR and churn within 0–100 % by definition, the period stated on the
figures and on the chart, and no English in the Russian and Ukrainian /stats."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

from babel.dates import format_date
from PIL import Image

from tests.e2e.harness import BotProcess, buy, rejected_calls

UK_ADMIN = 900_000_091
RU_ADMIN = 900_000_092


def _latin_words(text: str) -> set[str]:
    # The currency code is the rules' own (EUR), the same in every language.
    return set(re.findall(r"[A-Za-z]+", text)) - {"EUR"}


async def test_crr_stays_a_share_and_stats_speak_the_admins_language(
    own_emulator, tmp_path, api_for
):
    emulator = own_emulator
    bot = BotProcess(emulator, tmp_path / "bot", admin_ids=(UK_ADMIN, RU_ADMIN))
    await bot.start()
    try:
        api = await api_for(bot)
        people = []
        for number in range(5):
            person = emulator.add_user(first_name=f"Shopper{number}", language_code="en")
            person.send_text("/start")
            await person.next_message()
            people.append(person)
        kept, left, *back = people
        now = datetime.now(UTC)
        previous, recent, long_ago = (now - timedelta(days=d) for d in (45, 10, 100))
        # The previous 30 days: two customers. This period: one of them comes back, and three
        # who last bought 100 days ago come back too (not customers at the period's start).
        await buy(api, "Q-kept", kept.id, "10.00", previous)
        await buy(api, "Q-left", left.id, "10.00", previous)
        await buy(api, "P-kept", kept.id, "10.00", recent)
        for number, person in enumerate(back):
            await buy(api, f"O-{number}", person.id, "10.00", long_ago)
            await buy(api, f"P-{number}", person.id, "10.00", recent)

        result = await bot.cli("stats", "--period", "30d", "--json")
        assert result.returncode == 0, result.stderr
        figures = result.json()
        # The old (E − N) / S counted the three win-backs as retained: 4 / 2 = 200 %, churn
        # −100 %. Retained are the customers at the start still customers at the end: 1 of 2.
        assert (figures["crr"], figures["churn"]) == (50, 50)
        assert (figures["customers_start"], figures["customers_end"]) == (2, 4)
        assert figures["gained"] == 3  # customers at the end who were not at the start
        text = (await bot.cli("stats", "--period", "30d")).stdout
        assert "CRR: 50.0 % · churn: 50.0 %" in text

        start_day = (now - timedelta(days=30)).date()
        for admin_id, language, period_word in ((UK_ADMIN, "uk", "дні"), (RU_ADMIN, "ru", "дн")):
            admin = emulator.add_user(first_name="Boss", language_code=language, user_id=admin_id)
            admin.send_text("/start")
            await admin.next_message()
            admin.send_text("/stats")
            shown = await admin.next_message(timeout=30)
            period = (
                f"{format_date(start_day, 'd MMM', locale=language)} – "
                f"{format_date(now.date(), 'd MMM y', locale=language)}"
            )
            assert period in shown["text"], shown["text"]
            assert period_word in shown["text"]
            assert _latin_words(shown["text"]) == set(), shown["text"]
            chart = await admin.next_message(timeout=30)
            assert _latin_words(chart["caption"]) == set(), chart["caption"]
            chart_start = (now - timedelta(weeks=12)).date()
            chart_period = (
                f"{format_date(chart_start, 'd MMM', locale=language)} – "
                f"{format_date(now.date(), 'd MMM y', locale=language)}"
            )
            assert chart_period in chart["caption"], chart["caption"]
            record = emulator.world.files.get(chart["photo"][-1]["file_id"])
            assert record is not None and record.data is not None
            title = Image.open(io.BytesIO(record.data)).text["Title"]  # type: ignore[attr-defined]
            assert chart_period in title and _latin_words(title) == set(), title
    finally:
        assert await bot.stop() == 0
    assert rejected_calls(emulator) == []
