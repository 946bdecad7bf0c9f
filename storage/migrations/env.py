"""Alembic's environment: runs the revisions on the connection storage/migrations/upgrade.py
opened (inside its transaction and lock), comparing against storage.schema's tables."""

from __future__ import annotations

from alembic import context

from storage import schema

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations with `python -m storage.migrations DATABASE_URL` (it opens the "
        "connection and holds the migration lock); offline SQL scripts are not supported"
    )
context.configure(connection=connection, target_metadata=schema.metadata)
with context.begin_transaction():
    context.run_migrations()
