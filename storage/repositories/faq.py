from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from bot.services.faq.content import FaqEntry
from storage.batching import Statement
from storage.clock import from_db, to_db
from storage.database import Session


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class EntryStats:
    views: int
    helpful: int
    unhelpful: int


@dataclass(frozen=True)
class UnansweredQuestion:
    text: str
    # The entry the customer then chose from those offered (a choice or related questions).
    picked: str | None = None


@dataclass(frozen=True)
class FaqTuning:
    """The encoder tuned on the FAQ (`python -m bot faq tune`), without its weights."""

    phrasings_sha256: str
    weights_sha256: str
    floor: float
    with_lead: float
    report: dict[str, object]
    created_at: datetime


class FaqRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def tuning(self) -> FaqTuning | None:
        row = await self._session.fetch_one(
            "SELECT phrasings_sha256, weights_sha256, floor, with_lead, report, created_at "
            "FROM faq_tuning ORDER BY id DESC LIMIT 1"
        )
        if row is None:
            return None
        return FaqTuning(
            phrasings_sha256=row["phrasings_sha256"],
            weights_sha256=row["weights_sha256"],
            floor=float(row["floor"]),
            with_lead=float(row["with_lead"]),
            report=json.loads(row["report"]),
            created_at=from_db(row["created_at"]),
        )

    async def tuning_weights(self, weights_sha256: str) -> bytes | None:
        value = await self._session.fetch_value(
            "SELECT weights FROM faq_tuning WHERE weights_sha256 = ? ORDER BY id DESC LIMIT 1",
            (weights_sha256,),
        )
        return None if value is None else bytes(value)

    async def store_tuning(self, tuning: FaqTuning, weights: bytes) -> None:
        """In place of the one before (only the latest is kept)."""
        await self._session.execute("DELETE FROM faq_tuning")
        await self._session.execute(
            "INSERT INTO faq_tuning (phrasings_sha256, weights_sha256, weights, floor, "
            "with_lead, report, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                tuning.phrasings_sha256,
                tuning.weights_sha256,
                weights,
                tuning.floor,
                tuning.with_lead,
                json.dumps(tuning.report),
                to_db(tuning.created_at),
            ),
        )

    async def entries(self) -> list[FaqEntry]:
        rows = await self._session.fetch_all("SELECT document FROM faq_entries ORDER BY position")
        return [FaqEntry.model_validate_json(row["document"]) for row in rows]

    async def count(self) -> int:
        return int(await self._session.fetch_value("SELECT COUNT(*) FROM faq_entries"))

    async def replace_all(self, entries: Sequence[FaqEntry], now: datetime) -> None:
        await self._session.execute("DELETE FROM faq_entries")
        await self._write(entries, now, start=0)

    async def merge(self, entries: Sequence[FaqEntry], now: datetime) -> tuple[int, int]:
        """Add new entries at the end and update existing ones in place: (added, updated)."""
        existing = {
            row["id"]: row["position"]
            for row in await self._session.fetch_all("SELECT id, position FROM faq_entries")
        }
        updated = [entry for entry in entries if entry.id in existing]
        added = [entry for entry in entries if entry.id not in existing]
        await self._session.execute_many(
            "UPDATE faq_entries SET document = ?, updated_at = ? WHERE id = ?",
            [
                (entry.model_dump_json(exclude_defaults=True), to_db(now), entry.id)
                for entry in updated
            ],
        )
        await self._write(added, now, start=max(existing.values(), default=-1) + 1)
        return len(added), len(updated)

    async def _write(self, entries: Sequence[FaqEntry], now: datetime, start: int) -> None:
        await self._session.execute_many(
            "INSERT INTO faq_entries (id, position, document, updated_at) VALUES (?, ?, ?, ?)",
            [
                (entry.id, start + offset, entry.model_dump_json(exclude_defaults=True), to_db(now))
                for offset, entry in enumerate(entries)
            ],
        )

    async def vectors(self, model: str, texts: Iterable[str]) -> dict[str, np.ndarray]:
        wanted = {text_hash(text): text for text in texts}
        found: dict[str, np.ndarray] = {}
        keys = list(wanted)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = await self._session.fetch_all(
                f"SELECT text_hash, vector FROM faq_vectors WHERE model = ? "  # noqa: S608
                f"AND text_hash IN ({','.join('?' * len(chunk))})",
                [model, *chunk],
            )
            for row in rows:
                found[wanted[row["text_hash"]]] = np.frombuffer(row["vector"], dtype=np.float32)
        return found

    async def store_vectors(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        await self._session.execute_many(
            "INSERT INTO faq_vectors (model, text_hash, vector) VALUES (?, ?, ?) "
            "ON CONFLICT (model, text_hash) DO NOTHING",
            [
                (model, text_hash(text), vector.astype(np.float32).tobytes())
                for text, vector in vectors.items()
            ],
        )

    @staticmethod
    def record_query(
        *,
        query_id: int,
        customer_id: int | None,
        at: datetime,
        language: str | None,
        text: str,
        entry_id: str | None,
        score: float | None,
        confident: bool,
        outcome: str,
    ) -> Statement:
        """A question asked (or an answer browsed), as a statement for the group-commit
        batcher: the id is chosen by the caller, so nobody waits for a row id."""
        return Statement(
            """
            INSERT INTO faq_queries (id, customer_id, at, language, text, entry_id, score,
                                     confident, outcome)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (query_id, customer_id, to_db(at), language, text, entry_id, score, confident, outcome),
        )

    async def unanswered(self, since: datetime | None = None) -> list[UnansweredQuestion]:
        since_text = to_db(since) if since else None  # None: from the start
        rows = await self._session.fetch_all(
            # Questions asked while the model warmed up were not looked at by it: no gap.
            "SELECT text, CASE WHEN outcome = 'picked' THEN entry_id END AS picked "
            "FROM faq_queries WHERE confident = 0 "
            "AND (CAST(? AS TEXT) IS NULL OR at >= ?) AND outcome <> 'warming_up' ORDER BY id",
            (since_text, since_text),
        )
        return [UnansweredQuestion(row["text"], row["picked"]) for row in rows]

    async def record_feedback(self, query_id: int, customer_id: int, helpful: bool) -> bool:
        """A Helped / Didn't help press on an answer this customer was given."""
        changed = await self._session.execute(
            "UPDATE faq_queries SET feedback = ? WHERE id = ? AND customer_id = ? "
            "AND outcome IN ('answered', 'picked', 'browsed')",
            ("helpful" if helpful else "unhelpful", query_id, customer_id),
        )
        return changed > 0

    async def record_pick(self, query_id: int, customer_id: int, entry_id: str) -> bool:
        """The customer chose one of the entries offered for their question (to pick from,
        or as related questions under "I don't know")."""
        changed = await self._session.execute(
            "UPDATE faq_queries SET entry_id = ?, outcome = 'picked' "
            "WHERE id = ? AND customer_id = ? AND outcome IN ('suggested', 'declined')",
            (entry_id, query_id, customer_id),
        )
        return changed > 0

    async def entry_stats(self) -> dict[str, EntryStats]:
        rows = await self._session.fetch_all(
            """
            SELECT entry_id,
                   SUM(CASE WHEN outcome IN ('answered', 'picked', 'browsed') THEN 1 ELSE 0 END)
                       AS views,
                   SUM(CASE WHEN feedback = 'helpful' THEN 1 ELSE 0 END) AS helpful,
                   SUM(CASE WHEN feedback = 'unhelpful' THEN 1 ELSE 0 END) AS unhelpful
            FROM faq_queries WHERE entry_id IS NOT NULL GROUP BY entry_id
            """
        )
        return {
            row["entry_id"]: EntryStats(
                int(row["views"] or 0), int(row["helpful"] or 0), int(row["unhelpful"] or 0)
            )
            for row in rows
        }

    async def revision(self) -> str:
        """Changes with every import and every tuning, from this process or another (the
        operator CLI)."""
        value = await self._session.fetch_value(
            "SELECT COUNT(*) || '@' || COALESCE(CAST(MAX(updated_at) AS TEXT), '') || '+' || "
            "COALESCE((SELECT MAX(weights_sha256) FROM faq_tuning), '') FROM faq_entries"
        )
        return str(value)
