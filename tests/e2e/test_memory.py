"""What the bot holds in memory on an everyday start (the FAQ model's graph from the cache),
after a crowd of customers asked the FAQ: the cheapest box the bot has to fit on."""

import sys
from pathlib import Path

import pytest

from tests.e2e.harness import BotProcess

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

QUESTIONS = (
    "where is my order",
    "do you deliver on sunday",
    "сколько у меня баллов",
    "чи можна повернути подарунок",
    "kak pomenyat nomer telefona",
)
# A bare aiogram echo bot peaks at ~180 MiB here (benchmarks/updates.py); the bot with its
# FAQ model held ~570 MiB before the lexicons, the vocabulary and the graph were trimmed.
PEAK_RSS_BUDGET_MIB = 400


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


async def test_an_everyday_start_answers_a_crowd_within_the_memory_budget(own_emulator, tmp_path):
    bot = BotProcess(own_emulator, tmp_path / "bot")  # the graph built and cached before
    await bot.start()
    assert "ONNX graph loaded from the cache" in bot.log()
    customers = [
        own_emulator.add_user(first_name=f"C{index}", language_code=("en", "ru", "uk")[index % 3])
        for index in range(40)
    ]
    for customer in customers:
        customer.send_text("/start")
        for question in QUESTIONS:
            customer.send_text(question)
    await own_emulator.wait_for(
        lambda: all(
            len(own_emulator.calls_to("sendMessage", chat_id=customer.id)) > len(QUESTIONS)
            for customer in customers
        ),
        timeout=120,
    )
    assert bot.process is not None
    peak = peak_rss_mib(bot.process.pid)
    assert peak < PEAK_RSS_BUDGET_MIB, f"peak RSS {peak:.0f} MiB"
    assert await bot.stop() == 0
