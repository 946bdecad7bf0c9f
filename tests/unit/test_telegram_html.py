"""Operator HTML against Telegram's rules; the project's Bot API emulator (which parses HTML
as Telegram's servers do) is the oracle that what we store is what Telegram accepts."""

from __future__ import annotations

import random

import pytest

from bot.emulator.errors import BotAPIError
from bot.emulator.formatting import parse_html
from bot.services.telegram_html import TelegramHtmlError, markup_in_plain_text, sanitize


def test_bare_characters_are_escaped_and_tags_still_format() -> None:
    text = "open 9<18 & <b>closed</b> on Sundays"
    with pytest.raises(BotAPIError):
        parse_html(text)  # what Telegram does with it as written
    stored = sanitize(text)
    assert stored == "open 9&lt;18 &amp; <b>closed</b> on Sundays"
    telegram = parse_html(stored)
    assert telegram.text == "open 9<18 & closed on Sundays"
    assert telegram.entities == [{"type": "bold", "offset": 12, "length": 6}]


@pytest.mark.parametrize(
    "text",
    [
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins>",
        "<s>s</s><strike>t</strike><del>d</del><tg-spoiler>x</tg-spoiler>",
        '<span class="tg-spoiler">hidden</span> <a href="https://example.com/?a=1&b=2">link</a>',
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
        '<code>x = 1</code> <pre><code class="language-python">print(1)</code></pre>',
        "<blockquote>quote</blockquote><blockquote expandable>long</blockquote>",
        "<b>bold <i>both <u>all</u></i></b> &lt;&gt;&amp;&quot; &#169; &#xA9;",
        "2 > 1, a -> b, <B>upper</B>, <a href=https://x.io>unquoted</a>",
        "50% & more; <-- look; <3; < b; a</ b",
    ],
)
def test_what_telegram_allows_is_kept_and_accepted(text: str) -> None:
    stored = sanitize(text)
    parse_html(stored)  # raises if Telegram would refuse it
    assert sanitize(stored) == stored


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<today only>", "<today> at character 1 is not a tag Telegram allows"),
        ("line<br>line", "<br> at character 5 is not a tag Telegram allows (use a new line"),
        ("<b>bold", "<b> at character 1 is never closed"),
        ("bold</b>", "</b> at character 5 closes a tag that was never opened"),
        ("<b><i>x</b></i>", "</b> at character 8 does not match <i> opened at character 4"),
        ("<span>x</span>", '<span> at character 1 must be <span class="tg-spoiler">'),
        ("<a>x</a>", '<a> at character 1 needs href="…"'),
        ('<a href="x" target="_blank">x</a>', 'allows no attribute "target"'),
        ("<tg-emoji>x</tg-emoji>", "numeric emoji-id"),
        ("<b", "<b> at character 1 is not closed with >"),
        ("<b/>", "<b> at character 1 is not closed with >"),
        ("a&nbsp;b", "&nbsp; at character 2 is not an entity Telegram knows"),
        ("<code><b>x</b></code>", "<b> at character 7 is inside <code>"),
        ("<blockquote><blockquote>x</blockquote></blockquote>", "inside another blockquote"),
        ('<code class="python">x</code>', 'class must be "language-NAME"'),
    ],
)
def test_what_telegram_refuses_is_refused_saying_what_and_where(text: str, problem: str) -> None:
    with pytest.raises(TelegramHtmlError) as refused:
        sanitize(text)
    assert problem in str(refused.value)


def test_whatever_is_accepted_telegram_accepts_and_shows_the_same_text() -> None:
    fragments = [
        "<", ">", "&", "&lt;", "&amp", "&#60;", "&#0;", "&quot;", "x", " ", "9", "/",
        "<b>", "</b>", "<i>", "</i>", "<a href='u'>", "</a>", "<pre>", "</pre>",
        '<code class="language-go">', "</code>", "<blockquote>", "</blockquote>", "\n", "é",
    ]  # fmt: skip
    shuffle = random.Random(17)
    accepted = 0
    for _ in range(5000):
        text = "".join(shuffle.choice(fragments) for _ in range(shuffle.randint(1, 12)))
        try:
            stored = sanitize(text)
        except TelegramHtmlError:
            continue
        accepted += 1
        shown = parse_html(stored)  # never "can't parse entities"
        assert sanitize(stored) == stored
        if "<" not in text and "&" not in text:
            assert shown.text == text
    assert accepted > 500


def test_plain_text_fields_report_markup_that_would_show_literally() -> None:
    assert markup_in_plain_text("Free coffee <3 & cake") is None
    problem = markup_in_plain_text("Free <b>coffee</b>")
    assert problem is not None and "<b…> at character 6" in problem
