"""simplemma's en, ru and uk lexicons, held compactly (the lexical channel and translit.py).

simplemma's default backend decodes each lexicon into a dict of millions of Python bytes
objects: measured here, 20 MiB for en, 142 for ru, 75 for uk. Its low-memory backend keeps
the decompressed front-coded stream and decodes a block of 32 records per lookup, but
indexes the blocks with a Python tuple and two bytes objects each: measured in the running
bot, ~17 MiB of index beside ~13 MiB of stream for the three languages. `CompactLexicons`
keeps the same stream and the same blocks, with each block's first record written into one
bytes object and the offsets into an array: ~1.5 MiB of index, the same lemmas (the tests
compare both backends word by word), the same work per lookup.

The stream format and its record reader are simplemma's own (`frontcode`), pinned to the
2.0 series in pyproject.toml; if a release changes them, the comparison test fails.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator

from simplemma import Lemmatizer
from simplemma.strategies import DefaultStrategy, DictionaryLookupStrategy
from simplemma.strategies.dictionaries import frontcode
from simplemma.strategies.dictionaries.dictionary_factory import (
    CachingDictionaryFactory,
    DecodedStrMapping,
    _read_decompressed,
)
from simplemma.utils import normalize_token

_BLOCK_SIZE = 32


class CompactLexicon(DecodedStrMapping):
    """One language's lexicon: word -> lemma, decoded on demand from simplemma's stream."""

    __slots__ = ("_data", "_reversed", "_count", "_start", "_heads", "_bounds", "_resume")

    def __init__(self, language: str) -> None:
        self._data = _read_decompressed(language)
        self._reversed, self._count, self._start = frontcode._read_header(self._data)
        heads = bytearray()
        # Per block: where its first record's key and value lie in `heads` (key from
        # bounds[2b] to bounds[2b+1], value to bounds[2b+2]), and where its second record
        # begins in the stream, the decoding resuming from the first.
        bounds = array("I", [0])
        resume = array("I")
        records = frontcode._iter_records(self._data, self._start)
        index = -1
        for index, (_start, key, value) in enumerate(records):
            if index % _BLOCK_SIZE == 0:
                heads += key
                bounds.append(len(heads))
                heads += value
                bounds.append(len(heads))
                resume.append(0)
            elif index % _BLOCK_SIZE == 1:
                resume[-1] = _start
        if index + 1 != self._count:
            raise ValueError(frontcode._CORRUPT_STREAM_MSG)
        if index % _BLOCK_SIZE == 0:  # a last block of one record: nothing to resume
            resume[-1] = len(self._data)
        self._heads = bytes(heads)
        self._bounds = bounds
        self._resume = resume

    def _head_key(self, block: int) -> bytes:
        return self._heads[self._bounds[2 * block] : self._bounds[2 * block + 1]]

    def _lookup(self, key: str) -> str | None:
        target = key.encode()
        if self._reversed:
            target = target[::-1]
        low, high = 0, len(self._resume)
        while low < high:  # the last block whose first key is <= target
            middle = (low + high) // 2
            if self._head_key(middle) <= target:
                low = middle + 1
            else:
                high = middle
        block = low - 1
        if block < 0:
            return None
        head_key = self._head_key(block)
        head_value = self._heads[self._bounds[2 * block + 1] : self._bounds[2 * block + 2]]
        if head_key == target:
            return self._decoded(head_value)
        records = frontcode._iter_records(self._data, self._resume[block], head_key, head_value)
        for _start, stored_key, stored_value in records:
            if stored_key == target:
                return self._decoded(stored_value)
            if stored_key > target:  # sorted: the key is not in the lexicon
                return None
        return None

    def _decoded(self, stored_value: bytes) -> str:
        return (stored_value[::-1] if self._reversed else stored_value).decode()

    def __iter__(self) -> Iterator[str]:
        for _start, stored_key, _value in frontcode._iter_records(self._data, self._start):
            yield (stored_key[::-1] if self._reversed else stored_key).decode()

    def __len__(self) -> int:
        return self._count


class CompactLexicons(CachingDictionaryFactory):
    """simplemma's DictionaryFactory over CompactLexicon, each language read once."""

    __slots__ = ()

    def _get_dictionary_uncached(self, lang: str) -> CompactLexicon:
        return CompactLexicon(lang)


LEXICONS = CompactLexicons()
# No cache of its own: the callers cache per word (matcher._lemma, translit).
_LEMMATIZER = Lemmatizer(
    cache_max_size=0, lemmatization_strategy=DefaultStrategy(dictionary_factory=LEXICONS)
)
_LOOKUP = DictionaryLookupStrategy(LEXICONS)


def lemmatize(word: str, languages: str | tuple[str, ...]) -> str:
    """simplemma's lemma of `word`, the first of `languages` that knows it deciding."""
    return _LEMMATIZER.lemmatize(word, languages)


def is_known(word: str, language: str) -> bool:
    """Whether `language`'s lexicon lists `word` (as simplemma.is_known)."""
    return _LOOKUP.get_lemma(normalize_token(word), language) is not None
