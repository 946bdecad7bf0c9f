from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from bot.services.access import Role, RoleService


class RolesMiddleware(BaseMiddleware):
    """Resolves the sender's roles once per update; routers filter on them."""

    def __init__(self, roles: RoleService) -> None:
        self._roles = roles

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        roles = await self._roles.roles_of(user.id) if user is not None else frozenset()
        data["roles"] = roles
        data["is_admin"] = Role.ADMIN in roles
        return await handler(event, data)
