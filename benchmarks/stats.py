"""Time of `python -m bot stats --period 90d` on 100,000 customers and 1,000,000 purchases.

Builds the database once (SQLite, in a temporary folder, or --database PATH to reuse one):
customers with first purchases spread over two years and a skewed number of purchases each,
plus 20,000 rated support tickets and 100,000 FAQ questions over the last year; then times
the figures in-process (median of --runs), the weekly activity behind /stats's chart and
the chart itself, and the whole CLI command once.

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
from bot.services.charts import WeeklyLabels, weekly_chart
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

        def tickets():
            for number in range(20_000):
                opened = now - timedelta(days=random.random() * 365)
                answered = opened + timedelta(minutes=random.expovariate(1 / 12))
                closed = answered + timedelta(hours=random.expovariate(1 / 3))
                yield (
                    random.randrange(customers) + 1,
                    "closed",
                    "command",
                    to_db(opened),
                    900 + number % 7,
                    f"Agent {number % 7}",
                    to_db(answered),
                    to_db(closed),
                    random.choice((1, 2, 3, 4, 4, 5, 5, 5, None)),
                    to_db(closed),
                )

        database.executemany(
            "INSERT INTO tickets (customer_id, status, source, opened_at, assignee_id,"
            " assignee_name, first_response_at, closed_at, rating, rated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            tickets(),
        )
        database.executemany(
            "INSERT INTO faq_queries (customer_id, at, language, text, confident, outcome)"
            " VALUES (?, ?, 'en', 'question', ?, ?)",
            (
                (
                    random.randrange(customers) + 1,
                    to_db(now - timedelta(days=random.random() * 365)),
                    confident,
                    "answered" if confident else "declined",
                )
                for confident in (random.random() < 0.7 for _ in range(100_000))
            ),
        )


async def time_figures(url: str, runs: int) -> list[float]:
    storage = await open_storage(url)
    service = AnalyticsService(storage, load_rules(), 15)
    timings = []
    try:
        for _ in range(runs):
            started = time.perf_counter()
            figures = await service.figures(90)
            timings.append(time.perf_counter() - started)
    finally:
        await storage.close()
    print(f"90 days: {figures.buyers} buyers, {figures.purchases} purchases, CRR {figures.crr} %")
    print(
        f"  tickets {figures.tickets_opened} opened, CSAT {figures.csat} %, "
        f"FAQ deflection {figures.faq_deflection_rate} %"
    )
    storage = await open_storage(url)
    try:
        started = time.perf_counter()
        weeks = await AnalyticsService(storage, load_rules()).weekly_activity(12)
        print(f"weekly activity (12 weeks) for the chart: {time.perf_counter() - started:.2f} s")
    finally:
        await storage.close()
    started = time.perf_counter()
    png = weekly_chart(weeks, WeeklyLabels("Customers per week", "active", "retained"))
    print(f"chart drawn: {len(png)} bytes PNG in {time.perf_counter() - started:.2f} s")
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
