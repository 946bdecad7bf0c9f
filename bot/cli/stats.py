"""`python -m bot stats`: retention figures for a period, as text or JSON."""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

from bot.cli.audit import parse_since
from bot.config import Settings, SettingsError
from bot.services.analytics import AnalyticsService
from bot.services.charts import period_label
from bot.services.loyalty.rules import load_rules
from bot.services.stats_report import stats_report
from storage.migrations import apply_migrations
from storage.unit_of_work import open_storage

EXIT_OK = 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stats = commands.add_parser("stats", help="retention figures for a period")
    stats.add_argument("--period", default="30d", help="the period's length: 7d, 30d, 90d, …")
    stats.add_argument("--end", help="the period's end (a date or time, UTC); default now")
    stats.add_argument("--json", action="store_true", help="print JSON")

    export = commands.add_parser("export", help="a table as CSV, streamed (any size)")
    export.add_argument("table", choices=sorted(EXPORTS))
    export.add_argument("--format", choices=["csv"], default="csv")
    export.add_argument("--output", type=Path, help="write here instead of stdout")

    cohorts = commands.add_parser("cohorts", help="monthly cohorts by first purchase")
    cohorts.add_argument("--months", type=int, default=12, help="cohorts of the last N months")
    cohorts.add_argument("--format", choices=["text", "csv"], default="text")


# What each export holds.
EXPORTS = {
    "customers": """
        SELECT c.telegram_id, c.first_name, c.last_name, c.username, c.language,
               c.first_seen, c.last_seen, c.consent_promotions, c.consent_surveys,
               c.reachable, c.tier, c.card_code,
               (SELECT COALESCE(SUM(delta), 0) FROM points_entries e WHERE e.customer_id = c.id)
                   AS balance,
               (SELECT COUNT(*) FROM purchases p WHERE p.customer_id = c.id) AS purchases,
               CAST((SELECT COALESCE(SUM(amount_minor), 0) FROM purchases p
                     WHERE p.customer_id = c.id) AS DOUBLE PRECISION) / 100 AS spend
        FROM customers c ORDER BY c.id
    """,
    "purchases": """
        SELECT p.order_id, c.telegram_id,
               CAST(p.amount_minor AS DOUBLE PRECISION) / 100 AS amount, p.currency,
               p.purchased_at, p.recorded_at, p.points, p.tier, p.recorded_by,
               CAST(COALESCE((SELECT SUM(r.amount_minor) FROM refunds r
                              WHERE r.purchase_id = p.id), 0) AS DOUBLE PRECISION) / 100
                   AS refunded
        FROM purchases p JOIN customers c ON c.id = p.customer_id ORDER BY p.id
    """,
    "interactions": """
        SELECT c.telegram_id, i.at, i.direction, i.kind, i.text, i.status, i.error
        FROM interactions i JOIN customers c ON c.id = i.customer_id ORDER BY i.id
    """,
    "reviews": """
        SELECT c.telegram_id, r.stars, r.text,
               CASE WHEN r.photo IS NOT NULL THEN 1 ELSE 0 END AS photo, r.source,
               p.order_id, r.created_at
        FROM reviews r JOIN customers c ON c.id = r.customer_id
        LEFT JOIN purchases p ON p.id = r.purchase_id ORDER BY r.id
    """,
    "tickets": """
        SELECT t.id AS ticket, c.telegram_id, t.status, t.source, t.opened_at,
               t.first_response_at, t.closed_at, t.assignee_id, t.assignee_name,
               ROUND((julianday(t.first_response_at) - julianday(t.opened_at)) * 1440, 1)
                   AS first_response_minutes,
               ROUND((julianday(t.closed_at) - julianday(t.opened_at)) * 1440, 1)
                   AS resolution_minutes,
               t.rating, t.rating_comment, t.rated_at
        FROM tickets t JOIN customers c ON c.id = t.customer_id ORDER BY t.id
    """,
    "points": """
        SELECT c.telegram_id, e.at, e.delta, e.reason, e.source, e.expires_at, e.note
        FROM points_entries e JOIN customers c ON c.id = e.customer_id ORDER BY e.id
    """,
}


async def run_export_command(settings: Settings, arguments: argparse.Namespace) -> int:
    apply_migrations(settings.database.url)
    storage = await open_storage(settings.database.url)
    target = arguments.output.open("w", newline="", encoding="utf-8") if arguments.output else None
    try:
        writer = csv.writer(target or sys.stdout)
        header_written = False
        async with storage.read() as uow:
            async for rows in uow.analytics.stream(EXPORTS[arguments.table]):
                if not header_written:
                    writer.writerow(rows[0].keys())
                    header_written = True
                writer.writerows(tuple(row) for row in rows)
    finally:
        if target is not None:
            target.close()
        await storage.close()
    return EXIT_OK


async def run_cohorts_command(settings: Settings, arguments: argparse.Namespace) -> int:
    apply_migrations(settings.database.url)
    storage = await open_storage(settings.database.url)
    try:
        table = await AnalyticsService(storage, load_rules(settings.loyalty.rules_file)).cohorts(
            max(1, arguments.months)
        )
    finally:
        await storage.close()
    width = max((len(row.shares) for row in table), default=0)
    if arguments.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["cohort", "customers", *(f"month_{n}" for n in range(width))])
        for row in table:
            writer.writerow([row.cohort, row.customers, *(f"{share:.1f}" for share in row.shares)])
        return EXIT_OK
    print("cohort    customers  " + "".join(f"{f'+{n}':>7}" for n in range(width)))
    for row in table:
        print(
            f"{row.cohort}  {row.customers:>9}  "
            + "".join(f"{share:>6.1f}%" for share in row.shares)
        )
    return EXIT_OK


def parse_period(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*d?\s*", text)
    if match is None or not 1 <= int(match.group(1)) <= 3660:
        raise SettingsError(f"--period {text!r} is not a number of days such as 30d")
    return int(match.group(1))


async def run_stats_command(settings: Settings, arguments: argparse.Namespace) -> int:
    days = parse_period(arguments.period)
    end = parse_since(arguments.end) if arguments.end else None
    rules = load_rules(settings.loyalty.rules_file)
    apply_migrations(settings.database.url)
    storage = await open_storage(settings.database.url)
    try:
        figures = await AnalyticsService(
            storage, rules, settings.support.first_response_minutes
        ).figures(days, end)
    finally:
        await storage.close()
    if arguments.json:
        print(json.dumps(figures.as_json(), ensure_ascii=False, indent=2))
    else:
        period = period_label(figures.period_start, figures.period_end, "en", settings.zone)
        print(stats_report(figures, rules.currency, period, markup=False))
    return EXIT_OK


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    if arguments.command == "export":
        return await run_export_command(settings, arguments)
    if arguments.command == "cohorts":
        return await run_cohorts_command(settings, arguments)
    return await run_stats_command(settings, arguments)
