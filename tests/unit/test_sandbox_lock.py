import pytest

from bot.sandbox.lock import DataDirectoryInUse, DataDirectoryLock


def test_a_second_holder_is_refused_with_the_first_ones_page(tmp_path):
    first = DataDirectoryLock(tmp_path / "data")
    first.acquire(reset=False)
    first.record("http://127.0.0.1:8765/")
    try:
        with pytest.raises(DataDirectoryInUse, match=r"its page is http://127.0.0.1:8765/"):
            DataDirectoryLock(tmp_path / "data").acquire(reset=False)
        with pytest.raises(DataDirectoryInUse, match="--reset would delete its database"):
            DataDirectoryLock(tmp_path / "data").acquire(reset=True)
    finally:
        first.release()
    # Released (as the kernel does when the process ends): the next one may start.
    again = DataDirectoryLock(tmp_path / "data")
    again.acquire(reset=True)
    again.release()


def test_a_holder_still_starting_is_named_without_a_page(tmp_path):
    first = DataDirectoryLock(tmp_path)
    first.acquire(reset=False)
    try:
        with pytest.raises(DataDirectoryInUse, match=r"\(process \d+, it is starting\)"):
            DataDirectoryLock(tmp_path).acquire(reset=False)
    finally:
        first.release()
