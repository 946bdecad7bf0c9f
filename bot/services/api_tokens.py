"""Tokens for the integration API: shown once when created, then known only by their hash."""

from __future__ import annotations

import hashlib
import secrets
import time

from bot.services.access import Actor, audit
from storage.clock import utcnow
from storage.repositories.api_tokens import ActiveToken, ApiToken
from storage.unit_of_work import Storage

TOKEN_PREFIX = "lsb_"

# What a token may be allowed, one scope per kind of effect. A till needs the first three;
# moving points by hand is granted on purpose.
SCOPES = ("purchases", "refunds", "customers:read", "points:adjust")
DEFAULT_SCOPES = ("purchases", "refunds", "customers:read")


class TokenNameTaken(Exception):
    pass


class UnknownScope(Exception):
    def __init__(self, scope: str) -> None:
        super().__init__(f"unknown scope {scope!r}; the scopes are {', '.join(SCOPES)}")
        self.scope = scope


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
        self._verified: dict[str, tuple[ActiveToken, float]] = {}

    async def create(
        self, actor: Actor, name: str, scopes: tuple[str, ...] = DEFAULT_SCOPES
    ) -> str:
        """A new token allowed `scopes` (raises UnknownScope for one not in SCOPES)."""
        for scope in scopes:
            if scope not in SCOPES:
                raise UnknownScope(scope)
        granted = tuple(scope for scope in SCOPES if scope in scopes)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self._storage.write() as uow:
            created = await uow.api_tokens.add(
                name, hash_token(token), token[:10], utcnow(), granted
            )
            if created is None:
                raise TokenNameTaken(f"an active token is already named {name!r}")
            await audit(
                uow, actor, "api_token.create", f"api_token:{name}", None, {"scopes": granted}
            )
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

    async def verify(self, token: str) -> ActiveToken | None:
        """The token's name and scopes when it is valid and not revoked."""
        digest = hash_token(token)
        cached = self._verified.get(digest)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self._storage.read() as uow:
            active = await uow.api_tokens.active(digest)
        if active is None:
            self._verified.pop(digest, None)
            return None
        if cached is None:
            # Last use is bookkeeping: recorded when a token is first seen, not per request.
            async with self._storage.write() as uow:
                await uow.api_tokens.touch(active.name, utcnow())
        self._verified[digest] = (active, now + self.CACHE_SECONDS)
        return active
