"""The database connection: SQLite through aiosqlite, safe under concurrent handlers.

(``postgresql://`` URLs open storage.postgres instead: the same ``Session`` interface.)

Every write goes through one connection guarded by an asyncio lock and opens with
``BEGIN IMMEDIATE``: inside the process writers queue on the lock instead of racing for
SQLite's write lock (which is how "database is locked" happens), and another process (the
operator CLI) is waited for by ``busy_timeout``. Reads use a second connection; in WAL mode
they never block the writer nor wait for it.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from storage.conflicts import writing

logger = logging.getLogger(__name__)

# sqlite3.Row or asyncpg.Record: both index by column name and by position, and dict(row)
# works on both.
Row = Any
Params = Sequence[Any] | Mapping[str, Any]


def _integrity_errors() -> tuple[type[Exception], ...]:
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return (sqlite3.IntegrityError,)
    return (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)


# What a violated UNIQUE/CHECK/foreign key raises, whichever the backend.
IntegrityError = _integrity_errors()


BUSY_TIMEOUT_MS = 15_000
CHECKPOINT_WAIT_MS = 500


class Session:
    """A connection inside a transaction (or a read snapshot): the only thing repositories see."""

    # Which SQL dialect runs the statements, for the rare construct with no portable
    # spelling (e.g. building JSON in SQL).
    dialect = "sqlite"

    def for_update(self, of: str | None = None, *, skip_locked: bool = False) -> str:
        """The clause that ends a SELECT whose rows the transaction is about to change:
        empty on SQLite (one writer at a time holds the whole file), ``FOR UPDATE [OF t]
        [SKIP LOCKED]`` on PostgreSQL (see storage.postgres)."""
        return ""

    def as_moment(self, expression: str = "?") -> str:
        """A timestamp where PostgreSQL cannot tell the type from the column it goes to (a
        CASE, a value built in SQL): as is here (text), cast to timestamptz there."""
        return expression

    def as_json(self, expression: str) -> str:
        """A JSON document built in SQL as text: as is here, cast to jsonb on PostgreSQL."""
        return expression

    async def lock(self, table: str, row_id: int) -> None:
        """Inside a write transaction, wait until no other transaction holds the row, and
        hold it until this one ends: what the transaction reads next about it (a customer's
        balance and lots) stays true until it commits. Nothing to do on SQLite, where the
        transaction holds the whole file; a no-op in a read snapshot."""

    def __init__(self, connection: aiosqlite.Connection, opening: str | None = None) -> None:
        self._connection = connection
        # Writes nobody reads a result of (executemany) and the transaction's BEGIN wait here
        # and go to the connection's thread with the next call that needs it anyway: each
        # hop there and back costs more than SQLite's work (~0.1 ms, and a turn of the busy
        # event loop), and a group commit of a few hundred updates made fifteen of them. A
        # failing held write raises from that next call (or the commit), still inside the
        # transaction, which rolls back whole as before.
        self._held: list[tuple[str, list[Params] | None]] = []
        if opening is not None:
            self._held.append((opening, None))

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; returns the number of rows it changed."""
        cursor: sqlite3.Cursor = await self._hop(_run_statement, sql, params)
        return cursor.rowcount

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run an INSERT; returns the new row id, or None when nothing was inserted."""
        cursor: sqlite3.Cursor = await self._hop(_run_statement, sql, params)
        return cursor.lastrowid if cursor.rowcount > 0 else None

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        """Held until the next call that goes to the connection (see __init__)."""
        self._held.append((sql, list(rows)))

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = await self._hop(_fetch_all, sql, params)
        return rows

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def stream(
        self, sql: str, params: Params = (), size: int = 2000
    ) -> AsyncIterator[list[Row]]:
        """A query's rows in chunks of `size` (one hop per chunk)."""
        await self._send_held()
        cursor = await self._connection.execute(sql, params)
        try:
            while rows := list(await cursor.fetchmany(size)):
                yield rows
        finally:
            await cursor.close()

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A statement that may fail (IntegrityError) without spoiling the transaction:
        PostgreSQL aborts the whole transaction on an error unless it is inside one."""
        await self.execute("SAVEPOINT attempt")
        try:
            yield
            await self._send_held()  # a held write of the block fails inside it
        except BaseException:
            self._held.clear()
            await self._connection.execute("ROLLBACK TO attempt")
            await self._connection.execute("RELEASE attempt")
            raise
        await self._connection.execute("RELEASE attempt")

    async def _send_held(self) -> None:
        if self._held:
            await self._hop(None)

    async def commit(self) -> None:
        """What is held, then COMMIT, in one hop."""
        await self._hop(_commit)

    async def _hop(self, operation: Any, *args: Any) -> Any:
        held, self._held = self._held, []
        # aiosqlite runs every call as a function on its connection's thread; `_execute`
        # is how its own methods queue theirs. Running ours there is what lets the held
        # writes and the call that needs a result share one hop.
        return await self._connection._execute(  # type: ignore[no-untyped-call]
            _in_thread, self._connection._conn, held, operation, *args
        )


def _in_thread(
    connection: sqlite3.Connection,
    held: list[tuple[str, list[Params] | None]],
    operation: Any,
    *args: Any,
) -> Any:
    for sql, rows in held:
        if rows is None:
            connection.execute(sql)
        elif rows:
            connection.executemany(sql, rows)
    return None if operation is None else operation(connection, *args)


def _run_statement(connection: sqlite3.Connection, sql: str, params: Params) -> sqlite3.Cursor:
    return connection.execute(sql, params)


def _fetch_all(connection: sqlite3.Connection, sql: str, params: Params) -> list[Row]:
    return connection.execute(sql, params).fetchall()


def _commit(connection: sqlite3.Connection) -> None:
    connection.commit()


class Database:
    dialect = "sqlite"
    # The file, for SQLite; None for a server database.
    path: Path | None

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.url = f"sqlite:///{path}"
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()
        self._role_locks: dict[str, int] = {}

    @classmethod
    async def open(cls, url: str) -> Database:
        """The SQLite database at `url` (storage.unit_of_work.open_database picks the engine)."""
        if not url.startswith("sqlite:///"):
            raise NotImplementedError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path)
        reader = await _connect(path)
        return cls(path, writer, reader)

    async def close(self) -> None:
        """Closes both connections whatever happens first: an unclosed aiosqlite connection
        keeps its thread, and the process, alive after everything else stopped."""
        try:
            async with self._write_lock:
                try:
                    # Folding the WAL back into the main file leaves a single file behind,
                    # which is what an operator copying the database expects.
                    await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.OperationalError as error:  # e.g. "database table is locked"
                    logger.warning("closing %s without folding the WAL back: %s", self.path, error)
                finally:
                    await self._writer.close()
        finally:
            try:
                await self._reader.close()
            finally:
                for descriptor in self._role_locks.values():
                    os.close(descriptor)
                self._role_locks.clear()

    async def checkpoint(self) -> bool:
        """Fold the WAL back into the main file and empty it; False when a reader kept part
        of it. After erasing data: with secure_delete, no old copy remains in either file."""
        async with self._write_lock:
            # TRUNCATE waits for readers on the busy handler while it holds the write lock:
            # bounded, so a reader's long snapshot costs the other writers a moment, not
            # BUSY_TIMEOUT_MS (a stall of every write seen under load); what is left is folded
            # at the next checkpoint.
            await self._writer.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
            try:
                cursor = await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                row = await cursor.fetchone()
            finally:
                await self._writer.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return row is not None and row[0] == 0

    async def hold_role(self, name: str) -> bool:
        """Whether this process holds the named role (e.g. the broadcast sender), which one
        process at a time may hold among all that share the database. SQLite: an exclusive
        lock on a file beside the database, which the OS frees when the holder exits (even
        on kill -9). Asked again on every pass: a holder keeps it until it stops; others
        take it over once it is gone."""
        if name in self._role_locks or self.path is None:
            return True
        lock_path = self.path.with_name(f"{self.path.name}.{name}.lock")
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._role_locks[name] = descriptor
        return True

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        async with self._write_lock:
            if self._writer.in_transaction:
                # A transaction cancelled while its BEGIN was on the way never rolled back.
                await self._writer.rollback()
            session = Session(self._writer, opening="BEGIN IMMEDIATE")
            try:
                with writing():
                    yield session
                    await session.commit()
            except BaseException:
                await self._writer.rollback()
                raise

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Session]:
        """A consistent read of several statements; never blocks writers."""
        async with self._read_lock:
            if self._reader.in_transaction:
                # A snapshot cancelled while its BEGIN was on the way (a stop, a timeout)
                # never reached its rollback; the connection is ours again now.
                await self._reader.rollback()
            try:
                yield Session(self._reader, opening="BEGIN")
            finally:
                await self._reader.rollback()


async def _connect(path: Path) -> aiosqlite.Connection:
    # isolation_level=None: we issue BEGIN ourselves, so the driver never opens a
    # transaction behind our back (and never as DEFERRED, which can deadlock writers).
    connection = await aiosqlite.connect(path, isolation_level=None)
    connection.row_factory = sqlite3.Row
    await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    await connection.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode survives a process crash (kill -9); only an OS crash or power
    # loss can drop the last transactions, and it never corrupts the file.
    await connection.execute("PRAGMA synchronous = NORMAL")
    await connection.execute("PRAGMA foreign_keys = ON")
    # Deleted and overwritten content is zeroed, not merely marked free: after /forget or
    # the retention job, a customer's texts cannot be read back from the file's free space.
    await connection.execute("PRAGMA secure_delete = ON")
    return connection
