"""Lengths and cuts as Telegram counts them (UTF-16 code units), and names cleaned for staff."""

from bot.telegram.text import cut, cut_html, fit_lines, shown_name, utf16_len, visible_len


def test_an_emoji_outside_the_bmp_counts_twice():
    assert utf16_len("😀") == 2 and utf16_len("é") == 1
    assert visible_len("<b>😀</b> &amp;") == 4


def test_a_cut_keeps_within_the_limit_in_utf16_units_and_whole_code_points():
    text = "😀" * 100
    cut_text = cut(text, 51)
    assert utf16_len(cut_text) <= 51
    assert cut_text == "😀" * 25 + "…"
    assert cut("short", 10) == "short"
    # No dangling joiner of a family emoji left before the ellipsis.
    assert not cut("👨\u200d👩\u200d👧" * 10, 4).removesuffix("…").endswith("\u200d")


def test_an_html_cut_never_splits_a_tag_or_an_entity_and_closes_what_it_opened():
    cut_text = cut_html("<b>" + "&amp;😀" * 50 + "</b>", 20)
    assert visible_len(cut_text) <= 20
    assert cut_text.startswith("<b>") and cut_text.endswith("…</b>")
    assert "&am…" not in cut_text and cut_text.count("&amp;") == 7


def test_lines_that_do_not_fit_are_left_out_and_said_so():
    lines = ["🎉" * 100 for _ in range(30)]
    text = fit_lines(lines, 4096)
    assert visible_len(text) <= 4096
    assert text.endswith("\n…")
    assert fit_lines(["a", "b"]) == "a\nb"
    assert visible_len(fit_lines(["😀" * 5000])) <= 4096


def test_names_shown_to_staff_lose_bidi_and_zero_width_controls():
    assert shown_name("\u202eevil\u202c") == "evil"
    controls = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d"
    controls += "\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u061c"
    assert shown_name(f"A{controls}nn") == "Ann"
    assert shown_name("\u200b") == "—" and shown_name(None) == "—"
