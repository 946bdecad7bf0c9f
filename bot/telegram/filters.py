from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from magic_filter import MagicFilter

from bot.i18n import all_translations
from bot.services.access import Role


class Check(Filter):
    """A magic filter (`F...`) evaluated in the event loop.

    aiogram runs any synchronous filter, bare magic filters included, in a worker thread
    (`asyncio.to_thread`); for a check that takes a microsecond the hop costs a hundred
    times more and capped throughput measurably (benchmarks/updates.py).
    """

    def __init__(self, rule: MagicFilter) -> None:
        self._rule = rule

    async def __call__(self, event: Any) -> bool:
        return bool(self._rule.resolve(event))


class PrivateChat(Filter):
    """Messages in a customer's private chat with the bot (not the agents' group)."""

    async def __call__(self, message: Message) -> bool:
        return message.chat.type == ChatType.PRIVATE


PRIVATE_CHAT = PrivateChat()


class IsAdmin(Filter):
    """Passes for admins; `is_admin` is resolved once per update by RolesMiddleware."""

    async def __call__(self, event: object, is_admin: bool = False) -> bool:
        return is_admin


class MenuButton(Filter):
    """A press of a reply-keyboard button, recognised in any of the bot's languages."""

    def __init__(self, label_msgid: str) -> None:
        self._msgid = label_msgid

    async def __call__(self, message: Message, i18n: I18n) -> bool:
        return message.text is not None and message.text in all_translations(i18n, self._msgid)


class CommandButtonOrAnswer(Filter):
    """Anything but free text typed with no question pending: a command, a reply-keyboard
    button (in any language), an answer while the bot waits for one (a state is set), or a
    message without text (a contact, a photo). On a router whose handlers take only these,
    free text (most updates: questions for the FAQ) skips the router and all it includes in
    one check instead of being tried against each handler."""

    def __init__(self, button_labels: Iterable[str]) -> None:
        self._labels = tuple(button_labels)  # msgids, matched in every language

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    async def __call__(self, message: Message, i18n: I18n, raw_state: str | None = None) -> bool:
        text = message.text
        if text is None or text.startswith("/") or raw_state is not None:
            return True
        return any(text in all_translations(i18n, label) for label in self._labels)


class HasRole(Filter):
    """Passes for holders of a role (admins hold every role); `roles` comes from
    RolesMiddleware. Put it on a router, not on each handler."""

    def __init__(self, role: Role) -> None:
        self._role = role

    async def __call__(self, event: object, roles: frozenset[Role] = frozenset()) -> bool:
        return self._role in roles or Role.ADMIN in roles
