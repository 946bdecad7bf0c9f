"""Write transactions that lose a race on PostgreSQL, and running them again.

On PostgreSQL write transactions run side by side (storage.postgres); one that loses a race
raises a `ConflictError` and must run again from its first statement, which the block of an
``async with storage.write()`` cannot do. So the service method that owns the transaction
carries `@retry_on_conflict`, and the whole method runs again. On SQLite (one writer at a
time) nothing raises a `ConflictError`, and the decorator costs one call.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import asyncpg

logger = logging.getLogger(__name__)

# Runs of a method that keeps losing races before its error reaches the caller; a loser
# waits a little (more each time, with jitter) so the winner can commit first.
CONFLICT_ATTEMPTS = 6
CONFLICT_BACKOFF_SECONDS = 0.005

P = ParamSpec("P")
T = TypeVar("T")


# What a PostgreSQL write transaction that lost a race with another one raises: run it again
# from the start (retry_on_conflict).
ConflictError = (
    asyncpg.SerializationError,  # 40001
    asyncpg.DeadlockDetectedError,  # 40P01
    # 23505 escaping a transaction: two transactions checked that a key was free and both
    # inserted it; run again, the loser finds the winner's row. (SQLite runs one writer at a
    # time, so there it is a real error, and sqlite3 raises another class.)
    asyncpg.UniqueViolationError,
)


# The task whose write transaction is open. A task started inside one inherits the variable,
# hence the task rather than a flag.
_writing_task: contextvars.ContextVar[asyncio.Task[Any] | None] = contextvars.ContextVar(
    "writing_task", default=None
)


@contextmanager
def writing() -> Iterator[None]:
    """Held by the backends' `transaction()` for as long as the transaction is open."""
    marked = _writing_task.set(asyncio.current_task())
    try:
        yield
    finally:
        _writing_task.reset(marked)


def in_transaction() -> bool:
    task = asyncio.current_task()
    return task is not None and _writing_task.get() is task


def retry_on_conflict(
    method: Callable[P, Awaitable[T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Run `method` again, from the start, when a write transaction it opened lost a race
    (serialization failure, deadlock, a unique key taken meanwhile); any other error goes to
    the caller at once. For a method whose only effects are its transactions: a retry
    repeats everything it did before the failure. Called inside a transaction that is
    already open (a `..._in(uow)` helper), it runs once: the owner of the transaction
    retries."""

    @functools.wraps(method)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        if in_transaction():
            return await method(*args, **kwargs)
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return await method(*args, **kwargs)
            except ConflictError as error:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                logger.info(
                    "%s lost a race (%s), running it again (attempt %d)",
                    method.__qualname__,
                    type(error).__name__,
                    attempt + 1,
                )
                await asyncio.sleep(random.uniform(0, CONFLICT_BACKOFF_SECONDS * attempt))  # noqa: S311
        raise AssertionError("unreachable")

    return run
