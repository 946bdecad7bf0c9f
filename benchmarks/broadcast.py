"""Broadcast delivery at scale: the real bot (`python -m bot`) against the in-process emulator.

RECIPIENTS customers (seeded straight into the database; their chats exist in the emulator)
get two broadcasts created with the operator CLI, with BROADCAST_RATE=RATE and the emulator
limited to 1.1 × RATE (a 429 beyond it):

1. a clean run: achieved rate (first to last delivered message) against RATE, database writes
   per message and transactions per message (from the worker's own count, logged at the
   end), and the bot's peak RSS;
2. a run killed with SIGKILL at a random point and restarted: messages delivered twice,
   customers missed, and the resent count `broadcast status` reports.

    .venv/bin/python -m benchmarks.broadcast [--recipients 10000] [--rate 200] [--seed N]
        [--kills N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bot.emulator import BotAPIEmulator
from storage.clock import to_db, utcnow
from storage.migrations import apply_migrations

TOKEN = "123456789:AAH-benchmark-token-0000000000000000"
FIRST_ID = 800_000_000
_DONE = re.compile(
    r"broadcast (\d+) done: (\d+) sent by this process in ([\d.]+) s; (\d+) delivery writes in "
    r"(\d+) transactions"
)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def seed(database: Path, recipients: int) -> None:
    url = f"sqlite:///{database}"
    apply_migrations(url)
    now = to_db(utcnow())
    with sqlite3.connect(database) as connection:
        connection.executemany(
            "INSERT INTO customers (telegram_id, first_name, telegram_language, first_seen, "
            "last_seen) VALUES (?, ?, ?, ?, ?)",
            [
                (FIRST_ID + index, f"C{index}", ("en", "ru", "uk")[index % 3], now, now)
                for index in range(recipients)
            ],
        )


class Bot:
    def __init__(self, emulator: BotAPIEmulator, workdir: Path, rate: float) -> None:
        self.workdir = workdir
        self.log_path = workdir / "bot.log"
        self.env = {
            **os.environ,
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": emulator.base_url,
            "DATABASE_URL": f"sqlite:///{workdir / 'bot.sqlite3'}",
            "LOG_LEVEL": "INFO",
            "HTTP_PORT": "0",
            "BROADCAST_RATE": str(rate),
            "BROADCAST_POLL_SECONDS": "0.2",
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        await self.process.wait()

    async def cli(self, *arguments: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *arguments,
            cwd=self.workdir,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        stdout, _ = await process.communicate()
        return stdout.decode()

    async def status(self, broadcast_id: str) -> dict[str, object]:
        document: dict[str, object] = json.loads(
            await self.cli("broadcast", "status", broadcast_id, "--json")
        )
        return document

    async def wait_done(self, broadcast_id: str) -> dict[str, object]:
        while True:
            status = await self.status(broadcast_id)
            if status["state"] == "done":
                return status
            await asyncio.sleep(1.0)


def delivered(emulator: BotAPIEmulator, marker: str) -> list[tuple[int, float]]:
    return [
        (int(call.params["chat_id"]), call.at)
        for call in emulator.calls
        if call.ok and call.method == "sendMessage" and marker in str(call.params.get("text"))
    ]


async def wait_for_deliveries(emulator: BotAPIEmulator, marker: str, count: int) -> None:
    """Until ``count`` messages with ``marker`` were delivered, looking only at new calls."""
    seen = counted = 0
    while counted < count:
        await asyncio.sleep(0.01)
        calls = emulator.calls[seen:]
        seen += len(calls)
        counted += sum(
            1
            for call in calls
            if call.ok and call.method == "sendMessage" and marker in str(call.params.get("text"))
        )


async def main(recipients: int, rate: float, seed_value: int, kills: int = 1) -> None:
    random.seed(seed_value)
    async with BotAPIEmulator(token=TOKEN) as emulator:
        for index in range(recipients):
            emulator.add_user(first_name=f"C{index}", user_id=FIRST_ID + index, started=True)
        emulator.set_rate_limit(rate * 1.1)
        workdir = Path(tempfile.mkdtemp(prefix="bench-broadcast-"))
        seed(workdir / "bot.sqlite3", recipients)
        bot = Bot(emulator, workdir, rate)
        await bot.start()
        while "Run polling" not in bot.log_path.read_text():
            await asyncio.sleep(0.05)
        assert bot.process is not None
        idle_rss = peak_rss_mib(bot.process.pid)

        # 1. A clean run.
        first = (await bot.cli("broadcast", "create", "--text", "<b>Run one</b>")).split()[-1]
        await bot.wait_done(first)
        assert bot.process is not None
        rss = peak_rss_mib(bot.process.pid)
        sends = delivered(emulator, "Run one")
        achieved = (len(sends) - 1) / (sends[-1][1] - sends[0][1])
        refused = sum(1 for call in emulator.calls if call.error_code == 429)
        match = None
        for _attempt in range(20):
            match = _DONE.search(bot.log_path.read_text())
            if match:
                break
            await asyncio.sleep(0.1)
        print(
            f"recipients: {recipients}, BROADCAST_RATE {rate:g}/s, emulator limit {rate * 1.1:g}/s"
        )
        print(
            f"clean run: {len(sends)} delivered in {sends[-1][1] - sends[0][1]:.1f} s, "
            f"achieved {achieved:.1f}/s = {achieved / rate:.3f} of the rate set; "
            f"429 answers: {refused}"
        )
        if match:
            sent, writes, transactions = int(match[2]), int(match[4]), int(match[5])
            print(
                f"database: {writes / sent:.2f} delivery writes per message in "
                f"{transactions} transactions ({transactions / sent:.3f} per message, "
                f"{sent / max(1, transactions):.1f} messages per transaction)"
            )
        print(f"bot peak RSS: {rss:.1f} MiB (idle after start-up: {idle_rss:.1f} MiB)")

        # 2. Killed at a random point, restarted: as many times as asked.
        total_duplicates = total_missed = 0
        for kill in range(1, kills + 1):
            marker = f"Run two #{kill}"
            second = (await bot.cli("broadcast", "create", "--text", f"<b>{marker}</b>")).split()[
                -1
            ]
            kill_after = random.randint(recipients // 10, recipients * 9 // 10)
            # Counted incrementally: rescanning every call each time would hold the
            # emulator's event loop for milliseconds, so that the kill would land while
            # answers to calls it has already recorded as delivered wait to be written,
            # which is a duplicate made by the benchmark, not by the bot.
            await wait_for_deliveries(emulator, marker, kill_after)
            await bot.stop(signal.SIGKILL)
            at_kill = len(delivered(emulator, marker))
            started = time.monotonic()
            await bot.start()
            status = await bot.wait_done(second)
            counts = Counter(chat for chat, _at in delivered(emulator, marker))
            duplicates = sum(count - 1 for count in counts.values())
            missed = recipients - len(counts)
            total_duplicates += duplicates
            total_missed += missed
            print(
                f"killed run {kill}: SIGKILL after {at_kill} deliveries, restarted and finished "
                f"in {time.monotonic() - started:.1f} s; duplicates {duplicates}, missed {missed}, "
                f"resent after restart {status['resent_after_restart']}, status sent "
                f"{status['sent']} failed {status['failed']} blocked {status['blocked']}"
            )
        if kills > 1:
            print(
                f"over {kills} kills: {total_duplicates} duplicates "
                f"({total_duplicates / kills:.2f} per kill), {total_missed} missed"
            )
        await bot.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--kills", type=int, default=1, help="killed runs (default 1)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.recipients, arguments.rate, arguments.seed, arguments.kills))
