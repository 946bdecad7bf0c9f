"""Scheduled work: the scheduler (one mechanism for every feature) and the job catalogue."""

from bot.jobs.scheduler import DailyJob, Outcome, PeriodicJob, RunReport, Scheduler, UnknownJob

__all__ = ["DailyJob", "Outcome", "PeriodicJob", "RunReport", "Scheduler", "UnknownJob"]
