"""`python -m storage.migrations [DATABASE_URL]`: migrate the database to head.

Prints the revisions it applied, one a line; exit status 2 when the database is refused
(storage/migrations/upgrade.py says when), with the reason on stderr. Without an argument,
the URL comes from the DATABASE_URL environment variable.
"""

from __future__ import annotations

import os
import sys

from storage.migrations import EXIT_REFUSED, SchemaRefused
from storage.migrations.upgrade import migrate


def main(argv: list[str]) -> int:
    url = argv[0] if argv else os.environ.get("DATABASE_URL", "")
    if not url:
        print("usage: python -m storage.migrations DATABASE_URL", file=sys.stderr)
        return EXIT_REFUSED
    try:
        applied = migrate(url)
    except SchemaRefused as refused:
        print(refused, file=sys.stderr)
        return EXIT_REFUSED
    for revision in applied:
        print(revision)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
