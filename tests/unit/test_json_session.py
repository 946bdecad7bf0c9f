"""Calls without files go to Telegram as one JSON body; uploads stay multipart forms."""

from __future__ import annotations

import json

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import SendMessage, SendPhoto
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.session import JsonBodySession

TOKEN = "123456789:AAH-unit-test-token-000000000000000000"


def _session() -> JsonBodySession:
    return JsonBodySession(api=TelegramAPIServer.from_base("http://127.0.0.1:1"))


def test_a_message_with_a_keyboard_is_one_json_object_with_defaults_resolved() -> None:
    bot = Bot(TOKEN, default=DefaultBotProperties(parse_mode="HTML"))
    method = SendMessage(
        chat_id=42,
        text="Hello",
        disable_notification=False,
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="👍 Helped", callback_data="f:1:1")]]
        ),
    )
    body = _session().build_json_body(bot, method)
    assert body is not None
    sent = json.loads(body)
    assert sent["chat_id"] == 42
    assert sent["text"] == "Hello"
    assert sent["parse_mode"] == "HTML"  # the bot's default, not a placeholder
    # False is a value Telegram must see, not a field to drop.
    assert sent["disable_notification"] is False
    assert sent["reply_markup"] == {
        "inline_keyboard": [[{"text": "👍 Helped", "callback_data": "f:1:1"}]]
    }
    assert all(value is not None for value in sent.values())


def test_an_upload_is_left_to_the_multipart_form() -> None:
    bot = Bot(TOKEN)
    method = SendPhoto(chat_id=42, photo=BufferedInputFile(b"\x89PNG", filename="a.png"))
    assert _session().build_json_body(bot, method) is None
