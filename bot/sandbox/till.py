"""The sandbox's till: purchases and refunds through the bot's real HTTP API, with a token the
sandbox creates for itself (as an operator would with `python -m bot api-token create`)."""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from typing import Any

import aiohttp

from bot.services.access import Actor
from bot.services.api_tokens import ApiTokenService, TokenNameTaken
from storage.unit_of_work import Storage

TOKEN_NAME = "sandbox-till"
SANDBOX = Actor("sandbox")


async def create_token(storage: Storage) -> str:
    """A fresh API token named sandbox-till (an older one from the last run is revoked)."""
    tokens = ApiTokenService(storage)
    try:
        return await tokens.create(SANDBOX, TOKEN_NAME)
    except TokenNameTaken:
        await tokens.revoke(SANDBOX, TOKEN_NAME)
        return await tokens.create(SANDBOX, TOKEN_NAME)


class Till:
    """An HTTP client of /api/v1, as a shop's till would be."""

    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url
        self._session = aiohttp.ClientSession(api_url, headers={"Authorization": f"Bearer {token}"})
        self._orders = itertools.count(1)
        self._run = f"{int(time.time()):x}"

    async def close(self) -> None:
        await self._session.close()

    def next_order_id(self) -> str:
        return f"SBX-{self._run}-{next(self._orders)}"

    async def purchase(
        self,
        telegram_id: int,
        amount: str,
        *,
        order_id: str | None = None,
        purchased_at: datetime | None = None,
    ) -> tuple[int, dict[str, Any]]:
        order: dict[str, Any] = {
            "order_id": order_id or self.next_order_id(),
            "telegram_id": telegram_id,
            "amount": amount,
        }
        if purchased_at is not None:
            order["purchased_at"] = purchased_at.isoformat()
        return await self._call("POST", "/api/v1/purchases", order)

    async def refund(self, order_id: str, amount: str | None = None) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"order_id": order_id}
        if amount:
            body["amount"] = amount
        return await self._call("POST", "/api/v1/refunds", body)

    async def customer(self, telegram_id: int) -> tuple[int, dict[str, Any]]:
        return await self._call("GET", f"/api/v1/customers/{telegram_id}", None)

    async def faq_warming_up(self) -> bool:
        """Whether the bot's FAQ model is still loading (its /healthz says)."""
        _, health = await self._call("GET", "/healthz", None)
        return bool(health.get("faq", {}).get("warming_up", False))

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        async with self._session.request(method, path, json=body) as response:
            try:
                document = await response.json(content_type=None)
            except ValueError:
                document = {"error": await response.text()}
            if not isinstance(document, dict):
                document = {"result": document}
            return response.status, document
