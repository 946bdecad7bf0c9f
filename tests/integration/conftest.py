import pytest

from storage.unit_of_work import open_storage
from tests.databases import migrated_database_url


@pytest.fixture
async def storage(tmp_path):
    """A migrated database of its own for each test (SQLite, or PostgreSQL when
    TEST_DATABASE_URL names a server: see tests/databases.py)."""
    url = migrated_database_url(tmp_path)
    opened = await open_storage(url)
    yield opened
    await opened.close()
