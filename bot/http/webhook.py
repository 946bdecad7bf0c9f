"""Webhook mode: updates are stored in the inbox before Telegram gets its 200, then handled
by whichever process claims them.

    Telegram ──POST──▶ any replica ──INSERT (update_id unique)──▶ webhook_inbox ──200──▶
    worker in every replica ──claim (lease)──▶ Dispatcher ──▶ done

A crash after the 200 cannot lose an update: it stays in the inbox, and once its holder's
lease lapses another process (or the restarted one) takes it. The same update_id delivered
twice, to one replica or two, is stored once. Leases are renewed while a process lives, so
a slow handler is never taken over by a second replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import socket
import uuid
from datetime import timedelta

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiohttp import web

from bot.http.metrics import Metrics
from bot.logs.setup import update_context
from storage.batching import Statement
from storage.clock import to_db, utcnow
from storage.database import Session
from storage.repositories.inbox import DONE_SQL, InboxUpdate
from storage.unit_of_work import Storage, UnitOfWork

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are small; a document or album still comes as ids, not bytes.
MAX_UPDATE_BYTES = 1024 * 1024
# How long done rows are kept (redeliveries within it are recognised by the inbox itself;
# processed_updates keeps the ids a week anyway).
KEEP_DONE = timedelta(days=1)


class _StoreKind:
    """Inbox inserts in the write batcher: concurrent requests share one commit."""

    async def apply(self, session: Session, payloads: list[tuple[int, str]]) -> list[None]:
        await UnitOfWork(session).webhook_inbox.store_many(payloads, utcnow())
        return [None] * len(payloads)


_STORE = _StoreKind()


class WebhookInbox:
    def __init__(
        self,
        storage: Storage,
        dispatcher: Dispatcher,
        bot: Bot,
        secret: str,
        *,
        lease_seconds: float,
        in_flight: int,
        metrics: Metrics | None = None,
    ) -> None:
        self._storage = storage
        self._dispatcher = dispatcher
        self._bot = bot
        self._secret = secret.encode()
        self._lease = timedelta(seconds=lease_seconds)
        self._limit = in_flight
        self._metrics = metrics
        # Names this process's claims in the table (and in logs): host, pid and a nonce.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._renew_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._until_empty = False
        # Look for updates stored by other replicas (or left by a dead one) this often.
        self._poll_seconds = min(1.0, lease_seconds / 4)

    # --- the HTTP side ---

    async def receive(self, request: web.Request) -> web.Response:
        """Telegram's POST: check the secret, store the update, then answer 200."""
        offered = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(offered, self._secret):
            logger.warning("webhook request without the right secret token from %s", request.remote)
            return web.json_response({"error": "wrong secret token"}, status=401)
        if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
            return web.json_response({"error": "too large"}, status=413)
        body = await request.read()
        try:
            update = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "the body is not JSON"}, status=400)
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            return web.json_response({"error": "no update_id"}, status=400)
        # Stored and committed before the 200: from here on the update survives a crash.
        await self._storage.batcher.submit(_STORE, (update_id, body.decode()))
        if self._metrics is not None:
            self._metrics.webhook_received.inc()
        self._wake.set()
        return web.Response(status=200)

    # --- the worker ---

    def start(self, *, until_empty: bool = False) -> None:
        """Handle inbox updates until stop(); with `until_empty` (polling mode, after the
        bot left webhook mode), only until the inbox is empty."""
        self._stopping = False
        self._until_empty = until_empty
        self._loop_task = asyncio.create_task(self._work(), name="webhook-inbox")
        self._renew_task = asyncio.create_task(self._renew_forever(), name="webhook-lease")

    async def stop(self, grace: float) -> None:
        """Take no more updates; let those under way finish within `grace` seconds. Any
        still running after that are retaken once their lease lapses."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
            self._loop_task = None
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            if pending:
                logger.warning("%d webhook updates still running at shutdown", len(pending))
        if self._renew_task is not None:
            self._renew_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renew_task
            self._renew_task = None

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def _work(self) -> None:
        while not self._stopping:
            self._wake.clear()
            free = self._limit - len(self._tasks)
            claimed: list[InboxUpdate] = []
            if free > 0:
                try:
                    claimed = await self._claim(free)
                except Exception:  # a failed claim is retried at the next wake-up
                    logger.exception("could not claim webhook updates")
            for update in claimed:
                task = asyncio.create_task(self._handle(update), name=f"update-{update.update_id}")
                self._tasks.add(task)
            if claimed and len(claimed) == free:
                continue  # there may be more; the loop waits once every slot is taken
            if self._until_empty and not claimed and not self._tasks and await self._empty():
                logger.info("the webhook inbox is empty: every stored update was handled")
                if self._renew_task is not None:
                    self._renew_task.cancel()
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)

    async def _empty(self) -> bool:
        async with self._storage.read() as uow:
            depth = await uow.webhook_inbox.depth(utcnow() - self._lease)
        return depth.pending == 0

    async def _claim(self, limit: int) -> list[InboxUpdate]:
        now = utcnow()
        async with self._storage.write() as uow:
            return await uow.webhook_inbox.claim(self.owner, now, now - self._lease, limit)

    async def _renew_forever(self) -> None:
        every = self._lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                async with self._storage.write() as uow:
                    await uow.webhook_inbox.renew(self.owner, utcnow())
                    await uow.webhook_inbox.forget_done_before(utcnow() - KEEP_DONE)
            except Exception:  # try again next time; the lease is three renewals long
                logger.exception("could not renew the webhook inbox lease")

    async def _handle(self, item: InboxUpdate) -> None:
        token = update_context.set(item.update_id)
        try:
            if item.attempts > 1:
                logger.warning(
                    "update %s retaken (attempt %d): its first holder stopped",
                    item.update_id,
                    item.attempts,
                )
            update = Update.model_validate(json.loads(item.payload), context={"bot": self._bot})
            response = await self._dispatcher.feed_update(self._bot, update, bots=[self._bot])
            if isinstance(response, TelegramMethod):
                await self._dispatcher.silent_call_request(self._bot, response)
        except Exception:  # one bad update must not stop the others
            logger.exception("update %s failed", item.update_id)
        finally:
            update_context.reset(token)
            try:
                await self._storage.batcher.write(
                    Statement(DONE_SQL, (to_db(utcnow()), item.update_id, self.owner))
                )
            except Exception:  # it is retaken after the lease and found handled already
                logger.exception("could not mark update %s done", item.update_id)
            self._tasks.discard(asyncio.current_task())
            self._wake.set()


async def register_webhook(
    bot: Bot, url: str, secret: str, allowed_updates: list[str], max_connections: int
) -> None:
    """setWebhook, retried a few times: every replica calls it at start with the same values."""
    delay = 1.0
    for attempt in range(1, 6):
        try:
            await bot.set_webhook(
                url,
                secret_token=secret,
                allowed_updates=allowed_updates,
                max_connections=max_connections,
                drop_pending_updates=False,
            )
        except Exception as error:  # network or API errors: both worth a retry
            if attempt == 5:
                raise
            logger.warning("setWebhook failed (%s); retrying in %.0f s", error, delay)
            await asyncio.sleep(delay)
            delay *= 2
        else:
            logger.info("webhook set: Telegram posts updates to %s", url)
            return
