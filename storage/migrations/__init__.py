"""Versioned schema migrations, applied with yoyo-migrations.

Each backend has its own folder of numbered SQL files (SQLite and PostgreSQL differ in
types); the file names, and so the versions, are the same in every folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yoyo import get_backend, read_migrations

MIGRATIONS_ROOT = Path(__file__).parent


@dataclass(frozen=True)
class MigrationReport:
    applied: list[str]
    current: list[str]


def _folder_for(url: str) -> Path:
    if url.startswith("sqlite:///"):
        return MIGRATIONS_ROOT / "sqlite"
    raise NotImplementedError(f"no migrations for {url.split(':', 1)[0]}")


def apply_migrations(url: str) -> MigrationReport:
    """Apply every pending migration; safe to run from several processes at once (yoyo locks)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    backend = get_backend(url)
    migrations = read_migrations(str(_folder_for(url)))
    with backend.lock():
        pending = backend.to_apply(migrations)
        applied = [migration.id for migration in pending]
        backend.apply_migrations(pending)
    current = [migration.id for migration in migrations]
    backend.connection.close()
    return MigrationReport(applied=applied, current=current)
