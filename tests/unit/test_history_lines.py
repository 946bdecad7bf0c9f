"""How /history (and /customer) read each kind of interaction, in the reader's language."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import create_i18n
from bot.telegram.history import history_line
from storage.models import Interaction

AT = datetime(2026, 3, 14, 9, 5, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Kyiv")


def _item(direction: str, kind: str, text: str | None, status: str = "sent") -> Interaction:
    return Interaction(
        id=1,
        customer_id=1,
        at=AT,
        direction=direction,
        kind=kind,
        text=text,
        update_id=None,
        message_id=None,
        status=status,
        error=None,
        meta=None,
        outbound_key=None,
    )


def _line(item: Interaction, language: str = "en") -> str:
    i18n = create_i18n("en")
    with i18n.context(), i18n.use_locale(language):
        return history_line(item, language, ZONE)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (_item("out", "note", "call her\nback", "internal"), "🔒 Internal note: call her back"),
        (_item("in", "photo", "[photo] the receipt"), "← 📷 Photo: the receipt"),
        (_item("in", "voice", "[voice 7s]"), "← 🎤 Voice message (7 s)"),
        (_item("in", "edited_text", "fixed typo"), "← ✏️ Edited: fixed typo"),
        (_item("in", "blocked", None), "← ⛔ Blocked the bot"),
        (_item("out", "sendMessage", "<b>Hi</b> &amp; bye"), "→ Hi &amp; bye"),
        (_item("out", "sendPhoto", "[photo]"), "→ 📷 Photo"),
        (_item("out", "copyMessage", "[copyMessage of message 5 from chat -100]"), "→ 📎 A"),
        (_item("out", "deleteMessage", "[deleted message 9]"), "→ 🗑 Deleted one"),
        (_item("out", "sendMessage", "lost", "failed"), "→ lost ⚠️ not delivered"),
    ],
)
def test_each_kind_reads_as_words(item: Interaction, expected: str) -> None:
    line = _line(item)
    assert line.startswith("3/14/26, 11:05") and expected in line, line
    assert "[" not in line


def test_history_lines_follow_the_readers_language() -> None:
    line = _line(_item("out", "note", "передзвонити", "internal"), "uk")
    assert line == "14.03.26, 11:05 🔒 Внутрішня нотатка: передзвонити"
