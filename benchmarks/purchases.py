"""Purchases per second through the HTTP API of the real bot process, on SQLite (or on
PostgreSQL: --database-url postgresql://... naming an empty database).

The bot runs as `python -m bot` against the Bot API emulator (every purchase also queues
the customer's "points earned" message, which the bot sends while the load runs). Rounds:
1 client and 50 concurrent clients posting new orders, then 50 clients where a share of
the requests replay an order already recorded (a till retrying). Prints purchases/s and
p50/p99 latency per round, and checks that no order earned twice.

    .venv/bin/python -m benchmarks.purchases [--customers 1000] [--orders 3000]
        [--database-url postgresql://user@host:port/empty_db]

Replicas (PostgreSQL only): --replicas 1,2 runs, for each count, a fresh database on the
server of --database-url with that many bot processes; 40 clients (one per customer, spread
over the replicas' HTTP APIs) post 15 purchases each. It prints purchases/s, p50/p99, the
share of pg_locks samples showing a session waiting for a lock (granted = false), and checks
that every purchase landed once and that every balance equals the first run's.

    .venv/bin/python -m benchmarks.purchases --replicas 1,2 \
        --database-url postgresql://user@host:port/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg

from bot.emulator import BotAPIEmulator
from bot.sandbox.setup import free_port
from storage.clock import utcnow
from storage.migrations import apply_migrations
from storage.repositories import TelegramProfile
from storage.unit_of_work import open_storage
from tests.databases import with_database

TOKEN = "123456789:AAH-benchmark-token-0000000000000000"


async def seed_customers(url: str, count: int) -> list[int]:
    apply_migrations(url)
    storage = await open_storage(url)
    ids = [700_000_000 + number for number in range(count)]
    async with storage.write() as uow:
        await uow.customers.touch_many(
            [
                TelegramProfile(telegram_id, f"C{telegram_id}", None, None, "en")
                for telegram_id in ids
            ],
            utcnow(),
        )
    await storage.close()
    return ids


async def run_cli(env: dict[str, str], workdir: Path, *arguments: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *arguments,
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    if process.returncode:
        raise RuntimeError(stderr.decode())
    return stdout.decode()


async def load(
    api_url: str, token: str, orders: list[dict[str, object]], clients: int
) -> tuple[float, list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = list(reversed(orders))
    connector = aiohttp.TCPConnector(limit=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(api_url, headers=headers, connector=connector) as session:

        async def client() -> None:
            while queue:
                order = queue.pop()
                started = time.perf_counter()
                async with session.post("/api/v1/purchases", json=order) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return len(orders) / elapsed, latencies, statuses


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_until_healthy(api_url: str) -> None:
    async with aiohttp.ClientSession() as probe:
        for _ in range(600):
            try:
                async with probe.get(f"{api_url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("the bot's HTTP API did not come up")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


REPLICA_CLIENTS = 40
PURCHASES_PER_CLIENT = 15
LOCK_SAMPLE_SECONDS = 0.01


async def sample_lock_waits(url: str, stop: asyncio.Event) -> tuple[int, int, Counter[str]]:
    """(samples, samples where some session of this database waited for a lock, and what
    the waiting sessions were running, by the first words of their statement)."""
    connection = await asyncpg.connect(url)
    samples = waiting = 0
    waits: Counter[str] = Counter()
    try:
        while not stop.is_set():
            samples += 1
            rows = await connection.fetch(
                "SELECT l.locktype, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 60) AS query "
                "FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE NOT l.granted AND a.datname = current_database()"
            )
            waiting += bool(rows)
            waits.update(f"{row['locktype']}: {row['query']}" for row in rows)
            await asyncio.sleep(LOCK_SAMPLE_SECONDS)
    finally:
        await connection.close()
    return samples, waiting, waits


async def replica_outcome(database: str) -> tuple[int, int, bool, dict[int, int]]:
    """(purchases stored, purchase credits, ledger consistent, balance by Telegram id)."""
    storage = await open_storage(database)
    async with storage.read() as uow:
        stored = await uow.session.fetch_value("SELECT COUNT(*) FROM purchases")
        credited = await uow.session.fetch_value(
            "SELECT COUNT(*) FROM points_entries WHERE reason = 'purchase'"
        )
        balances = {
            int(row["telegram_id"]): int(row["balance"])
            for row in await uow.session.fetch_all(
                "SELECT c.telegram_id, COALESCE(SUM(e.delta), 0) AS balance FROM customers c "
                "LEFT JOIN points_entries e ON e.customer_id = c.id GROUP BY c.telegram_id"
            )
        }
        total, lots = await uow.ledger.totals()
    await storage.close()
    return int(stored), int(credited), total == lots, balances


async def start_replicas(
    env: dict[str, str], ports: list[int], workdir: Path
) -> list[asyncio.subprocess.Process]:
    processes = []
    for number, port in enumerate(ports):
        replica_dir = workdir / f"replica-{number}"
        replica_dir.mkdir()
        processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                cwd=replica_dir,
                env={**env, "HTTP_PORT": str(port)},
                stdout=asyncio.subprocess.DEVNULL,
                stderr=(replica_dir / "log.txt").open("wb"),
            )
        )
        await wait_until_healthy(f"http://127.0.0.1:{port}")
    return processes


async def replica_round(
    server_url: str, replicas: int, workdir: Path
) -> tuple[str, dict[int, int]]:
    """One round on a fresh database; returns its line of figures and every balance."""
    name = f"bench_{replicas}_{random.randrange(1 << 30):x}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    database = with_database(server_url, name)
    customers = await seed_customers(database, REPLICA_CLIENTS)
    ports = [free_port() for _ in range(replicas)]
    processes: list[asyncio.subprocess.Process] = []
    async with BotAPIEmulator(token=TOKEN) as emulator:
        for telegram_id in customers:
            emulator.add_user(first_name=f"C{telegram_id}", user_id=telegram_id).start_chat()
        base_env = {
            **os.environ,
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": emulator.base_url,
            "DATABASE_URL": database,
            "LOG_LEVEL": "WARNING",
        }
        token = (await run_cli(base_env, workdir, "api-token", "create", "bench")).strip()
        try:
            round_dir = workdir / name
            round_dir.mkdir()
            processes = await start_replicas(base_env, ports, round_dir)
            while not any(call.method == "getUpdates" for call in emulator.calls):
                await asyncio.sleep(0.05)
            latencies: list[float] = []
            statuses: dict[int, int] = {}
            headers = {"Authorization": f"Bearer {token}"}
            sessions = [
                aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) for port in ports
            ]

            async def client(number: int, telegram_id: int) -> None:
                # One till per customer, each on "its" replica, buying one after another.
                session = sessions[number % replicas]
                for purchase in range(PURCHASES_PER_CLIENT):
                    order = {
                        "order_id": f"bench-{telegram_id}-{purchase}",
                        "telegram_id": telegram_id,
                        "amount": f"{(purchase * 37 + number) % 200 + 1}.50",
                    }
                    started = time.perf_counter()
                    async with session.post("/api/v1/purchases", json=order) as response:
                        await response.read()
                        statuses[response.status] = statuses.get(response.status, 0) + 1
                    latencies.append(time.perf_counter() - started)

            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_lock_waits(database, stop))
            started = time.perf_counter()
            await asyncio.gather(
                *(client(number, telegram_id) for number, telegram_id in enumerate(customers))
            )
            elapsed = time.perf_counter() - started
            stop.set()
            samples, waiting, waits = await sampler
            for session in sessions:
                await session.close()
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
                await process.wait()
    stored, credited, consistent, balances = await replica_outcome(database)
    count = len(latencies)
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    line = (
        f"{replicas} replica(s), {REPLICA_CLIENTS} clients x {PURCHASES_PER_CLIENT}: "
        f"{count / elapsed:6.0f} purchases/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   "
        f"lock waits in {waiting}/{samples} pg_locks samples ({waiting / max(samples, 1):.1%})"
        f"   statuses {statuses}   stored {stored}, credits {credited}, "
        f"ledger consistent: {consistent}"
    )
    for what, count in waits.most_common(3):
        line += f"\n  waited {count} times on {what}"
    return line, balances


async def replica_rounds(
    parser: argparse.ArgumentParser, server_url: str | None, replicas: str
) -> None:
    if not (server_url or "").startswith(("postgresql://", "postgres://")):
        parser.error("--replicas needs --database-url postgresql://...")
    assert server_url is not None
    counts = [int(count) for count in replicas.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    first_balances: dict[int, int] | None = None
    for count in counts:
        line, balances = await replica_round(server_url, count, workdir)
        print(line)
        if first_balances is None:
            first_balances = balances
        else:
            print(f"  balances equal the {counts[0]}-replica run's: {balances == first_balances}")


def parse_arguments() -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=3000, help="orders per round")
    parser.add_argument("--replay-share", type=float, default=0.3)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp folder")
    parser.add_argument(
        "--replicas",
        help="e.g. 1,2: replica rounds on the PostgreSQL server of --database-url instead",
    )
    return parser, parser.parse_args()


async def main() -> None:
    parser, arguments = parse_arguments()
    if arguments.replicas:
        await replica_rounds(parser, arguments.database_url, arguments.replicas)
        return
    random.seed(7)
    workdir = Path(tempfile.mkdtemp(prefix="bench-purchases-"))
    database = arguments.database_url or f"sqlite:///{workdir / 'bot.sqlite3'}"
    customers = await seed_customers(database, arguments.customers)
    port = free_port()
    async with BotAPIEmulator(token=TOKEN) as emulator:
        for telegram_id in customers:
            emulator.add_user(first_name=f"C{telegram_id}", user_id=telegram_id).start_chat()
        env = {
            **os.environ,
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": emulator.base_url,
            "DATABASE_URL": database,
            "HTTP_PORT": str(port),
            "LOG_LEVEL": "WARNING",
        }
        token = (await run_cli(env, workdir, "api-token", "create", "bench")).strip()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=workdir,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(workdir / "log.txt").open("wb"),
        )
        api_url = f"http://127.0.0.1:{port}"
        await wait_until_healthy(api_url)
        # Start-up work (the sample FAQ's embeddings on a first start) ends before polling
        # begins; the rounds measure purchases, not start-up.
        while not any(call.method == "getUpdates" for call in emulator.calls):
            await asyncio.sleep(0.05)
        sequence = 0
        recorded: list[dict[str, object]] = []

        def new_orders(count: int) -> list[dict[str, object]]:
            nonlocal sequence
            batch = []
            for _ in range(count):
                sequence += 1
                batch.append(
                    {
                        "order_id": f"bench-{sequence}",
                        "telegram_id": random.choice(customers),
                        "amount": f"{random.randint(100, 20000) / 100:.2f}",
                    }
                )
            recorded.extend(batch)
            return batch

        backend = "SQLite" if database.startswith("sqlite:") else "PostgreSQL"
        print(f"{arguments.customers} customers, {arguments.orders} orders per round, {backend}")
        rounds: list[tuple[str, list[dict[str, object]], int]] = [
            ("1 client, new orders", new_orders(arguments.orders // 3), 1),
            ("50 clients, new orders", new_orders(arguments.orders), 50),
        ]
        replays = int(arguments.orders * arguments.replay_share)
        mixed = new_orders(arguments.orders - replays) + random.sample(recorded, replays)
        random.shuffle(mixed)
        rounds.append((f"50 clients, {arguments.replay_share:.0%} replays", mixed, 50))
        for name, orders, clients in rounds:
            cpu_before = cpu_seconds(process.pid)
            rate, latencies, statuses = await load(api_url, token, orders, clients)
            cpu_ms = (cpu_seconds(process.pid) - cpu_before) / len(orders) * 1000
            p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
            print(
                f"{name:<28} {rate:7.0f} purchases/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
                f"   bot CPU {cpu_ms:.2f} ms/purchase   statuses {statuses}"
            )
        process.send_signal(signal.SIGTERM)
        await process.wait()
    storage = await open_storage(database)
    async with storage.read() as uow:
        purchases = await uow.session.fetch_value("SELECT COUNT(*) FROM purchases")
        earned = await uow.session.fetch_value(
            "SELECT COUNT(*) FROM points_entries WHERE reason = 'purchase'"
        )
        balance, lots = await uow.ledger.totals()
    await storage.close()
    unique = len({order["order_id"] for order in recorded})
    print(
        f"orders sent (unique): {unique}; purchases stored: {purchases}; purchase credits: "
        f"{earned}; ledger consistent: {balance == lots}"
    )


if __name__ == "__main__":
    asyncio.run(main())
