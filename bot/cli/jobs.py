"""Operator commands for scheduled jobs: run one now, list the latest runs.

`jobs run` claims the day exactly as the running bot's scheduler does, so running it by
hand while the bot runs never makes a day run twice; notices it queues are sent by the
running bot.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import Any

from bot.config import Settings, SettingsError
from bot.jobs.catalogue import register_jobs
from bot.jobs.scheduler import Outcome, Scheduler, UnknownJob
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.rules import load_rules
from storage.migrations import apply_migrations
from storage.repositories.outbox import JobRun
from storage.unit_of_work import Storage, open_storage

EXIT_OK = 0
EXIT_FAILED = 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    jobs = commands.add_parser("jobs", help="scheduled jobs (points expiry, reminders, ...)")
    jobs_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    run = jobs_commands.add_parser(
        "run", help="run a job now (a daily job only if its day has not run yet)"
    )
    run.add_argument("name")
    run.add_argument(
        "--date",
        help="the day to run a daily job for, YYYY-MM-DD in TIMEZONE (default: today)",
    )
    listing = jobs_commands.add_parser("list", help="the jobs, their schedule and latest runs")
    listing.add_argument("--runs", type=int, default=3, help="runs shown per job (default 3)")
    listing.add_argument("--json", action="store_true", help="print JSON")


def build_scheduler(settings: Settings, storage: Storage) -> Scheduler:
    rules = load_rules(settings.loyalty.rules_file)
    scheduler = Scheduler(storage, settings.zone)
    register_jobs(scheduler, storage, settings, rules, PointsLedger(rules))
    return scheduler


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    day = _parse_day(arguments.date) if arguments.jobs_command == "run" else None
    apply_migrations(settings.database.url)
    storage = await open_storage(settings.database.url)
    try:
        scheduler = build_scheduler(settings, storage)
        if arguments.jobs_command == "run":
            return await _run(scheduler, arguments.name, day)
        return await _list(scheduler, storage, arguments.runs, arguments.json)
    finally:
        await storage.close()


def _parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"--date {text!r} is not a date like 2026-12-01") from None


async def _run(scheduler: Scheduler, name: str, day: date | None) -> int:
    try:
        report = await scheduler.run_now(name, day)
    except (UnknownJob, ValueError) as error:
        print(error, file=sys.stderr)
        return EXIT_FAILED
    result = json.dumps(report.result or {}, ensure_ascii=False)
    if report.outcome is Outcome.SKIPPED:
        when = (
            f"finished {report.finished_at:%Y-%m-%d %H:%M:%S} UTC"
            if report.finished_at
            else "still running elsewhere"
        )
        print(f"{report.job} {report.run_key}: already ran ({when}); nothing done")
        return EXIT_OK
    if report.outcome is Outcome.FAILED:
        print(f"{report.job} {report.run_key}: failed: {report.error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{report.job} {report.run_key}: {report.outcome} {result}")
    return EXIT_OK


async def _list(scheduler: Scheduler, storage: Storage, per_job: int, as_json: bool) -> int:
    async with storage.read() as uow:
        runs = await uow.jobs.recent(max(per_job, 1))
    by_job: dict[str, list[JobRun]] = {}
    for run in runs:
        by_job.setdefault(run.job, []).append(run)
    if as_json:
        document = [
            {
                "name": job.name,
                "schedule": job.describe(scheduler.zone),
                "runs": [_run_document(run) for run in by_job.get(job.name, [])],
            }
            for job in scheduler.jobs
        ]
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return EXIT_OK
    for job in scheduler.jobs:
        print(f"{job.name}  ({job.describe(scheduler.zone)})")
        job_runs = by_job.get(job.name, [])
        if not job_runs:
            print("  never ran")
        for run in job_runs:
            state = (
                f"finished {run.finished_at:%Y-%m-%d %H:%M:%S} UTC"
                if run.finished_at
                else "UNFINISHED (resumed at the next start)"
            )
            print(
                f"  {run.run_key}  started {run.started_at:%Y-%m-%d %H:%M:%S} UTC  {state}  "
                f"{json.dumps(run.result or {}, ensure_ascii=False)}"
            )
    return EXIT_OK


def _run_document(run: JobRun) -> dict[str, Any]:
    return {
        "run_key": run.run_key,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "result": run.result,
    }
