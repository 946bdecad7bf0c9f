"""The schema of a live database as normalised text, to compare two ways of building it.

``python -m tests.schema_dump DATABASE_URL`` prints it. Tables come in name order, each with
its columns in their real order (column order is part of the schema: `SELECT *` reads it)
and then its constraints sorted; indexes, triggers and functions follow, sorted. What only
spelling tells apart is normalised away: comments, whitespace, quoting, SQLite's generated
names for the indexes behind UNIQUE and PRIMARY KEY. The bookkeeping tables of the migration
tools (yoyo's, Alembic's) are left out: they say how the schema was built, not what it is.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from typing import Any

import psycopg

BOOKKEEPING = {
    "_yoyo_log",
    "_yoyo_migration",
    "_yoyo_version",
    "yoyo_lock",
    "alembic_version",
}


def dump(url: str) -> str:
    """The normalised schema of the database at `url` (SQLite or PostgreSQL)."""
    if url.startswith("sqlite:///"):
        lines = _sqlite(url.removeprefix("sqlite:///"))
    else:
        lines = _postgresql(url)
    return "\n".join(lines) + "\n"


def normalise_sql(sql: str) -> str:
    """One line, no comments, single spaces, none just inside parentheses or before commas."""
    sql = re.sub(r"--[^\n]*", " ", sql)
    sql = re.sub(r"\s+", " ", sql).strip()
    sql = re.sub(r"\(\s+", "(", sql)
    sql = re.sub(r"\s+\)", ")", sql)
    return re.sub(r"\s+,", ",", sql)


def _column(name: str, type_: str, attributes: list[str]) -> str:
    """`  column NAME: TYPE | attribute | …`: a type or a default may hold spaces."""
    return f"  column {name}: {type_}" + "".join(f" | {a}" for a in attributes if a)


def _balanced(text: str, start: int) -> str:
    """The parenthesised text that opens at `start`, parentheses included."""
    depth = 0
    for position in range(start, len(text)):
        if text[position] == "(":
            depth += 1
        elif text[position] == ")":
            depth -= 1
            if depth == 0:
                return text[start : position + 1]
    raise ValueError(f"unbalanced parentheses in {text!r}")


def _checks(create_table: str) -> list[str]:
    sql = normalise_sql(create_table)
    return [
        "check " + _balanced(sql, match.end() - 1)
        for match in re.finditer(r"\bCHECK\s*\(", sql, re.IGNORECASE)
    ]


def _sqlite(path: str) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return _sqlite_lines(connection)
    finally:
        connection.close()


def _sqlite_lines(connection: sqlite3.Connection) -> list[str]:
    objects = connection.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    ).fetchall()
    lines: list[str] = []
    for kind, name, _table, sql in objects:
        if kind != "table" or name in BOOKKEEPING or name.startswith("sqlite_"):
            continue
        lines.append(f"table {name}")
        for _cid, column, type_, notnull, default, pk in connection.execute(
            f'PRAGMA table_info("{name}")'
        ):
            attributes = [
                "not null" if notnull else "",
                f"default {default}" if default is not None else "",
                f"pk={pk}" if pk else "",
            ]
            lines.append(_column(column, type_, attributes))
        details = _checks(sql)
        keys: dict[int, list[Any]] = {}
        for row in connection.execute(f'PRAGMA foreign_key_list("{name}")'):
            keys.setdefault(row[0], []).append(row)
        for rows in keys.values():
            columns = ", ".join(row[3] for row in rows)
            targets = ", ".join(str(row[4]) for row in rows)
            details.append(
                f"foreign key ({columns}) references {rows[0][2]} ({targets})"
                f" on update {rows[0][5]} on delete {rows[0][6]}"
            )
        for _seq, index, _unique, origin, _partial in connection.execute(
            f'PRAGMA index_list("{name}")'
        ):
            if origin in ("u", "pk"):
                columns = ", ".join(
                    row[2] for row in connection.execute(f'PRAGMA index_info("{index}")')
                )
                details.append(f"{'unique' if origin == 'u' else 'primary key'} ({columns})")
        if re.search(r"\)\s*WITHOUT\s+ROWID\s*$", sql, re.IGNORECASE):
            details.append("without rowid")
        lines += [f"  {detail}" for detail in sorted(details)]
    for kind, name, table, sql in objects:
        if kind == "index" and sql is not None:
            unique = " unique" if re.match(r"CREATE\s+UNIQUE", sql, re.IGNORECASE) else ""
            columns = ", ".join(
                row[2] for row in connection.execute(f'PRAGMA index_info("{name}")')
            )
            where = re.search(r"\bWHERE\b(.*)$", normalise_sql(sql), re.IGNORECASE)
            lines.append(
                f"index {name} on {table} ({columns}){unique}"
                + (f" where {where.group(1).strip()}" if where else "")
            )
    for kind, name, table, sql in objects:
        if kind == "trigger":
            lines.append(f"trigger {name} on {table}: {normalise_sql(sql)}")
    return lines


_PG_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""

_PG_CONSTRAINTS = """
SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
"""

_PG_INDEXES = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"

_PG_TRIGGERS = """
SELECT t.tgname, pg_get_triggerdef(t.oid)
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND NOT t.tgisinternal
"""

_PG_FUNCTIONS = """
SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public'
"""


def _postgresql(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        columns = connection.execute(_PG_COLUMNS).fetchall()
        constraints = connection.execute(_PG_CONSTRAINTS).fetchall()
        indexes = connection.execute(_PG_INDEXES).fetchall()
        triggers = connection.execute(_PG_TRIGGERS).fetchall()
        functions = connection.execute(_PG_FUNCTIONS).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column, type_, notnull, default, identity in columns:
        if table in BOOKKEEPING:
            continue
        attributes = [
            "not null" if notnull else "",
            f"default {default}" if default is not None else "",
            {"a": "identity always", "d": "identity by default"}.get(identity, ""),
        ]
        tables.setdefault(table, []).append(_column(column, type_, attributes))
    details: dict[str, list[str]] = {}
    for table, name, definition in constraints:
        if table not in BOOKKEEPING:
            details.setdefault(table, []).append(f"  constraint {name} {definition}")
    lines: list[str] = []
    for table in sorted(tables):
        lines += [f"table {table}", *tables[table], *sorted(details.get(table, []))]
    lines += sorted(
        f"index {name}: {definition}"
        for name, definition in indexes
        if not any(f" ON public.{table} " in definition for table in BOOKKEEPING)
    )
    lines += sorted(f"trigger {name}: {definition}" for name, definition in triggers)
    lines += sorted(
        f"function {name}({arguments}): {normalise_sql(definition)}"
        for name, arguments, definition in functions
    )
    return lines


if __name__ == "__main__":
    sys.stdout.write(dump(sys.argv[1]))
