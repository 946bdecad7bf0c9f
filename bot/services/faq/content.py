"""The FAQ file format (JSON or YAML), validated whole before anything is applied:

    [{"id": "...", "category": "...", "questions": {"en": ["...", "..."], "ru": [...]},
      "answer": {"en": "...", "ru": "..."}, "photo": "URL or file_id"?,
      "buttons": [{"text": {"en": "..."}, "url": "https://..."}]?}]

`category` may also be a mapping of language to name. Answers are Telegram HTML, checked
and normalised on import by bot/services/telegram_html.py (bare `<`, `>`, `&` escaped; tags
Telegram refuses reported by entry and language). A file with no entries is refused: emptying
the FAQ is `python -m bot faq clear --yes`, never the side effect of an empty or blank file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from bot.services.telegram_html import TelegramHtmlError, sanitize

LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Answer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class FaqButton(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: dict[LanguageCode, Label] = Field(min_length=1)
    url: Annotated[str, StringConstraints(pattern=r"^(https?|tg)://\S+$", max_length=2000)]


class FaqEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=r"^\S(.{0,62}\S)?$")]
    category: Label | dict[LanguageCode, Label]
    questions: dict[LanguageCode, Annotated[list[Question], Field(min_length=1)]] = Field(
        min_length=1
    )
    answer: dict[LanguageCode, Answer] = Field(min_length=1)
    photo: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    buttons: list[FaqButton] = Field(default_factory=list, max_length=8)

    def phrasings(self) -> list[str]:
        return [question for questions in self.questions.values() for question in questions]

    def category_name(self, language: str) -> str:
        if isinstance(self.category, str):
            return self.category
        return _localised(self.category, language)

    def answer_in(self, language: str) -> str:
        return _localised(self.answer, language)


def _localised(texts: dict[str, str], language: str) -> str:
    """The text in the customer's language, else English, else whichever the entry has."""
    return texts.get(language) or texts.get("en") or next(iter(texts.values()))


class FaqFileError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


_ENTRY = TypeAdapter(FaqEntry)


def parse_entries(document: Any) -> list[FaqEntry]:
    """Validate every entry; report each bad one by id and field, apply nothing if any is bad."""
    if document is None or document == []:
        raise FaqFileError(
            [
                "the file has no entries, so nothing was imported "
                "(to empty the FAQ on purpose, run `python -m bot faq clear --yes`)"
            ]
        )
    if not isinstance(document, list):
        raise FaqFileError(["the file must hold a list of entries"])
    problems: list[str] = []
    entries: list[FaqEntry] = []
    seen: set[str] = set()
    for position, raw in enumerate(document, start=1):
        name = raw.get("id") if isinstance(raw, dict) else None
        label = f"entry {name!r}" if isinstance(name, str) and name else f"entry #{position}"
        try:
            entry = _ENTRY.validate_python(raw)
        except ValidationError as error:
            for detail in error.errors():
                where = ".".join(str(part) for part in detail["loc"]) or "entry"
                problems.append(f"{label}: {where}: {detail['msg']}")
            continue
        if entry.id in seen:
            problems.append(f"{label}: id: used by an earlier entry too")
        seen.add(entry.id)
        answers: dict[str, str] = {}
        for language, answer in entry.answer.items():
            try:
                answers[language] = sanitize(answer)
            except TelegramHtmlError as error:
                problems.append(f"{label}: answer.{language}: {error}")
        entries.append(entry.model_copy(update={"answer": answers}))
    if problems:
        raise FaqFileError(problems)
    return entries


def read_file(path: Path) -> list[FaqEntry]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise FaqFileError([f"cannot read {path}: {error.strerror}"]) from None
    try:
        if path.suffix.lower() in {".yaml", ".yml"}:
            import yaml

            document = yaml.safe_load(text)
        else:
            document = json.loads(text)
    except Exception as error:  # JSON and YAML report syntax errors in different types
        raise FaqFileError(
            [f"{path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {error}"]
        ) from None
    return parse_entries(document)


def dump_entries(entries: list[FaqEntry]) -> str:
    return json.dumps(
        [entry.model_dump(exclude_defaults=True) for entry in entries], ensure_ascii=False, indent=1
    )


def phrasings_digest(entries: Sequence[FaqEntry]) -> str:
    """What an encoder tuned on the FAQ learned from: each entry's id and phrasings (order
    aside). Another answer or category leaves it; a phrasing added, changed or moved to
    another entry changes it."""
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda item: item.id):
        digest.update(json.dumps([entry.id, sorted(entry.phrasings())]).encode())
    return digest.hexdigest()
