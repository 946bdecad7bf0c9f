"""Entity parsing for HTML, MarkdownV2 and legacy Markdown, following Telegram's own parsers.

The parsers mirror the rules of Telegram's server-side (tdlib) parsers closely enough that
markup rejected there is rejected here, with the same wording where it is known. Offsets and
lengths of entities are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import BotAPIError, bad_request

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024

Entity = dict[str, Any]


@dataclass(frozen=True, slots=True)
class FormattedText:
    text: str
    entities: list[Entity]


def utf16_len(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _parse_error(detail: str) -> BotAPIError:
    return bad_request(f"can't parse entities: {detail}")


def format_text(text: str, parse_mode: str | None, entities: list[Any] | None) -> FormattedText:
    """Turn a text plus ``parse_mode``/``entities`` into what Telegram would store."""
    mode = (parse_mode or "").strip().lower()
    if mode and mode != "none":
        if mode == "html":
            parsed = parse_html(text)
        elif mode == "markdownv2":
            parsed = parse_markdown_v2(text)
        elif mode == "markdown":
            parsed = parse_markdown(text)
        else:
            raise bad_request("unsupported parse_mode")
    elif entities:
        parsed = FormattedText(text, _clip_explicit_entities(text, entities))
    else:
        parsed = FormattedText(text, [])
    return _strip(parsed)


def message_text(text: str, parse_mode: str | None, entities: list[Any] | None) -> FormattedText:
    formatted = format_text(text, parse_mode, entities)
    if not formatted.text:
        raise bad_request("message text is empty")
    if utf16_len(formatted.text) > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    return formatted


def caption_text(
    caption: str | None, parse_mode: str | None, entities: list[Any] | None
) -> FormattedText | None:
    if caption is None:
        return None
    formatted = format_text(caption, parse_mode, entities)
    if utf16_len(formatted.text) > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")
    return formatted if formatted.text else None


def _strip(formatted: FormattedText) -> FormattedText:
    # Telegram trims surrounding whitespace from texts and captions; entities shift with it.
    text = formatted.text
    stripped = text.strip()
    if len(stripped) == len(text):
        return formatted
    if not stripped:
        return FormattedText("", [])
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    new_length = utf16_len(stripped)
    entities: list[Entity] = []
    for entity in formatted.entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, new_length)
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})
    return FormattedText(stripped, entities)


def _clip_explicit_entities(text: str, entities: list[Any]) -> list[Entity]:
    total = utf16_len(text)
    result: list[Entity] = []
    for entity in entities:
        if not isinstance(entity, dict):
            raise bad_request("can't parse entities: entity must be an Object")
        kind, offset, length = entity.get("type"), entity.get("offset"), entity.get("length")
        if not isinstance(kind, str) or not isinstance(offset, int) or not isinstance(length, int):
            raise bad_request('can\'t parse entities: entity must have "type", "offset", "length"')
        # Telegram silently drops entities that fall outside the text.
        if offset >= 0 and length > 0 and offset + length <= total:
            result.append(entity)
    return result


class _Output:
    """Accumulates plain text while tracking the UTF-16 offset entities refer to."""

    __slots__ = ("offset", "parts")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0

    def add(self, chunk: str) -> None:
        if chunk:
            self.parts.append(chunk)
            self.offset += utf16_len(chunk)

    def text(self) -> str:
        return "".join(self.parts)


def _sorted(entities: list[Entity]) -> list[Entity]:
    return sorted(entities, key=lambda entity: (entity["offset"], -entity["length"]))


# --- HTML --------------------------------------------------------------------------------------

_HTML_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_HTML_TAGS = {*_HTML_SIMPLE_TAGS, "a", "span", "blockquote", "tg-emoji"}
_HTML_SPECIAL = re.compile(r"[<&]")
# Telegram decodes only these named references plus numeric ones; anything else stays literal.
_HTML_REFERENCE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_NAMED_REFERENCES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME = re.compile(r"[^\s>/]*")
_ATTRIBUTE_NAME = re.compile(r"[^\s=>/]+")
_UNQUOTED_VALUE = re.compile(r"[^\s>]*")


@dataclass(slots=True)
class _OpenTag:
    tag: str
    entity_type: str | None
    start: int
    extra: dict[str, Any] = field(default_factory=dict)


def _decode_references(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        decimal, hexadecimal, named = match.groups()
        if named:
            return _NAMED_REFERENCES[named]
        code = int(decimal) if decimal else int(hexadecimal, 16)
        return chr(code) if 0 < code <= 0x10FFFF else match.group(0)

    return _HTML_REFERENCE.sub(replace, text) if "&" in text else text


def parse_html(text: str) -> FormattedText:
    if not _HTML_SPECIAL.search(text):
        return FormattedText(text, [])
    output = _Output()
    stack: list[_OpenTag] = []
    entities: list[Entity] = []
    position, length = 0, len(text)
    while position < length:
        special = _HTML_SPECIAL.search(text, position)
        if special is None:
            output.add(text[position:])
            break
        output.add(text[position : special.start()])
        position = special.start()
        if text[position] == "&":
            reference = _HTML_REFERENCE.match(text, position)
            if reference is None:
                output.add("&")
                position += 1
            else:
                output.add(_decode_references(reference.group(0)))
                position = reference.end()
            continue
        if position + 1 < length and text[position + 1] == "/":
            position = _close_html_tag(text, position, output, stack, entities)
        else:
            position = _open_html_tag(text, position, output, stack)
    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    return FormattedText(output.text(), _sorted(entities))


def _open_html_tag(text: str, position: int, output: _Output, stack: list[_OpenTag]) -> int:
    begin = position
    name_match = _TAG_NAME.match(text, position + 1)
    assert name_match is not None  # the pattern also matches the empty string
    name = name_match.group(0).lower()
    if not name:
        if name_match.end() >= len(text):
            raise _parse_error(
                f"Unexpected end of name token at byte offset {_byte_offset(text, begin)}"
            )
        raise _parse_error(f"Empty tag name at byte offset {_byte_offset(text, begin)}")
    if name not in _HTML_TAGS:
        raise _parse_error(
            f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, begin)}'
        )
    attributes, position = _read_attributes(text, name_match.end(), begin)
    stack.append(_make_open_tag(text, name, attributes, output.offset, begin))
    return position


def _read_attributes(text: str, position: int, begin: int) -> tuple[dict[str, str], int]:
    attributes: dict[str, str] = {}
    length = len(text)
    while True:
        while position < length and text[position].isspace():
            position += 1
        if position >= length:
            raise _parse_error(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        if text[position] == ">":
            return attributes, position + 1
        if text.startswith("/>", position):
            return attributes, position + 2
        name_match = _ATTRIBUTE_NAME.match(text, position)
        if name_match is None:
            raise _parse_error(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        attribute = name_match.group(0).lower()
        position = name_match.end()
        while position < length and text[position].isspace():
            position += 1
        value = ""
        if position < length and text[position] == "=":
            position += 1
            while position < length and text[position].isspace():
                position += 1
            if position < length and text[position] in "\"'":
                quote = text[position]
                closing = text.find(quote, position + 1)
                if closing == -1:
                    raise _parse_error(
                        f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                    )
                value = text[position + 1 : closing]
                position = closing + 1
            else:
                value_match = _UNQUOTED_VALUE.match(text, position)
                assert value_match is not None
                value = value_match.group(0)
                position = value_match.end()
        attributes[attribute] = _decode_references(value)


def _make_open_tag(
    text: str, name: str, attributes: dict[str, str], offset: int, begin: int
) -> _OpenTag:
    if name in _HTML_SIMPLE_TAGS:
        tag = _OpenTag(name, _HTML_SIMPLE_TAGS[name], offset)
        language = attributes.get("class", "")
        if name == "code" and language.startswith("language-"):
            tag.extra["language"] = language.removeprefix("language-")
        return tag
    if name == "a":
        href = attributes.get("href", "")
        # An anchor without a usable href is kept as plain text, as Telegram does.
        return _OpenTag(name, "text_link" if href else None, offset, {"url": href})
    if name == "span":
        if attributes.get("class") != "tg-spoiler":
            raise _parse_error(
                f'Tag "span" must have class "tg-spoiler" at byte offset '
                f"{_byte_offset(text, begin)}"
            )
        return _OpenTag(name, "spoiler", offset)
    if name == "blockquote":
        kind = "expandable_blockquote" if "expandable" in attributes else "blockquote"
        return _OpenTag(name, kind, offset)
    emoji_id = attributes.get("emoji-id", "")
    if not emoji_id:
        raise _parse_error(
            f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset '
            f"{_byte_offset(text, begin)}"
        )
    return _OpenTag(name, "custom_emoji", offset, {"custom_emoji_id": emoji_id})


def _close_html_tag(
    text: str,
    position: int,
    output: _Output,
    stack: list[_OpenTag],
    entities: list[Entity],
) -> int:
    begin = position
    closing = text.find(">", position + 2)
    if closing == -1:
        raise _parse_error(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
    name = text[position + 2 : closing].strip().lower()
    if not stack:
        raise _parse_error(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
    top = stack[-1]
    if name != top.tag:
        raise _parse_error(
            f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
            f'expected "</{top.tag}>", found "</{name}>"'
        )
    stack.pop()
    size = output.offset - top.start
    if top.tag == "code" and stack and stack[-1].tag == "pre" and "language" in top.extra:
        # <pre><code class="language-x"> is one pre entity carrying the language.
        stack[-1].extra["language"] = top.extra["language"]
    elif top.entity_type is not None and size > 0:
        entity: Entity = {"type": top.entity_type, "offset": top.start, "length": size}
        if top.entity_type in ("text_link", "custom_emoji", "pre"):
            entity.update(top.extra)
        entities.append(entity)
    return closing + 1


# --- MarkdownV2 --------------------------------------------------------------------------------

_MARKDOWN_V2_SPECIAL = frozenset("_*[]()~`>#+-=|{}.!\\")
_ENTITY_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


@dataclass(slots=True)
class _OpenMarkdown:
    entity_type: str
    start: int
    index: int
    extra: dict[str, Any] = field(default_factory=dict)


class _MarkdownV2Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.output = _Output()
        self.stack: list[_OpenMarkdown] = []
        self.entities: list[Entity] = []
        self.quote_start: int | None = None
        self.quote_expandable = False

    def parse(self) -> FormattedText:
        text = self.text
        position, length = 0, len(text)
        line_start = True
        while position < length:
            char = text[position]
            top = self.stack[-1] if self.stack else None
            if top is not None and top.entity_type in ("code", "pre"):
                position = self._inside_code(top, position)
                line_start = char == "\n"
                continue
            if line_start:
                line_start = False
                quote_marker = self._quote_marker(position)
                if quote_marker:
                    if self.quote_start is None:
                        self.quote_start = self.output.offset
                        self.quote_expandable = quote_marker == 3
                    position += quote_marker
                    continue
                self._close_quote(drop_trailing_newline=True)
            if char == "\\" and position + 1 < length and 0 < ord(text[position + 1]) <= 126:
                self.output.add(text[position + 1])
                position += 2
            elif char == "\n":
                self.output.add(char)
                position += 1
                line_start = True
            elif char not in _MARKDOWN_V2_SPECIAL:
                run_end = position + 1
                while run_end < length and text[run_end] not in _MARKDOWN_V2_SPECIAL:
                    if text[run_end] == "\n":
                        break
                    run_end += 1
                self.output.add(text[position:run_end])
                position = run_end
            else:
                position = self._special(char, position)
        self._close_quote()
        if self.stack:
            top = self.stack[-1]
            raise _parse_error(
                f"Can't find end of {_ENTITY_NAMES[top.entity_type]} entity at byte offset "
                f"{_byte_offset(text, top.index)}"
            )
        return FormattedText(self.output.text(), _sorted(self.entities))

    def _quote_marker(self, position: int) -> int:
        if self.text.startswith("**>", position):
            return 3
        return 1 if self.text.startswith(">", position) else 0

    def _close_quote(self, *, drop_trailing_newline: bool = False) -> None:
        if self.quote_start is None:
            return
        end = self.output.offset
        if drop_trailing_newline and self.output.parts and self.output.parts[-1].endswith("\n"):
            end -= 1
        if end > self.quote_start:
            kind = "expandable_blockquote" if self.quote_expandable else "blockquote"
            self.entities.append(
                {"type": kind, "offset": self.quote_start, "length": end - self.quote_start}
            )
        self.quote_start = None
        self.quote_expandable = False

    def _inside_code(self, top: _OpenMarkdown, position: int) -> int:
        text = self.text
        char = text[position]
        if char == "\\" and position + 1 < len(text) and 0 < ord(text[position + 1]) <= 126:
            self.output.add(text[position + 1])
            return position + 2
        if top.entity_type == "pre" and text.startswith("```", position):
            self._close(top)
            return position + 3
        if top.entity_type == "code" and char == "`":
            self._close(top)
            return position + 1
        self.output.add(char)
        return position + 1

    def _toggle(self, entity_type: str, position: int, width: int) -> int:
        top = self.stack[-1] if self.stack else None
        if top is not None and top.entity_type == entity_type:
            self._close(top)
        else:
            self.stack.append(_OpenMarkdown(entity_type, self.output.offset, position))
        return position + width

    def _close(self, top: _OpenMarkdown) -> None:
        self.stack.pop()
        size = self.output.offset - top.start
        if size > 0:
            entity: Entity = {"type": top.entity_type, "offset": top.start, "length": size}
            entity.update(top.extra)
            self.entities.append(entity)

    def _special(self, char: str, position: int) -> int:
        handler = _MARKDOWN_V2_MARKERS.get(char)
        next_position = handler(self, position) if handler is not None else None
        if next_position is None:
            raise _parse_error(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        return next_position

    # Each marker handler returns the position after the marker, or None when the character
    # is not a marker here and therefore had to be escaped.

    def _on_asterisk(self, position: int) -> int | None:
        return self._toggle("bold", position, 1)

    def _on_tilde(self, position: int) -> int | None:
        return self._toggle("strikethrough", position, 1)

    def _on_underscore(self, position: int) -> int | None:
        top = self.stack[-1].entity_type if self.stack else None
        double = self.text.startswith("__", position)
        if double and top == "underline":
            return self._toggle("underline", position, 2)
        if top == "italic":
            return self._toggle("italic", position, 1)
        return self._toggle("underline" if double else "italic", position, 2 if double else 1)

    def _on_pipe(self, position: int) -> int | None:
        text = self.text
        if not text.startswith("||", position):
            return None
        at_line_end = position + 2 == len(text) or text[position + 2] == "\n"
        spoiler_open = any(item.entity_type == "spoiler" for item in self.stack)
        if self.quote_start is not None and at_line_end and not spoiler_open:
            # "||" closing the last line of a quote makes it an expandable blockquote.
            self.quote_expandable = True
            return position + 2
        return self._toggle("spoiler", position, 2)

    def _on_backtick(self, position: int) -> int | None:
        if self.text.startswith("```", position):
            return self._open_pre(position)
        self.stack.append(_OpenMarkdown("code", self.output.offset, position))
        return position + 1

    def _on_open_bracket(self, position: int) -> int | None:
        self.stack.append(_OpenMarkdown("text_link", self.output.offset, position))
        return position + 1

    def _on_exclamation(self, position: int) -> int | None:
        if not self.text.startswith("![", position):
            return None
        self.stack.append(_OpenMarkdown("custom_emoji", self.output.offset, position))
        return position + 2

    def _on_close_bracket(self, position: int) -> int | None:
        top = self.stack[-1] if self.stack else None
        if top is None or top.entity_type not in ("text_link", "custom_emoji"):
            return None
        return self._close_link(top, position)

    def _open_pre(self, position: int) -> int:
        text = self.text
        body = position + 3
        opened = _OpenMarkdown("pre", self.output.offset, position)
        self.stack.append(opened)
        newline = text.find("\n", body)
        if newline == -1:
            return body
        language = text[body:newline]
        if language and not any(ch.isspace() or ch == "`" for ch in language):
            opened.extra["language"] = language
        return newline + 1 if not language or "language" in opened.extra else body

    def _close_link(self, top: _OpenMarkdown, position: int) -> int:
        text = self.text
        if not text.startswith("(", position + 1):
            # "[text]" without a URL keeps the text and makes no entity.
            self.stack.pop()
            return position + 1
        url_chars: list[str] = []
        cursor = position + 2
        while cursor < len(text) and text[cursor] != ")":
            if text[cursor] == "\\" and cursor + 1 < len(text):
                cursor += 1
            url_chars.append(text[cursor])
            cursor += 1
        if cursor >= len(text):
            raise _parse_error(
                f"Can't find end of a URL at byte offset {_byte_offset(text, position + 1)}"
            )
        url = "".join(url_chars)
        if top.entity_type == "custom_emoji":
            emoji_id = url.partition("?id=")[2] if url.startswith("tg://emoji?id=") else ""
            if not emoji_id:
                raise _parse_error("Custom emoji entity must contain a tg://emoji URL")
            top.extra["custom_emoji_id"] = emoji_id
            self._close(top)
        elif url:
            top.extra["url"] = url
            self._close(top)
        else:
            self.stack.pop()
        return cursor + 1


_MARKDOWN_V2_MARKERS: dict[str, Callable[[_MarkdownV2Parser, int], int | None]] = {
    "*": _MarkdownV2Parser._on_asterisk,
    "~": _MarkdownV2Parser._on_tilde,
    "_": _MarkdownV2Parser._on_underscore,
    "|": _MarkdownV2Parser._on_pipe,
    "`": _MarkdownV2Parser._on_backtick,
    "[": _MarkdownV2Parser._on_open_bracket,
    "!": _MarkdownV2Parser._on_exclamation,
    "]": _MarkdownV2Parser._on_close_bracket,
}


def parse_markdown_v2(text: str) -> FormattedText:
    if not any(char in _MARKDOWN_V2_SPECIAL for char in text):
        return FormattedText(text, [])
    return _MarkdownV2Parser(text).parse()


# --- legacy Markdown ---------------------------------------------------------------------------

_LEGACY_MARKERS = {"*": "bold", "_": "italic"}


def parse_markdown(text: str) -> FormattedText:
    output = _Output()
    entities: list[Entity] = []
    position, length = 0, len(text)
    while position < length:
        char = text[position]
        if char == "\\" and position + 1 < length and text[position + 1] in "_*`[":
            output.add(text[position + 1])
            position += 2
            continue
        if char in _LEGACY_MARKERS or char == "`":
            marker = "```" if text.startswith("```", position) else char
            closing = text.find(marker, position + len(marker))
            if closing == -1:
                raise _parse_error(
                    "Can't find end of the entity starting at byte offset "
                    f"{_byte_offset(text, position)}"
                )
            body = text[position + len(marker) : closing]
            entity: Entity = {"type": "code", "offset": output.offset, "length": 0}
            if marker == "```":
                language, newline, rest = body.partition("\n")
                entity["type"] = "pre"
                if newline and language and not any(ch.isspace() for ch in language):
                    entity["language"] = language
                    body = rest
            elif marker in _LEGACY_MARKERS:
                entity["type"] = _LEGACY_MARKERS[marker]
            output.add(body)
            entity["length"] = output.offset - entity["offset"]
            if entity["length"]:
                entities.append(entity)
            position = closing + len(marker)
            continue
        if char == "[":
            position = _legacy_link(text, position, output, entities)
            continue
        output.add(char)
        position += 1
    return FormattedText(output.text(), _sorted(entities))


def _legacy_link(text: str, position: int, output: _Output, entities: list[Entity]) -> int:
    closing = text.find("]", position + 1)
    if closing == -1 or not text.startswith("(", closing + 1):
        raise _parse_error(
            f"Can't find end of the entity starting at byte offset {_byte_offset(text, position)}"
        )
    url_end = text.find(")", closing + 2)
    if url_end == -1:
        raise _parse_error(
            f"Can't find end of a URL at byte offset {_byte_offset(text, closing + 1)}"
        )
    start = output.offset
    output.add(text[position + 1 : closing])
    url = text[closing + 2 : url_end]
    if output.offset > start and url:
        entities.append(
            {"type": "text_link", "offset": start, "length": output.offset - start, "url": url}
        )
    return url_end + 1
