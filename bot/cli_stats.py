"""`python -m bot stats`: retention figures for a period, as text or JSON."""

from __future__ import annotations

import argparse
import json
import re

from bot.services.analytics import AnalyticsService, Figures
from bot.services.loyalty.rules import load_rules
from bot.settings import Settings, SettingsError
from storage.migrations import apply_migrations
from storage.unit_of_work import open_storage

EXIT_OK = 0


def add_stats_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stats = commands.add_parser("stats", help="retention figures for a period")
    stats.add_argument("--period", default="30d", help="the period's length: 7d, 30d, 90d, …")
    stats.add_argument("--end", help="the period's end (a date or time, UTC); default now")
    stats.add_argument("--json", action="store_true", help="print JSON")


def parse_period(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*d?\s*", text)
    if match is None or not 1 <= int(match.group(1)) <= 3660:
        raise SettingsError(f"--period {text!r} is not a number of days such as 30d")
    return int(match.group(1))


async def run_stats_command(settings: Settings, arguments: argparse.Namespace) -> int:
    from bot.cli import parse_since

    days = parse_period(arguments.period)
    end = parse_since(arguments.end) if arguments.end else None
    rules = load_rules(settings.loyalty_rules)
    apply_migrations(settings.database_url)
    storage = await open_storage(settings.database_url)
    try:
        figures = await AnalyticsService(storage, rules).figures(days, end)
    finally:
        await storage.close()
    if arguments.json:
        print(json.dumps(figures.as_json(), ensure_ascii=False, indent=2))
    else:
        print(figures_text(figures, rules.currency))
    return EXIT_OK


def figures_text(figures: Figures, currency: str) -> str:
    def value(number: object) -> str:
        return "—" if number is None else str(number)

    lines = [
        f"{figures.days} days to {figures.period_end:%Y-%m-%d %H:%M} UTC",
        f"customers: {figures.customers_total} known, {figures.customers_active} active, "
        f"{figures.buyers} bought ({figures.new} new, {figures.returning} returning), "
        f"{figures.lost} lost",
        f"CRR {value(figures.crr)} % · churn {value(figures.churn)} % "
        f"(bought in the previous period: {figures.buyers_previous})",
        f"revenue {figures.revenue} {currency} (new {figures.revenue_new}, returning "
        f"{figures.revenue_returning}; refunds {figures.refunds}) in {figures.purchases} "
        f"purchases; average check {value(figures.average_check)}; "
        f"{value(figures.purchase_frequency)} purchases per buyer; repeat-purchase rate "
        f"{value(figures.repeat_purchase_rate)} %; CLV {value(figures.clv)}",
        f"points: issued {figures.points_issued}, spent {figures.points_spent}, expired "
        f"{figures.points_expired}, refunded {figures.points_refunded}; outstanding "
        f"{figures.points_liability} ({figures.points_liability_value} {currency})",
        f"FAQ: {figures.faq_questions} questions, {figures.faq_answered} answered, "
        f"{figures.faq_suggested} offered a choice, {figures.faq_declined} declined; "
        f"👍 {figures.faq_helpful} 👎 {figures.faq_unhelpful}",
        "",
        f"{'segment':<10}{'customers':>10}{'revenue':>14}{'purchases':>11}{'avg check':>11}"
        f"{'share %':>9}",
    ]
    lines.extend(
        f"{segment.name:<10}{segment.customers:>10}{segment.revenue!s:>14}"
        f"{segment.purchases:>11}{value(segment.average_check):>11}"
        f"{value(segment.revenue_share):>9}"
        for segment in figures.segments
    )
    return "\n".join(lines)
