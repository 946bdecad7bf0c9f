"""Time of `python -m bot stats --period 90d` on 100,000 customers and 1,000,000 purchases.

Builds the database once (SQLite, in a temporary folder, or --database PATH to reuse one):
customers with first purchases spread over two years and a skewed number of purchases each,
then times the figures in-process (median of --runs) and the whole CLI command once.

    .venv/bin/python -m benchmarks.stats [--customers 100000] [--purchases 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.services.analytics import AnalyticsService
from bot.services.loyalty.rules import load_rules
from storage.clock import to_db
from storage.migrations import apply_migrations
from storage.unit_of_work import open_storage


def build(path: Path, customers: int, purchases: int) -> None:
    url = f"sqlite:///{path}"
    apply_migrations(url)
    random.seed(11)
    now = datetime.now(UTC)
    with sqlite3.connect(path) as database:
        seen = to_db(now - timedelta(days=800))
        database.executemany(
            "INSERT INTO customers (telegram_id, first_name, first_seen, last_seen) "
            "VALUES (?, ?, ?, ?)",
            (
                (800_000_000 + n, f"C{n}", seen, to_db(now - timedelta(days=random.random() * 400)))
                for n in range(customers)
            ),
        )
        weights = [random.paretovariate(1.2) for _ in range(customers)]
        starts = [random.random() * 730 for _ in range(customers)]

        def rows():
            owners = random.choices(range(customers), weights=weights, k=purchases)
            for number, owner in enumerate(owners):
                days_ago = random.random() * starts[owner]
                moment = now - timedelta(days=days_ago)
                yield (
                    f"B-{number}",
                    owner + 1,
                    random.randint(100, 20_000),
                    "EUR",
                    to_db(moment),
                    to_db(now),
                    10,
                    0,
                    "bronze",
                    "bench",
                    int(moment.timestamp()),
                )

        database.executemany(
            "INSERT INTO purchases (order_id, customer_id, amount_minor, currency, purchased_at,"
            " recorded_at, points, balance_after, tier, recorded_by, purchased_epoch)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows(),
        )


async def time_figures(url: str, runs: int) -> list[float]:
    storage = await open_storage(url)
    service = AnalyticsService(storage, load_rules())
    timings = []
    try:
        for _ in range(runs):
            started = time.perf_counter()
            figures = await service.figures(90)
            timings.append(time.perf_counter() - started)
    finally:
        await storage.close()
    print(f"90 days: {figures.buyers} buyers, {figures.purchases} purchases, CRR {figures.crr} %")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", type=Path, help="reuse (or create) this database")
    arguments = parser.parse_args()
    path = arguments.database or Path(tempfile.mkdtemp(prefix="bench-stats-")) / "bot.sqlite3"
    if not path.exists():
        started = time.perf_counter()
        build(path, arguments.customers, arguments.purchases)
        print(f"built {path} in {time.perf_counter() - started:.1f} s")
    url = f"sqlite:///{path}"
    timings = asyncio.run(time_figures(url, arguments.runs))
    print(f"figures in-process: median {statistics.median(timings):.2f} s over {len(timings)}")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "bot", "stats", "--period", "90d", "--json"],
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"`python -m bot stats --period 90d` wall time: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
