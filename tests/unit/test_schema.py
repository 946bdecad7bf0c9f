"""The schema every way of building a database gives, checked against the frozen dumps.

tests/data/schema_0022_{sqlite,postgresql}.sql hold what migrations 0001…0022 built
(tests/data/README.md says how they were made): a new database must have exactly that,
column order, types, defaults, constraints, indexes, triggers and functions included.
"""

from pathlib import Path

from storage.migrations import apply_migrations
from tests.databases import ON_POSTGRES, fresh_database_url
from tests.schema_dump import dump

FROZEN = Path(__file__).parents[1] / "data"


def frozen_schema() -> str:
    return (FROZEN / f"schema_0022_{'postgresql' if ON_POSTGRES else 'sqlite'}.sql").read_text()


def test_a_new_database_has_the_frozen_schema(tmp_path):
    url = fresh_database_url(tmp_path)
    apply_migrations(url)
    assert dump(url) == frozen_schema()
