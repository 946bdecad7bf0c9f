"""BotAPIEmulator: an in-process Telegram Bot API server for end-to-end tests of a real bot."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from .control import add_control_routes
from .errors import BotAPIError, ScenarioError, bad_request, not_found, unauthorized
from .media import MAX_UPLOAD_BYTES
from .methods import BotMethods, command_scope_key
from .schema import BotAPISchema, Call, UploadedFile, coerce_params, default_schema
from .state import JSON, EmulatedChat, RecordedCall
from .updates import WebhookDelivery
from .users import EmulatedUser
from .world import DEFAULT_TOPIC_COLOR, BotProfile, World

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456789:AAH-test-token-000000000000000000000"

# Rights a bot administrator gets in add_forum_supergroup/add_group unless told otherwise.
_DEFAULT_BOT_ADMIN_RIGHTS = {
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_restrict_members": True,
    "can_invite_users": True,
    "can_pin_messages": True,
    "can_manage_video_chats": True,
}
# The update stream itself is not throttled by set_rate_limit, otherwise polling would stall.
_RATE_LIMIT_EXEMPT = frozenset({"getUpdates"})
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass(slots=True)
class _Fault:
    error_code: int
    description: str
    retry_after: int | None
    remaining: int
    chat_id: int | str | None


class _RateLimiter:
    """A token bucket: ``per_second`` calls on average, bursts up to one second's worth."""

    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.rate = per_second
        self.capacity = max(1.0, per_second)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def refusal(self) -> int | None:
        """None if a call may proceed now, else the retry_after to answer with."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))


def _matches(params: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    return all(params.get(key) == value for key, value in filters.items())


def _json_default(value: Any) -> Any:
    return repr(value)


def _respond(status: int, body: JSON) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False, default=_json_default).encode("utf-8"),
        content_type="application/json",
    )


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    raw: dict[str, Any] = {}
    for key, value in request.query.items():
        raw.setdefault(key, value)
    uploads: dict[str, UploadedFile] = {}
    if not request.body_exists:
        return raw, uploads
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON object") from None
        if not isinstance(body, dict):
            raise bad_request("JSON object expected")
        raw.update(body)
    elif content_type == "multipart/form-data":
        try:
            whole = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise BotAPIError(413, "Request Entity Too Large") from None
        fields, uploads = _parse_multipart(request.headers.get("Content-Type", ""), whole)
        raw.update(fields)
    elif content_type == "application/x-www-form-urlencoded":
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            raise BotAPIError(413, "Request Entity Too Large") from None
        raw.update((key, value) for key, value in form.items() if isinstance(value, str))
    return raw, uploads


def _parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """A multipart/form-data body read whole (aiohttp bounds it by client_max_size), parsed by
    the standard library's MIME parser. aiohttp's streaming multipart reader pushes bytes back
    into the request stream with the deprecated `unread_data` when a part's bytes arrive split
    at an unlucky place (as they do under load), which the tests turn into a failure."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise bad_request("can't parse multipart form data")
    fields: dict[str, str] = {}
    uploads: dict[str, UploadedFile] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise bad_request("multipart field without a name")
        data = part.get_payload(decode=True)
        payload = data if isinstance(data, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            content = part.get("Content-Type")
            uploads[name] = UploadedFile(
                name,
                filename,
                part.get_content_type() if content else "application/octet-stream",
                payload,
            )
        else:
            charset = part.get_content_charset() or "utf-8"
            fields[name] = payload.decode(charset, errors="replace")
    return fields, uploads


class BotAPIEmulator:
    """A fake api.telegram.org for one bot token, plus hooks for tests to act and observe.

    Start it inside the test's event loop, point the bot at ``base_url`` and drive it with
    EmulatedUser objects from add_user(). Every call the bot makes is validated against
    the Bot API 10.2 method list, answered the way Telegram would, and recorded in ``calls``.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "emulated_test_bot",
        bot_first_name: str = "Emulated Test Bot",
        privacy_mode: bool = True,
        callback_query_timeout: float = 15.0,
        strict_webhook_urls: bool = False,
        webhook_retry_delay: float = 0.2,
        webhook_timeout: float = 10.0,
        schema: BotAPISchema | None = None,
    ) -> None:
        self.token = token
        self.schema = schema or default_schema()
        self.world = World(
            token=token,
            bot_username=bot_username,
            bot_first_name=bot_first_name,
            privacy_mode=privacy_mode,
            callback_query_timeout=callback_query_timeout,
        )
        self.webhook = WebhookDelivery(
            self.world.updates,
            self._execute_webhook_reply,
            retry_delay=webhook_retry_delay,
            request_timeout=webhook_timeout,
            on_delivered=lambda update: self.world.notify(),
        )
        self.methods = BotMethods(self.world, self.webhook, strict_webhook_urls=strict_webhook_urls)
        self.internal_errors: list[BaseException] = []
        self.base_url = ""
        self._faults: dict[str, list[_Fault]] = {}
        self._rate_limiter: _RateLimiter | None = None
        self._latency = 0.0
        self._returned_calls: set[int] = set()
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        where = self.base_url or "not started"
        return f"BotAPIEmulator(@{self.world.bot_user['username']}, {where})"

    # --- lifecycle ---

    def build_app(self, *, control_api: bool = False) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        if control_api:
            add_control_routes(app, self)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown_path)
        return app

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, control_api: bool = False
    ) -> None:
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        runner = web.AppRunner(
            self.build_app(control_api=control_api),
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self.base_url = f"http://{host or bound_host}:{bound_port}"

    async def stop(self) -> None:
        await self.webhook.close()
        self.world.updates.wake_poll()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """The URL prefix for this bot's methods: ``{api_url}/getMe``."""
        return f"{self.base_url}/bot{self.token}"

    # --- HTTP ---

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            error = unauthorized()
            self._record(method, {}, error=error)
            return _respond(error.error_code, error.to_response())
        try:
            raw, uploads = await _read_params(request)
        except BotAPIError as error:
            self._record(method, {}, error=error)
            return _respond(error.error_code, error.to_response())
        status, body = await self.execute(method, raw, uploads)
        return _respond(status, body)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _respond(401, unauthorized().to_response())
        record = self.world.files.by_path(request.match_info["file_path"])
        if record is None or record.data is None:
            return _respond(404, not_found().to_response())
        return web.Response(
            body=record.data, content_type=record.mime_type or "application/octet-stream"
        )

    async def _handle_unknown_path(self, request: web.Request) -> web.Response:
        return _respond(404, not_found().to_response())

    async def execute(
        self,
        method: str,
        raw: Mapping[str, Any],
        uploads: Mapping[str, UploadedFile] | None = None,
        *,
        source: str = "http",
    ) -> tuple[int, JSON]:
        """Run one Bot API call as if it arrived over HTTP; returns (status, response body)."""
        spec = self.schema.resolve(method)
        if spec is None:
            error = not_found()
            self._record(method, dict(raw), error=error, source=source)
            return error.error_code, error.to_response()
        files = dict(uploads or {})
        params: dict[str, Any] = dict(raw)
        try:
            params = coerce_params(spec, raw, files)
            if self._latency:
                await asyncio.sleep(self._latency)
            self._inject_faults(spec.name, params)
            result = self.methods.handlers.get(spec.name, self.methods.always_true)(
                Call(spec.name, params, files)
            )
            if inspect.isawaitable(result):
                result = await result
        except BotAPIError as error:
            self._record(spec.name, params, error=error, source=source)
            return error.error_code, error.to_response()
        except Exception as error:  # an emulator bug must surface as a failed call, not a hang
            logger.exception("emulator failed while handling %s", spec.name)
            self.internal_errors.append(error)
            failure = BotAPIError(500, "Internal Server Error")
            self._record(spec.name, params, error=failure, source=source)
            return failure.error_code, failure.to_response()
        self._record(spec.name, params, result=result, source=source)
        return 200, {"ok": True, "result": result}

    async def _execute_webhook_reply(
        self, fields: dict[str, Any], uploads: dict[str, UploadedFile]
    ) -> None:
        params = {key: value for key, value in fields.items() if key != "method"}
        await self.execute(str(fields["method"]), params, uploads, source="webhook_reply")

    def _inject_faults(self, method: str, params: JSON) -> None:
        faults = self._faults.get(method)
        if faults:
            for fault in faults:
                if fault.chat_id is None or params.get("chat_id") == fault.chat_id:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        faults.remove(fault)
                        if not faults:
                            del self._faults[method]
                    raise BotAPIError(
                        fault.error_code, fault.description, retry_after=fault.retry_after
                    )
        if self._rate_limiter is not None and method not in _RATE_LIMIT_EXEMPT:
            retry_after = self._rate_limiter.refusal()
            if retry_after is not None:
                raise BotAPIError(
                    429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
                )

    def _record(
        self,
        method: str,
        params: JSON,
        *,
        result: Any = None,
        error: BotAPIError | None = None,
        source: str = "http",
    ) -> None:
        self.world.record_call(
            RecordedCall(
                index=len(self.world.calls),
                method=method,
                params=params,
                ok=error is None,
                error_code=error.error_code if error else None,
                description=error.description if error else None,
                result=result,
                at=time.monotonic(),
                source=source,
            )
        )

    # --- the emulated population ---

    @property
    def bot_user(self) -> JSON:
        return self.world.bot_user

    @property
    def users(self) -> dict[int, EmulatedUser]:
        return self.world.users

    @property
    def chats(self) -> dict[int, EmulatedChat]:
        return self.world.chats

    @property
    def profile(self) -> BotProfile:
        """Stored names, descriptions, short descriptions and default menu button."""
        return self.world.profile

    def add_user(
        self,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        user_id: int | None = None,
        *,
        is_premium: bool = False,
        started: bool = False,
    ) -> EmulatedUser:
        """A person who can talk to the bot; ``started`` opens the private chat right away."""
        user = EmulatedUser(
            self.world,
            user_id=user_id if user_id is not None else self.world.allocate_user_id(),
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_premium=is_premium,
        )
        self.world.register_user(user)
        if started:
            user.start_chat()
        return user

    def add_group(
        self,
        title: str = "Group",
        *,
        chat_id: int | None = None,
        supergroup: bool = True,
        is_forum: bool = False,
        username: str | None = None,
        bot_is_admin: bool = False,
        bot_rights: Mapping[str, bool] | None = None,
        members: Iterable[EmulatedUser] = (),
    ) -> EmulatedChat:
        """A group or supergroup the bot is in (as administrator if ``bot_is_admin``)."""
        rights = dict(_DEFAULT_BOT_ADMIN_RIGHTS if bot_is_admin else {})
        rights.update(bot_rights or {})
        return self.world.add_group(
            title,
            chat_id=chat_id,
            supergroup=supergroup,
            is_forum=is_forum,
            username=username,
            bot_status="administrator" if bot_is_admin else "member",
            bot_rights=rights,
            members=members,
        )

    def add_forum_supergroup(
        self,
        title: str = "Support",
        chat_id: int | None = None,
        bot_can_manage_topics: bool = True,
        is_forum: bool = True,
        members: Iterable[EmulatedUser] = (),
        *,
        username: str | None = None,
        bot_is_admin: bool = True,
        bot_rights: Mapping[str, bool] | None = None,
    ) -> EmulatedChat:
        """A forum supergroup where the bot is an administrator (topic rights as given)."""
        rights = {"can_manage_topics": bot_can_manage_topics, **(bot_rights or {})}
        return self.add_group(
            title,
            chat_id=chat_id,
            supergroup=True,
            is_forum=is_forum,
            username=username,
            bot_is_admin=bot_is_admin,
            bot_rights=rights,
            members=members,
        )

    def create_topic_by_user(
        self,
        chat: EmulatedChat,
        name: str,
        user: EmulatedUser | None = None,
        *,
        icon_color: int = DEFAULT_TOPIC_COLOR,
    ) -> int:
        """A person creates a forum topic; returns its message_thread_id."""
        if not chat.is_forum:
            raise ScenarioError(f"{chat!r} is not a forum")
        creator = (
            user.as_user()
            if user is not None
            else {
                "id": 777_000,
                "is_bot": False,
                "first_name": "Telegram",
            }
        )
        topic, stored = self.world.create_topic(chat, name, creator=creator, icon_color=icon_color)
        if chat.bot_status in ("administrator", "creator") or not self.world.privacy_mode:
            self.world.updates.push({"message": stored.payload})
        return topic.message_thread_id

    def delete_topic_by_user(self, chat: EmulatedChat, topic_id: int) -> None:
        """A human admin deletes a topic; Telegram sends the bot no update for this."""
        self.world.delete_topic(chat, topic_id)

    def inject_update(self, update: JSON) -> JSON | None:
        """Queue a raw update (update_id assigned if missing); None if allowed_updates drops it."""
        queued = self.world.updates.push(update)
        self.world.notify()
        return queued

    @property
    def pending_updates(self) -> int:
        return len(self.world.updates)

    @property
    def last_update_id(self) -> int:
        """The id of the newest update queued for the bot so far (0 before the first)."""
        return self.world.updates.last_update_id

    # --- observing ---

    @property
    def calls(self) -> list[RecordedCall]:
        return self.world.calls

    def _canonical(self, method: str) -> str:
        spec = self.schema.resolve(method)
        if spec is None:
            raise ValueError(f"{method!r} is not a Bot API method")
        return spec.name

    def calls_to(
        self, method: str, *, ok: bool | None = None, **filters: Any
    ) -> list[RecordedCall]:
        """Recorded calls of ``method`` whose params equal every keyword given."""
        return [
            call
            for call in self.world.calls_by_method.get(self._canonical(method), ())
            if (ok is None or call.ok == ok) and _matches(call.params, filters)
        ]

    def count_calls(self, method: str) -> int:
        """How many calls of ``method`` were recorded: constant time, for a predicate that
        runs at every change of a long benchmark (``calls_to`` walks them all)."""
        return len(self.world.calls_by_method.get(self._canonical(method), ()))

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after every change of the emulated world (a user acted, the
        bot made a call); returns the function that unsubscribes it. Listeners run on the
        loop, synchronously, so they should only take note (e.g. set an asyncio.Event)."""
        self.world.listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self.world.listeners:
                self.world.listeners.remove(listener)

        return unsubscribe

    def clear_calls(self) -> None:
        """Forget recorded calls (long benchmarks); wait_for_call cursors restart."""
        self.world.calls.clear()
        self.world.calls_by_method.clear()
        self._returned_calls.clear()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds, re-checking on every state change."""
        await self.world.wait_until(
            predicate,
            timeout,
            lambda: f"condition not met within {timeout}s\n{self.world.describe_recent_calls()}",
        )

    async def wait_for_call(
        self,
        method: str,
        timeout: float = 5.0,
        *,
        since: int | None = None,
        ok: bool | None = None,
        **filters: Any,
    ) -> RecordedCall:
        """The first matching call not returned by an earlier wait_for_call.

        With ``since`` (a call index, e.g. ``len(emu.calls)`` taken earlier) it is instead the
        first matching call at or after that index, whether returned before or not.
        """
        canonical = self._canonical(method)
        found: list[RecordedCall] = []

        def matched() -> bool:
            for call in self.world.calls_by_method.get(canonical, ()):
                if since is not None and call.index < since:
                    continue
                if since is None and call.index in self._returned_calls:
                    continue
                if (ok is None or call.ok == ok) and _matches(call.params, filters):
                    found.append(call)
                    return True
            return False

        def describe() -> str:
            return (
                f"no {canonical} call matching {filters or 'anything'} within {timeout}s\n"
                f"{self.world.describe_recent_calls()}"
            )

        await self.world.wait_until(matched, timeout, describe)
        call = found[-1]
        self._returned_calls.add(call.index)
        return call

    def callback_answer(self, callback_query: JSON | str) -> JSON | None:
        """The answerCallbackQuery params recorded for a query, or None if unanswered."""
        query_id = callback_query if isinstance(callback_query, str) else callback_query["id"]
        record = self.world.callback_queries.get(str(query_id))
        return record.answer if record is not None else None

    def unanswered_callback_queries(self) -> list[str]:
        """The ids of button presses the bot has not (successfully) answered yet."""
        return [
            query_id
            for query_id, record in self.world.callback_queries.items()
            if record.answer is None
        ]

    def commands(
        self, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[JSON]:
        """Commands stored by setMyCommands for exactly this scope and language."""
        key = (command_scope_key(dict(scope) if scope else None), language_code)
        return list(self.world.commands.get(key, []))

    # --- faults ---

    def fail_next(
        self,
        method: str,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (to ``chat_id`` if given) fail."""
        if times < 1:
            raise ValueError("times must be at least 1")
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if error_code == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(error_code) or HTTPStatus(error_code).phrase
        self._faults.setdefault(self._canonical(method), []).append(
            _Fault(error_code, description, retry_after, times, chat_id)
        )

    def set_rate_limit(self, per_second: float | None = 30.0) -> None:
        """Refuse calls beyond ``per_second`` (global) with 429; None switches it off."""
        self._rate_limiter = _RateLimiter(per_second) if per_second is not None else None

    def set_latency(self, seconds: float) -> None:
        """Delay every call by ``seconds`` before it is handled."""
        if seconds < 0:
            raise ValueError("latency cannot be negative")
        self._latency = seconds
