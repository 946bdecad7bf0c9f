"""The bot's update queue, long polling over it, and webhook delivery from it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

import aiohttp

from .schema import UploadedFile

logger = logging.getLogger(__name__)

# Telegram leaves these out unless allowed_updates names them explicitly.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def update_type(update: dict[str, Any]) -> str:
    for key in update:
        if key != "update_id":
            return key
    return ""


class _Poll:
    __slots__ = ("event", "terminated")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.terminated = False


class UpdateQueue:
    """Unconfirmed updates, oldest first, with Telegram's confirmation and filtering rules."""

    def __init__(self, first_update_id: int = 1) -> None:
        self._pending: deque[dict[str, Any]] = deque()
        self._next_update_id = first_update_id
        self._allowed: frozenset[str] | None = None
        self._poll: _Poll | None = None
        self._arrival: asyncio.Event | None = None

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def last_update_id(self) -> int:
        """The id of the newest update queued so far (0 before the first)."""
        return self._next_update_id - 1

    @property
    def allowed_updates(self) -> list[str]:
        return sorted(self._allowed) if self._allowed is not None else []

    def set_allowed_updates(self, allowed: Iterable[str]) -> None:
        """An empty list restores the default set, as in the Bot API."""
        names = frozenset(allowed)
        self._allowed = names or None

    def accepts(self, kind: str) -> bool:
        if self._allowed is not None:
            return kind in self._allowed
        return kind not in DEFAULT_EXCLUDED_UPDATES

    def push(self, update: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update; returns None when allowed_updates filters it out (never stored)."""
        if not self.accepts(update_type(update)):
            return None
        update_id = update.get("update_id")
        if isinstance(update_id, int):
            self._next_update_id = max(self._next_update_id, update_id + 1)
        else:
            update = {"update_id": self._next_update_id, **update}
            self._next_update_id += 1
        self._pending.append(update)
        if self._poll is not None:
            self._poll.event.set()
        if self._arrival is not None:
            self._arrival.set()
            self._arrival = None
        return update

    def continue_from(self, update_id: int) -> None:
        """Number the next updates from ``update_id`` on (never backwards): for a bot that
        keeps its database across emulators and drops update ids it has seen before."""
        self._next_update_id = max(self._next_update_id, update_id)

    def first(self) -> dict[str, Any] | None:
        return self._pending[0] if self._pending else None

    def batch(self, limit: int) -> list[dict[str, Any]]:
        return list(islice(self._pending, limit))

    def confirm_below(self, offset: int) -> None:
        pending = self._pending
        while pending and pending[0]["update_id"] < offset:
            pending.popleft()

    def keep_last(self, count: int) -> None:
        pending = self._pending
        while len(pending) > count:
            pending.popleft()

    def confirm(self, update_id: int) -> None:
        if self._pending and self._pending[0]["update_id"] == update_id:
            self._pending.popleft()
            return
        for index, update in enumerate(self._pending):
            if update["update_id"] == update_id:
                del self._pending[index]
                return

    def clear(self) -> None:
        self._pending.clear()

    async def wait_nonempty(self) -> None:
        while not self._pending:
            if self._arrival is None:
                self._arrival = asyncio.Event()
            await self._arrival.wait()

    def begin_poll(self) -> _Poll:
        """Start a getUpdates request; one still waiting is terminated, as on Telegram."""
        if self._poll is not None:
            self._poll.terminated = True
            self._poll.event.set()
        poll = _Poll()
        self._poll = poll
        return poll

    def end_poll(self, poll: _Poll) -> None:
        if self._poll is poll:
            self._poll = None

    def wake_poll(self) -> None:
        if self._poll is not None:
            self._poll.event.set()


@dataclass(slots=True)
class WebhookConfig:
    url: str
    secret_token: str | None
    max_connections: int
    ip_address: str | None
    last_error_date: int | None = None
    last_error_message: str | None = None


ReplyExecutor = Callable[[dict[str, Any], dict[str, UploadedFile]], Awaitable[None]]


class WebhookDelivery:
    """Posts pending updates to the webhook one at a time, in order, until each gets a 2xx."""

    def __init__(
        self,
        queue: UpdateQueue,
        execute_reply: ReplyExecutor,
        *,
        retry_delay: float,
        request_timeout: float,
        on_delivered: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._queue = queue
        self._execute_reply = execute_reply
        self._on_delivered = on_delivered
        self.retry_delay = retry_delay
        self.request_timeout = request_timeout
        self.config: WebhookConfig | None = None
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0

    @property
    def active(self) -> bool:
        return self.config is not None

    async def configure(self, config: WebhookConfig | None) -> None:
        running = self._task
        if running is not None and running is asyncio.current_task():
            # setWebhook/deleteWebhook returned in a webhook response runs inside the delivery
            # task: it cannot await its own cancellation, so it just stops looping.
            self._task = None
        else:
            await self._stop_task()
        self.config = config
        if config is not None:
            self._task = asyncio.create_task(self._run(config), name="emulator-webhook")

    async def close(self) -> None:
        await self._stop_task()

    async def _stop_task(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, config: WebhookConfig) -> None:
        headers = {"Content-Type": "application/json"}
        if config.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = config.secret_token
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while self.config is config:
                await self._queue.wait_nonempty()
                update = self._queue.first()
                if update is None:
                    continue
                try:
                    delivered = await self._deliver(session, config, headers, update)
                except Exception:  # keep delivering whatever goes wrong with one update
                    logger.exception("webhook delivery failed inside the emulator")
                    delivered = False
                if delivered:
                    self._queue.confirm(update["update_id"])
                    self.delivered += 1
                    if self._on_delivered is not None:
                        self._on_delivered(update)
                else:
                    await asyncio.sleep(self.retry_delay)

    async def _deliver(
        self,
        session: aiohttp.ClientSession,
        config: WebhookConfig,
        headers: dict[str, str],
        update: dict[str, Any],
    ) -> bool:
        try:
            async with session.post(
                config.url, data=json.dumps(update), headers=headers
            ) as response:
                if not 200 <= response.status < 300:
                    self._fail(
                        config,
                        f"Wrong response from the webhook: {response.status} {response.reason}",
                    )
                    return False
                fields, uploads = await _read_reply(response)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            self._fail(config, f"Connection failed: {type(error).__name__}: {error}")
            return False
        if isinstance(fields.get("method"), str):
            try:
                await self._execute_reply(fields, uploads)
            except Exception:  # a broken reply must not stop delivery
                logger.exception("webhook reply method failed inside the emulator")
        return True

    def _fail(self, config: WebhookConfig, message: str) -> None:
        config.last_error_date = int(time.time())
        config.last_error_message = message


async def _read_reply(
    response: aiohttp.ClientResponse,
) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """A webhook answer may carry a method call as JSON or as multipart form data."""
    if response.content_type.startswith("multipart/"):
        fields: dict[str, Any] = {}
        uploads: dict[str, UploadedFile] = {}
        reader = aiohttp.MultipartReader.from_response(response)
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            if part.filename:
                uploads[part.name] = UploadedFile(
                    part.name,
                    part.filename,
                    part.headers.get("Content-Type", "application/octet-stream"),
                    bytes(await part.read()),
                )
            else:
                fields[part.name] = await part.text()
        return fields, uploads
    body = await response.read()
    if not body.strip():
        return {}, {}
    try:
        decoded = json.loads(body)
    except ValueError:
        return {}, {}
    return (decoded if isinstance(decoded, dict) else {}), {}
