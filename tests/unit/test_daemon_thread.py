"""The FAQ model's first build runs where a stop need not wait for it."""

import threading

import pytest

from bot.app import in_daemon_thread


async def test_the_result_and_the_error_come_back_from_a_daemon_thread():
    seen: list[threading.Thread] = []

    def build(x: int) -> int:
        seen.append(threading.current_thread())
        return x * 2

    assert await in_daemon_thread(build, 21) == 42
    assert seen[0].daemon and seen[0] is not threading.main_thread()

    def broken() -> None:
        raise ValueError("no model here")

    with pytest.raises(ValueError, match="no model here"):
        await in_daemon_thread(broken)
