"""What the PostgreSQL half of the suite leaves to the SQLite half (tests/databases.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.databases import ON_POSTGRES

TESTS = Path(__file__).resolve().parent
# Tests that never open the suite's database: the unit tests, the emulator's, and the
# sandbox's (it keeps an SQLite database of its own, whatever TEST_DATABASE_URL says). On
# PostgreSQL they would run the very same code again: ~140 s of the half's test time, which
# kept it within seconds of the 5-minute bar.
DATABASE_FREE = (
    TESTS / "unit",
    TESTS / "test_emulator.py",
    TESTS / "e2e" / "test_sandbox_browser.py",
    TESTS / "e2e" / "test_sandbox_page.py",
    TESTS / "e2e" / "test_sandbox_process.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs no database: the SQLite half runs it")
    for item in items:
        if any(item.path == path or path in item.path.parents for path in DATABASE_FREE):
            item.add_marker(skip)
