import pytest

from storage.migrations import apply_migrations
from storage.unit_of_work import open_storage


@pytest.fixture
async def storage(tmp_path):
    """A migrated SQLite database of its own for each test."""
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    apply_migrations(url)
    opened = await open_storage(url)
    yield opened
    await opened.close()
