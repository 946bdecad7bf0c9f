"""A small JSON control API under /_emulator/ for driving a standalone emulator process."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import ScenarioError

if TYPE_CHECKING:
    from .emulator import BotAPIEmulator
    from .state import RecordedCall
    from .users import EmulatedUser


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False, default=repr).encode("utf-8"),
        content_type="application/json",
    )


def _call_view(call: RecordedCall) -> dict[str, Any]:
    return {
        "index": call.index,
        "method": call.method,
        "params": call.params,
        "ok": call.ok,
        "error_code": call.error_code,
        "description": call.description,
        "result": call.result,
        "at": call.at,
        "source": call.source,
    }


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


def add_control_routes(app: web.Application, emulator: BotAPIEmulator) -> None:
    def user_for(request: web.Request, body: dict[str, Any]) -> EmulatedUser:
        try:
            user_id = int(request.match_info["user_id"])
        except ValueError:
            raise web.HTTPBadRequest(text="user ids are integers") from None
        user = emulator.users.get(user_id)
        if user is None:
            user = emulator.add_user(
                first_name=str(body.get("first_name", f"User {user_id}")),
                last_name=body.get("last_name"),
                username=body.get("username"),
                language_code=body.get("language_code", "en"),
                user_id=user_id,
            )
        return user

    async def send_text(request: web.Request) -> web.Response:
        body = await _body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text:
            return _json({"error": "text is required"}, 400)
        message = user_for(request, body).send_text(text)
        return _json({"message": message})

    async def press(request: web.Request) -> web.Response:
        body = await _body(request)
        user = user_for(request, body)
        chat_id = int(body.get("chat_id", user.id))
        chat = emulator.chats.get(chat_id)
        stored = chat.get(int(body.get("message_id", 0))) if chat else None
        if stored is None:
            return _json({"error": "no such message"}, 404)
        try:
            query = user.press(
                stored.payload, str(body.get("callback_data", "")), forge=bool(body.get("forge"))
            )
        except ScenarioError as error:
            return _json({"error": str(error)}, 409)
        return _json({"callback_query": query})

    async def user_messages(request: web.Request) -> web.Response:
        user = emulator.users.get(int(request.match_info["user_id"]))
        return _json({"messages": user.messages if user else []})

    async def calls(request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            return _json({"error": "since must be an integer"}, 400)
        # Call indexes are positions in emulator.calls, so "since" is a slice start.
        return _json({"calls": [_call_view(call) for call in emulator.calls[max(since, 0) :]]})

    async def fail_next(request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            emulator.fail_next(
                str(body["method"]),
                error_code=int(body.get("error_code", 429)),
                description=body.get("description"),
                retry_after=body.get("retry_after"),
                times=int(body.get("times", 1)),
                chat_id=body.get("chat_id"),
            )
        except (KeyError, ValueError) as error:
            return _json({"error": f"bad fault: {error}"}, 400)
        return _json({"ok": True})

    async def state(request: web.Request) -> web.Response:
        config = emulator.webhook.config
        return _json(
            {
                "bot": emulator.bot_user,
                "users": len(emulator.users),
                "chats": len(emulator.chats),
                "calls": len(emulator.calls),
                "pending_updates": emulator.pending_updates,
                "webhook_url": config.url if config else "",
                "internal_errors": [repr(error) for error in emulator.internal_errors],
            }
        )

    app.router.add_post("/_emulator/users/{user_id}/text", send_text)
    app.router.add_post("/_emulator/users/{user_id}/press", press)
    app.router.add_get("/_emulator/users/{user_id}/messages", user_messages)
    app.router.add_get("/_emulator/calls", calls)
    app.router.add_post("/_emulator/fail_next", fail_next)
    app.router.add_get("/_emulator/state", state)
