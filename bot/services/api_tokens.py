"""Tokens for the integration API: shown once when created, then known only by their hash."""

from __future__ import annotations

import hashlib
import secrets
import time

from bot.services.access import Actor, audit
from storage.clock import utcnow
from storage.repositories.api_tokens import ApiToken
from storage.unit_of_work import Storage

TOKEN_PREFIX = "lsb_"


class TokenNameTaken(Exception):
    pass


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a plain SHA-256 cannot be brute-forced; a slow password
    # hash would only cost every API request its time.
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokenService:
    # A verified token is trusted this long before the database is asked again: a revoked
    # token stops working within this many seconds in a running bot.
    CACHE_SECONDS = 5.0

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._verified: dict[str, tuple[str, float]] = {}

    async def create(self, actor: Actor, name: str) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self._storage.write() as uow:
            created = await uow.api_tokens.add(name, hash_token(token), token[:10], utcnow())
            if created is None:
                raise TokenNameTaken(f"an active token is already named {name!r}")
            await audit(uow, actor, "api_token.create", f"api_token:{name}")
        return token

    async def revoke(self, actor: Actor, name: str) -> bool:
        async with self._storage.write() as uow:
            revoked = await uow.api_tokens.revoke(name, utcnow())
            if revoked:
                await audit(uow, actor, "api_token.revoke", f"api_token:{name}")
        self._verified.clear()
        return revoked

    async def all(self) -> list[ApiToken]:
        async with self._storage.read() as uow:
            return await uow.api_tokens.all()

    async def verify(self, token: str) -> str | None:
        """The token's name when it is valid and not revoked."""
        digest = hash_token(token)
        cached = self._verified.get(digest)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self._storage.read() as uow:
            name = await uow.api_tokens.active_name(digest)
        if name is None:
            self._verified.pop(digest, None)
            return None
        if cached is None:
            # Last use is bookkeeping: recorded when a token is first seen, not per request.
            async with self._storage.write() as uow:
                await uow.api_tokens.touch(name, utcnow())
        self._verified[digest] = (name, now + self.CACHE_SECONDS)
        return name
