"""Which database the tests run on, and a backend-neutral way for tests to look inside it.

Unset ``TEST_DATABASE_URL``: every test and every bot process gets an SQLite file of its own.
``TEST_DATABASE_URL=postgresql://user@host:port/postgres``: each gets a fresh database
created on that server instead (CREATE DATABASE), so tests never see each other's rows.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from storage.migrations import apply_migrations
from storage.postgres import moment_text

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
ON_POSTGRES = TEST_DATABASE_URL.startswith(("postgresql://", "postgres://"))


def fresh_database_url(directory: Path, filename: str = "bot.sqlite3") -> str:
    """A new, empty database: an SQLite file in `directory`, or a PostgreSQL database."""
    if not ON_POSTGRES:
        return f"sqlite:///{directory / filename}"
    import psycopg

    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return with_database(TEST_DATABASE_URL, name)


def migrated_database_url(
    directory: Path, filename: str = "bot.sqlite3", template: str | None = None
) -> str:
    """A new database with every migration applied: a copy of one migrated once per test
    session (a file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL), so a test
    pays for the copy, not for running every migration again. template: a copy of another
    migrated database instead (`filled_template`)."""
    template = template or _migrated_template()
    if not ON_POSTGRES:
        target = directory / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    import psycopg

    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return with_database(TEST_DATABASE_URL, name)


def filled_template(fill: Callable[[str], None]) -> str:
    """A template for `migrated_database_url`: a migrated database that `fill(url)` has
    written into (and closed: PostgreSQL copies a template only while nobody is connected)."""
    if not ON_POSTGRES:
        directory = Path(tempfile.mkdtemp(prefix="filled-template-"))
        url = migrated_database_url(directory, "template.sqlite3")
        fill(url)
        return str(directory / "template.sqlite3")
    url = migrated_database_url(Path())
    fill(url)
    return _database_name(url)


@cache
def _migrated_template() -> str:
    """The SQLite file, or the PostgreSQL database's name, that migrated copies come from."""
    if not ON_POSTGRES:
        path = Path(tempfile.mkdtemp(prefix="migrated-template-")) / "template.sqlite3"
        apply_migrations(f"sqlite:///{path}")
        return str(path)
    url = fresh_database_url(Path())
    apply_migrations(url)
    return _database_name(url)


def _database_name(url: str) -> str:
    """The PostgreSQL database a URL names (what CREATE DATABASE … TEMPLATE takes)."""
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def with_database(url: str, name: str) -> str:
    """The server URL pointing at database `name` (query string kept)."""
    head, _, query = url.partition("?")
    scheme, _, rest = head.partition("://")
    authority = rest.split("/", 1)[0]
    return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")


def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Run one statement (``?`` placeholders) on either backend, committed; its rows as dicts."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=15) as connection:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.execute(sql, params).fetchall()]
    import psycopg
    from psycopg.rows import dict_row

    # psycopg's placeholder is %s (and a literal % is %%); literals in these queries hold no ?.
    translated = re.sub(r"\?", "%s", sql.replace("%", "%%"))
    with psycopg.connect(
        url, autocommit=True, row_factory=dict_row, options="-c timezone=UTC"
    ) as connection:
        _read_as_the_bot_does(connection)
        cursor = connection.execute(translated.encode(), params)
        return list(cursor.fetchall()) if cursor.description else []


def _read_as_the_bot_does(connection: Any) -> None:
    """Timestamps and JSON as the bot reads them (storage/postgres.py's codecs): the app's UTC
    text and the JSON text, so a test reads the same values on both engines."""
    from psycopg.adapt import Loader

    class MomentLoader(Loader):
        def load(self, data: Any) -> str:
            return moment_text(bytes(data).decode())

    class JsonTextLoader(Loader):
        def load(self, data: Any) -> str:
            return bytes(data).decode()

    connection.adapters.register_loader("timestamptz", MomentLoader)
    for json_type in ("json", "jsonb"):
        connection.adapters.register_loader(json_type, JsonTextLoader)


def rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Like `query`, each row a tuple."""
    return [tuple(row.values()) for row in query(url, sql, params)]


def every_row_as_text(url: str) -> bytes:
    """Every row of every table of a PostgreSQL database, as text: what a scan for leftover
    personal data reads there (SQLite's tests read the file's bytes instead)."""
    tables = query(
        url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    parts = []
    for table in tables:
        name = '"' + str(table["tablename"]).replace('"', '""') + '"'
        parts += [str(row["r"]) for row in query(url, f"SELECT t::text AS r FROM {name} t")]
    return "\n".join(parts).encode()


def value(url: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    rows = query(url, sql, params)
    return next(iter(rows[0].values())) if rows else None
