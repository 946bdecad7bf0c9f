"""Every text the code can show exists in every language, with the same placeholders."""

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, create_i18n

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "N_": None, "__": None}


def code_msgids() -> set[str]:
    found = set()
    for folder in ("bot", "handlers"):
        for _filename, _lineno, message, _comments, _context in extract_from_dir(
            ROOT / folder, keywords=KEYWORDS, comment_tags=()
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w*)\}", text))


def test_code_has_texts():
    assert len(code_msgids()) > 20


@pytest.mark.parametrize("language", ["ru", "uk"])
def test_every_text_is_translated(language):
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
        catalog = read_po(source)
    missing = []
    for msgid in sorted(code_msgids()):
        message = catalog.get(msgid)
        if message is None or not message.string or message.fuzzy:
            missing.append(msgid)
        elif placeholders(str(message.string)) != placeholders(msgid):
            missing.append(f"placeholders differ: {msgid!r}")
    assert missing == []


def test_compiled_catalogues_translate():
    i18n = create_i18n("en")
    assert i18n.gettext("Choose your language:", locale="ru") == "Выберите язык:"
    assert i18n.gettext("Choose your language:", locale="uk") == "Оберіть мову:"
    assert i18n.gettext("Choose your language:", locale="en") == "Choose your language:"
