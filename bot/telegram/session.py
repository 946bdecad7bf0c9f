"""The HTTP session every Bot instance talks to Telegram through (TELEGRAM_API_URL)."""

from __future__ import annotations

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.config import Settings


def telegram_session(settings: Settings) -> AiohttpSession:
    return AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram.api_url))
