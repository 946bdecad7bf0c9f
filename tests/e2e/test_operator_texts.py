"""Operator-written texts read from files at start-up (support snippets, the loyalty rules)
are checked when they are loaded: a text Telegram would refuse stops the bot or the CLI with
a message naming it, instead of failing later in front of a customer."""

from __future__ import annotations

import json

import pytest

from bot.services.loyalty.rules import DEFAULT_RULES_PATH
from tests.e2e.harness import BotProcess


async def test_a_snippet_with_an_unbalanced_tag_stops_the_bot_naming_it(own_emulator, tmp_path):
    snippets = tmp_path / "snippets.json"
    snippets.write_text(
        json.dumps(
            {
                "thanks": "Thank you!",
                "hours": {"en": "We open at <b>9", "ru": "Открываемся в <b>9</b>"},
            }
        )
    )
    bot = BotProcess(own_emulator, tmp_path / "bot", env={"SUPPORT_SNIPPETS": str(snippets)})
    with pytest.raises(RuntimeError) as exited:
        await bot.start(timeout=60)
    assert "snippet 'hours' (en): <b> at character 12 is never closed" in str(exited.value)
    assert bot.process is not None and bot.process.returncode not in (None, 0)


async def test_a_reward_name_with_markup_is_refused_when_the_rules_load(own_emulator, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        DEFAULT_RULES_PATH.read_text().replace("{en: Any coffee,", "{en: <b>Any coffee,")
    )
    bot = BotProcess(own_emulator, tmp_path / "bot", env={"LOYALTY_RULES": str(rules)})
    refused = await bot.cli("points", "check")
    assert refused.returncode == 2
    assert "rewards: coffee: name.en: <b" in refused.stderr
