"""Updates per second through the webhook, and how fast Telegram gets its 200.

Telegram's side is played by this script: it posts UPDATES updates (USERS customers sending
/help) to the bot's webhook with CONCURRENCY requests in flight (Telegram's max_connections),
spread round-robin over the replicas, and times each request's acknowledgement (the update
is committed to the inbox before the 200). The bots answer through the in-process Bot API
emulator; the clock runs from the first post to the last answer. Rounds: 1 replica on
SQLite; with --database-url postgresql://..., also 1 and 2 replicas on PostgreSQL.

    .venv/bin/python -m benchmarks.webhook [--updates 2000] [--users 100] [--concurrency 40]
        [--database-url postgresql://user:pass@127.0.0.1/db]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.emulator import BotAPIEmulator

TOKEN = "123456789:AAH-benchmark-token-0000000000000000"
SECRET = "benchmark-webhook-secret"
PATH = "/telegram/webhook"


@dataclass
class Result:
    label: str
    updates: int
    seconds: float
    acks: list[float]
    answers: int

    def line(self) -> str:
        acks = sorted(self.acks)
        p50 = acks[len(acks) // 2] * 1000
        p99 = acks[min(len(acks) - 1, int(len(acks) * 0.99))] * 1000
        return (
            f"{self.label:<24} {self.updates / self.seconds:7.0f} updates/s handled, "
            f"ack p50 {p50:6.1f} ms, p99 {p99:6.1f} ms, max {acks[-1] * 1000:6.1f} ms"
            f" ({self.answers} answers to {self.updates} updates)"
        )


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def start_replica(
    emulator: BotAPIEmulator, workdir: Path, database_url: str
) -> tuple[asyncio.subprocess.Process, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": emulator.base_url,
        "DATABASE_URL": database_url,
        "HTTP_PORT": str(port),
        "WEBHOOK_URL": f"{url}{PATH}",
        "WEBHOOK_SECRET": SECRET,
        "LOG_LEVEL": "WARNING",
        "THROTTLE_RATE": "100000 per 1 second",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=(workdir / "log.txt").open("wb"),
    )
    deadline = time.monotonic() + 180
    async with aiohttp.ClientSession() as http:
        while True:
            if process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "log.txt").read_text()[-2000:])
            try:
                async with http.get(f"{url}/healthz") as answer:
                    if answer.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    return process, f"{url}{PATH}"


async def one_round(
    label: str, database_url: str, replicas: int, updates: int, users: int, concurrency: int
) -> Result:
    async with BotAPIEmulator(token=TOKEN) as emulator:
        people = [
            emulator.add_user(first_name=f"User{n}", language_code="en", started=True)
            for n in range(users)
        ]
        workdir = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
        started = [
            await start_replica(emulator, workdir / f"replica{n}", database_url)
            for n in range(replicas)
        ]
        await emulator.wait_for(
            lambda: len(emulator.calls_to("setWebhook")) >= replicas, timeout=60
        )
        await asyncio.sleep(1.0)  # start-up work (FAQ index, daily jobs) out of the way
        emulator.clear_calls()
        targets = itertools.cycle([url for _process, url in started])
        # Ids above any a previous run left in a shared (PostgreSQL) database's inbox.
        first_id = int(time.time() * 1000) * 1000
        acks: list[float] = []
        gate = asyncio.Semaphore(concurrency)
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

        async def post(http: aiohttp.ClientSession, number: int, target: str) -> None:
            person = people[number % users].as_user()
            update: dict[str, Any] = {
                "update_id": first_id + number,
                "message": {
                    "message_id": 1_000 + number,
                    "from": person,
                    "chat": {"id": person["id"], "type": "private", "first_name": "x"},
                    "date": int(time.time()),
                    "text": "/help",
                    "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
                },
            }
            async with gate:
                sent = time.perf_counter()
                async with http.post(target, json=update, headers=headers) as answer:
                    assert answer.status == 200, answer.status
                acks.append(time.perf_counter() - sent)

        clock = time.perf_counter()
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as http:
            await asyncio.gather(*(post(http, n, next(targets)) for n in range(updates)))
            deadline = time.monotonic() + 600
            while emulator.count_calls("sendMessage") < updates:
                if time.monotonic() > deadline:
                    raise RuntimeError("not every update was answered within 10 minutes")
                await asyncio.sleep(0.01)
        seconds = time.perf_counter() - clock
        await asyncio.sleep(2.0)  # a duplicate would show up as an extra answer
        answers = len(emulator.calls_to("sendMessage"))
        for process, _url in started:
            process.send_signal(signal.SIGTERM)
        for process, _url in started:
            await process.wait()
        return Result(label, updates, seconds, acks, answers)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument(
        "--database-url", default=None, help="a PostgreSQL URL for 1 and 2 replicas"
    )
    arguments = parser.parse_args()
    sqlite_file = Path(tempfile.mkdtemp(prefix="bench-webhook-db-")) / "bot.sqlite3"
    rounds = [("1 replica, SQLite", f"sqlite:///{sqlite_file}", 1)]
    if arguments.database_url:
        rounds += [
            ("1 replica, PostgreSQL", arguments.database_url, 1),
            ("2 replicas, PostgreSQL", arguments.database_url, 2),
        ]
    print(
        f"{arguments.updates} updates (/help from {arguments.users} customers), "
        f"{arguments.concurrency} webhook requests in flight"
    )
    for label, url, replicas in rounds:
        result = await one_round(
            label, url, replicas, arguments.updates, arguments.users, arguments.concurrency
        )
        print(result.line())
        if result.answers != result.updates:
            print(f"  !! {result.answers - result.updates:+d} answers: lost or duplicated")
    print(f"(CPU cores: {os.cpu_count()}; ack = POST until 200, the update committed)")


if __name__ == "__main__":
    asyncio.run(main())
