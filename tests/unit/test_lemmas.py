"""The compact lexicons give simplemma's own answers, word by word."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import simplemma

from bot.services.faq import lemmas
from bot.services.faq.lemmas import (
    LEXICONS,
    CompactLexicon,
    CompactLexicons,
    copy_path,
    is_known,
    lemmatize,
)

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def benchmark_words() -> list[str]:
    """Every word of the project's ru/uk/en FAQ stand-ins: what customers write."""
    words: set[str] = set()
    for path in DATA.glob("faq_*.json"):
        words.update(WORD.findall(path.read_text(encoding="utf-8")))
    return sorted(words)


def lexicon_sample(language: str, count: int) -> list[str]:
    """Forms listed in the lexicon, the neighbours of listed forms (absent ones, read
    through the same blocks) and each block's first and last records."""
    lexicon = LEXICONS.get_dictionary(language)
    listed = list(lexicon)
    chosen = random.Random(language).sample(listed, count)
    edges = listed[::32] + listed[31::32] + listed[-3:]
    variants = [word[:-1] for word in chosen if len(word) > 1] + [word + "x" for word in chosen]
    return chosen + edges[:2000] + variants + [word.capitalize() for word in chosen[:500]]


@pytest.mark.parametrize("language", ["en", "ru", "uk"])
def test_lemmas_and_known_words_match_simplemmas_low_memory_backend(language: str) -> None:
    words = benchmark_words() + lexicon_sample(language, 3000)
    for word in words:
        assert lemmatize(word, language) == simplemma.lemmatize(
            word, lang=language, low_memory=True
        ), word
        assert is_known(word, language) == simplemma.is_known(
            word, lang=language, low_memory=True
        ), word


def test_several_languages_in_order_as_simplemma() -> None:
    for word in benchmark_words():
        assert lemmatize(word, ("ru", "uk")) == simplemma.lemmatize(
            word, lang=("ru", "uk"), low_memory=True
        ), word


def test_the_lexicon_lists_every_record_once() -> None:
    lexicon = LEXICONS.get_dictionary("uk")
    words = list(lexicon)
    assert len(words) == len(lexicon) > 100_000
    assert all(lexicon[word] for word in words[::997])
    with pytest.raises(KeyError):
        lexicon["zzzz-not-a-word"]


def compact(factory: CompactLexicons, language: str) -> CompactLexicon:
    lexicon = factory.get_dictionary(language)
    assert isinstance(lexicon, CompactLexicon)
    return lexicon


def test_a_copy_on_disk_is_read_back_without_simplemmas_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = CompactLexicons()
    built.keep_copies_in(tmp_path)
    original = compact(built, "en")
    assert copy_path(tmp_path, "en").exists()

    def no_simplemma_data(language: str) -> bytes:
        raise AssertionError(f"simplemma's {language} data read despite the copy")

    monkeypatch.setattr(lemmas, "_read_decompressed", no_simplemma_data)
    again = CompactLexicons()
    again.keep_copies_in(tmp_path)
    restored = compact(again, "en")
    assert restored.parts() == original.parts()
    assert len(restored) == len(original)
    for word in ["running", "went", "children", "points", "refunds", "zzzq"]:
        assert restored.get(word) == original.get(word), word


def _tampered(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[-100] ^= 0xFF
    path.write_bytes(bytes(content))


def _index_not_whole(path: Path) -> None:
    """Consistent with its own header and checksum, but the block index one byte off."""
    magic, header_line, payload = path.read_bytes().split(b"\n", 2)
    header = json.loads(header_line)
    header["lengths"][0] -= 1
    header["lengths"][1] += 1
    header["sha256"] = hashlib.sha256(payload).hexdigest()
    path.write_bytes(magic + b"\n" + json.dumps(header).encode() + b"\n" + payload)


def _other_simplemma(path: Path) -> None:
    content = path.read_bytes()
    path.write_bytes(content.replace(b'"simplemma": "', b'"simplemma": "0.', 1))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_tampered, "corrupt"),
        (_index_not_whole, "not whole"),
        (_other_simplemma, "built for another simplemma"),
        (lambda path: path.chmod(0o666), "writable by other users"),
        (lambda path: path.write_bytes(b"not a lexicon\n"), "not a lexicon copy"),
    ],
)
def test_a_copy_that_is_not_exactly_ours_is_ignored_and_written_again(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    change: Callable[[Path], object],
    reason: str,
) -> None:
    first = CompactLexicons()
    first.keep_copies_in(tmp_path)
    expected = compact(first, "en").parts()
    path = copy_path(tmp_path, "en")
    change(path)
    second = CompactLexicons()
    second.keep_copies_in(tmp_path)
    with caplog.at_level("WARNING"):
        assert compact(second, "en").parts() == expected
    assert reason in caplog.text
    # Written again, whole: a third process reads it.
    third = CompactLexicons()
    third.keep_copies_in(tmp_path)
    with caplog.at_level("WARNING"):
        caplog.clear()
        assert compact(third, "en").parts() == expected
    assert "ignored" not in caplog.text
