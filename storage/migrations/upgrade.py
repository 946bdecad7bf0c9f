"""Migrating with Alembic: run in a process of its own (`python -m storage.migrations`), never
imported by the bot (storage/migrations/__init__.py says why).

What a database gets depends on what it holds:

- `alembic_version`: the revisions after the recorded one are applied;
- nothing at all: storage/schema.py builds every table at once and the database is stamped at
  head (Alembic's "create from scratch" recipe: a new database never replays history);
- the bookkeeping of the yoyo migrations of earlier releases, complete up to 0022: that is
  exactly the baseline's schema (tests/unit/test_schema.py proves it), so the database is
  stamped at 0023_baseline, unchanged, and later revisions applied;
- yoyo's bookkeeping with some of those migrations missing, or tables without any record of
  migrations: refused (SchemaRefused, exit 2), since no revision knows how to bring them here.

All of it runs in one transaction that first takes the database's write lock (an advisory lock
on PostgreSQL, BEGIN IMMEDIATE on SQLite), so processes starting together migrate once: the
others wait, then find the database at head.
"""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, event, inspect, text
from sqlalchemy.pool import NullPool

from storage import schema
from storage.migrations import MIGRATIONS_ROOT, SchemaRefused
from storage.postgres import MIGRATION_LOCK_KEY, is_postgres, sync_url

BASELINE = "0023_baseline"

# Every migration the last yoyo release (0022) applied: a database holding them all has the
# baseline's schema.
YOYO_MIGRATIONS = (
    "0001_initial",
    "0002_faq",
    "0003_roles_audit",
    "0004_loyalty",
    "0005_support",
    "0006_broadcasts",
    "0007_privacy",
    "0008_analytics",
    "0009_reviews",
    "0010_nps",
    "0011_feedback",
    "0011_review_channel",
    "0012_campaigns",
    "0013_ops",
    "0014_request_fingerprints",
    "0015_referral_guards",
    "0021_admin_broadcasts",
    "0022_ticket_cards",
)

# How long a migrating SQLite process waits for another one to finish (seconds).
SQLITE_WAIT = 120


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_ROOT))
    # `revision(..., rev_id="0024_what")` writes versions/r0024_what.py, as they are named.
    config.set_main_option("file_template", "r%%(rev)s")
    config.attributes["connection"] = connection
    return config


def revisions() -> list[str]:
    """Every revision in versions/, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def engine_url(url: str) -> str:
    """SQLAlchemy's name for the URL: PostgreSQL through psycopg 3 (a synchronous driver)."""
    return sync_url(url) if is_postgres(url) else url


def migrate(url: str) -> list[str]:
    """Bring the database at `url` to head; the revisions applied, oldest first."""
    if is_postgres(url):
        engine = create_engine(engine_url(url), poolclass=NullPool)
    else:
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": SQLITE_WAIT})
        # Python's sqlite3 would open the transaction only at the first INSERT, and leave
        # DDL outside it: take the write lock at once and keep every statement inside.
        event.listen(engine, "connect", _no_implicit_transactions)
        event.listen(
            engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE")
        )
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            return _migrate(connection)
    finally:
        engine.dispose()


def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _migrate(connection: Connection) -> list[str]:
    tables = set(inspect(connection).get_table_names())
    config = alembic_config(connection)
    all_revisions = revisions()
    if "alembic_version" in tables:
        current = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(config, "head")
        if current is None:
            return all_revisions
        return all_revisions[all_revisions.index(current) + 1 :]
    if "_yoyo_migration" in tables:
        done = {
            row[0] for row in connection.execute(text("SELECT migration_id FROM _yoyo_migration"))
        }
        missing = [migration for migration in YOYO_MIGRATIONS if migration not in done]
        if missing:
            raise SchemaRefused(
                "This database was left half-migrated by an earlier release (its migrations "
                f"{', '.join(missing)} were never applied). Run `python -m bot migrate` with "
                "the release that made it first, then upgrade (docs/operations.md)."
            )
        command.stamp(config, BASELINE)
        command.upgrade(config, "head")
        return all_revisions[all_revisions.index(BASELINE) + 1 :]
    if tables:
        raise SchemaRefused(
            f"This database holds tables ({', '.join(sorted(tables)[:5])}, …) but no record "
            "of migrations: it was not made by this bot. Point DATABASE_URL at an empty "
            "database or at the bot's own."
        )
    schema.create(connection)
    command.stamp(config, "head")
    return all_revisions
