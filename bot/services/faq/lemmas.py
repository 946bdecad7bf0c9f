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

Building that form walks every record in Python: ~1.3 s of CPU for the three at every
start (ru 0.8 s). Where the process has a cache directory (the FAQ model's, model_cache.py:
`LEXICONS.keep_copies_in`), each language's compact form is kept there as one file,
`simplemma-<language>.lexicon` (a magic line, a JSON header naming what it was built from,
the parts' lengths and their SHA-256, then the parts), read back in milliseconds. A copy that
differs in anything, does not hash to its header, or is not the bot user's own is ignored
and written again, as the model's graph is: never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import zlib
from array import array
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from simplemma import Lemmatizer
from simplemma.strategies import DefaultStrategy, DictionaryLookupStrategy
from simplemma.strategies.dictionaries import frontcode
from simplemma.strategies.dictionaries.dictionary_factory import (
    CachingDictionaryFactory,
    DecodedStrMapping,
    _read_decompressed,
)
from simplemma.utils import normalize_token

from bot.services.faq.model_cache import (
    keyed_header,
    package_version,
    untrusted,
    write_private_file,
)

logger = logging.getLogger(__name__)

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

    @property
    def reversed_keys(self) -> bool:
        """Whether keys and values are stored back to front (simplemma's choice per language)."""
        return bool(self._reversed)

    def parts(self) -> tuple[bytes, ...]:
        """What `restored` takes back: the index and the deflated stream, as bytes."""
        return (
            self._heads,
            self._bounds.tobytes(),
            self._resume.tobytes(),
            self._chunks,
            self._chunk_at.tobytes(),
        )

    @classmethod
    def restored(cls, reversed_: bool, count: int, parts: list[bytes]) -> CompactLexicon:
        heads, bounds, resume, chunks, chunk_at = parts
        lexicon = cls.__new__(cls)
        lexicon._reversed, lexicon._count = reversed_, count
        lexicon._heads, lexicon._chunks = heads, chunks
        lexicon._bounds, lexicon._resume, lexicon._chunk_at = array("I"), array("I"), array("I")
        lexicon._bounds.frombytes(bounds)
        lexicon._resume.frombytes(resume)
        lexicon._chunk_at.frombytes(chunk_at)
        return lexicon

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
    """simplemma's DictionaryFactory over CompactLexicon, each language read once (from its
    copy on disk when there is one: `keep_copies_in`)."""

    __slots__ = ("_directory",)

    def __init__(self) -> None:
        super().__init__()
        self._directory: Path | None = None

    def keep_copies_in(self, directory: Path | None) -> None:
        """Where the languages not read yet are read from, or written to once built."""
        self._directory = directory

    def _get_dictionary_uncached(self, lang: str) -> CompactLexicon:
        directory = self._directory
        if directory is not None:
            copy = _read_copy(directory, lang)
            if copy is not None:
                return copy
        lexicon = CompactLexicon(lang)
        if directory is not None:
            _write_copy(directory, lang, lexicon)
        return lexicon


_COPY_MAGIC = b"LSB-LEXICON 1\n"


def copy_path(directory: Path, language: str) -> Path:
    return directory / f"simplemma-{language}.lexicon"


def _copy_key(language: str) -> dict[str, str | int]:
    """Everything a copy's bytes depend on."""
    return {
        "language": language,
        "simplemma": package_version("simplemma"),
        "block_size": _BLOCK_SIZE,
        "blocks_per_chunk": _BLOCKS_PER_CHUNK,
        "byteorder": sys.byteorder,
        "itemsize": array("I").itemsize,
    }


def _read_copy(directory: Path, language: str) -> CompactLexicon | None:
    path = copy_path(directory, language)
    try:
        with path.open("rb") as source:
            problem = untrusted(os.fstat(source.fileno()))
            content = b"" if problem else source.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        logger.warning("lexicon copy %s unreadable (%s): reading simplemma's", path, error)
        return None
    lexicon = None
    if problem is None:
        lexicon, problem = _parsed_copy(content, language)
    if lexicon is None:
        logger.warning("lexicon copy %s ignored: %s; reading simplemma's", path, problem)
    return lexicon


def _parsed_copy(content: bytes, language: str) -> tuple[CompactLexicon | None, str]:
    header, problem = keyed_header(content, _COPY_MAGIC, _copy_key(language), "lexicon copy")
    if header is None:
        return None, problem
    payload = content[content.index(b"\n", len(_COPY_MAGIC)) + 1 :]
    lengths = header.get("lengths")
    if (
        not isinstance(lengths, list)
        or len(lengths) != 5
        or not all(isinstance(length, int) and length >= 0 for length in lengths)
        or sum(lengths) != len(payload)
        or hashlib.sha256(payload).hexdigest() != header.get("sha256")
        or not isinstance(header.get("count"), int)
    ):
        return None, "its parts do not match their lengths and checksum (corrupt)"
    parts, start = [], 0
    for length in lengths:
        parts.append(payload[start : start + length])
        start += length
    try:
        return CompactLexicon.restored(bool(header.get("reversed")), header["count"], parts), ""
    except ValueError:  # an index whose length is not a whole number of entries
        return None, "its index is not whole (corrupt)"


def _write_copy(directory: Path, language: str, lexicon: CompactLexicon) -> None:
    """A failure only costs the next start the build."""
    parts = lexicon.parts()
    payload = b"".join(parts)
    header = {
        **_copy_key(language),
        "reversed": lexicon.reversed_keys,
        "count": len(lexicon),
        "lengths": [len(part) for part in parts],
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private_file(
            copy_path(directory, language),
            _COPY_MAGIC,
            json.dumps(header, sort_keys=True).encode() + b"\n",
            payload,
        )
    except OSError as error:
        logger.warning("lexicon copy not written to %s: %s", directory, error)


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
