"""One asyncio task that runs the bot's daily and periodic jobs.

A daily job runs once per day of the business's calendar (TIMEZONE), at or after its time
of day. Before it runs, its day is claimed in `job_runs` (job, 'YYYY-MM-DD') in a committed
transaction: a second claim of the same day fails wherever it comes from (this process after
a restart, another replica, the operator's `python -m bot jobs run`), so a day never runs
twice. The claim is marked finished when the job returns.

A claimed run that never finished (the process was killed, the job raised, the bot was
stopped mid-run) is taken over and run again for the same day: at the next start, and by
any running scheduler once it has been unfinished for `retry_after`. Jobs must therefore be
idempotent — ledger idempotency keys and outbox dedupe keys make a repeated run a no-op for
everything the first one already did.

A bot that was down at a job's time runs it at start-up for today. Earlier missed days are
run only for jobs registered with `catch_up_days` (and never before the job's first run),
because most jobs do "everything due up to now" and a missed day is moot for them.

Periodic jobs (every N seconds) are for work that is already durable and idempotent on its
own, such as sending what has become due; they are not claimed and run in every process.
Jobs run one after another in this one task: a slow job delays the others, never overlaps
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from storage.clock import utcnow
from storage.unit_of_work import Storage

logger = logging.getLogger(__name__)

DailyRun = Callable[[date], Awaitable[Mapping[str, Any] | None]]
PeriodicRun = Callable[[datetime], Awaitable[None]]


@dataclass(frozen=True)
class DailyJob:
    name: str
    at: time  # local time of day in the scheduler's zone
    run: DailyRun  # gets the local date it runs for; returns counts kept in job_runs
    catch_up_days: int = 0

    def describe(self, zone: ZoneInfo) -> str:
        catch_up = f", catching up {self.catch_up_days} missed days" if self.catch_up_days else ""
        return f"daily at {self.at:%H:%M:%S} {zone.key}{catch_up}"


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: float  # seconds
    run: PeriodicRun

    def describe(self, zone: ZoneInfo) -> str:
        return f"every {self.every:g} s"


class Outcome(StrEnum):
    DONE = "done"
    RESUMED = "resumed"  # an unfinished run of that day, taken over and completed
    SKIPPED = "skipped"  # that day was claimed before: nothing was run
    FAILED = "failed"  # the job raised; the run stays unfinished and is retried


@dataclass(frozen=True)
class RunReport:
    job: str
    run_key: str
    outcome: Outcome
    result: Mapping[str, Any] | None = None
    error: str | None = None
    finished_at: datetime | None = None  # for SKIPPED: when the earlier run finished, if it did


class UnknownJob(LookupError):
    pass


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local day [start, end) in UTC (23 or 25 hours long on DST days). In UTC because
    Python subtracts and compares datetimes of one zone by their wall clocks."""
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


class Scheduler:
    def __init__(
        self,
        storage: Storage,
        zone: ZoneInfo,
        *,
        tick_seconds: float = 30.0,
        retry_after: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = utcnow,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._storage = storage
        self.zone = zone
        self._tick_seconds = tick_seconds
        self._retry_after = retry_after
        self.clock = clock
        self._on_change = on_change
        self._daily: dict[str, DailyJob] = {}
        self._periodic: dict[str, PeriodicJob] = {}
        # Per job, the last local day known to be claimed (by anyone): no need to ask again.
        self._settled: dict[str, date] = {}
        # Per job, the last local day whose missed predecessors were looked for.
        self._caught_up: dict[str, date] = {}
        self._next_periodic: dict[str, float] = {}
        # Unfinished runs started before this moment are taken over at the first pass.
        self._started_at = clock()
        self._last_takeover: datetime | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # Registration

    def daily(self, name: str, at: time, run: DailyRun, *, catch_up_days: int = 0) -> None:
        self._check_name(name)
        if catch_up_days < 0:
            raise ValueError("catch_up_days cannot be negative")
        self._daily[name] = DailyJob(name, at, run, catch_up_days)

    def every(self, name: str, seconds: float, run: PeriodicRun) -> None:
        self._check_name(name)
        if seconds <= 0:
            raise ValueError("a periodic job needs a positive interval")
        self._periodic[name] = PeriodicJob(name, seconds, run)

    def _check_name(self, name: str) -> None:
        if name in self._daily or name in self._periodic:
            raise ValueError(f"a job named {name!r} is registered already")

    @property
    def jobs(self) -> list[DailyJob | PeriodicJob]:
        return [*self._daily.values(), *self._periodic.values()]

    def job(self, name: str) -> DailyJob | PeriodicJob:
        found = self._daily.get(name) or self._periodic.get(name)
        if found is None:
            known = ", ".join(job.name for job in self.jobs) or "none"
            raise UnknownJob(f"no job named {name!r} (known: {known})")
        return found

    def today(self) -> date:
        return self.clock().astimezone(self.zone).date()

    # The background task

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self, grace: float = 5.0) -> None:
        """Let a running job finish for up to `grace` seconds, then cancel it (its run stays
        unfinished and is resumed at the next start)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        await asyncio.wait({task}, timeout=grace)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:
                logger.exception("the scheduler failed; retrying")
            loop_time = asyncio.get_running_loop().time()
            delay = min(
                [self._tick_seconds] + [due - loop_time for due in self._next_periodic.values()]
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), max(delay, 0.0))

    async def tick(self) -> list[RunReport]:
        """One pass: take over abandoned runs, run the daily jobs that are due, then the
        periodic ones. Returns what the daily jobs did."""
        reports = await self._take_over_abandoned()
        for job in self._daily.values():
            if self._stopping.is_set():
                break
            for day in await self._days_due(job):
                reports.append(await self._claim_and_run(job, day))
        await self._run_periodic()
        return reports

    async def _take_over_abandoned(self) -> list[RunReport]:
        now = self.clock()
        if self._last_takeover is None:
            started_before = self._started_at  # at start-up: whatever the last process left
        elif now - self._last_takeover >= self._retry_after:
            started_before = now - self._retry_after  # a peer's crash, or our own failure
        else:
            return []
        reports = []
        for job in self._daily.values():
            async with self._storage.write() as uow:
                keys = await uow.jobs.take_over(job.name, started_before, now)
            for key in keys:
                logger.warning("resuming the unfinished run of %s for %s", job.name, key)
                if key == self.today().isoformat():
                    self._settled[job.name] = self.today()
                reports.append(await self._execute(job, key, resumed=True))
        # Only now: a pass cut short by an error is repeated at the next tick (the runs it
        # took over carry a fresh start time, so none is taken twice).
        self._last_takeover = now
        return reports

    async def _days_due(self, job: DailyJob) -> list[date]:
        local_now = self.clock().astimezone(self.zone)
        today = local_now.date()
        days = []
        if job.catch_up_days and self._caught_up.get(job.name) != today:
            self._caught_up[job.name] = today
            async with self._storage.read() as uow:
                latest = await uow.jobs.latest_key(job.name)
            if latest is not None:
                first = max(
                    date.fromisoformat(latest) + timedelta(days=1),
                    today - timedelta(days=job.catch_up_days),
                )
                days += [first + timedelta(days=n) for n in range((today - first).days)]
        due_today = local_now >= datetime.combine(today, job.at, tzinfo=self.zone)
        if due_today and self._settled.get(job.name) != today:
            days.append(today)
        return days

    async def _claim_and_run(self, job: DailyJob, day: date) -> RunReport:
        key = day.isoformat()
        async with self._storage.write() as uow:
            claimed = await uow.jobs.claim(job.name, key, self.clock())
            earlier = None if claimed else await uow.jobs.get(job.name, key)
        if day == self.today():
            self._settled[job.name] = day
        if not claimed:
            return RunReport(
                job.name, key, Outcome.SKIPPED, finished_at=earlier.finished_at if earlier else None
            )
        return await self._execute(job, key, resumed=False)

    async def _execute(self, job: DailyJob, key: str, *, resumed: bool) -> RunReport:
        logger.info("running %s for %s", job.name, key)
        try:
            result = dict(await job.run(date.fromisoformat(key)) or {})
        except Exception as error:
            logger.exception("%s for %s failed; it will be retried", job.name, key)
            message = f"{type(error).__name__}: {error}"[:500]
            async with self._storage.write() as uow:
                await uow.jobs.fail(job.name, key, message)
            return RunReport(job.name, key, Outcome.FAILED, error=message)
        finished_at = self.clock()
        async with self._storage.write() as uow:
            await uow.jobs.finish(job.name, key, finished_at, result)
        logger.info("%s for %s done: %s", job.name, key, result)
        if self._on_change is not None:
            self._on_change()
        outcome = Outcome.RESUMED if resumed else Outcome.DONE
        return RunReport(job.name, key, outcome, result, finished_at=finished_at)

    async def _run_periodic(self) -> None:
        loop_time = asyncio.get_running_loop().time()
        for job in self._periodic.values():
            if self._stopping.is_set():
                return
            if self._next_periodic.get(job.name, loop_time) > loop_time:
                continue
            self._next_periodic[job.name] = loop_time + job.every
            try:
                await job.run(self.clock())
            except Exception:
                logger.exception("periodic job %s failed", job.name)

    # On demand (the operator CLI)

    async def run_now(self, name: str, day: date | None = None) -> RunReport:
        """Run a job once now, outside the loop. A daily job runs for `day` (default today)
        unless that day was claimed before; an unfinished claim is resumed."""
        job = self.job(name)
        if isinstance(job, PeriodicJob):
            now = self.clock()
            await job.run(now)
            return RunReport(job.name, now.isoformat(), Outcome.DONE, finished_at=self.clock())
        day = day or self.today()
        if day > self.today():
            raise ValueError(f"{day} is in the future in {self.zone.key}")
        key = day.isoformat()
        report = await self._claim_and_run(job, day)
        if report.outcome is Outcome.SKIPPED and report.finished_at is None:
            now = self.clock()
            async with self._storage.write() as uow:
                taken = bool(await uow.jobs.take_over(job.name, now, now, key))
            if taken:
                return await self._execute(job, key, resumed=True)
        return report
