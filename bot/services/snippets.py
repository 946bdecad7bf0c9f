"""Canned replies for agents (/snippet NAME), from the SUPPORT_SNIPPETS file.

Snippets are sent as Telegram HTML; each is checked when the file loads (bot start-up), with
bare `<`, `>`, `&` escaped, so a bad one stops the bot naming it rather than failing in a
conversation (bot/services/telegram_html.py)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from bot.config.errors import SettingsError
from bot.services.telegram_html import TelegramHtmlError, sanitize


class SnippetError(SettingsError):
    """The snippets file is missing or malformed: reported at start-up like a bad setting."""


class Snippets:
    def __init__(self, texts: dict[str, dict[str, str]]) -> None:
        self._texts = texts

    @classmethod
    def load(cls, path: Path | None) -> Snippets:
        """{name: text} or {name: {language: text}}; names are matched case-insensitively."""
        if path is None:
            return cls({})
        try:
            raw = path.read_text(encoding="utf-8")
            document = json.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
        except (OSError, ValueError, yaml.YAMLError) as error:
            raise SnippetError(f"SUPPORT_SNIPPETS {path} could not be read: {error}") from None
        if not isinstance(document, dict):
            raise SnippetError(f"SUPPORT_SNIPPETS {path} must map names to texts")
        texts: dict[str, dict[str, str]] = {}
        for name, value in document.items():
            if isinstance(value, str):
                variants = {"": value}
            elif (
                isinstance(value, dict)
                and value
                and all(isinstance(text, str) for text in value.values())
            ):
                variants = {str(lang): text for lang, text in value.items()}
            else:
                raise SnippetError(f"SUPPORT_SNIPPETS {path}: {name!r} is not a text")
            texts[str(name).lower()] = {
                language: _checked(path, str(name), language, text)
                for language, text in variants.items()
            }
        return cls(texts)

    @property
    def names(self) -> list[str]:
        return sorted(self._texts)

    def text(self, name: str, language: str) -> str | None:
        """The snippet in the customer's language, else English, else any it has."""
        variants = self._texts.get(name.lower())
        if variants is None:
            return None
        return (
            variants.get(language)
            or variants.get("")
            or variants.get("en")
            or next(iter(variants.values()))
        )


def _checked(path: Path, name: str, language: str, text: str) -> str:
    try:
        return sanitize(text)
    except TelegramHtmlError as error:
        where = f"snippet {name!r}" + (f" ({language})" if language else "")
        raise SnippetError(f"SUPPORT_SNIPPETS {path}: {where}: {error}") from None
