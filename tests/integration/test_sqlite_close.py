"""Closing the SQLite database frees its threads even when the WAL cannot be folded back:
an aiosqlite connection left open keeps the process alive after everything else stopped
(a sandbox stopped by SIGTERM hung for a minute this way)."""

from pathlib import Path

import pytest

from storage.database import Database


async def test_close_after_a_failed_checkpoint_still_closes_both_connections(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = await Database.open(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    writer, reader = database._writer, database._reader
    await writer.execute("CREATE TABLE numbers (n INTEGER)")
    await writer.executemany("INSERT INTO numbers VALUES (?)", [(n,) for n in range(10)])
    await writer.commit()
    # A statement still stepping on the writer's connection: SQLite refuses the checkpoint
    # with "database table is locked", as it did at the sandbox's shutdown.
    cursor = await writer.execute("SELECT n FROM numbers")
    first = await cursor.fetchone()
    assert first is not None and first[0] == 0

    await database.close()

    assert "without folding the WAL back" in caplog.text
    assert not writer._running and not reader._running
    writer._thread.join(5)
    reader._thread.join(5)
    assert not writer._thread.is_alive() and not reader._thread.is_alive()
