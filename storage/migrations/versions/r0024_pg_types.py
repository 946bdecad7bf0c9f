"""On PostgreSQL, timestamps become ``timestamptz`` and JSON documents ``jsonb``; SQLite keeps
text for both, so there this revision does nothing.

Every timestamp the bot ever wrote is UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``
(storage/clock.py), read here as the UTC moment it names; every JSON column changed here
only ever held ``json.dumps`` output, so each value parses (a value that did not would stop
the upgrade, in its transaction, with nothing changed). ALTER … TYPE rewrites each table
once, with its indexes (docs/operations.md: how long that takes).

The lists are frozen here, as this revision found the schema: storage/schema.py declares the
same types for new databases (``Moment``, ``Json``), and tests/integration/test_schema.py
checks that an upgraded database and a new one are identical. A column that already has its
new type is left alone (a database Alembic built from an empty one through the baseline,
which builds storage/schema.py as it is now).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0024_pg_types"
down_revision: str | None = "0023_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP_COLUMNS: dict[str, tuple[str, ...]] = {
    "api_tokens": ("created_at", "revoked_at", "last_used_at"),
    "audit": ("at",),
    "broadcast_recipients": ("not_before", "at"),
    "broadcasts": ("created_at", "send_at", "started_at", "finished_at"),
    "campaign_deliveries": ("queued_at",),
    "customers": (
        "first_seen",
        "last_seen",
        "unreachable_since",
        "consents_changed_at",
        "forgotten_at",
        "promotions_opted_in_at",
    ),
    "erased_telegram_ids": ("erased_at",),
    "faq_entries": ("updated_at",),
    "faq_queries": ("at",),
    "fsm_states": ("updated_at",),
    "installation_secrets": ("created_at",),
    "interactions": ("at",),
    "job_runs": ("started_at", "finished_at"),
    "nps_invitations": ("invited_at",),
    "nps_responses": ("answered_at",),
    "nps_surveys": ("created_at",),
    "outbox": ("created_at", "not_before", "sent_at"),
    "points_entries": ("at", "expires_at"),
    "processed_updates": ("received_at", "finished_at"),
    "purchases": ("purchased_at", "recorded_at"),
    "redemptions": ("created_at", "expires_at", "closed_at"),
    "referrals": ("attributed_at", "converted_at", "reversed_at"),
    "refunds": ("at",),
    "request_fingerprints": ("created_at",),
    "reviews": ("created_at", "updated_at", "published_at"),
    "roles": ("granted_at",),
    "support_topics": ("created_at",),
    "tickets": ("opened_at", "first_response_at", "closed_at", "rated_at", "reminded_at"),
    "webhook_inbox": ("received_at", "claimed_at", "finished_at"),
}

JSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "audit": ("before", "after"),
    "broadcast_recipients": ("payload",),
    "broadcasts": ("buttons", "texts"),
    "faq_entries": ("document",),
    "fsm_states": ("data",),
    "interactions": ("meta",),
    "job_runs": ("result",),
    "outbox": ("payload",),
    "request_fingerprints": ("fields", "result"),
    # Not webhook_inbox.payload: the raw body Telegram sent, kept as text (storage/schema.py).
}

# Columns with a text default that has no cast to jsonb: dropped, then set again as jsonb.
_JSON_DEFAULTS = {("fsm_states", "data"): "'{}'"}

JULIANDAY_OF_TIMESTAMPTZ = """
CREATE FUNCTION julianday(moment TIMESTAMP WITH TIME ZONE) RETURNS DOUBLE PRECISION
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT EXTRACT(EPOCH FROM moment) / 86400.0 + 2440587.5 $$
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    still_text = {
        (row.table_name, row.column_name)
        for row in bind.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND data_type = 'text'"
            )
        )
    }
    for table in sorted(TIMESTAMP_COLUMNS.keys() | JSON_COLUMNS.keys()):
        clauses = [
            f"ALTER COLUMN {column} TYPE timestamptz"
            f" USING (CAST({column} AS timestamp) AT TIME ZONE 'UTC')"
            for column in TIMESTAMP_COLUMNS.get(table, ())
            if (table, column) in still_text
        ]
        for column in JSON_COLUMNS.get(table, ()):
            if (table, column) not in still_text:
                continue
            default = _JSON_DEFAULTS.get((table, column))
            if default is not None:
                clauses.append(f"ALTER COLUMN {column} DROP DEFAULT")
            clauses.append(f"ALTER COLUMN {column} TYPE jsonb USING CAST({column} AS jsonb)")
            if default is not None:
                clauses.append(f"ALTER COLUMN {column} SET DEFAULT {default}")
        if clauses:
            # One statement per table: the table is rewritten once, whatever changes in it.
            op.execute(f"ALTER TABLE {table} " + ", ".join(clauses))
    exists = bind.execute(
        text("SELECT to_regprocedure('julianday(timestamp with time zone)') IS NOT NULL")
    ).scalar()
    if not exists:
        op.execute(JULIANDAY_OF_TIMESTAMPTZ)


def downgrade() -> None:
    raise NotImplementedError("not undone: restore the backup taken before the upgrade")
