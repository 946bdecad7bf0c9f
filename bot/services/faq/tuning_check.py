"""How a tuning of the FAQ model is judged (bot/services/faq/tuning.py trains it; this part
needs no PyTorch): the bot's matcher over an encoder, on questions whose answers are known,
and the rule that decides whether a tuning earns its place."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from bot.services.faq.matcher import Embedder, HybridMatcher


class OnceEach:
    """An Embedder that embeds each text once (an evaluation asks for the same texts
    again, e.g. those the matcher rewrites from Latin letters)."""

    def __init__(self, embedder: Embedder) -> None:
        self.name, self.seconds_per_text = embedder.name, embedder.seconds_per_text
        self._embedder = embedder
        self._known: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = sorted({text for text in texts if text not in self._known})
        if missing:
            self._known.update(zip(missing, self._embedder.embed(missing), strict=True))
        return np.stack([self._known[text] for text in texts])


def kept_back(questions: Mapping[str, Sequence[str]], chooser: random.Random) -> list[str]:
    """The phrasings of an entry kept back to check a tuning on: one question in every
    language it is written in, i.e. the k-th phrasing of each language (a small shop writes
    a question and translates it, in order), chosen at random among the k that leave two
    phrasings or more to learn from; none when no k does. Kept back alone, a phrasing is
    often answered through its translation left in the training, which any tuning learns,
    while customers word things anew: on stand-in D a tuning so checked was kept (top-1 on
    the kept-back phrasings 0.65 -> 0.80) and lowered its customers' top-1 0.817 -> 0.750."""
    total = sum(len(texts) for texts in questions.values())
    positions = max((len(texts) for texts in questions.values()), default=0)
    eligible = [
        k
        for k in range(positions)
        if total - sum(1 for texts in questions.values() if k < len(texts)) >= 2
    ]
    if not eligible:
        return []
    k = chooser.choice(eligible)
    return [texts[k] for texts in questions.values() if k < len(texts)]


def evaluate(
    vectors: Embedder,
    entries: Sequence[tuple[str, list[str]]],
    questions: Sequence[tuple[str, str | None]],
    thresholds: tuple[float, float] | None = None,
) -> dict[str, float]:
    """The bot's matcher (HybridMatcher, its defaults) over `vectors`: top-1, confident and
    right, confident and wrong (shares of the questions an entry answers), and the share of
    off-topic questions (entry None) declined. thresholds: (floor, with lead) instead of
    the matcher's defaults."""
    vectors.embed([text for text, _ in questions])
    phrasings = [text for _id, texts in entries for text in texts]
    matcher = HybridMatcher(list(entries), vectors, vectors.embed(phrasings), thresholds=thresholds)
    results = [(matcher.match(text, 3), entry) for text, entry in questions]
    in_scope = [(result, entry) for result, entry in results if entry is not None]
    off_topic = [result for result, entry in results if entry is None]

    def share(flags: list[bool]) -> float:
        return round(float(np.mean(flags)), 3) if flags else float("nan")

    return {
        "top1": share([r.best is not None and r.best.entry_id == e for r, e in in_scope]),
        "confident_right": share(
            [r.confident and r.best is not None and r.best.entry_id == e for r, e in in_scope]
        ),
        "confident_wrong": share(
            [r.confident and r.best is not None and r.best.entry_id != e for r, e in in_scope]
        ),
        "off_topic_declined": share([not r.confident for r in off_topic]),
    }


# Questions no shop's FAQ answers, in its customers' three languages (our own text): with
# one phrasing of each entry held out of the training, what a tuning is checked on.
OFF_TOPIC_PROBES = (
    "what will the weather be like tomorrow",
    "who won the football match last night",
    "can you recommend a good book to read",
    "how do I fix a flat bicycle tyre",
    "what is the capital of australia",
    "tell me a joke",
    "how many calories are in an apple",
    "what's the best way to learn guitar",
    "какая завтра погода",
    "кто выиграл вчерашний матч",
    "посоветуй хороший фильм на вечер",
    "как починить кран на кухне",
    "сколько лет живут кошки",
    "расскажи анекдот",
    "как выучить английский быстро",
    "какой курс доллара сегодня",
    "яка завтра погода у києві",
    "хто виграв учорашній матч",
    "порадь гарну книжку",
    "як полагодити велосипед",
    "скільки років живуть собаки",
    "розкажи анекдот",
    "як вивчити англійську швидко",
    "kakaya zavtra pogoda",
)


def earns_its_place(untuned: dict[str, float], tuned: dict[str, float], held_out: int) -> bool:
    """Kept only if, on the held-out phrasings and the off-topic probes, the tuned matcher
    ranks more than one more of them right and is no worse otherwise: no fewer answered right
    with confidence, no more answered wrong with confidence, no fewer off-topic probes
    declined, one question of slack each, as the sets are small. Phrasings kept back from the
    FAQ's own author are easier than customers' questions (on the sample FAQ, a tuning one
    held-out phrasing better did worse on the paraphrase set: docs/faq.md), hence more than
    one. Ranking, not confidence, must gain: the tuned model's thresholds are chosen on these
    same phrasings (`choose_thresholds`), so its confident answers flatter it (stand-in D:
    right and sure 0.40 -> 0.60 on them, while its customers' top-1 fell 0.817 -> 0.750)."""
    slack = 1 / held_out
    return (
        tuned["top1"] > untuned["top1"] + slack + 1e-9
        and tuned["confident_right"] >= untuned["confident_right"] - slack
        and _misleads_no_more(untuned, tuned, held_out)
    )


def _misleads_no_more(untuned: dict[str, float], tuned: dict[str, float], held_out: int) -> bool:
    """No more held-out phrasings answered wrongly with confidence and no fewer off-topic
    probes declined than the packaged encoder, one question of slack each."""
    slack, probe_slack = 1 / held_out, 1 / len(OFF_TOPIC_PROBES)
    return (
        tuned["confident_wrong"] <= untuned["confident_wrong"] + slack + 1e-9
        and tuned["off_topic_declined"] >= untuned["off_topic_declined"] - probe_slack - 1e-9
    )


# Floors tried for a tuned encoder on the FAQ itself, each alone and with a lead of 0.15 asked
# above it (a confident answer: best score >= floor and best + its lead over the runner-up
# >= with_lead; see matcher.is_confident). The lowest is what CLINC150's validation split
# chose for the public sets with the tuned weights mixed back (benchmarks/faq_tuning.py
# --sweep, docs/faq.md); the tuned vectors sit closer together than the packaged model's,
# hence floors above its 0.42.
_FLOORS = (0.58, 0.62, 0.68, 0.74, 0.80, 0.86)


def choose_thresholds(
    figures_at: Callable[[tuple[float, float]], dict[str, float]],
    untuned: dict[str, float],
    held_out: int,
) -> tuple[tuple[float, float], dict[str, float]]:
    """The thresholds for a tuned encoder on this FAQ: of those that decline as many
    off-topic probes and answer no more held-out phrasings wrongly than the packaged encoder
    (one question of slack), the one answering most of them rightly with confidence, the
    higher floor on a tie; else the highest tried. The floor CLINC150's 150 intents chose
    declines too few off-topic questions on a small FAQ (the sample FAQ: 0.79 against the
    packaged encoder's 1.0). Chosen and checked on the same few questions: a
    guard against a tuning that does harm, not a measurement of it."""
    tried = [
        ((floor, with_lead), figures_at((floor, with_lead)))
        for floor in _FLOORS
        for with_lead in (floor, round(floor + 0.15, 2))
    ]
    safe = [
        (thresholds, figures)
        for thresholds, figures in tried
        if _misleads_no_more(untuned, figures, held_out)
    ]
    if not safe:
        return tried[-1]
    return max(safe, key=lambda pair: (pair[1]["confident_right"], pair[0]))
