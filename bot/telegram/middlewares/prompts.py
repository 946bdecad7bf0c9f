"""A pending question (how many points, a review's comment, a birthday, a sale's amount …)
never swallows the menu: a menu button or a command leaves it and does what it says."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, TelegramObject
from aiogram.utils.i18n import I18n

from bot.i18n import all_translations

# The one command that belongs to the question itself ("… or /cancel").
_ANSWERS_THE_QUESTION = frozenset({"cancel"})


def command_name(text: str) -> str | None:
    """ "/points@my_bot 5" → "points"; None for anything that is not a command."""
    if not text.startswith("/"):
        return None
    return text.split(maxsplit=1)[0].split("@", 1)[0].removeprefix("/").lower()


class LeavePromptMiddleware(BaseMiddleware):
    """An outer middleware of the private chat's router: it runs before any filter, so the
    state filters of every question see the state already cleared. One place instead of a
    check in each question's handlers (which a new question would forget)."""

    def __init__(self, menu_labels: Iterable[str]) -> None:
        self._menu_labels = tuple(menu_labels)  # msgids, matched in every language

    def _leaves_the_question(self, text: str, i18n: I18n | None) -> bool:
        name = command_name(text)
        if name is not None:
            return name not in _ANSWERS_THE_QUESTION
        return i18n is not None and any(
            text in all_translations(i18n, label) for label in self._menu_labels
        )

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        state: FSMContext | None = data.get("state")
        if (
            isinstance(event, Message)
            and event.chat.type == ChatType.PRIVATE
            and event.text is not None
            and state is not None
            and data.get("raw_state") is not None
            and self._leaves_the_question(event.text, data.get("i18n"))
        ):
            await state.clear()
            # StateFilter reads the state resolved before this middleware ran.
            data["raw_state"] = None
        return await handler(event, data)
