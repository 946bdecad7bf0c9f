"""Russian typed in Latin letters ("kak pomenyat nomer telefona"), back into Cyrillic.

Customers on a phone without a Cyrillic keyboard write Russian this way; neither the model
nor the lemmatiser understands it, so such questions matched worse than any other kind on
the team's stand-in sets. There is no single standard to invert (ы is "y", "i" or "yi"; щ is
"shch", "sch" or "sh"), so each word is spelled every plausible way and the first spelling
the Russian lexicon knows (simplemma's) wins. The libraries for this (transliterate,
cyrtranslit) invert one formal scheme each and got half of our examples wrong ("наличних",
"сныат"). A question is converted only when more of its words read as Russian than as
English, and then only the words that do.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import islice

import simplemma

# Longest first: at each position every listed reading is tried.
_READINGS: dict[str, tuple[str, ...]] = {
    "shch": ("щ",),
    "sch": ("щ", "сч"),
    "zh": ("ж",),
    "kh": ("х",),
    "ch": ("ч",),
    "sh": ("ш", "щ"),
    "ts": ("ц", "тс"),
    "tz": ("ц",),
    "yo": ("ё", "ьо", "йо"),
    "jo": ("ё",),
    "yu": ("ю",),
    "ju": ("ю",),
    "iu": ("ю",),
    "ya": ("я",),
    "ja": ("я",),
    "ia": ("я", "ия"),
    "ye": ("е", "ье"),
    "je": ("е",),
    "yi": ("ый", "ий", "ы"),
    "iy": ("ий", "ый"),
    "ij": ("ий",),
    "a": ("а",),
    "b": ("б",),
    "v": ("в",),
    "w": ("в",),
    "g": ("г",),
    "d": ("д",),
    "e": ("е", "э", "ё"),
    "z": ("з",),
    "i": ("и", "й", "ы"),
    "j": ("й",),
    "k": ("к",),
    "q": ("к",),
    "l": ("л",),
    "m": ("м",),
    "n": ("н",),
    "o": ("о",),
    "p": ("п",),
    "r": ("р",),
    "s": ("с",),
    "t": ("т",),
    "u": ("у",),
    "f": ("ф",),
    "h": ("х",),
    "c": ("ц", "к"),
    "x": ("кс",),
    "y": ("ы", "й", "и"),
    "'": ("ь", "ъ"),
}
_LONGEST = max(len(key) for key in _READINGS)
# Spellings tried per word before settling for the first (the most usual readings first).
_MAX_SPELLINGS = 512
_SOFTENED_FROM = 32
_SOFTENS = frozenset("лнтдсзрмвпбф")
_HARD = frozenset("бвгджзклмнпрстфхцчшщ")
_LATIN_WORD = re.compile(r"[a-z']+")
_CYRILLIC = re.compile(r"[а-яёіїєґ]", re.IGNORECASE)
# Short Russian words that are also English dictionary entries ("ne", "na", "net").
_COMMON_RUSSIAN_LINE = (
    "не на за как в с к у и я ты мы вы он она они по до от из но да нет а о что где мне это"
    " мой моя мои все уже еще бы ли же вот так"
)
_COMMON_RUSSIAN = frozenset(_COMMON_RUSSIAN_LINE.split())


def _spellings(word: str, start: int = 0) -> list[str]:
    if start == len(word):
        return [""]
    results: list[str] = []
    for size in range(min(_LONGEST, len(word) - start), 0, -1):
        readings = _READINGS.get(word[start : start + size])
        if readings is None:
            continue
        rests = _spellings(word, start + size)
        for reading in readings:
            results.extend(reading + rest for rest in rests)
            if len(results) >= _MAX_SPELLINGS:
                return results[:_MAX_SPELLINGS]
    return results


@lru_cache(maxsize=50_000)
def cyrillic_word(word: str) -> str | None:
    """The Russian word this Latin spelling stands for, if the lexicon knows one."""
    candidates = _spellings(word.lower())
    found = next((spelling for spelling in candidates if _known(spelling)), None)
    if found is not None:
        return found
    # The soft sign is usually left out ("dengi", "pomenyat"): try it where it can stand.
    for spelling in islice(candidates, _SOFTENED_FROM):
        for softened in islice(_softened(spelling), _MAX_SPELLINGS):
            if _known(softened):
                return softened
    return None


def _softened(spelling: str) -> list[str]:
    places = [
        index + 1
        for index, letter in enumerate(spelling)
        if letter in _SOFTENS and (index + 1 == len(spelling) or spelling[index + 1] in _HARD)
    ]
    variants = []
    for mask in range(1, 1 << len(places)):
        letters = list(spelling)
        for bit, place in reversed(list(enumerate(places))):
            if mask >> bit & 1:
                letters.insert(place, "ь")
        variants.append("".join(letters))
    return variants


def _known(spelling: str) -> bool:
    return spelling in _COMMON_RUSSIAN or simplemma.is_known(spelling, lang="ru")


def _english(word: str) -> bool:
    return simplemma.is_known(word, lang="en")


def to_cyrillic(text: str) -> str | None:
    """The text with its transliterated Russian words in Cyrillic, or None when it does not
    read as transliterated Russian (Cyrillic already, English, too short to tell)."""
    if _CYRILLIC.search(text):
        return None
    lowered = text.lower()
    words = list(_LATIN_WORD.finditer(lowered))
    if not words:
        return None
    russian: dict[tuple[int, int], str] = {}
    prepositions: dict[tuple[int, int], str] = {}
    english = 0
    for match in words:
        word = match.group()
        spelling = cyrillic_word(word)
        if len(word) == 1:  # "v", "s", "k", "u": prepositions, decided by their neighbours
            if spelling in _COMMON_RUSSIAN and word not in {"a", "i"}:
                prepositions[match.span()] = spelling
        elif spelling is not None and (spelling in _COMMON_RUSSIAN or not _english(word)):
            russian[match.span()] = spelling
        elif _english(word):
            english += 1
    if len(russian) < 2 or len(russian) <= english:
        return None
    russian.update(prepositions)
    pieces: list[str] = []
    position = 0
    for (start, end), spelling in sorted(russian.items()):
        pieces.append(text[position:start])
        pieces.append(spelling)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
