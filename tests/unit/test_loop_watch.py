"""The stall watch writes every thread's stack while the event loop stands still, and
nothing while it turns."""

import asyncio
import time
from pathlib import Path

from bot.loop_watch import watch_loop


def _stall_the_loop_for(seconds: float) -> None:
    time.sleep(seconds)  # a blocking call on the loop: what the watch is for


async def _run(tmp_path: Path, *, stall: float) -> str:
    dump = tmp_path / "stacks.txt"
    with dump.open("w") as file:
        watch = asyncio.create_task(watch_loop(0.3, file))
        await asyncio.sleep(0.35)  # the loop turns: the timer is pushed back, never fires
        if stall:
            _stall_the_loop_for(stall)
        await asyncio.sleep(0)
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
        time.sleep(0.4)  # past the timer: cancelled with the watch, it must stay silent
    return dump.read_text()


async def test_a_stalled_loop_leaves_every_threads_stack(tmp_path):
    stacks = await _run(tmp_path, stall=0.8)
    assert "Timeout" in stacks
    assert "_stall_the_loop_for" in stacks


async def test_a_turning_loop_leaves_nothing(tmp_path):
    assert await _run(tmp_path, stall=0) == ""
