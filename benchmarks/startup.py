"""Launch to first answer: the bot vs a bare aiogram echo bot, in the same run.

Each round starts both as subprocesses against an in-process Bot API emulator in which a
customer has already sent /start and a FAQ question. The clock runs from the process launch
to the first answer (the welcome; the echo bot's echo) and to the answer of the question.
The bot is started twice per round on the same working directory: "first" on an empty
database and no model cache (a fresh install), "restart" on what the first start left (the
everyday case: a deploy, a crash, a reboot). Prints each round, min and median of each, the
ratios to the echo bot, and each process's peak RSS.

    .venv/bin/python -m benchmarks.startup [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.updates import peak_rss_mib
from bot.emulator import BotAPIEmulator, EmulatedUser

TOKEN = "123456789:AAH-benchmark-token-0000000000000000"
ROOT = Path(__file__).resolve().parents[1]
QUESTION = "what time do you open on sunday"
TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Launch:
    first_answer: float
    question_answered: float
    # When the FAQ model was in (the bot's log says "warmed up"); the echo bot: its answer.
    warmed_up: float
    rss_mib: float
    log: str


async def launch(emulator: BotAPIEmulator, contender: str, workdir: Path) -> Launch:
    """One launch; a customer of its own (update ids go on across the round's launches, so
    the restarted bot's deduplication does not take the new updates for replays)."""
    customer = emulator.add_user(first_name="Early", language_code="en")
    customer.send_text("/start")
    customer.send_text(QUESTION)
    env = {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": emulator.base_url,
        "DATABASE_URL": f"sqlite:///{workdir / 'bot.sqlite3'}",
        "LOG_LEVEL": "INFO",
        "HTTP_PORT": str(free_port()),
    }
    command = (
        [sys.executable, "-m", "bot"]
        if contender == "bot"
        else [sys.executable, str(ROOT / "benchmarks" / "echo_bot.py")]
    )
    log_path = workdir / f"{contender}.log"
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log_path.open("wb"),
    )
    try:
        first = await _answer_at(emulator, customer, 1, process)
        second = await _answer_at(emulator, customer, 2, process)
        warm = second
        if contender == "bot":
            # The peak comes with the model: read it once the FAQ has warmed up.
            await emulator.wait_for(
                lambda: "(warmed up)" in log_path.read_text(), timeout=TIMEOUT_SECONDS
            )
            warm = time.monotonic()
        rss = peak_rss_mib(process.pid)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await process.wait()
    return Launch(first - started, second - started, warm - started, rss, log_path.read_text())


async def _answer_at(
    emulator: BotAPIEmulator,
    customer: EmulatedUser,
    count: int,
    process: asyncio.subprocess.Process,
) -> float:
    """When the customer's chat held `count` bot messages (checked on every emulator event)."""

    def arrived() -> bool:
        return process.returncode is not None or len(customer.messages) >= count

    await emulator.wait_for(arrived, timeout=TIMEOUT_SECONDS)
    if process.returncode is not None:
        raise RuntimeError(f"the process stopped early (exit {process.returncode})")
    return time.monotonic()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def summary(name: str, values: list[float]) -> str:
    return f"{name:<28} min {min(values):6.2f} s   median {statistics.median(values):6.2f} s"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    figures: dict[str, list[float]] = {}
    peaks: dict[str, list[float]] = {}

    def note(key: str, value: float) -> None:
        figures.setdefault(key, []).append(value)

    for round_number in range(1, arguments.rounds + 1):
        workdir = Path(tempfile.mkdtemp(prefix="bench-startup-"))
        async with BotAPIEmulator(token=TOKEN) as emulator:
            echo = await launch(emulator, "echo", workdir)
            first = await launch(emulator, "bot", workdir)
            restart = await launch(emulator, "bot", workdir)
        note("echo: first answer", echo.first_answer)
        note("bot first start: /start", first.first_answer)
        note("bot first start: question", first.question_answered)
        note("bot restart: /start", restart.first_answer)
        note("bot restart: question", restart.question_answered)
        note("bot first start: model in", first.warmed_up)
        note("bot restart: model in", restart.warmed_up)
        peaks.setdefault("echo", []).append(echo.rss_mib)
        peaks.setdefault("bot", []).append(max(first.rss_mib, restart.rss_mib))
        print(
            f"round {round_number}: echo {echo.first_answer:5.2f} s | bot first start"
            f" /start {first.first_answer:5.2f} s, question {first.question_answered:5.2f} s"
            f" | restart /start {restart.first_answer:5.2f} s,"
            f" question {restart.question_answered:5.2f} s"
        )
    print()
    for key, values in figures.items():
        print(summary(key, values))
    echo_median = statistics.median(figures["echo: first answer"])
    for key in ("bot first start: /start", "bot restart: /start"):
        print(f"ratio {key:<24} {statistics.median(figures[key]) / echo_median:.2f}x echo")
    print(
        f"peak RSS: bot {statistics.median(peaks['bot']):.1f} MiB,"
        f" echo {statistics.median(peaks['echo']):.1f} MiB"
    )


if __name__ == "__main__":
    asyncio.run(main())
