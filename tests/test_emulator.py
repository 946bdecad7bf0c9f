"""Tests of the Bot API emulator, driven through a real aiogram Bot and through raw HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyParameters,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.emulator import BotAPIEmulator, ScenarioError
from bot.emulator.formatting import parse_html, parse_markdown_v2
from bot.emulator.media import TINY_PNG

pytestmark = pytest.mark.asyncio

TOKEN = "123456789:AAH-test-token-000000000000000000000"


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data) for text, data in row]
            for row in rows
        ]
    )


@pytest.fixture
async def emu() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator(TOKEN) as emulator:
        yield emulator
    assert emulator.internal_errors == []


@pytest.fixture
async def bot(emu: BotAPIEmulator) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url))
    client = Bot(emu.token, session=session)
    yield client
    await client.session.close()


async def raw_call(
    emu: BotAPIEmulator,
    method: str,
    *,
    token: str | None = None,
    data: dict[str, Any] | aiohttp.FormData | None = None,
    json_body: Any = None,
    query: dict[str, str] | None = None,
    http_method: str = "POST",
) -> tuple[int, dict[str, Any]]:
    url = f"{emu.base_url}/bot{token or emu.token}/{method}"
    async with (
        aiohttp.ClientSession() as session,
        session.request(http_method, url, data=data, json=json_body, params=query) as response,
    ):
        return response.status, await response.json()


# --- HTTP surface --------------------------------------------------------------------------------


async def test_get_me_reports_the_bot_from_the_token(emu: BotAPIEmulator, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456789
    assert me.is_bot is True
    assert me.username == "emulated_test_bot"
    status, body = await raw_call(emu, "getme", http_method="GET")
    assert status == 200
    assert body["result"]["id"] == 123456789
    assert emu.calls[-1].method == "getMe"


async def test_wrong_token_and_unknown_method(emu: BotAPIEmulator) -> None:
    status, body = await raw_call(emu, "getMe", token="987:wrong")
    assert (status, body) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    status, body = await raw_call(emu, "sendTelepathy")
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})


async def test_parameter_validation(emu: BotAPIEmulator) -> None:
    ann = emu.add_user("Ann", started=True)
    status, body = await raw_call(
        emu, "sendMessage", data={"chat_id": str(ann.id), "text": "hi", "colour": "red"}
    )
    assert status == 400
    assert body["description"] == 'Bad Request: unknown parameter "colour"'
    status, body = await raw_call(emu, "sendMessage", data={"text": "hi"})
    assert body["description"] == 'Bad Request: parameter "chat_id" is required'
    status, body = await raw_call(
        emu, "sendMessage", data={"chat_id": str(ann.id), "text": "hi", "message_thread_id": "x"}
    )
    assert (status, body["description"]) == (
        400,
        'Bad Request: invalid value for parameter "message_thread_id"',
    )
    status, body = await raw_call(
        emu, "sendMessage", data={"chat_id": str(ann.id), "text": "hi", "reply_markup": "[1, 2]"}
    )
    assert body["description"] == 'Bad Request: invalid value for parameter "reply_markup"'
    status, body = await raw_call(
        emu,
        "sendMessage",
        data={"chat_id": str(ann.id), "text": "hi", "disable_notification": "maybe"},
    )
    assert body["description"] == 'Bad Request: invalid value for parameter "disable_notification"'
    status, body = await raw_call(emu, "sendMessage", data={"chat_id": str(ann.id)})
    assert body["description"] == "Bad Request: message text is empty"
    # JSON bodies and query strings are accepted too, with native types.
    status, body = await raw_call(
        emu,
        "sendMessage",
        json_body={"chat_id": ann.id, "text": "json", "disable_notification": True},
    )
    assert status == 200
    assert body["result"]["text"] == "json"
    status, body = await raw_call(
        emu, "sendMessage", query={"chat_id": str(ann.id), "text": "query"}, http_method="GET"
    )
    assert status == 200
    assert body["result"]["message_id"] == 2
    last = emu.calls_to("sendMessage", ok=True)[-1]
    assert last.params == {"chat_id": ann.id, "text": "query"}
    failed = emu.calls_to("sendMessage", ok=False)
    assert [call.error_code for call in failed] == [400] * 6
    # Refused calls count too; names are matched as calls_to matches them.
    assert emu.count_calls("sendmessage") == len(emu.calls_to("sendMessage")) == 8


async def test_legacy_reply_to_message_id_is_accepted(emu: BotAPIEmulator) -> None:
    ann = emu.add_user("Ann")
    incoming = ann.send_text("question")
    status, body = await raw_call(
        emu,
        "sendMessage",
        data={
            "chat_id": str(ann.id),
            "text": "answer",
            "reply_to_message_id": str(incoming["message_id"]),
        },
    )
    assert status == 200
    assert body["result"]["reply_to_message"]["text"] == "question"
    status, body = await raw_call(
        emu,
        "sendMessage",
        data={"chat_id": str(ann.id), "text": "answer", "reply_to_message_id": "999"},
    )
    assert body["description"] == "Bad Request: message to be replied not found"


# --- content rules -------------------------------------------------------------------------------


async def test_html_is_parsed_and_checked(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", started=True)
    sent = await bot.send_message(
        ann.id, "😀 <b>bold</b> &amp; <a href='https://example.org'>link</a>", parse_mode="HTML"
    )
    assert sent.text == "😀 bold & link"
    assert sent.entities is not None
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 3, 4),
        ("text_link", 10, 4),
    ]
    assert sent.entities[1].url == "https://example.org"
    for bad, fragment in [
        ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("a < b", "Empty tag name"),
        ("line<br>break", 'Unsupported start tag "br"'),
        ("<b><i>x</b></i>", 'expected "</i>", found "</b>"'),
        ('<span class="red">x</span>', 'must have class "tg-spoiler"'),
    ]:
        with pytest.raises(TelegramBadRequest) as caught:
            await bot.send_message(ann.id, bad, parse_mode="HTML")
        assert "can't parse entities" in caught.value.message
        assert fragment in caught.value.message
    assert len(ann.messages) == 1


async def test_text_length_rules(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", started=True)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ann.id, "x" * 4097)
    # The limit applies to the text after entity parsing, so tags do not count.
    ok = await bot.send_message(ann.id, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert ok.text is not None
    assert len(ok.text) == 4096
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(ann.id, "<b> </b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(ann.id, BufferedInputFile(TINY_PNG, "p.png"), caption="c" * 1025)


async def test_markdown_v2_reserved_characters(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", started=True)
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.send_message(ann.id, "Price: 5.00", parse_mode="MarkdownV2")
    assert caught.value.message.endswith(
        "can't parse entities: Character '.' is reserved and must be escaped with the "
        "preceding '\\'"
    )
    sent = await bot.send_message(ann.id, r"*Price:* 5\.00 _now_", parse_mode="MarkdownV2")
    assert sent.text == "Price: 5.00 now"
    assert sent.entities is not None
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 6),
        ("italic", 12, 3),
    ]


async def test_formatting_parsers_directly() -> None:
    parsed = parse_html(
        '<pre><code class="language-python">x = 1</code></pre><tg-spoiler>s</tg-spoiler>'
    )
    assert parsed.text == "x = 1s"
    assert parsed.entities == [
        {"type": "pre", "offset": 0, "length": 5, "language": "python"},
        {"type": "spoiler", "offset": 5, "length": 1},
    ]
    quoted = parse_markdown_v2(">quoted\n>lines\nplain \\- text [link](https://t.me/x)")
    assert quoted.text == "quoted\nlines\nplain - text link"
    assert quoted.entities == [
        {"type": "blockquote", "offset": 0, "length": 12},
        {"type": "text_link", "offset": 26, "length": 4, "url": "https://t.me/x"},
    ]


async def test_inline_keyboard_rules(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", started=True)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(ann.id, "menu", reply_markup=keyboard([("Go", "d" * 65)]))
    with pytest.raises(TelegramBadRequest, match="BUTTON_URL_INVALID"):
        await bot.send_message(
            ann.id,
            "menu",
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text="Site", url="ftp://example.org")]]
            ),
        )
    status, body = await raw_call(
        emu,
        "sendMessage",
        data={
            "chat_id": str(ann.id),
            "text": "menu",
            "reply_markup": json.dumps({"inline_keyboard": [[{"text": "bare"}]]}),
        },
    )
    assert status == 400
    assert "Text buttons are unallowed in the inline keyboard" in body["description"]
    status, body = await raw_call(
        emu,
        "sendMessage",
        data={
            "chat_id": str(ann.id),
            "text": "menu",
            "reply_markup": json.dumps(
                {
                    "inline_keyboard": [
                        [{"text": "two", "callback_data": "a", "url": "https://a.io"}]
                    ]
                }
            ),
        },
    )
    assert status == 400
    sent = await bot.send_message(ann.id, "menu", reply_markup=keyboard([("Go", "d" * 64)]))
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "d" * 64


async def test_reply_keyboard_is_tracked_for_reply_buttons(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", started=True)
    sent = await bot.send_message(
        ann.id,
        "choose",
        reply_markup=ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text="Yes"), KeyboardButton(text="No")]]
        ),
    )
    # Telegram echoes only inline keyboards in the returned Message.
    assert sent.reply_markup is None
    pressed = ann.press_reply_button("Yes")
    assert pressed["text"] == "Yes"
    with pytest.raises(ScenarioError, match="Maybe"):
        ann.press_reply_button("Maybe")
    await bot.send_message(ann.id, "bye", reply_markup={"remove_keyboard": True})  # type: ignore[arg-type]
    with pytest.raises(ScenarioError):
        ann.press_reply_button("Yes")


# --- chats ---------------------------------------------------------------------------------------


async def test_unknown_chat_and_blocked_user(emu: BotAPIEmulator, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "hello?")
    ann = emu.add_user("Ann", username="ann")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(ann.id, "you never wrote to me")
    ann.send_text("/start")
    assert (await bot.send_message(ann.id, "welcome")).text == "welcome"
    ann.block_bot()
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(ann.id, "still there?")
    updates = await bot.get_updates()
    member_updates = [u.my_chat_member for u in updates if u.my_chat_member is not None]
    assert len(member_updates) == 1
    assert member_updates[0].new_chat_member.status == "kicked"
    ann.unblock_bot()
    assert (await bot.send_message(ann.id, "welcome back")).message_id == 3


async def test_privacy_mode_in_groups(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann")
    group = emu.add_group("Friends", members=[ann])
    ann.send_text("just chatting", chat=group)
    ann.send_text("/menu", chat=group)
    ann.send_text("hey @emulated_test_bot", chat=group)
    texts = [u.message.text for u in await bot.get_updates() if u.message]
    assert texts == ["/menu", "hey @emulated_test_bot"]
    assert [m["text"] for m in group.messages] == [
        "just chatting",
        "/menu",
        "hey @emulated_test_bot",
    ]
    admin_group = emu.add_group("Staff", members=[ann], bot_is_admin=True)
    ann.send_text("everything", chat=admin_group)
    assert [u.message.text for u in await bot.get_updates() if u.message][-1] == "everything"


async def test_get_chat_and_members(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", started=True)
    group = emu.add_forum_supergroup("Support", members=[ann])
    info = await bot.get_chat(group.id)
    assert (info.type, info.title, info.is_forum) == ("supergroup", "Support", True)
    private = await bot.get_chat(ann.id)
    assert (private.type, private.first_name) == ("private", "Ann")
    me = await bot.get_chat_member(group.id, emu.bot_user["id"])
    assert me.status == "administrator"
    assert me.can_manage_topics is True
    member = await bot.get_chat_member(group.id, ann.id)
    assert member.status == "member"
    admins = await bot.get_chat_administrators(group.id)
    assert [admin.user.id for admin in admins] == [emu.bot_user["id"]]


# --- updates -------------------------------------------------------------------------------------


async def test_get_updates_offset_semantics(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", username="ann")
    for text in ("one", "two", "three"):
        ann.send_text(text)
    updates = await bot.get_updates()
    assert [u.message.text for u in updates if u.message] == ["one", "two", "three"]
    ids = [u.update_id for u in updates]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    # Nothing is confirmed without an offset.
    assert emu.pending_updates == 3
    updates = await bot.get_updates(offset=ids[1])
    assert [u.update_id for u in updates] == ids[1:]
    assert emu.pending_updates == 2
    updates = await bot.get_updates(offset=ids[2], limit=1)
    assert [u.update_id for u in updates] == [ids[2]]
    ann.send_text("four")
    ann.send_text("five")
    updates = await bot.get_updates(offset=-1)
    assert [u.message.text for u in updates if u.message] == ["five"]
    assert emu.pending_updates == 1
    await bot.get_updates(offset=updates[0].update_id + 1)
    assert emu.pending_updates == 0


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    emu: BotAPIEmulator, bot: Bot
) -> None:
    ann = emu.add_user("Ann")
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert time.monotonic() - started >= 0.9

    async def write_later() -> None:
        await asyncio.sleep(0.2)
        ann.send_text("ping")

    writer = asyncio.create_task(write_later())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=10)
    elapsed = time.monotonic() - started
    await writer
    assert [u.message.text for u in updates if u.message] == ["ping"]
    assert 0.15 <= elapsed < 2


async def test_allowed_updates_filter_is_remembered(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann")
    await bot.get_updates(allowed_updates=["callback_query"])
    ann.send_text("ignored")
    assert emu.pending_updates == 0
    # Without allowed_updates the previous setting stays in force.
    await bot.get_updates()
    ann.send_text("still ignored")
    assert emu.pending_updates == 0
    await bot.get_updates(allowed_updates=[])
    ann.send_text("seen")
    assert [u.message.text for u in await bot.get_updates() if u.message] == ["seen"]


async def test_concurrent_get_updates_terminates_the_earlier(emu: BotAPIEmulator) -> None:
    first = asyncio.create_task(raw_call(emu, "getUpdates", data={"timeout": "5"}))
    await asyncio.sleep(0.2)
    second = await raw_call(emu, "getUpdates", data={"timeout": "0"})
    status, body = await asyncio.wait_for(first, 2)
    assert status == 409
    assert body["description"] == (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    )
    assert second == (200, {"ok": True, "result": []})


async def test_in_process_dispatcher_round_trip(emu: BotAPIEmulator, bot: Bot) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot, handle_signals=False, close_bot_session=False, polling_timeout=1
        )
    )
    try:
        ann = emu.add_user("Ann", username="ann")
        ann.send_text("hi")
        reply = await ann.next_message(timeout=5)
        assert reply["text"] == "echo: hi"
        call = await emu.wait_for_call("sendMessage", chat_id=ann.id)
        assert call.ok
        assert call.result["message_id"] == reply["message_id"]
        ann.send_text("again")
        assert (await ann.next_message())["text"] == "echo: again"
        with pytest.raises(TimeoutError, match="Bot API calls"):
            await ann.next_message(timeout=0.3)
        await emu.wait_for(lambda: emu.pending_updates == 0, timeout=5)
    finally:
        await dispatcher.stop_polling()
        await polling


# --- webhooks ------------------------------------------------------------------------------------


async def test_webhook_delivery(emu: BotAPIEmulator, bot: Bot) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []
    replies: list[web.Response] = [web.Response(status=500)]
    ann = emu.add_user("Ann", username="ann")
    emu.webhook.retry_delay = 0.05

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        if replies:
            return replies.pop(0)
        update = received[-1][0]
        return web.json_response(
            {"method": "sendMessage", "chat_id": update["message"]["chat"]["id"], "text": "pong"}
        )

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret_token")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        ann.send_text("ping")
        reply = await ann.next_message(timeout=5)
        assert reply["text"] == "pong"
        # First attempt got a 500 and was retried; both carried the secret header.
        assert len(received) == 2
        assert received[0] == received[1]
        assert received[1][0]["message"]["text"] == "ping"
        assert received[1][1] == "s3cret_token"
        webhook_reply = emu.calls_to("sendMessage")[-1]
        assert (webhook_reply.source, webhook_reply.ok) == ("webhook_reply", True)
        assert emu.pending_updates == 0
        info = await bot.get_webhook_info()
        assert info.url == f"http://127.0.0.1:{port}/hook"
        assert info.last_error_message is not None
        assert "500" in info.last_error_message
        assert await bot.delete_webhook(drop_pending_updates=True)
        ann.send_text("queued")
        assert emu.pending_updates == 1
        assert [u.message.text for u in await bot.get_updates() if u.message] == ["queued"]
    finally:
        await emu.webhook.close()
        await runner.cleanup()


async def test_webhook_reply_from_aiogram_handler(emu: BotAPIEmulator, bot: Bot) -> None:
    """aiogram answers webhooks with the method call as multipart form data."""
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> Any:
        return message.answer(f"webhook echo: {message.text}")

    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, handle_in_background=False, secret_token="tok").register(
        app, "/wh"
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/wh", secret_token="tok")
        ann = emu.add_user("Ann")
        ann.send_text("hello")
        assert (await ann.next_message())["text"] == "webhook echo: hello"
        call = await emu.wait_for_call("sendMessage", chat_id=ann.id)
        assert call.source == "webhook_reply"
    finally:
        await emu.webhook.close()
        await runner.cleanup()


async def test_wrong_webhook_secret_is_retried(emu: BotAPIEmulator, bot: Bot) -> None:
    dispatcher = Dispatcher()
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token="expected").register(app, "/wh")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        await bot.set_webhook(
            f"http://127.0.0.1:{runner.addresses[0][1]}/wh", secret_token="different"
        )
        emu.add_user("Ann").send_text("lost")
        await asyncio.sleep(0.5)
        assert emu.pending_updates == 1
        info = await bot.get_webhook_info()
        assert info.last_error_message is not None
        assert "401" in info.last_error_message
    finally:
        await emu.webhook.close()
        await runner.cleanup()


async def test_delete_webhook_drops_pending_updates(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann")
    ann.send_text("a")
    ann.send_text("b")
    assert emu.pending_updates == 2
    await bot.delete_webhook(drop_pending_updates=True)
    assert emu.pending_updates == 0


# --- faults --------------------------------------------------------------------------------------


async def test_fail_next_injects_telegram_errors(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", started=True)
    bob = emu.add_user("Bob", started=True)
    emu.fail_next(
        "sendMessage", error_code=429, description="Too Many Requests: retry after 3", retry_after=3
    )
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(ann.id, "one")
    assert caught.value.retry_after == 3
    assert (await bot.send_message(ann.id, "two")).text == "two"
    emu.fail_next("sendMessage", error_code=500)
    with pytest.raises(TelegramServerError, match="Internal Server Error"):
        await bot.send_message(ann.id, "three")
    emu.fail_next("sendmessage", error_code=502, times=2, chat_id=bob.id)
    assert (await bot.send_message(ann.id, "unaffected")).text == "unaffected"
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Bad Gateway"):
            await bot.send_message(bob.id, "bob")
    assert (await bot.send_message(bob.id, "bob")).text == "bob"
    failed = emu.calls_to("sendMessage", ok=False)
    assert [call.error_code for call in failed] == [429, 500, 502, 502]
    assert [m["text"] for m in ann.messages] == ["two", "unaffected"]


async def test_rate_limit_answers_429(emu: BotAPIEmulator) -> None:
    ann = emu.add_user("Ann", started=True)
    emu.set_rate_limit(per_second=5)
    results = await asyncio.gather(
        *(
            raw_call(emu, "sendMessage", data={"chat_id": str(ann.id), "text": str(n)})
            for n in range(20)
        )
    )
    refused = [body for status, body in results if status == 429]
    assert 5 <= len(results) - len(refused) <= 7
    assert refused
    assert refused[0]["parameters"]["retry_after"] >= 1
    assert refused[0]["description"].startswith("Too Many Requests: retry after ")
    emu.set_rate_limit(None)
    status, _ = await raw_call(emu, "sendMessage", data={"chat_id": str(ann.id), "text": "free"})
    assert status == 200


async def test_latency_delays_calls(emu: BotAPIEmulator, bot: Bot) -> None:
    emu.set_latency(0.2)
    started = time.monotonic()
    await bot.get_me()
    assert time.monotonic() - started >= 0.2


# --- callback queries ----------------------------------------------------------------------------


async def test_callback_query_answers(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", started=True)
    menu = await bot.send_message(
        ann.id, "menu", reply_markup=keyboard([("A", "pick:a"), ("B", "pick:b")])
    )
    bot_message = ann.messages[-1]
    assert bot_message["message_id"] == menu.message_id
    with pytest.raises(ScenarioError, match="pick:c"):
        ann.press(bot_message, "pick:c")
    query = ann.press(bot_message, "pick:b")
    updates = await bot.get_updates()
    assert updates[-1].callback_query is not None
    assert updates[-1].callback_query.data == "pick:b"
    assert updates[-1].callback_query.message is not None
    assert emu.callback_answer(query) is None
    assert await bot.answer_callback_query(query["id"], text="Picked B", show_alert=True)
    assert emu.callback_answer(query) == {
        "callback_query_id": query["id"],
        "text": "Picked B",
        "show_alert": True,
    }
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query["id"])
    forged = ann.press(bot_message, "stale:data", forge=True)
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(forged["id"], text="x" * 201)
    assert await bot.answer_callback_query(forged["id"])
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query("made-up")


async def test_callback_queries_expire() -> None:
    async with BotAPIEmulator(TOKEN, callback_query_timeout=0.1) as emu:
        ann = emu.add_user("Ann", started=True)
        status, body = await raw_call(
            emu,
            "sendMessage",
            data={
                "chat_id": str(ann.id),
                "text": "menu",
                "reply_markup": json.dumps(
                    {"inline_keyboard": [[{"text": "x", "callback_data": "x"}]]}
                ),
            },
        )
        assert status == 200
        query = ann.press(body["result"], "x")
        await asyncio.sleep(0.2)
        status, body = await raw_call(
            emu, "answerCallbackQuery", data={"callback_query_id": query["id"]}
        )
        assert status == 400
        assert body["description"] == (
            "Bad Request: query is too old and response timeout expired or query ID is invalid"
        )


# --- editing and deleting ------------------------------------------------------------------------


async def test_edits(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", started=True)
    incoming = ann.send_text("hello")
    sent = await bot.send_message(ann.id, "draft", reply_markup=keyboard([("Ok", "ok")]))
    edited = await bot.edit_message_text(
        "final", chat_id=ann.id, message_id=sent.message_id, reply_markup=keyboard([("Ok", "ok")])
    )
    assert isinstance(edited, Message)
    assert edited.text == "final"
    assert edited.edit_date is not None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "final",
            chat_id=ann.id,
            message_id=sent.message_id,
            reply_markup=keyboard([("Ok", "ok")]),
        )
    # Leaving reply_markup out removes the keyboard, so this is a modification.
    await bot.edit_message_text("final", chat_id=ann.id, message_id=sent.message_id)
    assert "reply_markup" not in ann.messages[-1]
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=ann.id, message_id=999)
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=ann.id, message_id=incoming["message_id"])
    stored = ann.chat.get(sent.message_id) if ann.chat else None
    assert stored is not None
    assert [version["text"] for version in stored.versions] == ["draft", "final"]
    assert await bot.edit_message_reply_markup(
        chat_id=ann.id, message_id=sent.message_id, reply_markup=keyboard([("New", "new")])
    )
    assert ann.messages[-1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "new"
    photo = await bot.send_photo(ann.id, BufferedInputFile(TINY_PNG, "p.png"), caption="old")
    recaptioned = await bot.edit_message_caption(
        chat_id=ann.id, message_id=photo.message_id, caption="new"
    )
    assert isinstance(recaptioned, Message)
    assert recaptioned.caption == "new"
    with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
        await bot.edit_message_text("t", chat_id=ann.id, message_id=photo.message_id)


async def test_delete_messages(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", started=True)
    first = await bot.send_message(ann.id, "one")
    second = await bot.send_message(ann.id, "two")
    assert await bot.delete_message(ann.id, first.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(ann.id, first.message_id)
    assert [m["text"] for m in ann.messages] == ["two"]
    assert await bot.delete_messages(ann.id, [second.message_id, 12345])
    assert ann.messages == []


async def test_edited_message_update_from_user(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann")
    original = ann.send_text("tpyo")
    ann.edit_text(original, "typo")
    updates = await bot.get_updates()
    assert updates[-1].edited_message is not None
    assert updates[-1].edited_message.text == "typo"
    assert updates[-1].edited_message.message_id == original["message_id"]


# --- forum topics --------------------------------------------------------------------------------


async def test_forum_topics(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", username="ann")
    agent = emu.add_user("Bob", username="bob_agent")
    group = emu.add_forum_supergroup("Support", members=[agent])
    topic = await bot.create_forum_topic(group.id, "Ann #1")
    thread = topic.message_thread_id
    assert topic.name == "Ann #1"
    assert group.topics[thread].name == "Ann #1"
    service = group.messages_in(thread)[0]
    assert service["forum_topic_created"]["name"] == "Ann #1"

    in_topic = await bot.send_message(group.id, "new ticket", message_thread_id=thread)
    assert in_topic.is_topic_message is True
    assert in_topic.message_thread_id == thread

    question = ann.send_text("my order is late")
    copy = await bot.copy_message(
        group.id, ann.id, question["message_id"], message_thread_id=thread
    )
    texts = [m.get("text") for m in group.messages_in(thread)]
    assert texts == [None, "new ticket", "my order is late"]
    assert group.messages_in(thread)[-1]["message_id"] == copy.message_id

    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await bot.copy_message(group.id, ann.id, 999, message_thread_id=thread)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(group.id, "lost", message_thread_id=thread + 100)

    reply = agent.send_text("we are on it", chat=group, message_thread_id=thread)
    updates = await bot.get_updates()
    agent_update = updates[-1].message
    assert agent_update is not None
    assert (agent_update.text, agent_update.message_thread_id) == ("we are on it", thread)
    assert agent_update.is_topic_message is True
    assert reply["reply_to_message"]["message_id"] == thread

    assert await bot.close_forum_topic(group.id, thread)
    with pytest.raises(TelegramBadRequest, match="TOPIC_NOT_MODIFIED"):
        await bot.close_forum_topic(group.id, thread)
    assert await bot.reopen_forum_topic(group.id, thread)

    assert await bot.delete_forum_topic(group.id, thread)
    assert thread not in group.topics
    assert group.messages_in(thread) == []
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(group.id, "gone", message_thread_id=thread)

    second = await bot.create_forum_topic(group.id, "Ann #2")
    emu.delete_topic_by_user(group, second.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.copy_message(
            group.id, ann.id, question["message_id"], message_thread_id=second.message_thread_id
        )


async def test_forum_topic_preconditions(emu: BotAPIEmulator, bot: Bot) -> None:
    plain = emu.add_group("Chat", bot_is_admin=True)
    with pytest.raises(TelegramBadRequest, match="the chat is not a forum"):
        await bot.create_forum_topic(plain.id, "x")
    no_rights = emu.add_forum_supergroup("Forum", bot_can_manage_topics=False)
    with pytest.raises(TelegramBadRequest, match="not enough rights to create a topic"):
        await bot.create_forum_topic(no_rights.id, "x")
    forum = emu.add_forum_supergroup("Forum 2")
    with pytest.raises(TelegramBadRequest, match="TOPIC_NAME_INVALID"):
        await bot.create_forum_topic(forum.id, "n" * 129)


async def test_reply_in_topic_without_thread_id_lands_in_topic(
    emu: BotAPIEmulator, bot: Bot
) -> None:
    agent = emu.add_user("Bob")
    group = emu.add_forum_supergroup("Support", members=[agent])
    topic = await bot.create_forum_topic(group.id, "T")
    asked = agent.send_text("question", chat=group, message_thread_id=topic.message_thread_id)
    answer = await bot.send_message(
        group.id, "answer", reply_parameters=ReplyParameters(message_id=asked["message_id"])
    )
    assert answer.message_thread_id == topic.message_thread_id
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "question"


# --- files ---------------------------------------------------------------------------------------


async def test_file_upload_get_file_and_download(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", started=True)
    payload = b"col1,col2\n1,2\n"
    sent = await bot.send_document(
        ann.id, BufferedInputFile(payload, "report.csv"), caption="report"
    )
    assert sent.document is not None
    assert sent.document.file_name == "report.csv"
    assert sent.document.file_size == len(payload)
    file = await bot.get_file(sent.document.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None
    assert downloaded.read() == payload
    again = await bot.send_document(ann.id, sent.document.file_id)
    assert again.document is not None
    assert again.document.file_id == sent.document.file_id
    with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
        await bot.send_document(ann.id, "not-a-file-id")
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(ann.id, BufferedInputFile(b"not an image", "x.jpg"))
    with pytest.raises(TelegramBadRequest, match="wrong file_id"):
        await bot.get_file("nope")
    photo = ann.send_photo(caption="look")
    echoed = await bot.send_photo(ann.id, photo["photo"][-1]["file_id"])
    assert echoed.photo is not None
    assert echoed.photo[-1].file_id == photo["photo"][-1]["file_id"]


async def test_file_uploaded_under_the_parameter_name(emu: BotAPIEmulator) -> None:
    ann = emu.add_user("Ann", started=True)
    form = aiohttp.FormData()
    form.add_field("chat_id", str(ann.id))
    form.add_field("document", b"%PDF-1.4 direct", filename="direct.pdf")
    status, body = await raw_call(emu, "sendDocument", data=form)
    assert status == 200
    document = body["result"]["document"]
    assert (document["file_name"], document["file_size"]) == ("direct.pdf", 15)
    status, body = await raw_call(emu, "getFile", data={"file_id": document["file_id"]})
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{emu.base_url}/file/bot{emu.token}/{body['result']['file_path']}") as got,
    ):
        assert await got.read() == b"%PDF-1.4 direct"


async def test_an_upload_arriving_in_small_pieces_is_read_whole(emu: BotAPIEmulator) -> None:
    """An upload sent chunked, in uneven pieces, reads back byte for byte: boundary
    look-alikes and every kind of line break included."""
    ann = emu.add_user("Ann", started=True)
    content = b"%PDF-1.4\r\n--not-the-boundary\r\n\n\r" + bytes(range(256)) * 200
    boundary = "piecewise-boundary"
    body = (
        (
            f"--{boundary}\r\nContent-Disposition: form-data; name=chat_id\r\n\r\n{ann.id}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=document; filename=split.pdf\r\n"
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )

    async def pieces() -> AsyncIterator[bytes]:
        # A few bytes, then more than aiohttp's 8 KiB read, over and over.
        start = 0
        for size in [5, 9000] * (len(body) // 9005 + 1):
            yield body[start : start + size]
            start += size

    url = f"{emu.base_url}/bot{emu.token}/sendDocument"
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=pieces(), headers=headers) as response,
    ):
        assert response.status == 200, await response.text()
        document = (await response.json())["result"]["document"]
    assert (document["file_name"], document["file_size"]) == ("split.pdf", len(content))
    record = emu.world.files.get(document["file_id"])
    assert record is not None
    assert record.data == content


async def test_send_media_group_with_uploads(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", started=True)
    form = aiohttp.FormData()
    form.add_field("chat_id", str(ann.id))
    form.add_field(
        "media",
        json.dumps(
            [
                {"type": "photo", "media": "attach://one", "caption": "album"},
                {"type": "photo", "media": "attach://two"},
            ]
        ),
    )
    form.add_field("one", TINY_PNG, filename="one.png")
    form.add_field("two", TINY_PNG, filename="two.png")
    status, body = await raw_call(emu, "sendMediaGroup", data=form)
    assert status == 200
    messages = body["result"]
    assert len(messages) == 2
    assert messages[0]["media_group_id"] == messages[1]["media_group_id"]
    assert messages[0]["caption"] == "album"
    with pytest.raises(TelegramBadRequest, match="2-10"):
        await bot.send_media_group(
            ann.id, media=[InputMediaPhoto(media=messages[0]["photo"][0]["file_id"])]
        )


# --- commands ------------------------------------------------------------------------------------


async def test_set_my_commands_validation_and_storage(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", started=True)
    commands = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="help", description="Help"),
    ]
    assert await bot.set_my_commands(commands)
    assert emu.commands() == [
        {"command": "start", "description": "Start"},
        {"command": "help", "description": "Help"},
    ]
    assert await bot.set_my_commands(commands[:1], language_code="ru")
    assert [c["command"] for c in emu.commands(language_code="ru")] == ["start"]
    scope = BotCommandScopeChat(chat_id=ann.id)
    assert await bot.set_my_commands(commands[1:], scope=scope)
    assert emu.commands({"type": "chat", "chat_id": ann.id}) == [
        {"command": "help", "description": "Help"}
    ]
    fetched = await bot.get_my_commands(scope=scope)
    assert [c.command for c in fetched] == ["help"]
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=555))
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="x")])
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="c" * 33, description="x")])
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_DESCRIPTION_INVALID"):
        await bot.set_my_commands([BotCommand(command="ok", description="d" * 257)])
    with pytest.raises(TelegramBadRequest, match="BOT_COMMANDS_TOO_MUCH"):
        await bot.set_my_commands(
            [BotCommand(command=f"c{n}", description="x") for n in range(101)]
        )
    with pytest.raises(TelegramBadRequest, match="language code"):
        await bot.set_my_commands(commands, language_code="english")
    assert await bot.delete_my_commands()
    assert emu.commands() == []
    assert [c["command"] for c in emu.commands(language_code="ru")] == ["start"]


async def test_profile_settings_are_stored(emu: BotAPIEmulator, bot: Bot) -> None:
    assert await bot.set_my_description("A loyal bot", language_code="en")
    assert (await bot.get_my_description(language_code="en")).description == "A loyal bot"
    assert await bot.set_my_short_description("Loyal")
    assert emu.profile.short_descriptions == {"": "Loyal"}
    assert await bot.set_chat_menu_button(menu_button={"type": "commands"})  # type: ignore[arg-type]
    assert (await bot.get_chat_menu_button()).type == "commands"
    # A method without bespoke behaviour still validates and answers True.
    status, body = await raw_call(emu, "setMyProfilePhoto", data={})
    assert (status, body["description"]) == (400, 'Bad Request: parameter "photo" is required')


# --- emulated users ------------------------------------------------------------------------------


async def test_user_messages_parse_as_aiogram_updates(emu: BotAPIEmulator, bot: Bot) -> None:
    ann = emu.add_user("Ann", last_name="Lee", username="ann", language_code="de")
    command = ann.send_text("/start@emulated_test_bot ref_42")
    assert command["entities"] == [{"type": "bot_command", "offset": 0, "length": 24}]
    ann.send_photo(caption="receipt")
    ann.send_voice(duration=4)
    ann.send_document(file_name="a.pdf")
    ann.send_video()
    ann.send_sticker(emoji="👍")
    ann.send_location(52.5, 13.4)
    ann.send_contact("+100200300", "Ann")
    album = ann.send_media_group(3, caption="trip")
    assert len({m["media_group_id"] for m in album}) == 1
    updates = await bot.get_updates()
    assert len(updates) == 11
    messages = [u.message for u in updates if u.message is not None]
    assert messages[0].from_user is not None
    assert messages[0].from_user.language_code == "de"
    assert messages[1].photo is not None
    assert messages[1].caption == "receipt"
    assert messages[2].voice is not None
    assert messages[2].voice.duration == 4
    assert messages[3].document is not None
    assert messages[3].document.file_name == "a.pdf"
    assert messages[4].video is not None
    assert messages[5].sticker is not None
    assert messages[5].sticker.emoji == "👍"
    assert messages[6].location is not None
    assert messages[6].location.latitude == 52.5
    assert messages[7].contact is not None
    assert messages[8].media_group_id == messages[10].media_group_id
    # Message ids in the private chat increase from 1.
    assert [m.message_id for m in messages] == list(range(1, 12))
    raw = Update.model_validate(emu.inject_update({"message": command}) or {})
    assert raw.update_id == updates[-1].update_id + 1


async def test_control_api() -> None:
    emulator = BotAPIEmulator(TOKEN)
    await emulator.start(control_api=True)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{emulator.base_url}/_emulator/users/42/text",
                json={"text": "hello", "language_code": "ru"},
            ) as response:
                assert response.status == 200
                message = (await response.json())["message"]
            assert message["from"]["language_code"] == "ru"
            async with session.post(
                f"{emulator.base_url}/_emulator/fail_next",
                json={"method": "getMe", "error_code": 500},
            ) as response:
                assert response.status == 200
            async with session.get(f"{emulator.api_url}/getMe") as response:
                assert response.status == 500
            async with session.get(f"{emulator.base_url}/_emulator/calls?since=0") as response:
                calls = (await response.json())["calls"]
            assert [(c["method"], c["error_code"]) for c in calls] == [("getMe", 500)]
            async with session.get(f"{emulator.base_url}/_emulator/state") as response:
                state = await response.json()
            assert (state["users"], state["pending_updates"], state["calls"]) == (1, 1, 1)
    finally:
        await emulator.stop()
