"""Versioned schema migrations, applied with yoyo-migrations.

Each backend has its own folder of numbered SQL files (SQLite and PostgreSQL differ in
types); the file names, and so the versions, are the same in every folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from yoyo import get_backend, read_migrations

from storage.postgres import MIGRATION_LOCK_KEY, is_postgres, sync_url

MIGRATIONS_ROOT = Path(__file__).parent


@dataclass(frozen=True)
class MigrationReport:
    applied: list[str]
    current: list[str]


def _folder_for(url: str) -> Path:
    if url.startswith("sqlite:///"):
        return MIGRATIONS_ROOT / "sqlite"
    if is_postgres(url):
        return MIGRATIONS_ROOT / "postgresql"
    raise NotImplementedError(f"no migrations for {url.split(':', 1)[0]}")


def apply_migrations(url: str) -> MigrationReport:
    """Apply every pending migration; safe to run from several processes at once (yoyo locks)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    migrations = read_migrations(str(_folder_for(url)))
    with _exclusive(url):
        backend = get_backend(sync_url(url) if is_postgres(url) else url)
        try:
            with backend.lock():
                pending = backend.to_apply(migrations)
                applied = [migration.id for migration in pending]
                backend.apply_migrations(pending)
        finally:
            backend.connection.close()
    current = [migration.id for migration in migrations]
    return MigrationReport(applied=applied, current=current)


@contextmanager
def _exclusive(url: str) -> Iterator[None]:
    """On PostgreSQL, one migrating process at a time: yoyo's own lock is a row in a table
    it first creates, and two processes creating that table at once collide."""
    if not is_postgres(url):
        yield
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
