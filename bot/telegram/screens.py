"""Turning the message a button was on into the outcome of pressing it."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message


async def replace_screen(query: CallbackQuery, text: str, bot: Bot) -> None:
    """The pressed message's text becomes `text`, its buttons gone, so it is pressed once."""
    if not isinstance(query.message, Message):
        # A message too old to edit (Telegram: 48 hours): say it in a new one.
        await bot.send_message(query.from_user.id, text)
        return
    if query.message.reply_markup is None and query.message.html_text == text:
        return  # pressed again from the outcome itself (a double tap, a replayed press)
    try:
        await query.message.edit_text(text, reply_markup=None)
    except TelegramBadRequest as error:
        # Two presses sent before the first edit arrived: the second finds it shown.
        if "message is not modified" not in str(error):
            raise
