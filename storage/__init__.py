"""Database access: connection, migrations and repositories that return typed models."""
