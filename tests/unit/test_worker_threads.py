"""`asyncio.to_thread` in the running bot uses one thread per core (at least two)."""

import asyncio
import os
import threading

from bot.app import bound_worker_threads


async def test_to_thread_work_shares_a_thread_per_core_and_the_bound_is_set_once():
    bound = max(2, os.cpu_count() or 1)
    bound_worker_threads()
    bound_worker_threads()  # a second call (the sandbox, then the bot) changes nothing
    running = 0
    most = 0
    guard = threading.Lock()
    release = threading.Event()

    def work() -> str:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        release.wait(5)
        with guard:
            running -= 1
        return threading.current_thread().name

    jobs = [asyncio.create_task(asyncio.to_thread(work)) for _ in range(bound + 6)]

    async def busy(count: int) -> None:
        while True:
            with guard:
                if running >= count:
                    return
            await asyncio.sleep(0.01)

    await asyncio.wait_for(busy(bound), 5)
    await asyncio.sleep(0.05)  # give any thread beyond the bound the chance to start a job
    with guard:
        assert running == bound
    release.set()
    names = await asyncio.gather(*jobs)
    assert most == bound
    assert all(name.startswith("bot-worker") for name in names)
