"""The sandbox page's JSON API over the emulator, without the bot: the tests play the bot with
emulator.execute (as its HTTP calls would arrive) and check what each persona sees and what
the page refuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.emulator import BotAPIEmulator
from bot.sandbox.personas import BY_KEY, SUPPORT_CHAT_ID, TOKEN
from bot.sandbox.setup import populate, sandbox_settings
from bot.sandbox.web import SandboxPage

ANNA = BY_KEY["anna"]
MAX = BY_KEY["max"]


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[tuple[BotAPIEmulator, aiohttp.ClientSession]]:
    async with BotAPIEmulator(TOKEN, bot_username="loyalty_sandbox_bot") as emulator:
        populate(emulator)
        settings = sandbox_settings(emulator, tmp_path / "sandbox.sqlite3", 0)
        sandbox = SandboxPage(emulator, settings)
        await sandbox.start("127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession(sandbox.url) as session:
                yield emulator, session
        finally:
            await sandbox.stop()


async def bot_says(emulator: BotAPIEmulator, **params: Any) -> dict[str, Any]:
    status, body = await emulator.execute("sendMessage", params)
    assert status == 200, body
    result: dict[str, Any] = body["result"]
    return result


async def view(session: aiohttp.ClientSession, persona: str, **query: str) -> dict[str, Any]:
    async with session.get("/api/view", params={"persona": persona, **query}) as response:
        assert response.status == 200
        document: dict[str, Any] = await response.json()
        return document


async def post(session: aiohttp.ClientSession, path: str, body: Any) -> tuple[int, Any]:
    async with session.post(path, json=body) as response:
        return response.status, await response.json(content_type=None)


async def test_a_customer_sees_formatting_and_both_keyboards(page):
    emulator, session = page
    before = await view(session, "anna")
    assert before["started"] is False and before["messages"] == []

    status, _ = await post(session, "/api/send", {"persona": "anna", "text": "/start"})
    assert status == 200
    await bot_says(
        emulator,
        chat_id=ANNA.user_id,
        text="<b>Balance</b>: 50",
        parse_mode="HTML",
        reply_markup={"keyboard": [[{"text": "⭐ Points"}, {"text": "📞 Phone"}]]},
    )
    await bot_says(
        emulator,
        chat_id=ANNA.user_id,
        text="Rewards",
        reply_markup={"inline_keyboard": [[{"text": "Coffee", "callback_data": "reward:coffee"}]]},
    )
    seen = await view(session, "anna")
    assert seen["started"] is True
    first, balance, rewards = seen["messages"]
    assert first["out"] is True and first["message"]["text"] == "/start"
    assert balance["message"]["entities"] == [{"type": "bold", "offset": 0, "length": 7}]
    assert rewards["inline_keyboard"][0][0]["callback_data"] == "reward:coffee"
    assert [button["text"] for button in seen["reply_keyboard"][0]] == ["⭐ Points", "📞 Phone"]
    # The other personas see nothing of it, but their switch shows Anna's chat has messages.
    assert (await view(session, "olena"))["messages"] == []
    assert seen["counts"]["anna"] == 3


async def test_pressing_a_button_sends_the_callback_and_returns_the_answer(page):
    emulator, session = page
    emulator.users[ANNA.user_id].start_chat()
    message = await bot_says(
        emulator,
        chat_id=ANNA.user_id,
        text="Rewards",
        reply_markup={"inline_keyboard": [[{"text": "Coffee", "callback_data": "reward:coffee"}]]},
    )

    async def answer_it() -> None:
        await emulator.wait_for(lambda: bool(emulator.world.callback_queries))
        query_id = next(iter(emulator.world.callback_queries))
        await emulator.execute(
            "answerCallbackQuery", {"callback_query_id": query_id, "text": "Code: 1234"}
        )

    answering = asyncio.create_task(answer_it())
    status, body = await post(
        session,
        "/api/press",
        {"persona": "anna", "message_id": message["message_id"], "data": "reward:coffee"},
    )
    await answering
    assert status == 200
    assert body == {"text": "Code: 1234", "show_alert": False}
    update = emulator.world.updates.first()
    assert update is not None and update["callback_query"]["data"] == "reward:coffee"


async def test_forged_and_stale_presses_and_bad_input_are_refused(page):
    emulator, session = page
    emulator.users[ANNA.user_id].start_chat()
    message = await bot_says(
        emulator,
        chat_id=ANNA.user_id,
        text="Rewards",
        reply_markup={"inline_keyboard": [[{"text": "Coffee", "callback_data": "reward:coffee"}]]},
    )
    forged = {"persona": "anna", "message_id": message["message_id"], "data": "reward:free-car"}
    status, body = await post(session, "/api/press", forged)
    assert status == 409 and "no inline button" in body["error"]
    status, _ = await post(
        session, "/api/press", {"persona": "anna", "message_id": 999, "data": "reward:coffee"}
    )
    assert status == 404
    status, _ = await post(session, "/api/send", {"persona": "mallory", "text": "hi"})
    assert status == 400
    status, body = await post(session, "/api/send", {"persona": "anna", "text": "   "})
    assert status == 400 and body["error"] == "text is required"
    status, _ = await post(session, "/api/send", {"persona": "max", "text": "hi", "thread": 77})
    assert status == 409  # no such topic
    status, body = await post(session, "/api/till/purchase", {"telegram_id": 1, "amount": "-5"})
    assert status == 400 and "amount" in body["error"]
    async with session.post("/api/till/purchase", json={"telegram_id": 1, "amount": "5"}) as r:
        assert r.status == 503  # the till exists only once the bot's API is up
    assert emulator.world.updates.first() is None  # nothing reached the bot


async def test_the_agent_sees_topics_newest_first_and_writes_in_the_open_one(page):
    emulator, session = page
    empty = await view(session, "max")
    assert empty["kind"] == "forum" and empty["topics"] == [] and empty["thread"] is None
    threads = []
    for name in ("Anna #1", "Boris #2"):
        status, body = await emulator.execute(
            "createForumTopic", {"chat_id": SUPPORT_CHAT_ID, "name": name}
        )
        assert status == 200
        threads.append(body["result"]["message_thread_id"])
    await bot_says(
        emulator, chat_id=SUPPORT_CHAT_ID, message_thread_id=threads[0], text="Anna: help!"
    )
    seen = await view(session, "max")
    assert [topic["name"] for topic in seen["topics"]] == ["Anna #1", "Boris #2"]
    assert seen["thread"] == threads[0]
    assert seen["messages"][-1]["message"]["text"] == "Anna: help!"

    status, _ = await post(
        session, "/api/send", {"persona": "max", "text": "On it", "thread": threads[0]}
    )
    assert status == 200
    update = emulator.world.updates.first()
    assert update is not None
    sent = update["message"]
    assert sent["chat"]["id"] == SUPPORT_CHAT_ID and sent["message_thread_id"] == threads[0]
    assert sent["from"]["id"] == MAX.user_id
    other = await view(session, "max", thread=str(threads[1]))
    assert other["thread"] == threads[1] and other["messages"][-1]["kind"] == "service"


async def test_changes_are_pushed_as_server_sent_events(page):
    emulator, session = page
    async with session.get("/api/events") as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert (await stream.content.readline()).startswith(b"retry:")
        await stream.content.readline()
        emulator.users[ANNA.user_id].send_text("hello")
        line = await asyncio.wait_for(stream.content.readline(), 5)
        assert line == b"event: change\n"


async def test_files_people_send_are_served_back(page):
    emulator, session = page
    form = aiohttp.FormData()
    form.add_field("persona", "anna")
    form.add_field("caption", "my receipt")
    form.add_field(
        "file", b"%PDF-1.4 receipt", filename="receipt.pdf", content_type="application/pdf"
    )
    async with session.post("/api/upload", data=form) as response:
        assert response.status == 200
    message = (await view(session, "anna"))["messages"][-1]["message"]
    assert message["caption"] == "my receipt"
    async with session.get(f"/api/file/{message['document']['file_id']}") as response:
        assert response.status == 200
        assert await response.read() == b"%PDF-1.4 receipt"
    async with session.get("/api/file/nonsense") as response:
        assert response.status == 404


async def test_update_ids_continue_after_an_earlier_run() -> None:
    """A restarted sandbox keeps its database, which ignores update ids it has handled."""
    async with BotAPIEmulator(TOKEN) as emulator:
        populate(emulator)
        emulator.world.updates.continue_from(5_000)
        emulator.world.updates.continue_from(10)  # never backwards
        emulator.users[ANNA.user_id].send_text("hello")
        update = emulator.world.updates.first()
        assert update is not None and update["update_id"] == 5_000


async def test_only_same_origin_json_is_accepted(page):
    _emulator, session = page
    port = session._base_url.port  # the page's own address, as a browser on it would send
    own = f"http://127.0.0.1:{port}"
    body = '{"persona": "anna", "text": "/start"}'

    # A cross-site form can send text/plain or form-encoded bodies without a preflight.
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        async with session.post(
            "/api/send", data=body, headers={"Content-Type": content_type}
        ) as response:
            assert response.status == 415, content_type
    async with session.post(
        "/api/upload", data=body, headers={"Content-Type": "text/plain"}
    ) as response:
        assert response.status == 415
    # DNS rebinding: the attacker's name resolving to 127.0.0.1 arrives as a foreign Host.
    async with session.get(
        "/api/view", params={"persona": "anna"}, headers={"Host": f"evil.example:{port}"}
    ) as response:
        assert response.status in (403, 421)
    async with session.post(
        "/api/send", json={"persona": "anna", "text": "/start"}, headers={"Host": "evil.example"}
    ) as response:
        assert response.status in (403, 421)
    # A page of another origin posting JSON (it would need CORS, but refuse it anyway).
    for origin in ("http://evil.example", f"http://127.0.0.1:{port + 1}", "null"):
        async with session.post(
            "/api/send", json={"persona": "anna", "text": "/start"}, headers={"Origin": origin}
        ) as response:
            assert response.status == 403, origin
    assert (await view(session, "anna"))["started"] is False

    # The page itself, from its own origin or as localhost, works.
    async with session.post(
        "/api/send", json={"persona": "anna", "text": "/start"}, headers={"Origin": own}
    ) as response:
        assert response.status == 200, await response.text()
    async with session.get(
        "/api/view", params={"persona": "anna"}, headers={"Host": f"localhost:{port}"}
    ) as response:
        assert response.status == 200
    async with session.get("/", headers={"Host": f"localhost:{port}"}) as response:
        assert response.status == 200
