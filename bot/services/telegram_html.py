"""Operator-written Telegram HTML, checked when it is saved rather than when it fails to send.

Telegram refuses a whole message whose HTML it cannot parse ("can't parse entities"), so a
FAQ answer `open 9<18` or a broadcast `<today only>` would fail for every customer. Every
text an operator writes for the bot to send as HTML goes through `sanitize` on import or
save, and the stored text is the sanitised one.

The rule for `<`, `>` and `&`:
- `<` followed by a letter, or by `/` and a letter, starts a tag. The tag must be one
  Telegram allows (https://core.telegram.org/bots/api#html-style), with the attributes it
  takes, and tags must be balanced and properly nested; anything else is refused with a
  message naming the tag and where it is.
- Any other `<`, every `>` outside a tag and every `&` that does not start `&lt;`, `&gt;`,
  `&amp;`, `&quot;` or a numeric reference (`&#169;`, `&#xA9;`) are escaped automatically,
  so `open 9<18 & <b>closed</b> on Sundays` reaches the customer as written, "closed" in
  bold.
- A named reference Telegram does not know (`&nbsp;`, `&euro;`) is refused: escaping it
  would show the customer "&nbsp;", which is never what its author meant.

Sanitising is idempotent: a sanitised text comes back unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Tag → the attributes it may carry (Telegram ignores others; here they are refused, as
# they are always a mistake: `<a target=...>` copied from a web page, a misspelt `herf`).
_ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "b": frozenset(),
    "strong": frozenset(),
    "i": frozenset(),
    "em": frozenset(),
    "u": frozenset(),
    "ins": frozenset(),
    "s": frozenset(),
    "strike": frozenset(),
    "del": frozenset(),
    "tg-spoiler": frozenset(),
    "span": frozenset({"class"}),
    "a": frozenset({"href"}),
    "tg-emoji": frozenset({"emoji-id"}),
    "code": frozenset({"class"}),
    "pre": frozenset(),
    "blockquote": frozenset({"expandable"}),
}
# Tags people reach for that Telegram has no equivalent of, with what to do instead.
_HINTS = {
    "br": "use a new line instead",
    "p": "separate paragraphs with an empty line",
    "div": "separate paragraphs with an empty line",
    "img": "attach a photo instead",
}

_TAG_START = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
_KNOWN_REFERENCE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|lt|gt|amp|quot);")
_NAMED_REFERENCE = re.compile(r"&[A-Za-z][A-Za-z0-9]*;")
_ATTRIBUTE = re.compile(
    r"""\s+([^\s=>/"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""",
)
_TAG_END = re.compile(r"\s*>")
_EMOJI_ID = re.compile(r"^\d{1,20}$")
_LANGUAGE = re.compile(r"language-[\w+#.-]+")


class TelegramHtmlError(ValueError):
    """The text is not HTML Telegram would accept; the message says what and where."""


@dataclass(slots=True)
class _Open:
    name: str
    position: int


def sanitize(text: str) -> str:
    """`text` as Telegram accepts it (bare `<`, `>`, `&` escaped); TelegramHtmlError if it
    holds a tag Telegram does not allow, a malformed or unbalanced tag, or an unknown named
    reference."""
    output: list[str] = []
    stack: list[_Open] = []
    position, length = 0, len(text)
    while position < length:
        character = text[position]
        if character == "&":
            position = _reference(text, position, output)
        elif character == ">":
            output.append("&gt;")
            position += 1
        elif character == "<":
            tag = _TAG_START.match(text, position)
            if tag is None:
                output.append("&lt;")
                position += 1
            elif tag.group(1):
                position = _close(text, tag, stack, output)
            else:
                position = _open(text, tag, stack, output)
        else:
            output.append(character)
            position += 1
    if stack:
        unclosed = stack[-1]
        raise TelegramHtmlError(
            f"<{unclosed.name}> at character {unclosed.position + 1} is never closed "
            f"(add </{unclosed.name}>)"
        )
    return "".join(output)


def problem(text: str) -> str | None:
    """What is wrong with `text` as Telegram HTML, or None if `sanitize` accepts it."""
    try:
        sanitize(text)
    except TelegramHtmlError as error:
        return str(error)
    return None


def markup_in_plain_text(text: str) -> str | None:
    """For texts the bot shows as plain text (escaped): the first thing that looks like a
    tag, which the customer would see literally, or None."""
    tag = _TAG_START.search(text)
    if tag is None:
        return None
    return (
        f"{tag.group(0)}…> at character {tag.start() + 1}: this text is shown as plain text, "
        "so a tag would appear literally"
    )


def _reference(text: str, position: int, output: list[str]) -> int:
    known = _KNOWN_REFERENCE.match(text, position)
    if known is not None:
        decimal, hexadecimal = known.groups()
        number = int(decimal) if decimal else int(hexadecimal, 16) if hexadecimal else 1
        if 0 < number <= 0x10FFFF:
            output.append(known.group(0))
            return known.end()
    named = _NAMED_REFERENCE.match(text, position)
    if named is not None and known is None:
        raise TelegramHtmlError(
            f"{named.group(0)} at character {position + 1} is not an entity Telegram knows: "
            "only &lt; &gt; &amp; &quot; and numeric ones like &#160;"
        )
    output.append("&amp;")
    return position + 1


def _open(text: str, tag: re.Match[str], stack: list[_Open], output: list[str]) -> int:
    name = tag.group(2).lower()
    where = f"at character {tag.start() + 1}"
    if name not in _ALLOWED_ATTRIBUTES:
        hint = _HINTS.get(name, "write &lt; for a literal <")
        raise TelegramHtmlError(f"<{name}> {where} is not a tag Telegram allows ({hint})")
    attributes: dict[str, str | None] = {}
    position = tag.end()
    while (attribute := _ATTRIBUTE.match(text, position)) is not None:
        key = attribute.group(1).lower()
        value = next((group for group in attribute.groups()[1:] if group is not None), None)
        if key not in _ALLOWED_ATTRIBUTES[name]:
            raise TelegramHtmlError(f'<{name}> {where}: Telegram allows no attribute "{key}" here')
        attributes[key] = value
        position = attribute.end()
    end = _TAG_END.match(text, position)
    if end is None:
        raise TelegramHtmlError(f"<{name}> {where} is not closed with >")
    _check_attributes(name, attributes, where)
    inside = stack[-1].name if stack else None
    if inside in {"code", "pre"} and not (name == "code" and inside == "pre"):
        raise TelegramHtmlError(
            f"<{name}> {where} is inside <{inside}>, where Telegram drops formatting"
        )
    if name == "blockquote" and any(open_tag.name == "blockquote" for open_tag in stack):
        raise TelegramHtmlError(f"<blockquote> {where} is inside another blockquote")
    stack.append(_Open(name, tag.start()))
    output.append(text[tag.start() : end.end()])
    return end.end()


def _check_attributes(name: str, attributes: dict[str, str | None], where: str) -> None:
    if name == "a" and not attributes.get("href"):
        raise TelegramHtmlError(f'<a> {where} needs href="…"')
    if name == "span" and attributes.get("class") != "tg-spoiler":
        raise TelegramHtmlError(f'<span> {where} must be <span class="tg-spoiler">')
    if name == "tg-emoji" and not _EMOJI_ID.match(attributes.get("emoji-id") or ""):
        raise TelegramHtmlError(f'<tg-emoji> {where} needs a numeric emoji-id="…"')
    language = attributes.get("class")
    if name == "code" and language is not None and not _LANGUAGE.fullmatch(language):
        raise TelegramHtmlError(f'<code> {where}: class must be "language-NAME"')
    if name == "blockquote" and attributes.get("expandable"):
        raise TelegramHtmlError(f"<blockquote> {where}: expandable takes no value")


def _close(text: str, tag: re.Match[str], stack: list[_Open], output: list[str]) -> int:
    name = tag.group(2).lower()
    where = f"at character {tag.start() + 1}"
    end = _TAG_END.match(text, tag.end())
    if end is None:
        raise TelegramHtmlError(f"</{name}> {where} is not closed with >")
    if not stack:
        raise TelegramHtmlError(f"</{name}> {where} closes a tag that was never opened")
    if stack[-1].name != name:
        raise TelegramHtmlError(
            f"</{name}> {where} does not match <{stack[-1].name}> opened at character "
            f"{stack[-1].position + 1} (tags must be closed in the reverse order they open)"
        )
    stack.pop()
    output.append(f"</{name}>")
    return end.end()
