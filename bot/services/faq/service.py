"""The FAQ as the business runs it: import, export, asking, and the list of gaps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.services.faq.content import FaqEntry, read_file
from bot.services.faq.matcher import Embedder, HybridMatcher, LexicalIndex, MatchResult
from storage.clock import utcnow
from storage.unit_of_work import Storage

logger = logging.getLogger(__name__)

SAMPLE_FAQ = Path(__file__).resolve().parent / "sample_faq.json"
GAP_SIMILARITY = 0.9
GAP_SIMILARITY_LEXICAL = 0.35


@dataclass(frozen=True)
class ImportReport:
    added: int
    updated: int
    removed: int
    total: int
    embedded: int


@dataclass(frozen=True)
class Answer:
    result: MatchResult
    entries: list[FaqEntry]
    query_id: int | None = None

    @property
    def confident_entry(self) -> FaqEntry | None:
        return self.entries[0] if self.result.confident and self.entries else None


@dataclass
class Gap:
    count: int
    example: str
    questions: list[str] = field(default_factory=list)


class FaqService:
    def __init__(self, storage: Storage, embedder: Embedder | None) -> None:
        self._storage = storage
        self._embedder = embedder
        self._entries: dict[str, FaqEntry] = {}
        self._matcher = HybridMatcher([], embedder)
        # Index rebuilds (import, reload) run one at a time; asking never waits for them.
        self._rebuild = asyncio.Lock()

    @property
    def backend(self) -> str:
        return self._matcher.backend

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
            await self._build(entries, {})
        return len(entries)

    async def load_sample_if_empty(self, path: Path = SAMPLE_FAQ) -> bool:
        async with self._storage.read() as uow:
            if await uow.faq.count():
                return False
        await self.import_entries(read_file(path), merge=False)
        return True

    async def import_file(self, path: Path, *, merge: bool) -> ImportReport:
        return await self.import_entries(read_file(path), merge=merge)

    async def import_entries(self, entries: Sequence[FaqEntry], *, merge: bool) -> ImportReport:
        """Replace the FAQ (the file is the source of truth) or merge by id; all or nothing."""
        async with self._rebuild:
            # Embedded before anything is written: a failure leaves the FAQ as it was.
            vectors, embedded = await self._vectors_for(
                [text for entry in entries for text in entry.phrasings()]
            )
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
            await self._build(current, vectors)
        return ImportReport(added, updated, removed, len(current), embedded)

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
        result = await asyncio.to_thread(matcher.match, text, limit)
        entries = [self._entries[m.entry_id] for m in result.matches if m.entry_id in self._entries]
        query_id = None
        if record:
            best = result.best
            async with self._storage.write() as uow:
                query_id = await uow.faq.record_query(
                    customer_id=customer_id,
                    at=utcnow(),
                    language=language,
                    text=text,
                    entry_id=best.entry_id if best else None,
                    score=best.score if best else None,
                    confident=result.confident,
                    outcome="answered" if result.confident else "declined",
                )
        return Answer(result, entries, query_id)

    async def gaps(self, limit: int = 20) -> list[Gap]:
        """Questions with no confident answer, grouped by similarity, most asked first."""
        async with self._storage.read() as uow:
            questions = await uow.faq.unanswered()
        groups = await asyncio.to_thread(self._group, questions)
        return sorted(groups, key=lambda gap: -gap.count)[:limit]

    def _group(self, questions: list[str]) -> list[Gap]:
        """Greedy grouping: each question joins the first group whose first question is
        similar enough (raw e5 cosine; paraphrases score above 0.9, unrelated questions
        around 0.8), else starts a group of its own."""
        counts: dict[str, int] = {}
        for question in questions:
            counts[question.strip()] = counts.get(question.strip(), 0) + 1
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
        return groups

    def _similarity(self, texts: list[str]) -> Callable[[int, int], bool]:
        if self._embedder is not None:
            vectors = self._embedder.embed(texts)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            cosines = vectors @ vectors.T
            return lambda first, second: bool(cosines[first, second] >= GAP_SIMILARITY)
        index = LexicalIndex(texts)
        lexical = np.stack([index.similarities(text) for text in texts])
        return lambda first, second: bool(lexical[first, second] >= GAP_SIMILARITY_LEXICAL)

    async def _vectors_for(self, texts: Sequence[str]) -> tuple[dict[str, np.ndarray], int]:
        """Every text's vector: stored ones read, the others embedded and stored.
        Returns them with how many had to be embedded."""
        if self._embedder is None or not texts:
            return {}, 0
        embedder = self._embedder
        async with self._storage.read() as uow:
            known = await uow.faq.vectors(embedder.name, texts)
        missing = [text for text in dict.fromkeys(texts) if text not in known]
        if missing:
            fresh = dict(
                zip(missing, await asyncio.to_thread(embedder.embed, missing), strict=True)
            )
            async with self._storage.write() as uow:
                await uow.faq.store_vectors(embedder.name, fresh)
            known.update(fresh)
        return known, len(missing)

    async def _build(self, entries: list[FaqEntry], known: dict[str, np.ndarray]) -> None:
        """Swap in a new index; the caller holds the rebuild lock. `known`: vectors already
        at hand, so they are not read again."""
        pairs = [(entry.id, entry.phrasings()) for entry in entries]
        texts = [text for _id, phrasings in pairs for text in phrasings]
        vectors = None
        if self._embedder is not None and texts:
            unknown = [text for text in texts if text not in known]
            known = {**known, **(await self._vectors_for(unknown))[0]}
            vectors = np.stack([known[text] for text in texts])
        matcher = await asyncio.to_thread(HybridMatcher, pairs, self._embedder, vectors)
        self._entries = {entry.id: entry for entry in entries}
        self._matcher = matcher
        logger.info(
            "FAQ index: %d entries, %d phrasings, %s", len(entries), len(texts), matcher.backend
        )
