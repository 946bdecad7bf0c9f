"""Updates answered per second: the bot (every interaction logged) vs a bare aiogram echo bot.

Both run as subprocesses against the same in-process Bot API emulator, with the same queue of
updates waiting before they start: USERS customers each sending /start and MESSAGES free-text
messages. The clock runs from the first getUpdates to the last answer, so start-up (imports,
migrations, command registration) is not counted. Prints updates/s for each round, the median,
the ratio, and the bot process's peak RSS.

    .venv/bin/python -m benchmarks.updates [--users 200] [--messages 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bot.emulator import BotAPIEmulator

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


async def one_round(contender: str, users: int, messages: int) -> tuple[float, float]:
    async with BotAPIEmulator(token=TOKEN) as emulator:
        for index in range(users):
            user = emulator.add_user(
                first_name=f"User{index}", language_code=("en", "ru", "uk")[index % 3]
            )
            user.send_text("/start")
            for number in range(messages):
                user.send_text(f"{QUESTIONS[number % len(QUESTIONS)]} #{number}")
        expected = users * (1 + messages)
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-{contender}-"))
        env = {
            **os.environ,
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": emulator.base_url,
            "DATABASE_URL": f"sqlite:///{workdir / 'bot.sqlite3'}",
            "LOG_LEVEL": "WARNING",
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
        cpu_at_first_poll = None
        while len(emulator.calls_to("sendMessage")) < expected:
            if cpu_at_first_poll is None and any(c.method == "getUpdates" for c in emulator.calls):
                cpu_at_first_poll = cpu_seconds(process.pid)
            if process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{contender} stopped early: {(workdir / 'log.txt').read_text()[-2000:]}"
                )
            await asyncio.sleep(0.01)
        polls = [call.at for call in emulator.calls if call.method == "getUpdates"]
        answers = [call.at for call in emulator.calls_to("sendMessage")]
        cpu_per_update = (cpu_seconds(process.pid) - (cpu_at_first_poll or 0)) / expected
        CPU_MS[contender].append(cpu_per_update * 1000)
        if contender == "bot":
            await measure_idle_replies(emulator)
        rss = peak_rss_mib(process.pid)
        process.send_signal(signal.SIGTERM)
        await process.wait()
        return expected / (answers[-1] - polls[0]), rss


IDLE_REPLIES: list[float] = []
CPU_MS: dict[str, list[float]] = {"echo": [], "bot": []}


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
    arguments = parser.parse_args()
    rates: dict[str, list[float]] = {"echo": [], "bot": []}
    peaks: dict[str, list[float]] = {"echo": [], "bot": []}
    total = arguments.users * (1 + arguments.messages)
    print(
        f"{arguments.users} users x (/start + {arguments.messages} messages)"
        f" = {total} updates queued"
    )
    for round_number in range(1, arguments.rounds + 1):
        for contender in ("echo", "bot"):
            rate, rss = await one_round(contender, arguments.users, arguments.messages)
            rates[contender].append(rate)
            peaks[contender].append(rss)
            print(
                f"round {round_number} {contender:>4}: {rate:7.0f} updates/s,"
                f" peak RSS {rss:6.1f} MiB"
            )
    echo, ours = statistics.median(rates["echo"]), statistics.median(rates["bot"])
    print(f"median echo bot: {echo:.0f} updates/s")
    print(f"median our bot:  {ours:.0f} updates/s (every interaction logged)")
    print(f"ratio: {ours / echo:.2f}")
    print(
        f"CPU per update: bot {statistics.median(CPU_MS['bot']):.2f} ms,"
        f" echo {statistics.median(CPU_MS['echo']):.2f} ms"
    )
    replies = sorted(IDLE_REPLIES)
    print(
        f"idle /start -> welcome: p50 {replies[len(replies) // 2] * 1000:.0f} ms,"
        f" max {replies[-1] * 1000:.0f} ms over {len(replies)} new customers"
    )
    print(f"peak RSS: bot {max(peaks['bot']):.1f} MiB, echo {max(peaks['echo']):.1f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
