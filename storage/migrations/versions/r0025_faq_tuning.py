"""The FAQ model's tuned encoder: one table, `faq_tuning` (storage/schema.py).

A database Alembic built from an empty one through the baseline already has it (the baseline
builds storage/schema.py as it is now), so it is created only where it is missing.

Revision 0025_faq_tuning, after 0024_pg_types.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage import schema

revision: str = "0025_faq_tuning"
down_revision: str | None = "0024_pg_types"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    if not sa.inspect(connection).has_table("faq_tuning"):
        schema.faq_tuning.create(connection)


def downgrade() -> None:
    op.drop_table("faq_tuning")
