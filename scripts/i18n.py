"""Keep locales/*/messages.po in step with the code (a developer tool, not run by the bot).

python scripts/i18n.py update              # add new texts (empty), drop obsolete ones
python scripts/i18n.py missing             # list texts without a translation
python scripts/i18n.py fill FILE.json      # {"msgid": {"ru": "...", "uk": "..."}, ...}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"
KEYWORDS = {"_": None, "gettext": None, "N_": None, "__": None}
LANGUAGES = ("en", "ru", "uk")


def _path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / "messages.po"


def _read(language: str) -> Catalog:
    with _path(language).open("rb") as source:
        return read_po(source, locale=language)


def _write(language: str, catalog: Catalog) -> None:
    with _path(language).open("wb") as target:
        write_po(target, catalog, width=100, omit_header=False, sort_output=True, no_location=True)


def _template() -> Catalog:
    template = Catalog()
    for folder in ("bot", "handlers"):
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / folder, keywords=KEYWORDS, comment_tags=()
        ):
            msgid = message if isinstance(message, str) else message[0]
            template.add(msgid, locations=[(f"{folder}/{filename}", lineno)])
    return template


def update() -> None:
    template = _template()
    for language in LANGUAGES:
        catalog = _read(language)
        catalog.update(
            template,
            no_fuzzy_matching=True,
            update_header_comment=False,
            update_creation_date=False,
        )
        catalog.obsolete.clear()
        _write(language, catalog)


def missing() -> list[str]:
    wanted = {message.id for message in _template() if message.id}
    lines = []
    for language in LANGUAGES[1:]:
        catalog = _read(language)
        for msgid in sorted(wanted):
            message = catalog.get(msgid)
            if message is None or not message.string or message.fuzzy:
                lines.append(f"{language}: {msgid!r}")
    return lines


def fill(path: Path) -> None:
    translations: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    update()
    for language in LANGUAGES[1:]:
        catalog = _read(language)
        for msgid, by_language in translations.items():
            if language in by_language and msgid in catalog:
                catalog[msgid].string = by_language[language]
                catalog[msgid].flags.discard("fuzzy")
        _write(language, catalog)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "missing"
    if command == "update":
        update()
    elif command == "fill":
        fill(Path(sys.argv[2]))
    else:
        print("\n".join(missing()) or "every text is translated")
