"""Updates answered per second: the bot (every interaction logged) vs a bare aiogram echo bot.

Both run as subprocesses against the same in-process Bot API emulator, in the same run. Each
is started with nothing queued and left to settle (our bot warms its FAQ model up in the
background after it starts polling; see `_settled`); then a burst is queued: USERS customers
each sending /start and MESSAGES free-text messages. The clock runs from the first update
taken (the getUpdates that returns it) to the last answer: steady state, start-up not
counted. The two run back to back in every round, in turns (echo first, then the bot first).
Prints updates/s, CPU per update (over the burst) and peak RSS (VmHWM, so the
warm-up's peak counts) for each contender, the medians and the ratio; with --cold, also the
old figure: the burst queued before the process starts, so the warm-up runs inside the clock.
Our bot starts as it does every day after its first start: one priming start builds the FAQ
model's graph into its cache (its peak RSS printed), each round loads it from there;
--first-start makes every round build it instead.

    .venv/bin/python -m benchmarks.updates [--users 200] [--messages 5] [--rounds 3]
        [--cold] [--first-start] [--distinct]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bot.emulator import BotAPIEmulator
from bot.services.faq.model_cache import CACHE_FILE_NAMES

# Settled (see _settled): under 5 % of a core over half a second.
SETTLED_CPU = 0.05
SETTLED_WINDOW = 0.5
TOKEN = "123456789:AAH-benchmark-token-0000000000000000"
ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "where is my order",
    "do you deliver on sunday",
    "how many points do I have",
    "can I return a gift",
    "what time do you open",
]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _queue_burst(
    emulator: BotAPIEmulator, users: int, messages: int, *, distinct: bool = False
) -> int:
    """Customers ask the same few questions in the same words (25 texts in all), as they do;
    distinct: every question is a text the bot has not seen (its vector and its match are
    computed, not remembered)."""
    for index in range(users):
        user = emulator.add_user(
            first_name=f"User{index}", language_code=("en", "ru", "uk")[index % 3]
        )
        user.send_text("/start")
        for number in range(messages):
            tag = f"{index}-{number}" if distinct else str(number)
            user.send_text(f"{QUESTIONS[number % len(QUESTIONS)]} #{tag}")
    return users * (1 + messages)


async def _settled(process: asyncio.subprocess.Process, deadline: float) -> None:
    """Until the process has done its start-up work: for our bot that includes the FAQ
    model's warm-up in the background after polling starts. Settled means it used under
    SETTLED_CPU of a core over SETTLED_WINDOW seconds. The bot's "(warmed up)" line is
    logged at INFO, which the benchmark keeps off (aiogram logs every update at INFO)."""
    before = cpu_seconds(process.pid)
    while True:
        await asyncio.sleep(SETTLED_WINDOW)
        if process.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError("the contender stopped, or did not settle, before the burst")
        now = cpu_seconds(process.pid)
        if now - before < SETTLED_CPU * SETTLED_WINDOW:
            return
        before = now


async def one_round(
    contender: str,
    users: int,
    messages: int,
    *,
    cold: bool,
    model_cache: Path | None = None,
    distinct: bool = False,
) -> Figures:
    """cold: the burst is queued before the process starts, so the clock (first update
    taken to last answer) also runs over whatever the process still does after it started
    polling (our bot: the FAQ warm-up). Otherwise the burst is queued once it has settled."""
    async with BotAPIEmulator(token=TOKEN) as emulator:
        expected = _queue_burst(emulator, users, messages, distinct=distinct) if cold else 0
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-{contender}-"))
        if model_cache is not None:
            # An everyday start: the FAQ model's graph is loaded, not built (see --first-start).
            for name in CACHE_FILE_NAMES:
                if (model_cache / name).exists():
                    shutil.copy2(model_cache / name, workdir / name)
        env = {
            **os.environ,
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": emulator.base_url,
            "DATABASE_URL": f"sqlite:///{workdir / 'bot.sqlite3'}",
            "LOG_LEVEL": "WARNING",
            # No HTTP API: the updates path does not need it, and another process on the
            # machine may hold the default port.
            "HTTP_PORT": "0",
        }
        command = (
            [sys.executable, "-m", "bot"]
            if contender == "bot"
            else [sys.executable, str(ROOT / "benchmarks" / "echo_bot.py")]
        )
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=workdir,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(workdir / "log.txt").open("wb"),
        )
        deadline = time.monotonic() + 120
        try:
            await emulator.wait_for(
                lambda: any(call.method == "getUpdates" for call in emulator.calls), timeout=60
            )
            if not cold:
                await _settled(process, deadline)
                expected = _queue_burst(emulator, users, messages, distinct=distinct)
            queued_at_call = len(emulator.calls)
            cpu_before = cpu_seconds(process.pid)
            await emulator.wait_for(
                lambda: (
                    emulator.count_calls("sendMessage") >= expected
                    or process.returncode is not None
                ),
                timeout=max(1.0, deadline - time.monotonic()),
            )
        except TimeoutError as error:
            raise RuntimeError(
                f"{contender} too slow: {(workdir / 'log.txt').read_text()[-2000:]}"
            ) from error
        if process.returncode is not None:
            raise RuntimeError(
                f"{contender} stopped early: {(workdir / 'log.txt').read_text()[-2000:]}"
            )
        cpu_used = cpu_seconds(process.pid) - cpu_before
        taken = next(
            call.at
            for call in emulator.calls[queued_at_call if not cold else 0 :]
            if call.method == "getUpdates" and call.result
        )
        answers = [call.at for call in emulator.calls_to("sendMessage")]
        if contender == "bot":
            await measure_idle_replies(emulator)
        rss = peak_rss_mib(process.pid)
        process.send_signal(signal.SIGTERM)
        await process.wait()
        return Figures(
            expected / (answers[-1] - taken), cpu_used / expected * 1000, rss, str(workdir)
        )


@dataclass(frozen=True)
class Figures:
    updates_per_second: float
    cpu_ms_per_update: float
    peak_rss_mib: float
    workdir: str


IDLE_REPLIES: list[float] = []


async def measure_idle_replies(emulator: BotAPIEmulator, count: int = 30) -> None:
    """Time from a new customer's /start to the welcome, one at a time with the bot idle."""
    for index in range(count):
        customer = emulator.add_user(first_name=f"Idle{index}", language_code="ru")
        started = time.monotonic()
        customer.send_text("/start")
        await customer.next_message(timeout=10)
        IDLE_REPLIES.append(time.monotonic() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--first-start",
        action="store_true",
        help="every round of our bot builds the FAQ model's graph (no cache), as a first start",
    )
    parser.add_argument(
        "--cold", action="store_true", help="also time a burst queued before each process starts"
    )
    parser.add_argument(
        "--distinct",
        action="store_true",
        help="every question a text not seen before (none remembered by the FAQ)",
    )
    arguments = parser.parse_args()
    total = arguments.users * (1 + arguments.messages)
    print(
        f"{arguments.users} users x (/start + {arguments.messages} messages)"
        f" = {total} updates per burst"
    )
    modes = ("steady", "cold") if arguments.cold else ("steady",)
    model_cache = None
    if not arguments.first_start:
        # One start builds the model's graph and leaves it in its cache, as a deployment's
        # first start does; every round then starts as a restart would.
        primed = await one_round("bot", 1, 0, cold=False)
        model_cache = Path(primed.workdir)
        print(f"first start (the graph built): peak RSS {primed.peak_rss_mib:.1f} MiB")
    results: dict[tuple[str, str], list[Figures]] = {}
    for round_number in range(1, arguments.rounds + 1):
        for mode in modes:
            # Each round's pair runs back to back, in turns (echo first, then the bot first),
            # so that a drift in the machine's pace favours neither.
            order = ("echo", "bot") if round_number % 2 else ("bot", "echo")
            for contender in order:
                figures = await one_round(
                    contender,
                    arguments.users,
                    arguments.messages,
                    cold=mode == "cold",
                    model_cache=model_cache,
                    distinct=arguments.distinct,
                )
                results.setdefault((mode, contender), []).append(figures)
                print(
                    f"round {round_number} {mode:>6} {contender:>4}:"
                    f" {figures.updates_per_second:7.0f} updates/s,"
                    f" CPU {figures.cpu_ms_per_update:5.2f} ms/update,"
                    f" peak RSS {figures.peak_rss_mib:6.1f} MiB"
                )
    for mode in modes:
        echo, ours = results[(mode, "echo")], results[(mode, "bot")]
        echo_rate = statistics.median(f.updates_per_second for f in echo)
        our_rate = statistics.median(f.updates_per_second for f in ours)
        echo_peak = max(f.peak_rss_mib for f in echo)
        our_peak = max(f.peak_rss_mib for f in ours)
        print(
            f"{mode}: echo {echo_rate:.0f} updates/s, bot {our_rate:.0f} updates/s"
            f" (every interaction logged), ratio {our_rate / echo_rate:.2f};"
            f" CPU per update bot {statistics.median(f.cpu_ms_per_update for f in ours):.2f} ms,"
            f" echo {statistics.median(f.cpu_ms_per_update for f in echo):.2f} ms;"
            f" peak RSS bot {our_peak:.1f} MiB, echo {echo_peak:.1f} MiB"
            f" ({our_peak / echo_peak:.2f}x)"
        )
        if len(ours) > 1:
            # The machine's pace drifts between rounds (the echo bot alone moves by a third):
            # each round's pair, run back to back, is the fairer comparison.
            pairs = sorted(
                b.updates_per_second / e.updates_per_second for e, b in zip(echo, ours, strict=True)
            )
            print(
                f"{mode}: ratio round by round {', '.join(f'{r:.2f}' for r in pairs)};"
                f" median {statistics.median(pairs):.2f}"
            )
    replies = sorted(IDLE_REPLIES)
    print(
        f"idle /start -> welcome: p50 {replies[len(replies) // 2] * 1000:.0f} ms,"
        f" max {replies[-1] * 1000:.0f} ms over {len(replies)} new customers"
    )


if __name__ == "__main__":
    asyncio.run(main())
