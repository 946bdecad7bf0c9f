"""The FAQ from the operator's shell: `python -m bot faq …` as a subprocess."""

import importlib.util
import json
from typing import Any

import pytest

from bot.services.faq.matcher import TUNED_GRAPH_DIRECTORY
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


async def test_an_empty_file_is_refused_and_clearing_takes_yes(own_emulator, tmp_path):
    bot = BotProcess(own_emulator, tmp_path)
    await run(bot, "faq", "import", str(SAMPLE_FAQ))
    for name, content in (("empty.json", "[]"), ("empty.yaml", "[]\n"), ("blank.yaml", "")):
        empty = tmp_path / name
        empty.write_text(content)
        code, _, err = await run(bot, "faq", "import", str(empty))
        assert code == 1, name
        assert "no entries" in err and "faq clear --yes" in err
        code, _, err = await run(bot, "faq", "import", "--merge", str(empty))
        assert code == 1, name
    code, out, _ = await run(bot, "faq", "export")
    assert len(json.loads(out)) == 12

    code, _, err = await run(bot, "faq", "clear")
    assert code != 0 and "--yes" in err
    code, out, _ = await run(bot, "faq", "export")
    assert len(json.loads(out)) == 12

    code, out, err = await run(bot, "faq", "clear", "--yes")
    assert code == 0, err
    assert "12 removed" in out
    code, out, _ = await run(bot, "faq", "export")
    assert json.loads(out) == []
    audit = await bot.cli("audit", "--json")
    assert any('"faq.clear"' in line for line in audit.stdout.splitlines())


def sample_with_answer(answer: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(SAMPLE_FAQ.read_text())
    for entry in entries:
        if entry["id"] == "opening_hours":
            entry["answer"] = {"en": answer}
    return entries


async def test_an_answer_with_bare_angle_brackets_reaches_the_customer_intact(
    own_emulator, tmp_path
):
    bot = BotProcess(own_emulator, tmp_path)
    faq_file = tmp_path / "faq.json"
    faq_file.write_text(json.dumps(sample_with_answer("open 9<18 & <b>closed</b> on Sundays")))
    code, _, err = await run(bot, "faq", "import", str(faq_file))
    assert code == 0, err
    await bot.start()
    eve = own_emulator.add_user(first_name="Eve", language_code="en")
    eve.send_text("When do you open?")
    answer = await eve.next_message(timeout=30)
    assert answer["text"] == "open 9<18 & closed on Sundays"
    assert answer["entities"] == [{"type": "bold", "offset": 12, "length": 6}]
    assert await bot.stop() == 0


async def test_an_answer_with_a_tag_telegram_refuses_is_not_imported(own_emulator, tmp_path):
    bot = BotProcess(own_emulator, tmp_path)
    await run(bot, "faq", "import", str(SAMPLE_FAQ))
    faq_file = tmp_path / "faq.json"
    faq_file.write_text(json.dumps(sample_with_answer("<b>open</i> until <today only>")))
    code, _, err = await run(bot, "faq", "import", str(faq_file))
    assert code == 1
    assert "entry 'opening_hours': answer.en: </i> at character 8 does not match <b>" in err
    code, out, _ = await run(bot, "faq", "export")
    hours = next(item for item in json.loads(out) if item["id"] == "opening_hours")
    assert "<b>open</i>" not in json.dumps(hours)


TORCH = importlib.util.find_spec("torch") is not None


@pytest.mark.skipif(TORCH, reason="PyTorch is installed here: the tuning itself is tested")
async def test_tuning_without_pytorch_says_what_it_needs_and_changes_nothing(
    own_emulator, tmp_path
):
    bot = BotProcess(own_emulator, tmp_path)
    await run(bot, "faq", "import", str(SAMPLE_FAQ))
    code, out, err = await run(bot, "faq", "tune")
    assert code == 3 and "needs PyTorch" in err and "'.[tune]'" in err
    assert "tuned" not in out
    code, out, _ = await run(bot, "audit", "--json")
    assert "faq.tune" not in out


@pytest.mark.skipif(not TORCH, reason="PyTorch (the tune extra) is not installed here")
async def test_tuning_stores_an_encoder_the_faq_then_answers_with(own_emulator, tmp_path):
    bot = BotProcess(own_emulator, tmp_path)
    await run(bot, "faq", "import", str(SAMPLE_FAQ))
    # Five steps barely move the model: whether the check keeps it or not, it reports both.
    code, out, err = await run(bot, "faq", "tune", "--steps", "5")
    assert "Checked on" in out and "untuned" in out and "tuned" in out
    if code == 4:
        assert "not stored" in err and "faq.tune" not in (await run(bot, "audit", "--json"))[1]
        code, out, err = await run(bot, "faq", "tune", "--steps", "5", "--force")
    assert code == 0, err
    assert "FAQ model tuned" in out and "graph agreement" in out and "stored as" in out
    code, out, _ = await run(bot, "audit", "--json")
    assert "faq.tune" in out
    # `faq ask` answers as the bot does, with the tuned encoder (its graph built and cached).
    code, out, err = await run(bot, "faq", "ask", "--json", "When do you open?")
    assert code == 0, err
    assert json.loads(out)["matches"][0]["id"] == "opening_hours"
    tuned_graphs = list(tmp_path.rglob(f"{TUNED_GRAPH_DIRECTORY}/*.onnx-cache"))
    assert len(tuned_graphs) == 1 and len(list(tmp_path.rglob("*.onnx-cache"))) == 2
    # An import that changes a phrasing says the tuning no longer applies.
    code, out, _ = await run(bot, "faq", "import", "--merge", str(SAMPLE_FAQ))
    assert code == 0 and "faq tune" not in out  # the same phrasings: the tuning still fits
    changed = tmp_path / "changed.json"
    entries = json.loads(SAMPLE_FAQ.read_text())
    entries[0]["questions"]["en"].append("Is there something new here?")
    changed.write_text(json.dumps(entries))
    code, out, _ = await run(bot, "faq", "import", str(changed))
    assert code == 0 and "run `python -m bot faq tune` again" in out
