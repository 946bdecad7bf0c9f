"""`python -m bot backup PATH`: a consistent copy of the SQLite database, taken while the
bot runs.

SQLite's online backup API copies the database page by page; writers are never blocked
for more than one step, and a write during the copy restarts it, so the copy is always a
transaction-consistent snapshot (unlike `cp`, which may catch the file and its WAL apart).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from bot.config import Settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIGURATION = 2
# Pages copied per step (4 KiB each): small steps keep the bot's writes flowing.
PAGES_PER_STEP = 1024
# Files SQLite keeps beside the database while it runs: replacing one corrupts the database
# (the WAL holds committed transactions not yet in the main file).
LIVE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser(
        "backup", help="copy the SQLite database to PATH while the bot runs (online backup)"
    )
    backup.add_argument("path", type=Path, help="the copy to write (replaced if it exists)")


def live_file_at(target: Path, database: Path) -> Path | None:
    """The live database file (or one of its journals) that `target` would overwrite.

    Compared as resolved paths, so a relative path, `..` or a symlink cannot hide it, and
    by inode too, for a hard link."""
    resolved = target.resolve()
    for suffix in LIVE_SUFFIXES:
        live = database.with_name(database.name + suffix)
        if resolved == live.resolve():
            return live
        if target.exists() and live.exists() and os.path.samefile(target, live):
            return live
    return None


def backup_database(source: Path, target: Path, pages_per_step: int = PAGES_PER_STEP) -> int:
    """Copy `source` into `target`; returns the number of pages copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name beside the target (same file system, so the rename is atomic); two
    # backups at once never write into each other's copy.
    descriptor, partial_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".partial", dir=target.parent
    )
    os.close(descriptor)
    partial = Path(partial_name)
    try:
        with sqlite3.connect(source) as origin:
            origin.execute("PRAGMA busy_timeout = 15000")
            with sqlite3.connect(partial) as copy:
                origin.backup(copy, pages=pages_per_step, sleep=0.005)
                copy.execute("PRAGMA journal_mode = DELETE")
                pages = int(copy.execute("PRAGMA page_count").fetchone()[0])
                problems = copy.execute("PRAGMA quick_check").fetchone()[0]
            copy.close()
        origin.close()
        if problems != "ok":
            raise sqlite3.DatabaseError(f"the copy failed its check: {problems}")
        # Only a finished, checked copy takes the name: a crash leaves the old backup intact.
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return pages


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    source = settings.database.sqlite_path
    if source is None:
        print(
            "DATABASE_URL is not SQLite: back PostgreSQL up with pg_dump instead",
            file=sys.stderr,
        )
        return EXIT_CONFIGURATION
    if not source.exists():
        print(f"no database at {source}", file=sys.stderr)
        return EXIT_FAILED
    target: Path = arguments.path
    live = live_file_at(target, source)
    if live is not None:
        what = "the database itself" if live == source else f"the live database's {live.name}"
        print(f"refused: {target} is {what}; choose another file", file=sys.stderr)
        return EXIT_CONFIGURATION
    started = time.monotonic()
    try:
        pages = backup_database(source, target)
    except (sqlite3.Error, OSError) as error:
        print(f"backup failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    size = target.stat().st_size
    print(
        f"backed up {source} to {target}: {pages} pages, {size} bytes "
        f"in {time.monotonic() - started:.2f} s"
    )
    return EXIT_OK
