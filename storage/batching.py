"""Group commit: many concurrent small writes land in one transaction.

Each aiosqlite call is a hop to the connection's thread and back (~0.15 ms here), while
SQLite itself needs microseconds per statement. Writing every update's record in its own
transaction would cap the bot at a few hundred updates a second, so the hot writes (update
intake, the interaction log) are queued and a single flusher applies everything queued so
far as one transaction, one ``executemany`` per statement. Under light load a batch holds
one job and costs what a plain transaction does; under a burst it holds hundreds.

Every caller awaits its job's commit before going on, so no batch ever contains two jobs
where one depends on the other; that is what makes regrouping them by statement safe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from storage.conflicts import retry_on_conflict
from storage.database import Database, Params, Session

logger = logging.getLogger(__name__)

PayloadT = TypeVar("PayloadT")
ResultT = TypeVar("ResultT")


class BatchKind(Protocol[PayloadT, ResultT]):
    """Applies a list of payloads of one kind inside the flush's transaction."""

    async def apply(self, session: Session, payloads: list[PayloadT]) -> list[ResultT]: ...


@dataclass(frozen=True)
class Statement:
    sql: str
    params: Params = ()


class StatementKind:
    """Plain writes with no result: grouped by SQL text, one executemany per group."""

    async def apply(self, session: Session, payloads: list[Statement]) -> list[None]:
        groups: dict[str, list[Params]] = {}
        for statement in payloads:
            groups.setdefault(statement.sql, []).append(statement.params)
        for sql, rows in groups.items():
            await session.execute_many(sql, rows)
        return [None] * len(payloads)


STATEMENTS = StatementKind()


class _Barrier:
    async def apply(self, session: Session, payloads: list[None]) -> list[None]:
        return [None] * len(payloads)


_BARRIER = _Barrier()


@dataclass
class _Job(Generic[PayloadT, ResultT]):
    kind: BatchKind[PayloadT, ResultT]
    payload: PayloadT
    # None for fire-and-forget writes: nobody waits, a failure is only logged.
    future: asyncio.Future[ResultT] | None = field(repr=False)


class WriteBatcher:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._queue: list[_Job[Any, Any]] = []
        self._wakeup = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self.flushes = 0
        self.jobs = 0

    async def submit(self, kind: BatchKind[PayloadT, ResultT], payload: PayloadT) -> ResultT:
        future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._enqueue(_Job(kind, payload, future))
        return await future

    async def write(self, statement: Statement) -> None:
        """A write the caller needs committed before it goes on."""
        await self.submit(STATEMENTS, statement)

    def write_soon(self, statement: Statement) -> None:
        """A write nobody waits for: it lands with the next flush (at the latest on close).
        For bookkeeping whose loss in a crash is harmless, e.g. marking an outbound
        message, already recorded as pending, as sent."""
        self._enqueue(_Job(STATEMENTS, statement, None))

    async def barrier(self) -> None:
        """Returns once everything queued before it is committed."""
        await self.submit(_BARRIER, None)

    def _enqueue(self, job: _Job[Any, Any]) -> None:
        if self._closed:
            raise RuntimeError("the write batcher is closed")
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_forever(), name="write-batcher")
        self._queue.append(job)
        self._wakeup.set()

    async def close(self) -> None:
        """Flush what is queued, then stop."""
        self._closed = True
        if self._flusher is not None:
            self._wakeup.set()
            await self._flusher
            self._flusher = None

    async def _flush_forever(self) -> None:
        while True:
            # Closed with nothing left: stop. Checked before every wait, because close()'s
            # wake-up may have been spent on a batch already queued (waiting for another
            # would hang the shutdown forever).
            if self._closed and not self._queue:
                return
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._queue:
                batch, self._queue = self._queue, []
                await self._flush(batch)

    async def _flush(self, batch: list[_Job[Any, Any]]) -> None:
        try:
            results = await self._apply(batch)
        except Exception:
            # One bad job must not sink the others: retry each in its own transaction.
            logger.exception(
                "batched write of %d jobs failed; retrying them one by one", len(batch)
            )
            for job in batch:
                try:
                    (result,) = await self._apply([job])
                except Exception as error:  # handed to the job's caller
                    if job.future is None:
                        logger.error("fire-and-forget write failed: %s (%s)", job.payload, error)
                    elif not job.future.done():
                        job.future.set_exception(error)
                else:
                    if job.future is not None and not job.future.done():
                        job.future.set_result(result)
            return
        for job, result in zip(batch, results, strict=True):
            if job.future is not None and not job.future.done():
                job.future.set_result(result)

    @retry_on_conflict
    async def _apply(self, batch: Sequence[_Job[Any, Any]]) -> list[Any]:
        by_kind: dict[int, tuple[BatchKind[Any, Any], list[int]]] = {}
        for index, job in enumerate(batch):
            by_kind.setdefault(id(job.kind), (job.kind, []))[1].append(index)
        results: list[Any] = [None] * len(batch)
        async with self._database.transaction() as session:
            for kind, indexes in by_kind.values():
                outcome = await kind.apply(session, [batch[index].payload for index in indexes])
                for index, result in zip(indexes, outcome, strict=True):
                    results[index] = result
        self.flushes += 1
        self.jobs += len(batch)
        return results
