"""The FAQ from the operator's shell: `python -m bot faq …` as a subprocess."""

import json

from bot.services.faq.service import SAMPLE_FAQ
from tests.e2e.harness import BotProcess


async def run(bot, *arguments, stdin=""):
    result = await bot.cli(*arguments, stdin=stdin)
    return result.returncode, result.stdout, result.stderr


async def test_import_ask_export_round_trip(own_emulator, tmp_path):
    bot = BotProcess(own_emulator, tmp_path)
    code, out, err = await run(bot, "faq", "import", str(SAMPLE_FAQ))
    assert code == 0, err
    assert "12 added" in out and "12 entries" in out

    code, out, _ = await run(
        bot,
        "faq",
        "ask",
        "-",
        stdin="где мой заказ?\nWhen do you open?\nwho won the 1998 world cup\n",
    )
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["query"] for line in lines] == [
        "где мой заказ?",
        "When do you open?",
        "who won the 1998 world cup",
    ]
    assert lines[0]["matches"][0]["id"] == "order_status" and lines[0]["confident"] is True
    assert lines[1]["matches"][0]["id"] == "opening_hours" and lines[1]["confident"] is True
    assert lines[2]["confident"] is False
    assert lines[0]["matches"][0]["score"] >= lines[0]["matches"][1]["score"]

    code, out, _ = await run(bot, "faq", "ask", "--json", "--lang", "uk", "чи є у вас вайфай")
    assert json.loads(out)["matches"][0]["id"] == "wifi"

    code, out, _ = await run(bot, "faq", "export")
    assert [item["id"] for item in json.loads(out)] == [
        item["id"] for item in json.loads(SAMPLE_FAQ.read_text())
    ]


async def test_a_bad_file_is_reported_and_changes_nothing(own_emulator, tmp_path):
    bot = BotProcess(own_emulator, tmp_path)
    await run(bot, "faq", "import", str(SAMPLE_FAQ))
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            [
                {"id": "x", "category": "c", "questions": {"en": []}, "answer": {"en": "a"}},
                {"id": "y", "category": "c", "questions": {"en": ["q"]}},
            ]
        )
    )
    code, _, err = await run(bot, "faq", "import", str(bad))
    assert code == 1
    assert "nothing imported; 2 problem(s)" in err
    assert "entry 'x': questions.en:" in err and "entry 'y': answer:" in err
    code, out, _ = await run(bot, "faq", "export")
    assert len(json.loads(out)) == 12
