"""Russian or Ukrainian typed in Latin letters ("kak pomenyat nomer telefona", "de moye
zamovlennya"), back into Cyrillic.

Customers on a phone without a Cyrillic keyboard write Russian this way; neither the model
nor the lemmatiser understands it, so such questions matched worse than any other kind on
the team's stand-in sets. There is no single standard to invert (ы is "y", "i" or "yi"; щ is
"shch", "sch" or "sh"), so each word is spelled every plausible way and the first spelling
the Russian lexicon knows (simplemma's) wins. The libraries for this (transliterate,
cyrtranslit) invert one formal scheme each and got half of our examples wrong ("наличних",
"сныат"). A question is converted only when more of its words read as Russian than as
English, and then only the words that do; the language whose lexicon reads more of the
words wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

from bot.services.faq.lemmas import is_known

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
# Ukrainian: и is "y", і is "i", ї "yi"/"i", є "ye", г "h", ґ "g".
_UKRAINIAN_READINGS: dict[str, tuple[str, ...]] = {
    **_READINGS,
    "ye": ("є", "е"),
    "je": ("є",),
    "ie": ("є",),
    "yi": ("ї", "иї", "ий"),
    "ji": ("ї",),
    "iy": ("ій", "ий"),
    "e": ("е", "є"),
    "i": ("і", "ї", "й", "и"),
    "y": ("и", "й", "і"),
    "h": ("г", "х"),
    "g": ("г", "ґ"),
    "'": ("ь", "'"),
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
_COMMON_UKRAINIAN_LINE = (
    "не на за як в у з і й я ти ми ви він вона вони по до від із але так ні а о що де мені це"
    " мій моя мої вже чи би же от"
)


@dataclass(frozen=True, eq=False)  # hashed by identity: a cache key
class _Language:
    code: str
    readings: dict[str, tuple[str, ...]]
    common: frozenset[str]


_LANGUAGES = (
    _Language("ru", _READINGS, frozenset(_COMMON_RUSSIAN_LINE.split())),
    _Language("uk", _UKRAINIAN_READINGS, frozenset(_COMMON_UKRAINIAN_LINE.split())),
)


@lru_cache(maxsize=8192)  # suffixes recur along different prefixes; never mutated
def _spellings(word: str, language: _Language, start: int = 0) -> list[str]:
    if start == len(word):
        return [""]
    results: list[str] = []
    for size in range(min(_LONGEST, len(word) - start), 0, -1):
        readings = language.readings.get(word[start : start + size])
        if readings is None:
            continue
        rests = _spellings(word, language, start + size)
        for reading in readings:
            results.extend(reading + rest for rest in rests)
            if len(results) >= _MAX_SPELLINGS:
                return results[:_MAX_SPELLINGS]
    return results


def cyrillic_word(word: str, language: str = "ru") -> str | None:
    """The word in this language that this Latin spelling stands for, if its lexicon knows
    one."""
    (chosen,) = (known for known in _LANGUAGES if known.code == language)
    return _cyrillic_word(word.lower(), chosen)


@lru_cache(maxsize=50_000)
def _cyrillic_word(word: str, language: _Language) -> str | None:
    candidates = _spellings(word, language)
    found = next((spelling for spelling in candidates if _known(spelling, language)), None)
    if found is not None:
        return found
    # The soft sign is usually left out ("dengi", "pomenyat"): try it where it can stand.
    for spelling in islice(candidates, _SOFTENED_FROM):
        for softened in islice(_softened(spelling), _MAX_SPELLINGS):
            if _known(softened, language):
                return softened
    return None


@lru_cache(maxsize=50_000)
def _common_word(word: str, language: _Language) -> str | None:
    """The little word of this language (language.common) this Latin spelling stands for.
    Looked up in that set alone: a whole-lexicon search for an English word that is no
    Russian or Ukrainian word tries every spelling (up to tens of ms a word, once)."""
    return next(
        (spelling for spelling in _spellings(word, language) if spelling in language.common), None
    )


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


def _known(spelling: str, language: _Language) -> bool:
    return spelling in language.common or is_known(spelling, language.code)


@lru_cache(maxsize=50_000)
def _english(word: str) -> bool:
    return is_known(word, "en")


def to_cyrillic(text: str) -> str | None:
    """The text with its transliterated Russian or Ukrainian words in Cyrillic, or None when
    it does not read as either (Cyrillic already, English, too short to tell)."""
    if _CYRILLIC.search(text):
        return None
    words = list(_LATIN_WORD.finditer(text.lower()))
    if not words:
        return None
    readings = [_read(words, language) for language in _LANGUAGES]
    best = max(readings, key=len)  # ties: Russian, listed first
    return _replaced(text, best) if best else None


def _read(words: list[re.Match[str]], language: _Language) -> dict[tuple[int, int], str]:
    """Which words read as this language, and how; empty unless they outnumber English."""
    found: dict[tuple[int, int], str] = {}
    prepositions: dict[tuple[int, int], str] = {}
    english = 0
    for match in words:
        word = match.group()
        if len(word) == 1:  # "v", "s", "k", "u": prepositions, decided by their neighbours
            spelling = _cyrillic_word(word, language)
            if spelling in language.common and word not in {"a", "i"}:
                prepositions[match.span()] = spelling
        elif _english(word):
            # An English word counts as this language only as one of its little words ("na",
            # "ne", "kak"): those are all that is looked for, not the whole lexicon.
            spelling = _common_word(word, language)
            if spelling is not None:
                found[match.span()] = spelling
            else:
                english += 1
        elif (spelling := _cyrillic_word(word, language)) is not None:
            found[match.span()] = spelling
    if len(found) < 2 or len(found) <= english:
        return {}
    return found | prepositions


def _replaced(text: str, spellings: dict[tuple[int, int], str]) -> str:
    pieces: list[str] = []
    position = 0
    for (start, end), spelling in sorted(spellings.items()):
        pieces.append(text[position:start])
        pieces.append(spelling)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
