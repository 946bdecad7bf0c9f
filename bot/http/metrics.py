"""Prometheus metrics: what the bot counts as it works, and gauges read at scrape time.

One registry per process (not prometheus_client's global one), so tests and benchmarks can
build several applications in one interpreter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from bot.logs.setup import update_context
from storage.clock import utcnow
from storage.unit_of_work import Storage

# Seconds; an update is mostly a few milliseconds, a slow Telegram call seconds.
_UPDATE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.updates = Counter(
            "bot_updates",
            "Updates from Telegram by type and outcome (handled, unhandled, error).",
            ["type", "outcome"],
            registry=registry,
        )
        self.update_seconds = Histogram(
            "bot_update_duration_seconds",
            "Time to handle one update, from the first middleware to the last reply.",
            ["type"],
            buckets=_UPDATE_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "bot_errors",
            "Errors logged, by the logger that reported them.",
            ["logger"],
            registry=registry,
        )
        self.api_requests = Counter(
            "bot_api_requests",
            "Requests to the HTTP server by route and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.api_seconds = Histogram(
            "bot_api_request_duration_seconds",
            "Time to answer an HTTP request, by route.",
            ["route"],
            buckets=_UPDATE_BUCKETS,
            registry=registry,
        )
        self.webhook_received = Counter(
            "bot_webhook_updates_received",
            "Webhook requests stored in the inbox (duplicates included).",
            registry=registry,
        )
        self.tickets_open = Gauge(
            "bot_tickets_open", "Support tickets open now.", registry=registry
        )
        self.notices_pending = Gauge(
            "bot_notices_pending", "Notices due and not yet sent.", registry=registry
        )
        self.inbox_pending = Gauge(
            "bot_webhook_inbox_pending",
            "Webhook updates stored and not yet handled (all replicas).",
            registry=registry,
        )
        self.broadcasts = Gauge(
            "bot_broadcasts", "Broadcasts by state.", ["state"], registry=registry
        )
        self.broadcast_recipients = Gauge(
            "bot_broadcast_recipients",
            "Recipients of broadcasts under way (scheduled, sending, paused) by state.",
            ["state"],
            registry=registry,
        )

    async def refresh(self, storage: Storage) -> None:
        """Read the gauges that live in the database (they are shared by every replica)."""
        async with storage.read() as uow:
            snapshot = await uow.operations.snapshot(utcnow())
        self.tickets_open.set(snapshot.tickets_open)
        self.notices_pending.set(snapshot.notices_pending)
        self.inbox_pending.set(snapshot.inbox_pending)
        for state in ("draft", "scheduled", "sending", "paused", "done", "cancelled"):
            self.broadcasts.labels(state).set(snapshot.broadcasts.get(state, 0))
        for state in ("pending", "sending", "sent", "failed", "blocked", "skipped"):
            self.broadcast_recipients.labels(state).set(snapshot.broadcast_recipients.get(state, 0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def update_type(update: Update) -> str:
    return update.event_type if update.event_type else "unknown"


class UpdateMetricsMiddleware(BaseMiddleware):
    """Outermost update middleware: counts every update and times its handling."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        kind = update_type(event)
        started = time.perf_counter()
        outcome = "error"
        # Every record logged while handling this update carries its id (bot/logs/setup.py).
        # Not reset: each update runs in a task of its own (aiogram's polling and the webhook
        # worker alike), and aiogram logs "Update id=… is handled" after this returns.
        update_context.set(event.update_id)
        try:
            result = await handler(event, data)
            outcome = "unhandled" if result is UNHANDLED else "handled"
            return result
        finally:
            self._metrics.updates.labels(kind, outcome).inc()
            self._metrics.update_seconds.labels(kind).observe(time.perf_counter() - started)


class ErrorCounter(logging.Handler):
    """Counts ERROR (and worse) log records: every error the bot reports, whoever logs it."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(level=logging.ERROR)
        self._metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        self._metrics.errors.labels(record.name).inc()


def http_middleware(metrics: Metrics) -> Any:
    """An aiohttp middleware counting requests by their route (not their raw path, which
    would make a label per order id)."""

    @web.middleware
    async def measure(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.perf_counter()
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            metrics.api_requests.labels(request.method, route, str(status)).inc()
            metrics.api_seconds.labels(route).observe(time.perf_counter() - started)

    return measure


def metrics_route(
    metrics: Metrics, storage: Storage
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def serve(_request: web.Request) -> web.Response:
        await metrics.refresh(storage)
        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    return serve
