"""Snippets and loyalty rule names are checked when their files load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.emulator.formatting import parse_html
from bot.services.loyalty.rules import DEFAULT_RULES_PATH, load_rules
from bot.services.snippets import SnippetError, Snippets
from bot.settings import SettingsError


def test_snippets_are_stored_as_html_telegram_accepts(tmp_path: Path) -> None:
    path = tmp_path / "snippets.json"
    path.write_text(json.dumps({"Hours": {"en": "open 9<18 & <b>closed</b> Sundays"}}))
    text = Snippets.load(path).text("hours", "en")
    assert text is not None
    assert parse_html(text).text == "open 9<18 & closed Sundays"


def test_a_snippet_with_a_tag_telegram_refuses_is_named(tmp_path: Path) -> None:
    path = tmp_path / "snippets.yaml"
    path.write_text("bye: 'See you <today only>'\n")
    with pytest.raises(SnippetError, match=r"snippet 'bye': <today> at character 9"):
        Snippets.load(path)


def test_tier_and_reward_names_are_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    default = DEFAULT_RULES_PATH.read_text()
    path.write_text(default.replace("{en: Any coffee,", "{en: Coffee & cake <3,"))
    assert load_rules(path).reward("coffee") is not None
    path.write_text(default.replace("{en: Any coffee,", "{en: <i>Any</i> coffee,"))
    with pytest.raises(SettingsError, match=r"rewards: coffee: name\.en: <i"):
        load_rules(path)
