"""simplemma's en, ru and uk lexicons, held compactly (the lexical channel and translit.py).

simplemma's default backend decodes each lexicon into a dict of millions of Python bytes
objects: measured here, 20 MiB for en, 142 for ru, 75 for uk. Its low-memory backend keeps
the decompressed front-coded stream and decodes a block of 32 records per lookup, but
indexes the blocks with a Python tuple and two bytes objects each: measured in the running
bot, ~17 MiB of index beside ~13 MiB of stream for the three languages. `CompactLexicons`
keeps the same blocks with each block's first record written into one bytes object, the
offsets in arrays (~1.5 MiB), and the rest of the stream deflated in chunks of 16 blocks
(12.8 -> 4.7 MiB): 8 MiB after loading all three (simplemma's: 30), the same lemmas (the
tests compare both backends word by word), ~60 µs per word not seen before instead of ~12
(the inflating; the callers cache every word).

The stream format and its record reader are simplemma's own (`frontcode`), pinned to the
2.0 series in pyproject.toml; if a release changes them, the comparison test fails.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterator
from itertools import islice

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
# Blocks compressed together: ~3 KiB of stream, a few microseconds to inflate per lookup
# of a word not seen before; 16 keeps the three lexicons at ~4.7 MiB instead of 12.8.
_BLOCKS_PER_CHUNK = 16


class CompactLexicon(DecodedStrMapping):
    """One language's lexicon: word -> lemma, decoded on demand from simplemma's stream."""

    __slots__ = ("_reversed", "_count", "_heads", "_bounds", "_resume", "_chunks", "_chunk_at")

    def __init__(self, language: str) -> None:
        data = _read_decompressed(language)
        self._reversed, self._count, first = frontcode._read_header(data)
        heads = bytearray()
        # Per block: where its first record's key and value lie in `heads` (key from
        # bounds[2b] to bounds[2b+1], value to bounds[2b+2]), and where its second record
        # begins in the stream, the decoding resuming from the first.
        bounds = array("I", [0])
        resume = array("I")
        index = -1
        for index, (start, key, value) in enumerate(frontcode._iter_records(data, first)):
            if index % _BLOCK_SIZE == 0:
                heads += key
                bounds.append(len(heads))
                heads += value
                bounds.append(len(heads))
                resume.append(len(data))  # a last block of one record: nothing to resume
            elif index % _BLOCK_SIZE == 1:
                resume[-1] = start
        if index + 1 != self._count:
            raise ValueError(frontcode._CORRUPT_STREAM_MSG)
        self._heads = bytes(heads)
        self._bounds = bounds
        # The stream from each block's second record on, deflated in chunks of blocks; a
        # block's resume offset becomes relative to its chunk's start.
        chunks = bytearray()
        self._chunk_at = array("I", [0])
        for block in range(0, len(resume), _BLOCKS_PER_CHUNK):
            begin = resume[block]
            after = block + _BLOCKS_PER_CHUNK
            end = resume[after] if after < len(resume) else len(data)
            chunks += zlib.compress(data[begin:end])
            self._chunk_at.append(len(chunks))
            for member in range(block, min(after, len(resume))):
                resume[member] -= begin
        self._chunks = bytes(chunks)
        self._resume = resume

    def _head_key(self, block: int) -> bytes:
        return self._heads[self._bounds[2 * block] : self._bounds[2 * block + 1]]

    def _head(self, block: int) -> tuple[bytes, bytes]:
        return (
            self._head_key(block),
            self._heads[self._bounds[2 * block + 1] : self._bounds[2 * block + 2]],
        )

    def _rest_of(self, block: int, key: bytes, value: bytes) -> Iterator[tuple[bytes, bytes]]:
        """The block's records after its first, and on to the end of its chunk."""
        chunk = block // _BLOCKS_PER_CHUNK
        stream = zlib.decompress(self._chunks[self._chunk_at[chunk] : self._chunk_at[chunk + 1]])
        for _start, stored_key, stored_value in frontcode._iter_records(
            stream, self._resume[block], key, value
        ):
            yield stored_key, stored_value

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
        if low == 0:
            return None
        head_key, head_value = self._head(low - 1)
        if head_key == target:
            return self._text(head_value)
        for stored_key, stored_value in self._rest_of(low - 1, head_key, head_value):
            if stored_key == target:
                return self._text(stored_value)
            if stored_key > target:  # sorted: the key is not in the lexicon
                return None
        return None

    def _text(self, stored: bytes) -> str:
        """A key or value as stored (reversed, in a reversed lexicon) -> its text."""
        return (stored[::-1] if self._reversed else stored).decode()

    def __iter__(self) -> Iterator[str]:
        for block in range(len(self._resume)):
            head_key, head_value = self._head(block)
            rest = islice(self._rest_of(block, head_key, head_value), _BLOCK_SIZE - 1)
            for stored_key in (head_key, *(stored for stored, _value in rest)):
                yield self._text(stored_key)

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
