"""The PostgreSQL backend (``DATABASE_URL=postgresql://...``) through asyncpg.

It offers repositories the very ``Session`` interface the SQLite backend does, so the SQL in
storage/repositories is written once: ``?`` and ``:name`` placeholders are rewritten to
PostgreSQL's ``$n`` (once per SQL text, cached), ``insert()`` appends ``RETURNING id``, and
rows (``asyncpg.Record``) index by name and by position like ``sqlite3.Row``.

Concurrency. Write transactions run side by side, in every bot process sharing the database,
at READ COMMITTED (each statement sees what was committed before it began); there is no
global lock, so replicas add throughput. The services' check-then-write logic (idempotent
purchases, never-negative balances, one claim of a daily job, a broadcast recipient sent
once, outbox claims) holds through four means, instead of SQLite's one writer at a time:

- Unique constraints with ``ON CONFLICT``: an idempotency key, a job's (name, day), a
  processed update; the second inserter waits for the first to commit, then does nothing.
- Row locks on what is about to change: reading a customer's balance, lots or purchase
  history inside a write transaction first takes ``SELECT … FOR NO KEY UPDATE`` on the
  customer's row (``Session.lock``, done by the ledger repositories), so two spends of one
  balance take turns and the second reads what the first committed. Customers apart never
  wait for each other.
- Claims with ``FOR UPDATE SKIP LOCKED`` (outbox notices, job take-overs, the webhook
  inbox): a replica skips rows another is claiming, and a row claimed meanwhile fails the
  claim's condition when re-checked.
- Retries (storage.conflicts.retry_on_conflict): a transaction that lost a race (40001,
  40P01, or a unique key another transaction inserted after this one checked it) is rolled
  back and the whole service method runs again, and then finds the winner's row.

Broadcast sending stays with one process at a time (``hold_role``, a session advisory lock),
which is what sends each recipient once. Reads run in REPEATABLE READ snapshots on a pool of
connections and never wait for writers (MVCC), like SQLite's WAL readers; a read opened
inside the task's own write transaction uses that transaction's connection.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from storage.clock import to_db
from storage.conflicts import writing
from storage.database import Database, Params, Row, Session

# The lock `apply_migrations` holds while it migrates (see storage.migrations); an arbitrary
# 64-bit constant ("loyalty" + 1) so it is recognisable in pg_locks.
MIGRATION_LOCK_KEY = 0x6C6F79616C7479 + 1

POOL_SIZE = 10

Connection = asyncpg.Connection | PoolConnectionProxy

_TOKEN = re.compile(
    r"""
      '(?:[^']|'')*'          # a string literal
    | "(?:[^"]|"")*"          # a quoted identifier
    | --[^\n]*                # a comment
    | ::                      # a cast, not a parameter
    | \?                      # a positional parameter
    | (?<![\w:]):([A-Za-z_]\w*)  # a named parameter
    """,
    re.VERBOSE,
)


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """SQL with ``?`` or ``:name`` placeholders -> (SQL with ``$n``, the names in order, or
    None for positional parameters). A name used twice is one parameter."""
    names: dict[str, int] = {}
    positional = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal positional
        token = match.group(0)
        if token == "?":
            positional += 1
            return f"${positional}"
        name = match.group(1)
        if name is not None:
            if name not in names:
                names[name] = len(names) + 1
            return f"${names[name]}"
        return token

    translated = _TOKEN.sub(replace, sql)
    if names and positional:
        raise ValueError("SQL mixes ? and :name parameters")
    return translated, (tuple(names) if names else None)


def _arguments(names: tuple[str, ...] | None, params: Params) -> list[Any]:
    if names is None:
        if isinstance(params, Mapping):
            raise TypeError("named parameters given to SQL with ? placeholders")
        return list(params)
    if not isinstance(params, Mapping):
        raise TypeError("positional parameters given to SQL with :name placeholders")
    return [params[name] for name in names]


def _rowcount(status: str) -> int:
    # "INSERT 0 3", "UPDATE 2", "DELETE 0", "SELECT 1"
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _number(text: str) -> int | float:
    """NUMERIC (what SUM and AVG over integers return) as SQLite gives it: whole numbers as
    int, others as float, never Decimal (which json and the code's arithmetic reject)."""
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


def moment_text(text: str) -> str:
    """A timestamptz as the app's text (storage/clock.py): PostgreSQL prints
    '2026-01-02 03:04:05+00', '…05.5+00' or '…05.123456+00' in the session's time zone (UTC,
    set where the pool is made); the app's text always has six fractional digits."""
    if not text.endswith("+00"):  # another zone (a session that changed it): convert
        return to_db(datetime.fromisoformat(text))
    seconds, _, fraction = text[:-3].partition(".")
    return f"{seconds}.{fraction:0<6}"


def _moment_in(value: str | datetime) -> str:
    """The app's UTC text as is (the session's zone is UTC); an aware datetime as that text."""
    return to_db(value) if isinstance(value, datetime) else value


def _same_text(text: str) -> str:
    return text


async def _setup(connection: asyncpg.Connection) -> None:
    # The code sees the same Python values as on SQLite (docs/design.md): numbers as int or
    # float, timestamps as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff', JSON as its text.
    await connection.set_type_codec(
        "numeric", encoder=str, decoder=_number, schema="pg_catalog", format="text"
    )
    await connection.set_type_codec(
        "timestamptz",
        encoder=_moment_in,
        decoder=moment_text,
        schema="pg_catalog",
        format="text",
    )
    for json_type in ("json", "jsonb"):
        await connection.set_type_codec(
            json_type, encoder=_same_text, decoder=_same_text, schema="pg_catalog", format="text"
        )


class PostgresSession(Session):
    dialect = "postgresql"

    def __init__(self, connection: Connection, *, writable: bool) -> None:  # noqa: D107
        self._pg = connection
        self._writable = writable
        self._locked: set[tuple[str, int]] = set()

    def for_update(self, of: str | None = None, *, skip_locked: bool = False) -> str:
        return " FOR UPDATE" + (f" OF {of}" if of else "") + (" SKIP LOCKED" if skip_locked else "")

    def as_moment(self, expression: str = "?") -> str:
        return f"CAST({expression} AS timestamptz)"

    def as_json(self, expression: str) -> str:
        return f"CAST({expression} AS jsonb)"

    async def lock(self, table: str, row_id: int) -> None:
        if not self._writable or (table, row_id) in self._locked:
            return
        # NO KEY UPDATE: rows of other tables that merely refer to this one (an interaction
        # logged for the customer) are inserted meanwhile without waiting for it.
        await self._pg.execute(  # noqa: S608
            f"SELECT 1 FROM {table} WHERE id = $1 FOR NO KEY UPDATE", row_id
        )
        self._locked.add((table, row_id))

    async def execute(self, sql: str, params: Params = ()) -> int:
        query, names = translate(sql)
        return _rowcount(await self._pg.execute(query, *_arguments(names, params)))

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        query, names = translate(sql.rstrip().rstrip(";") + " RETURNING id")
        value = await self._pg.fetchval(query, *_arguments(names, params))
        return None if value is None else int(value)

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        query, names = translate(sql)
        arguments = [_arguments(names, row) for row in rows]
        if arguments:
            await self._pg.executemany(query, arguments)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        query, names = translate(sql)
        return list(await self._pg.fetch(query, *_arguments(names, params)))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        query, names = translate(sql)
        row: Row | None = await self._pg.fetchrow(query, *_arguments(names, params))
        return row

    async def stream(
        self, sql: str, params: Params = (), size: int = 2000
    ) -> AsyncIterator[list[Row]]:
        query, names = translate(sql)
        cursor = await self._pg.cursor(query, *_arguments(names, params))
        while rows := list(await cursor.fetch(size)):
            yield rows

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        query, names = translate(sql)
        return await self._pg.fetchval(query, *_arguments(names, params))

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        await self._pg.execute("SAVEPOINT attempt")
        try:
            yield
        except BaseException:
            await self._pg.execute("ROLLBACK TO SAVEPOINT attempt; RELEASE SAVEPOINT attempt")
            raise
        await self._pg.execute("RELEASE SAVEPOINT attempt")


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, url: str, pool: asyncpg.Pool) -> None:  # noqa: D107
        self.url = url
        self.path = None
        self._pool = pool
        # A connection of its own per role this process contends for: a session advisory
        # lock lives as long as its connection, so a crashed holder frees the role at once.
        self._roles: dict[str, tuple[asyncpg.Connection, bool]] = {}

    @classmethod
    async def connect(cls, url: str) -> PostgresDatabase:
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            init=_setup,
            statement_cache_size=1024,
            # Timestamps without a zone (the app's text) are UTC, and are printed in UTC.
            server_settings={"timezone": "UTC"},
        )
        return cls(url, pool)

    async def close(self) -> None:
        for connection, _held in self._roles.values():
            await connection.close()
        self._roles.clear()
        await self._pool.close()

    async def hold_role(self, name: str) -> bool:
        entry = self._roles.get(name)
        if entry is not None and entry[0].is_closed():
            del self._roles[name]
            entry = None
        if entry is not None and entry[1]:
            return True
        connection = entry[0] if entry is not None else await asyncpg.connect(self.url)
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        held = bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)", key))
        self._roles[name] = (connection, held)
        return held

    async def checkpoint(self) -> bool:
        # No WAL file of ours to fold: erased rows are gone from every query at commit, and
        # autovacuum reclaims their space (see the README's data-rights notes).
        return True

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        # READ COMMITTED, no lock of its own: see the module docstring.
        async with self._pool.acquire() as connection:
            await connection.execute("BEGIN")
            opened = _open_transaction.set((asyncio.current_task(), connection))
            try:
                with writing():
                    yield PostgresSession(connection, writable=True)
            except BaseException:
                await _rollback(connection)
                raise
            finally:
                _open_transaction.reset(opened)
            await connection.execute("COMMIT")

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Session]:
        task, connection = _open_transaction.get()
        if task is not None and task is asyncio.current_task() and connection is not None:
            # A read inside this task's own write transaction: on the same connection, as
            # a second one could wait forever for a pool emptied by writers doing the same.
            yield PostgresSession(connection, writable=False)
            return
        async with self._pool.acquire() as connection:
            await connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield PostgresSession(connection, writable=False)
            finally:
                await _rollback(connection)


# The write transaction the running task has open (a task started inside one inherits the
# variable, hence the task beside the connection).
_open_transaction: contextvars.ContextVar[tuple[asyncio.Task[Any] | None, Connection | None]] = (
    contextvars.ContextVar("open_transaction", default=(None, None))
)


async def _rollback(connection: Connection) -> None:
    if not connection.is_closed():
        await connection.execute("ROLLBACK")


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def sync_url(url: str) -> str:
    """SQLAlchemy's name for the URL with psycopg 3: the migrations run on a synchronous
    driver (storage/migrations/upgrade.py)."""
    return "postgresql+psycopg://" + url.split("://", 1)[1]
