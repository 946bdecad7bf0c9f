"""The sandbox's web page: static files, JSON views of the emulated chats, the visitor's
actions as the personas, the till, and server-sent events when anything changes.

Views are read from the emulator's state (what Telegram would show each person); actions go
in as the updates Telegram would send. The bot is never called from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.emulator import BotAPIEmulator, EmulatedChat, ScenarioError, StoredMessage
from bot.emulator.methods import command_scope_key
from bot.emulator.users import EmulatedUser
from bot.sandbox.personas import (
    BOT_USERNAME,
    BY_KEY,
    DEMO_CUSTOMERS,
    PERSONAS,
    SUPPORT_CHAT_ID,
    SUPPORT_CHAT_TITLE,
    Persona,
)

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.sandbox.till import Till

STATIC = Path(__file__).with_name("static")
JSON = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_AMOUNT = re.compile(r"^\d{1,7}(?:[.,]\d{1,2})?$")
# Fields of a message the page does not need (the chat is known; the topic root repeats).
_DROPPED = ("chat",)
KEEPALIVE_SECONDS = 15.0


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False, default=repr).encode("utf-8"),
        content_type="application/json",
    )


def _problem(message: str, status: int = 400) -> web.Response:
    return _json({"error": message}, status)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The page reads every refusal as {"error": "..."}, whichever layer refused."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _problem(error.text or error.reason, error.status)


# Names the page answers to: a browser on it sends one of these (with the port) as Host.
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# What the page's own script posts: JSON, or a file as multipart. Anything else may be a
# cross-site form (text/plain and form-encoded bodies need no CORS preflight).
_ACCEPTED_BODIES = {"/api/upload": "multipart/form-data"}
_JSON = "application/json"


def same_origin_refusal(
    method: str, path: str, headers: Mapping[str, str], content_type: str, port: int
) -> tuple[int, str] | None:
    """Why a request to the sandbox on `port` is refused, or None: a Host other than its own
    (DNS rebinding), a foreign Origin or fetch site, or a body that is not what the page
    sends (a CSRF "simple request")."""
    own_hosts = {f"{name}:{port}" for name in _LOOPBACK_NAMES}
    if headers.get("Host", "").lower() not in own_hosts:
        return 421, "this page answers on 127.0.0.1 or localhost only"
    origin = headers.get("Origin")
    if origin is not None and origin.lower() not in {f"http://{host}" for host in own_hosts}:
        return 403, "requests from other origins are refused"
    if headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return 403, "requests from other sites are refused"
    if method not in ("GET", "HEAD", "OPTIONS") and content_type != _ACCEPTED_BODIES.get(
        path, _JSON
    ):
        return 415, f"expected {_ACCEPTED_BODIES.get(path, _JSON)}"
    return None


def message_view(stored: StoredMessage, viewer_id: int) -> JSON:
    payload = {key: value for key, value in stored.payload.items() if key not in _DROPPED}
    reply = payload.get("reply_to_message")
    if reply is not None and reply.get("message_id") == stored.thread_id:
        del payload["reply_to_message"]  # every topic message "replies" to the topic's root
    markup = stored.reply_markup or payload.get("reply_markup")
    sender = payload.get("from") or {}
    return {
        "id": stored.message_id,
        "out": stored.sender_id == viewer_id,
        "from_bot": stored.from_bot,
        "sender": " ".join(
            part for part in (sender.get("first_name"), sender.get("last_name")) if part
        ),
        "kind": stored.kind,
        "thread": stored.thread_id,
        "inline_keyboard": (markup or {}).get("inline_keyboard"),
        "message": payload,
    }


def _reply_keyboard(chat: EmulatedChat) -> list[list[JSON]] | None:
    markup = chat.last_reply_keyboard
    if not markup or "keyboard" not in markup:
        return None
    rows: list[list[JSON]] = []
    for row in markup["keyboard"]:
        buttons: list[JSON] = []
        for button in row:
            if isinstance(button, str):
                buttons.append({"text": button})
            else:
                buttons.append(
                    {
                        "text": button.get("text", ""),
                        "request_contact": bool(button.get("request_contact")),
                    }
                )
        rows.append(buttons)
    return rows


class SandboxPage:
    def __init__(self, emulator: BotAPIEmulator, settings: Settings) -> None:
        self.emulator = emulator
        self.settings = settings
        self.till: Till | None = None
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._streams: set[web.StreamResponse] = set()

    # --- lifecycle ---

    def build_app(self) -> web.Application:
        app = web.Application(
            client_max_size=12 * 1024 * 1024, middlewares=[_json_errors, self._same_origin]
        )
        app.router.add_get("/", self.index)
        app.router.add_static("/static/", STATIC, append_version=True)
        app.router.add_get("/api/config", self.config)
        app.router.add_get("/api/view", self.view)
        app.router.add_get("/api/events", self.events)
        app.router.add_get("/api/file/{file_id}", self.file)
        app.router.add_post("/api/send", self.send)
        app.router.add_post("/api/contact", self.contact)
        app.router.add_post("/api/upload", self.upload)
        app.router.add_post("/api/press", self.press)
        app.router.add_get("/api/till/customer/{telegram_id}", self.till_customer)
        app.router.add_post("/api/till/purchase", self.till_purchase)
        app.router.add_post("/api/till/refund", self.till_refund)
        return app

    async def start(self, host: str, port: int) -> None:
        runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_port = runner.addresses[0][1]
        self.url = f"http://{host}:{bound_port}/"

    @web.middleware
    async def _same_origin(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # The sandbox drives personas, the till and the bot's world without a login: only
        # its own page, in a browser on this machine, may use it.
        assert request.transport is not None
        port = request.transport.get_extra_info("sockname")[1]
        refusal = same_origin_refusal(
            request.method, request.path, request.headers, request.content_type, port
        )
        if refusal is not None:
            status, reason = refusal
            return _problem(reason, status)
        return await handler(request)

    async def stop(self) -> None:
        for stream in list(self._streams):
            with contextlib.suppress(Exception):
                await stream.write_eof()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # --- reading ---

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def config(self, request: web.Request) -> web.Response:
        customers = [
            {"id": p.user_id, "name": f"{p.first_name} {p.last_name or ''}".strip()}
            for p in PERSONAS
            if p.role == "customer"
        ] + [{"id": c.user_id, "name": c.first_name} for c in DEMO_CUSTOMERS]
        return _json(
            {
                "bot": {"username": BOT_USERNAME, "name": self.emulator.bot_user["first_name"]},
                "support_chat": SUPPORT_CHAT_TITLE,
                "personas": [
                    {
                        "key": p.key,
                        "id": p.user_id,
                        "name": f"{p.first_name} {p.last_name or ''}".strip(),
                        "label": p.label,
                        "role": p.role,
                        "language": p.language,
                    }
                    for p in PERSONAS
                ],
                "till_customers": customers,
            }
        )

    def _persona(self, key: str | None) -> tuple[Persona, EmulatedUser]:
        persona = BY_KEY.get(key or "")
        if persona is None:
            raise web.HTTPBadRequest(text="unknown persona")
        return persona, self.emulator.users[persona.user_id]

    def _commands(self, persona: Persona) -> list[JSON]:
        commands = self.emulator.world.commands
        keys = [
            (command_scope_key({"type": "chat", "chat_id": persona.user_id}), persona.language),
            (command_scope_key({"type": "chat", "chat_id": persona.user_id}), ""),
            (command_scope_key({"type": "all_private_chats"}), persona.language),
            (command_scope_key({"type": "all_private_chats"}), ""),
            (command_scope_key(None), persona.language),
            (command_scope_key(None), ""),
        ]
        for key in keys:
            if commands.get(key):
                return list(commands[key])
        return []

    def _counts(self) -> dict[str, int]:
        """Messages per persona's view, for the unread marks on the persona switch."""
        counts = {}
        for persona in PERSONAS:
            chat_id = SUPPORT_CHAT_ID if persona.role == "agent" else persona.user_id
            chat = self.emulator.chats.get(chat_id)
            counts[persona.key] = len(chat.stored_messages) if chat is not None else 0
        return counts

    async def view(self, request: web.Request) -> web.Response:
        persona, user = self._persona(request.query.get("persona"))
        body: JSON = {"persona": persona.key, "counts": self._counts()}
        if persona.role == "agent":
            body.update(self._forum_view(persona, request.query.get("thread")))
            return _json(body)
        chat = user.chat
        stored = chat.stored_messages if chat is not None else []
        body.update(
            {
                "kind": "private",
                "title": self.emulator.bot_user["first_name"],
                "subtitle": "bot",
                "started": chat is not None,
                "messages": [message_view(m, user.id) for m in stored],
                "reply_keyboard": _reply_keyboard(chat) if chat is not None else None,
                "commands": self._commands(persona),
            }
        )
        return _json(body)

    def _forum_view(self, persona: Persona, thread_text: str | None) -> JSON:
        chat = self.emulator.chats[SUPPORT_CHAT_ID]
        stored = chat.stored_messages
        last: dict[int, StoredMessage] = {}
        for message in stored:
            if message.thread_id is not None:
                last[message.thread_id] = message
        # The most recently active topic first, as Telegram lists them.
        ordered = sorted(
            chat.topics.values(),
            key=lambda t: (
                last[t.message_thread_id].message_id if t.message_thread_id in last else 0
            ),
            reverse=True,
        )
        topics = []
        for topic in ordered:
            latest = last.get(topic.message_thread_id)
            preview = ""
            if latest is not None:
                preview = str(latest.payload.get("text") or latest.payload.get("caption") or "")
            topics.append(
                {
                    "id": topic.message_thread_id,
                    "name": topic.name,
                    "closed": topic.is_closed,
                    "icon_color": topic.icon_color,
                    "preview": preview[:80],
                }
            )
        thread: int | None = None
        if thread_text and thread_text.isdigit() and int(thread_text) in chat.topics:
            thread = int(thread_text)
        elif ordered:
            thread = ordered[0].message_thread_id
        messages = [m for m in stored if m.thread_id == thread]
        pinned = [
            message_view(m, persona.user_id)
            for m in messages
            if m.message_id in chat.pinned_message_ids
        ]
        return {
            "kind": "forum",
            "title": SUPPORT_CHAT_TITLE,
            "subtitle": f"{len(chat.topics)} topics",
            "started": True,
            "topics": topics,
            "thread": thread,
            "thread_name": chat.topics[thread].name if thread is not None else "General",
            "pinned": pinned[-1:] if pinned else [],
            "messages": [message_view(m, persona.user_id) for m in messages],
            "reply_keyboard": None,
            "commands": [
                {"command": "note", "description": "internal note, not sent to the customer"},
                {"command": "close", "description": "close the ticket"},
            ],
        }

    async def file(self, request: web.Request) -> web.StreamResponse:
        record = self.emulator.world.files.get(request.match_info["file_id"])
        if record is None or record.data is None:
            raise web.HTTPNotFound()
        headers = {"Cache-Control": "max-age=3600"}
        if record.file_name:
            headers["Content-Disposition"] = f'inline; filename="{record.file_name}"'
        return web.Response(
            body=record.data,
            content_type=record.mime_type or "application/octet-stream",
            headers=headers,
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: "change" whenever the emulated world changed (coalesced)."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        changed = asyncio.Event()
        unsubscribe = self.emulator.subscribe(changed.set)
        self._streams.add(response)
        version = 0
        try:
            await response.write(b"retry: 1000\n\n")
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), KEEPALIVE_SECONDS)
                if not changed.is_set():
                    await response.write(b": keep-alive\n\n")
                    continue
                await asyncio.sleep(0.05)  # a burst of calls becomes one refresh
                changed.clear()
                version += 1
                await response.write(f"event: change\ndata: {version}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            unsubscribe()
            self._streams.discard(response)
        return response

    # --- acting as a persona ---

    @staticmethod
    async def _body(request: web.Request) -> JSON:
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="a JSON object is expected") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="a JSON object is expected")
        return body

    def _where(self, persona: Persona, thread: Any) -> tuple[EmulatedChat | None, int | None]:
        """Customers and the admin talk in their private chat; the agent in a forum topic."""
        if persona.role != "agent":
            return None, None
        chat = self.emulator.chats[SUPPORT_CHAT_ID]
        if thread in (None, ""):
            return chat, None
        try:
            return chat, int(thread)
        except (TypeError, ValueError):
            raise web.HTTPBadRequest(text="thread must be a number") from None

    async def send(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        persona, user = self._persona(body.get("persona"))
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return _problem("text is required")
        chat, thread = self._where(persona, body.get("thread"))
        try:
            message = user.send_text(text[:4096], chat=chat, message_thread_id=thread)
        except ScenarioError as error:
            return _problem(str(error), 409)
        return _json({"message_id": message["message_id"]})

    async def contact(self, request: web.Request) -> web.Response:
        """A request_contact button: the person shares their own (made-up) phone number."""
        body = await self._body(request)
        persona, user = self._persona(body.get("persona"))
        phone = "+44" + str(persona.user_id)[-9:]
        message = user.share_own_contact(phone)
        return _json({"message_id": message["message_id"]})

    async def upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        persona, user = self._persona(str(form.get("persona", "")))
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return _problem("a file is required")
        with upload.file:
            data = upload.file.read()
        if not data:
            return _problem("the file is empty")
        caption = str(form.get("caption") or "") or None
        chat, thread = self._where(persona, form.get("thread"))
        content_type = upload.content_type or ""
        try:
            if content_type in ("image/png", "image/jpeg", "image/webp"):
                message = user.send_photo(caption, data=data, chat=chat, message_thread_id=thread)
            else:
                message = user.send_document(
                    upload.filename or "file",
                    data=data,
                    mime_type=content_type or None,
                    caption=caption,
                    chat=chat,
                    message_thread_id=thread,
                )
        except ScenarioError as error:
            return _problem(str(error), 409)
        return _json({"message_id": message["message_id"]})

    async def press(self, request: web.Request) -> web.Response:
        """An inline button: the callback query goes in; the bot's answer (a toast or an
        alert) comes back if it answers within a few seconds."""
        body = await self._body(request)
        persona, user = self._persona(body.get("persona"))
        chat_id = SUPPORT_CHAT_ID if persona.role == "agent" else persona.user_id
        chat = self.emulator.chats.get(chat_id)
        try:
            message_id = int(str(body.get("message_id", 0)))
            stored = chat.get(message_id) if chat is not None else None
        except (TypeError, ValueError):
            stored = None
        if stored is None:
            return _problem("that message is gone", 404)
        try:
            query = user.press(stored.payload, str(body.get("data", "")))
        except ScenarioError as error:
            return _problem(str(error), 409)
        with contextlib.suppress(TimeoutError):
            await self.emulator.wait_for(
                lambda: self.emulator.callback_answer(query) is not None, timeout=5.0
            )
        answer = self.emulator.callback_answer(query) or {}
        return _json({"text": answer.get("text"), "show_alert": bool(answer.get("show_alert"))})

    # --- the till ---

    def _till(self) -> Till:
        if self.till is None:
            raise web.HTTPServiceUnavailable(text="the till is not ready yet")
        return self.till

    async def till_customer(self, request: web.Request) -> web.Response:
        try:
            telegram_id = int(request.match_info["telegram_id"])
        except ValueError:
            return _problem("a Telegram id is a number")
        status, document = await self._till().customer(telegram_id)
        return _json(document, status)

    async def till_purchase(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        amount = str(body.get("amount", "")).strip().replace(",", ".")
        if not _AMOUNT.match(amount):
            return _problem("give an amount such as 12.50")
        try:
            telegram_id = int(body.get("telegram_id", 0))
        except (TypeError, ValueError):
            return _problem("choose a customer")
        status, document = await self._till().purchase(telegram_id, amount)
        return _json(document, status)

    async def till_refund(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        order_id = str(body.get("order_id", "")).strip()
        if not order_id:
            return _problem("give the order id to refund")
        amount = str(body.get("amount") or "").strip().replace(",", ".") or None
        if amount is not None:
            try:
                Decimal(amount)
            except InvalidOperation:
                return _problem("give an amount such as 12.50")
        status, document = await self._till().refund(order_id, amount)
        return _json(document, status)
