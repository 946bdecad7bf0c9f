"""Snippets and loyalty rule names are checked when their files load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config.errors import SettingsError
from bot.emulator.formatting import parse_html
from bot.i18n import LOCALES_DIR, create_i18n
from bot.services.loyalty.rules import DEFAULT_RULES_PATH, load_rules
from bot.services.snippets import SnippetError, Snippets
from bot.telegram.notices.campaigns import check_campaign_texts


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


def test_campaign_texts_are_checked_in_every_language(tmp_path: Path) -> None:
    rules = load_rules()
    check_campaign_texts(create_i18n("en"), rules)  # the shipped catalogues pass

    broken = tmp_path / "locales"
    for catalogue in LOCALES_DIR.glob("*/LC_MESSAGES/messages.po"):
        target = broken / catalogue.relative_to(LOCALES_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = catalogue.read_text(encoding="utf-8")
        if catalogue.parts[-3] == "ru":
            text = text.replace('"👋 Давно вас', '"<b>👋 Давно вас', 1)
            assert "<b>👋 Давно вас" in text
        target.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=r"campaign 'reactivation' \(ru\): .*<b>.*never closed"):
        check_campaign_texts(create_i18n("en", broken), rules)
