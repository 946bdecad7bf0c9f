"""Messages the bot starts itself (points earned, tier up, reminders), sent from the outbox.

A service decides to tell a customer something inside its transaction by queueing a notice
(kind + JSON payload); the worker renders it in the customer's language when it is sent.
Each feature registers the renderers for its kinds in `RENDERERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiogram.types import InlineKeyboardMarkup

from bot.services.loyalty.rules import LoyaltyRules


@dataclass(frozen=True)
class RenderContext:
    language: str
    rules: LoyaltyRules


@dataclass(frozen=True)
class RenderedNotice:
    text: str
    reply_markup: InlineKeyboardMarkup | None = None


Renderer = Callable[[dict[str, Any], RenderContext], RenderedNotice]
