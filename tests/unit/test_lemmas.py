"""The compact lexicons give simplemma's own answers, word by word."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import simplemma

from bot.services.faq.lemmas import LEXICONS, is_known, lemmatize

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
