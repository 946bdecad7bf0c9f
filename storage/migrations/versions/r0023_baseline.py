"""The baseline: the whole schema of storage/schema.py as the yoyo migrations 0001…0022 of
earlier releases left it (tests/data/schema_0022_*.sql).

A database those releases migrated is stamped here without a change; a new database is built
from storage/schema.py and stamped at head directly (storage/migrations/upgrade.py), so this
upgrade() only runs when Alembic is pointed at an empty database by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from storage import schema

revision: str = "0023_baseline"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema.create(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: restore a backup instead")
