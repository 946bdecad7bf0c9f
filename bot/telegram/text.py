"""Texts as Telegram measures them, and names as staff should see them. Pure: no aiogram.

Telegram counts every length limit (4096 for a message, 1024 for a caption, 128 for a topic
name, 200 for a callback answer) in UTF-16 code units of the text after HTML parsing: an emoji
outside the Basic Multilingual Plane counts twice, a tag not at all, `&amp;` once.
https://core.telegram.org/api/entities#entity-length
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
TOPIC_NAME_LIMIT = 128
CALLBACK_ANSWER_LIMIT = 200
ELLIPSIS = "…"

_ZERO_WIDTH_JOINER = "\u200d"
_HTML_TOKEN = re.compile(r"<(/?)([a-zA-Z-]+)[^>]*>|&(?:#\d+|#x[0-9a-fA-F]+|\w+);|.", re.DOTALL)

# Bidirectional overrides, embeddings and isolates, zero-width characters, the word joiner
# and invisible operators, the byte-order mark and the Arabic letter mark: in a name they
# can reverse or hide what staff read ("\u202eevil" shows as "live").
_INVISIBLE_CONTROLS = re.compile(
    "[\u202a-\u202e\u2066-\u2069\u200b-\u200f\u2060-\u2064\ufeff\u061c]"
)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _units(character: str) -> int:
    return 2 if ord(character) > 0xFFFF else 1


def cut(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """Plain text cut to at most `limit` UTF-16 units, ending in `ellipsis` if it was cut.
    Cuts between code points, so never inside a surrogate pair, and not after a joiner."""
    if utf16_len(text) <= limit:
        return text
    room = limit - utf16_len(ellipsis)
    used = 0
    end = 0
    for index, character in enumerate(text):
        used += _units(character)
        if used > room:
            break
        end = index + 1
    return text[:end].rstrip(_ZERO_WIDTH_JOINER) + ellipsis


def visible_len(html_text: str) -> int:
    """The length Telegram checks for a text sent with parse_mode HTML."""
    length = 0
    for match in _HTML_TOKEN.finditer(html_text):
        token = match.group(0)
        if match.group(2) is not None:
            continue
        length += utf16_len(html.unescape(token)) if token.startswith("&") else _units(token)
    return length


def cut_html(html_text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """HTML cut to at most `limit` visible UTF-16 units, never inside a tag or an entity;
    tags left open at the cut are closed."""
    if visible_len(html_text) <= limit:
        return html_text
    room = limit - utf16_len(ellipsis)
    used = 0
    kept: list[str] = []
    open_tags: list[str] = []
    for match in _HTML_TOKEN.finditer(html_text):
        token, closing, tag = match.group(0), match.group(1), match.group(2)
        if tag is not None:
            if closing:
                if open_tags and open_tags[-1] == tag.lower():
                    open_tags.pop()
            elif not token.endswith("/>"):
                open_tags.append(tag.lower())
            kept.append(token)
            continue
        width = utf16_len(html.unescape(token)) if token.startswith("&") else _units(token)
        if used + width > room:
            break
        used += width
        kept.append(token)
    while kept and kept[-1] == _ZERO_WIDTH_JOINER:
        kept.pop()
    return "".join(kept) + ellipsis + "".join(f"</{tag}>" for tag in reversed(open_tags))


def fit_lines(lines: Iterable[str], limit: int = MESSAGE_LIMIT, more: str = ELLIPSIS) -> str:
    """HTML lines joined by newlines, as many as fit in `limit` visible units; `more` (a
    line of its own) says that some were left out. A first line too long alone is cut."""
    lines = list(lines)
    whole = "\n".join(lines)
    if visible_len(whole) <= limit:
        return whole
    kept: list[str] = []
    used = 0
    reserve = 1 + visible_len(more)
    for line in lines:
        width = visible_len(line) + (1 if kept else 0)
        if used + width + reserve > limit:
            if not kept:
                return cut_html(line, limit)
            kept.append(more)
            break
        kept.append(line)
        used += width
    return "\n".join(kept)


def shown_name(name: str | None, empty: str = "—") -> str:
    """A customer's or agent's name as staff see it: without the invisible controls that
    could disguise it (bidi overrides, zero-width characters)."""
    cleaned = _INVISIBLE_CONTROLS.sub("", name or "").strip()
    return cleaned or empty
