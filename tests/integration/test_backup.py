"""`python -m bot backup`: never onto the live database, never a half-written copy."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from bot.cli.backup import backup_database, live_file_at


def live_database(directory: Path) -> Path:
    database = directory / "bot.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("CREATE TABLE ledger (delta INTEGER)")
        connection.execute("INSERT INTO ledger VALUES (50)")
    connection.close()
    return database


def test_the_database_and_its_journals_are_recognised_however_they_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = live_database(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wal-link").symlink_to(database.with_name("bot.sqlite3-wal"))
    os.link(database, tmp_path / "hard-link")
    for name in ("bot.sqlite3", "bot.sqlite3-wal", "bot.sqlite3-shm", "bot.sqlite3-journal"):
        assert live_file_at(Path(name), database) == database.with_name(name)
    assert live_file_at(Path("wal-link"), database) == database.with_name("bot.sqlite3-wal")
    assert live_file_at(Path("hard-link"), database) == database
    assert live_file_at(Path("sub/../bot.sqlite3-shm"), database) is not None
    assert live_file_at(Path("bot.sqlite3.bak"), database) is None
    assert live_file_at(Path("bot.sqlite3-wal.bak"), database) is None


def test_a_failed_backup_leaves_the_previous_copy_and_no_partial_file(tmp_path: Path) -> None:
    not_a_database = tmp_path / "broken.sqlite3"
    not_a_database.write_bytes(b"this is not an SQLite file" * 200)
    backups = tmp_path / "backups"
    backups.mkdir()
    previous = backups / "copy.sqlite3"
    previous.write_bytes(b"yesterday's backup")
    with pytest.raises(sqlite3.DatabaseError):
        backup_database(not_a_database, previous)
    assert previous.read_bytes() == b"yesterday's backup"
    assert sorted(path.name for path in backups.iterdir()) == ["copy.sqlite3"]


def test_a_backup_replaces_the_target_with_a_whole_copy(tmp_path: Path) -> None:
    database = live_database(tmp_path)
    target = tmp_path / "backups" / "copy.sqlite3"
    assert backup_database(database, target) > 0
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT SUM(delta) FROM ledger").fetchone() == (50,)
    copy.close()
    assert sorted(path.name for path in target.parent.iterdir()) == ["copy.sqlite3"]
