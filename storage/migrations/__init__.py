"""Schema migrations: Alembic revisions of the one schema in storage/schema.py.

`apply_migrations(url)` brings a database to `HEAD`. The bot calls it at every start, so the
usual case, a database already at head, is answered here with the plain driver (one read of
`alembic_version`) and never imports SQLAlchemy or Alembic. Only a database that needs work
is migrated, in a child process (`python -m storage.migrations URL`, storage/migrations/
upgrade.py), so the bot's memory never holds those libraries (docs/design.md).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from storage.postgres import is_postgres

MIGRATIONS_ROOT = Path(__file__).parent

# The newest revision in versions/ (tests/unit/test_schema.py checks they agree).
HEAD = "0025_faq_tuning"

# What the child's exit status means.
EXIT_REFUSED = 2


@dataclass(frozen=True)
class MigrationReport:
    # The revisions this call applied, oldest first (none when the database was at head).
    applied: list[str]
    head: str


class SchemaRefused(Exception):
    """The database cannot be migrated as it stands (for instance an old release left its
    migrations half done); the message says what to do."""


class MigrationFailed(Exception):
    """The migration process failed; the message holds what it printed."""


# Migrations begun early (begin_migrations) and not yet waited for, by URL.
_begun: dict[str, subprocess.Popen[str]] = {}


def begin_migrations(url: str) -> None:
    """Start bringing the database at `url` to HEAD in the background, so that the child
    process (~0.5 s on a new database) runs while the caller imports the rest of the bot;
    apply_migrations then waits for it. Nothing starts when the database is at head."""
    if url not in _begun and current_revision(url) != HEAD:
        _begun[url] = _migrate_in_a_child(url)


def apply_migrations(url: str) -> MigrationReport:
    """Bring the database at `url` to HEAD; safe from several processes at once (the first
    migrates, the others wait for it and find the database at head)."""
    child = _begun.pop(url, None)
    if child is None:
        if current_revision(url) == HEAD:
            return MigrationReport(applied=[], head=HEAD)
        child = _migrate_in_a_child(url)
    stdout, stderr = child.communicate()
    if child.returncode == EXIT_REFUSED:
        raise SchemaRefused(stderr.strip())
    if child.returncode != 0:
        raise MigrationFailed(f"migrating the database failed:\n{stderr.strip()}")
    return MigrationReport(applied=stdout.split(), head=HEAD)


def _migrate_in_a_child(url: str) -> subprocess.Popen[str]:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(  # noqa: S603 - our own module, the URL as one argument
        [sys.executable, "-m", "storage.migrations", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def current_revision(url: str) -> str | None:
    """The revision recorded in the database, or None (no database yet, never migrated by
    Alembic, or unreadable: the migration process then finds out which)."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            return None
        try:
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error:
            return None
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            return None
        finally:
            connection.close()
        return None if row is None else str(row[0])
    if is_postgres(url):
        # Imported here: a bot on SQLite never needs the synchronous PostgreSQL driver.
        import psycopg

        try:
            with psycopg.connect(url) as server:
                row = server.execute("SELECT version_num FROM alembic_version").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        return None if row is None else str(row[0])
    raise NotImplementedError(f"no migrations for {url.split(':', 1)[0]}")
