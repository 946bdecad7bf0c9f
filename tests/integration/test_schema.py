"""One schema source: what Alembic builds, and how databases of earlier releases come over.

tests/data/schema_0022_{sqlite,postgresql}.sql hold what the yoyo migrations 0001…0022 built
(tests/data/README.md), which is the baseline (0023): a new database must have exactly that,
column order, types, defaults, constraints, indexes, triggers and functions included, on the
engine under test, changed only as the later revisions say (tests/yoyo_era.py:head_schema).
"""

import json
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from bot.cli import main as cli_main
from bot.config import load_settings
from storage import migrations
from storage.clock import from_db
from storage.migrations import HEAD, SchemaRefused, apply_migrations, current_revision
from storage.migrations.upgrade import BASELINE, YOYO_MIGRATIONS, engine_url, revisions
from storage.schema import metadata
from storage.unit_of_work import open_storage
from tests.databases import ON_POSTGRES, fresh_database_url, migrated_database_url, query
from tests.schema_dump import dump
from tests.yoyo_era import head_schema, yoyo_era_database


def test_a_new_database_has_the_frozen_schema_and_is_at_head(tmp_path):
    url = fresh_database_url(tmp_path)
    assert current_revision(url) is None
    report = apply_migrations(url)
    assert report.applied == revisions()
    assert dump(url) == head_schema()
    assert current_revision(url) == HEAD
    assert apply_migrations(url).applied == []  # at head: nothing to do, and nothing done


def test_the_bot_process_never_holds_sqlalchemy_nor_alembic(tmp_path):
    # A new database is migrated by a child process; one at head is only read.
    url = fresh_database_url(tmp_path)
    script = (
        "import json, sys; from storage.migrations import apply_migrations; "
        "reports = [apply_migrations(sys.argv[1]).applied for _ in range(2)]; "
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'alembic'}); "
        "print(json.dumps([reports, loaded]))"
    )
    child = subprocess.run(
        [sys.executable, "-c", script, url], capture_output=True, text=True, check=True
    )
    assert json.loads(child.stdout) == [[revisions(), []], []]


def test_autogenerate_finds_nothing_to_do_at_head(tmp_path):
    # What lets `autogenerate` draft a revision from a change to storage/schema.py alone.
    if not ON_POSTGRES:
        pytest.skip("drafted against PostgreSQL: on SQLite, lone keys read back as nullable")
    engine = create_engine(engine_url(migrated_database_url(tmp_path)), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    finally:
        engine.dispose()


def test_head_is_the_newest_revision():
    assert revisions()[-1] == HEAD
    assert revisions()[0] == BASELINE


def test_a_database_of_the_yoyo_releases_is_stamped_and_keeps_its_rows(tmp_path):
    url = fresh_database_url(tmp_path)
    yoyo_era_database(url)
    query(
        url,
        "INSERT INTO customers (telegram_id, first_name, first_seen, last_seen)"
        " VALUES (?, ?, ?, ?)",
        (42, "Ann", "2026-01-01 00:00:00.000000", "2026-01-01 00:00:00.000000"),
    )
    report = apply_migrations(url)
    assert report.applied == revisions()[revisions().index(BASELINE) + 1 :]
    assert current_revision(url) == HEAD
    # The revisions after the baseline bring it where a new database starts.
    assert dump(url) == dump(migrated_database_url(tmp_path / "new"))
    assert query(url, "SELECT telegram_id, first_name FROM customers") == [
        {"telegram_id": 42, "first_name": "Ann"}
    ]


def test_a_half_migrated_yoyo_database_is_refused_with_exit_2(tmp_path, capsys):
    url = fresh_database_url(tmp_path)
    yoyo_era_database(url, applied=YOYO_MIGRATIONS[:13])
    child = subprocess.run(
        [sys.executable, "-m", "storage.migrations", url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert child.returncode == 2
    assert "0013_ops" in child.stderr and "half-migrated" in child.stderr
    with pytest.raises(SchemaRefused, match="0022_ticket_cards"):
        apply_migrations(url)
    assert cli_main(["migrate"], load_settings({"DATABASE_URL": url}, env_file=None)) == 2
    assert "half-migrated" in capsys.readouterr().err
    assert current_revision(url) is None  # left as it was


MOMENTS = (
    "2026-01-01 00:00:00.000000",  # PostgreSQL prints no fraction for these
    "2026-03-04 05:06:07.500000",  # and a short one for these
    "2026-12-31 23:59:59.123456",
)


async def test_upgrading_keeps_every_row_and_the_values_the_code_reads(tmp_path):
    url = fresh_database_url(tmp_path)
    yoyo_era_database(url)
    document = {"ru": "Привет", "buttons": [[{"text": "Сайт", "url": "https://example.com"}]]}
    for number, moment in enumerate(MOMENTS, start=1):
        query(
            url,
            "INSERT INTO customers (telegram_id, first_name, first_seen, last_seen, birthday)"
            " VALUES (?, ?, ?, ?, ?)",
            (number, "Ann", moment, moment, "02-29"),
        )
        query(
            url,
            "INSERT INTO audit (at, via, action, after) VALUES (?, 'cli', 'test', ?)",
            (moment, json.dumps(document)),
        )
    apply_migrations(url)
    storage = await open_storage(url)
    try:
        async with storage.database.snapshot() as session:
            customers = await session.fetch_all(
                "SELECT first_seen, last_seen, birthday FROM customers ORDER BY telegram_id"
            )
            audit = await session.fetch_all("SELECT at, after FROM audit ORDER BY id")
    finally:
        await storage.close()
    assert [tuple(row) for row in customers] == [(m, m, "02-29") for m in MOMENTS]
    assert [row["at"] for row in audit] == list(MOMENTS)
    # jsonb keeps the document, not its spelling (key order, escapes): the code parses it.
    assert [json.loads(row["after"]) for row in audit] == [document] * len(MOMENTS)


async def test_a_timestamp_written_is_read_back_unchanged(tmp_path):
    storage = await open_storage(migrated_database_url(tmp_path))
    try:
        async with storage.database.transaction() as session:
            for number, moment in enumerate(MOMENTS, start=1):
                await session.execute(
                    "INSERT INTO customers (telegram_id, first_seen, last_seen) VALUES (?, ?, ?)",
                    (number, moment, moment),
                )
        async with storage.database.snapshot() as session:
            read = await session.fetch_all(
                "SELECT first_seen, MAX(last_seen) OVER () AS latest FROM customers"
                " WHERE first_seen >= ? ORDER BY first_seen",
                (MOMENTS[0],),
            )
            days = await session.fetch_value(
                "SELECT julianday(MAX(first_seen)) - julianday(MIN(first_seen)) FROM customers"
            )
    finally:
        await storage.close()
    assert [row["first_seen"] for row in read] == list(MOMENTS)
    assert {row["latest"] for row in read} == {MOMENTS[-1]}
    expected = (from_db(MOMENTS[-1]) - from_db(MOMENTS[0])).total_seconds() / 86400
    assert abs(days - expected) < 1e-6


def test_migrations_begun_early_are_waited_for_once_and_at_head_none_begin(tmp_path):
    url = migrated_database_url(tmp_path / "at-head")
    migrations.begin_migrations(url)
    assert url not in migrations._begun  # at head: nothing to start

    new = f"sqlite:///{tmp_path / 'new' / 'bot.sqlite3'}"
    migrations.begin_migrations(new)
    migrations.begin_migrations(new)  # one child per URL
    child = migrations._begun[new]
    report = migrations.apply_migrations(new)
    assert child.returncode == 0 and new not in migrations._begun
    assert report.applied[-1] == migrations.HEAD
    assert migrations.current_revision(new) == migrations.HEAD
    assert migrations.apply_migrations(new).applied == []
