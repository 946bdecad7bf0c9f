"""Gettext catalogues in locales/<lang>/LC_MESSAGES/messages.po, compiled on start-up.

The .po files are the source of truth in git; the .mo files are build output, compiled
whenever they are missing or older than their .po, so a fresh clone needs no build step.
"""

from __future__ import annotations

import os
import tempfile
from functools import cache
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.domain.languages import SUPPORTED_LANGUAGES

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"


def N_(msgid: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Marks a text for extraction where it is defined; it is translated where it is shown."""
    return msgid


def compile_catalogs(locales_dir: Path = LOCALES_DIR) -> list[Path]:
    compiled = []
    for po_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as source:
            catalog = read_po(source, locale=po_path.parent.parent.name)
        # A temporary file of its own: processes starting together (test workers, replicas
        # on one volume) each compile, and the last complete file wins.
        descriptor, name = tempfile.mkstemp(prefix=f"{DOMAIN}.", suffix=".tmp", dir=mo_path.parent)
        temporary = Path(name)
        try:
            with os.fdopen(descriptor, "wb") as target:
                write_mo(target, catalog)
            temporary.chmod(0o644)
            temporary.replace(mo_path)
        finally:
            temporary.unlink(missing_ok=True)
        compiled.append(mo_path)
    return compiled


def create_i18n(default_language: str, locales_dir: Path = LOCALES_DIR) -> I18n:
    compile_catalogs(locales_dir)
    return I18n(path=locales_dir, default_locale=default_language, domain=DOMAIN)


@cache
def _all_translations(i18n: I18n, msgid: str) -> frozenset[str]:
    return frozenset(i18n.gettext(msgid, locale=language) for language in SUPPORTED_LANGUAGES)


def all_translations(i18n: I18n, msgid: str) -> frozenset[str]:
    """Every language's rendering of a text: a reply-keyboard button pressed in any language
    (say, before a /language switch re-drew the keyboard) still means the same thing."""
    return _all_translations(i18n, msgid)
