"""A database as the releases before Alembic left it, made without their migration tool.

Those releases migrated with yoyo (numbered SQL files 0001…0022) and recorded each migration
in yoyo's own tables. `yoyo_era_database` rebuilds the schema from the frozen dump
(tests/data/schema_0022_*.sql: it says every column, constraint, index, trigger and function)
rather than from storage/schema.py, so the fixture stays the old release's database however
the schema moves on, and checks the result against the dump. Then it adds yoyo's bookkeeping,
with every one of those migrations recorded, or only some for a half-migrated database.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from storage.migrations.upgrade import YOYO_MIGRATIONS
from storage.migrations.versions import r0024_pg_types
from tests.databases import ON_POSTGRES, query
from tests.schema_dump import dump

FROZEN = Path(__file__).parent / "data"

# yoyo-migrations' bookkeeping tables, as it created them.
_YOYO_TABLES = (
    'CREATE TABLE "yoyo_lock" ("locked" INT DEFAULT 1, "ctime" TIMESTAMP, "pid" INT NOT NULL,'
    ' PRIMARY KEY ("locked"))',
    'CREATE TABLE "_yoyo_log" ("id" VARCHAR(36), "migration_hash" VARCHAR(64),'
    ' "migration_id" VARCHAR(255), "operation" VARCHAR(10), "username" VARCHAR(255),'
    ' "hostname" VARCHAR(255), "comment" VARCHAR(255), "created_at_utc" TIMESTAMP,'
    ' PRIMARY KEY ("id"))',
    'CREATE TABLE "_yoyo_version" ("version" INT NOT NULL PRIMARY KEY,'
    ' "installed_at_utc" TIMESTAMP)',
    'CREATE TABLE "_yoyo_migration" ("migration_hash" VARCHAR(64), "migration_id" VARCHAR(255),'
    ' "applied_at_utc" TIMESTAMP, PRIMARY KEY ("migration_hash"))',
)


def frozen_schema() -> str:
    """The schema the yoyo migrations built on the engine under test."""
    engine = "postgresql" if ON_POSTGRES else "sqlite"
    return (FROZEN / f"schema_0022_{engine}.sql").read_text()


# 0025_faq_tuning's table, as each engine describes it.
_FAQ_TUNING_COLUMNS = {
    "sqlite": [
        "  column id: INTEGER | pk=1",
        "  column phrasings_sha256: TEXT | not null",
        "  column weights_sha256: TEXT | not null",
        "  column weights: BLOB | not null",
        "  column floor: REAL | not null",
        "  column with_lead: REAL | not null",
        "  column report: TEXT | not null",
        "  column created_at: TEXT | not null",
    ],
    "postgresql": [
        "  column id: bigint | not null | identity by default",
        "  column phrasings_sha256: text | not null",
        "  column weights_sha256: text | not null",
        "  column weights: bytea | not null",
        "  column floor: double precision | not null",
        "  column with_lead: double precision | not null",
        "  column report: jsonb | not null",
        "  column created_at: timestamp with time zone | not null",
        "  constraint faq_tuning_pkey PRIMARY KEY (id)",
    ],
}
_FAQ_TUNING_INDEX = (
    "index faq_tuning_pkey: CREATE UNIQUE INDEX faq_tuning_pkey ON public.faq_tuning USING"
    " btree (id)"
)


def head_schema() -> str:
    """The frozen schema changed by the revisions after the baseline, written out by hand from
    what each says it does: on PostgreSQL, 0024_pg_types turns its timestamp columns into
    timestamptz and its JSON columns into jsonb, and adds julianday(timestamptz); on SQLite
    nothing changes. 0025_faq_tuning adds the faq_tuning table on both."""
    frozen = frozen_schema()
    lines = _with_faq_tuning(
        _with_pg_types(frozen.splitlines()) if ON_POSTGRES else frozen.splitlines()
    )
    functions = sorted(line for line in lines if line.startswith("function "))
    return (
        "\n".join([*(line for line in lines if not line.startswith("function ")), *functions])
        + "\n"
    )


def _with_pg_types(frozen: list[str]) -> list[str]:
    new_types = {
        **{
            (table, column): "timestamp with time zone"
            for table, columns in r0024_pg_types.TIMESTAMP_COLUMNS.items()
            for column in columns
        },
        **{
            (table, column): "jsonb"
            for table, columns in r0024_pg_types.JSON_COLUMNS.items()
            for column in columns
        },
    }
    lines: list[str] = []
    table = ""
    for line in frozen:
        if line.startswith("table "):
            table = line.removeprefix("table ")
        column = re.fullmatch(r"  column (\w+): text( \|.*)?", line)
        if column and (table, column.group(1)) in new_types:
            new_type = new_types[table, column.group(1)]
            attributes = (column.group(2) or "").replace("'::text", f"'::{new_type}")
            lines.append(f"  column {column.group(1)}: {new_type}{attributes}")
        else:
            lines.append(line)
    lines.append(
        "function julianday(moment timestamp with time zone): CREATE OR REPLACE FUNCTION"
        " public.julianday(moment timestamp with time zone) RETURNS double precision LANGUAGE"
        " sql IMMUTABLE PARALLEL SAFE STRICT AS $function$ SELECT EXTRACT(EPOCH FROM moment)"
        " / 86400.0 + 2440587.5 $function$"
    )
    return lines


def _with_faq_tuning(lines: list[str]) -> list[str]:
    """The table goes where the dump sorts it (tables, then indexes, by name)."""
    table_at = lines.index("table faq_vectors")
    engine = "postgresql" if ON_POSTGRES else "sqlite"
    lines = [*lines[:table_at], "table faq_tuning", *_FAQ_TUNING_COLUMNS[engine], *lines[table_at:]]
    if ON_POSTGRES:
        index_at = next(
            at
            for at, line in enumerate(lines)
            if line.startswith("index ") and line > _FAQ_TUNING_INDEX
        )
        lines.insert(index_at, _FAQ_TUNING_INDEX)
    return lines


def yoyo_era_database(url: str, applied: tuple[str, ...] = YOYO_MIGRATIONS) -> None:
    """Make the empty database at `url` what a yoyo release migrated up to `applied` left."""
    statements = [*ddl_from_dump(frozen_schema(), postgresql=ON_POSTGRES), *_YOYO_TABLES]
    statements.append("INSERT INTO _yoyo_version VALUES (2, '2026-01-01 00:00:00')")
    statements += [
        f"INSERT INTO _yoyo_migration VALUES ('{hashlib.sha256(migration.encode()).hexdigest()}',"
        f" '{migration}', '2026-01-01T00:00:00')"
        for migration in applied
    ]
    if ON_POSTGRES:
        with psycopg.connect(url) as server:
            for statement in statements:
                server.execute(statement.encode())
    else:
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            with connection:
                for statement in statements:
                    connection.execute(statement)
        finally:
            connection.close()
    assert dump(url) == frozen_schema(), "the yoyo-era fixture differs from the frozen schema"
    assert query(url, "SELECT COUNT(*) AS n FROM _yoyo_migration") == [{"n": len(applied)}]


@dataclass
class _Table:
    name: str
    columns: list[tuple[str, str, list[str]]] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


def ddl_from_dump(text: str, *, postgresql: bool) -> list[str]:
    """The statements that build the schema a tests/schema_dump.py dump describes."""
    tables: list[_Table] = []
    others: list[str] = []
    for line in text.splitlines():
        if line.startswith("table "):
            tables.append(_Table(line.removeprefix("table ")))
        elif line.startswith("  column "):
            head, *attributes = line.removeprefix("  column ").split(" | ")
            name, type_ = head.split(": ", 1)
            tables[-1].columns.append((name, type_, attributes))
        elif line.startswith("  "):
            tables[-1].details.append(line.strip())
        else:
            others.append(line)
    if postgresql:
        return _postgresql(tables, others)
    return _sqlite(tables, others)


def _sqlite(tables: list[_Table], others: list[str]) -> list[str]:
    statements: list[str] = []
    for table in tables:
        parts: list[str] = []
        key: dict[int, str] = {}
        for name, type_, attributes in table.columns:
            spec = f"{name} {type_}"
            for attribute in attributes:
                if attribute == "not null":
                    spec += " NOT NULL"
                elif attribute.startswith("default "):
                    spec += " DEFAULT " + attribute.removeprefix("default ")
                elif attribute.startswith("pk="):
                    key[int(attribute.removeprefix("pk="))] = name
            parts.append(spec)
        if key:
            parts.append(f"PRIMARY KEY ({', '.join(key[n] for n in sorted(key))})")
        for detail in table.details:
            if detail.startswith("check "):
                parts.append("CHECK " + detail.removeprefix("check "))
            elif detail.startswith("unique "):
                parts.append("UNIQUE " + detail.removeprefix("unique "))
            elif detail.startswith("foreign key "):
                parts.append(_foreign_key(detail))
        suffix = " WITHOUT ROWID" if "without rowid" in table.details else ""
        statements.append(f"CREATE TABLE {table.name} ({', '.join(parts)}){suffix}")
    for line in others:
        index = re.fullmatch(r"index (\S+) on (\S+) \((.*?)\)( unique)?(?: where (.*))?", line)
        if index:
            name, table_name, columns, unique, where = index.groups()
            statements.append(
                f"CREATE{' UNIQUE' if unique else ''} INDEX {name} ON {table_name} ({columns})"
                + (f" WHERE {where}" if where else "")
            )
        elif line.startswith("trigger "):
            statements.append(line.split(": ", 1)[1])
    return statements


def _postgresql(tables: list[_Table], others: list[str]) -> list[str]:
    statements: list[str] = []
    keys: list[str] = []
    references: list[str] = []
    constraint_names: set[str] = set()
    for table in tables:
        specs = []
        for name, type_, attributes in table.columns:
            spec = f"{name} {type_}"
            for attribute in attributes:
                spec += {
                    "not null": " NOT NULL",
                    "identity by default": " GENERATED BY DEFAULT AS IDENTITY",
                    "identity always": " GENERATED ALWAYS AS IDENTITY",
                }.get(attribute, "")
                if attribute.startswith("default "):
                    spec += " DEFAULT " + attribute.removeprefix("default ")
            specs.append(spec)
        statements.append(f"CREATE TABLE {table.name} ({', '.join(specs)})")
        for detail in table.details:
            _, name, definition = detail.split(" ", 2)
            constraint_names.add(name)
            added = f"ALTER TABLE {table.name} ADD CONSTRAINT {name} {definition}"
            # Keys first: a foreign key needs the key it refers to.
            (references if definition.startswith("FOREIGN KEY") else keys).append(added)
    statements += keys + references
    functions = [line.split(": ", 1)[1] for line in others if line.startswith("function ")]
    indexes = [
        line.split(": ", 1)[1]
        for line in others
        if line.startswith("index ") and line.split()[1].rstrip(":") not in constraint_names
    ]
    triggers = [line.split(": ", 1)[1] for line in others if line.startswith("trigger ")]
    return statements + functions + indexes + triggers


def _foreign_key(detail: str) -> str:
    """`foreign key (a) references t (b) on update X on delete Y` as SQL."""
    match = re.fullmatch(
        r"foreign key \((.*?)\) references (\S+) \((.*?)\) on update (.+) on delete (.+)", detail
    )
    assert match is not None, detail
    columns, target, target_columns, on_update, on_delete = match.groups()
    return (
        f"FOREIGN KEY ({columns}) REFERENCES {target} ({target_columns})"
        f" ON UPDATE {on_update} ON DELETE {on_delete}"
    )
