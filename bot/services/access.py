"""Roles (who may do what) and the audit trail of privileged actions."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.clock import utcnow
from storage.repositories.access import AuditEntry, RoleGrant
from storage.unit_of_work import Storage, UnitOfWork


class Role(enum.StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    CASHIER = "cashier"


@dataclass(frozen=True)
class Actor:
    """Who does something: a Telegram user, the operator's shell, the HTTP API or the bot."""

    via: str
    telegram_id: int | None = None

    @classmethod
    def telegram(cls, telegram_id: int) -> Actor:
        return cls("telegram", telegram_id)


CLI = Actor("cli")


class AccessDenied(Exception):
    pass


class RoleService:
    # Roles change rarely and are read on every update: a snapshot of the whole (small)
    # table, refreshed after this many seconds or at once after a change in this process.
    REFRESH_SECONDS = 30.0

    def __init__(self, storage: Storage, bootstrap_admins: frozenset[int]) -> None:
        self._storage = storage
        self._bootstrap = bootstrap_admins
        self._snapshot: dict[int, frozenset[Role]] = {}
        self._loaded_at = float("-inf")

    async def roles_of(self, telegram_id: int) -> frozenset[Role]:
        if time.monotonic() - self._loaded_at > self.REFRESH_SECONDS:
            await self._refresh()
        roles = self._snapshot.get(telegram_id, frozenset())
        return roles | {Role.ADMIN} if telegram_id in self._bootstrap else roles

    async def grants(self) -> list[RoleGrant]:
        async with self._storage.read() as uow:
            stored = await uow.roles.all()
        configured = [RoleGrant(admin, Role.ADMIN, None, None) for admin in sorted(self._bootstrap)]
        granted = [
            grant
            for grant in stored
            if not (grant.role == Role.ADMIN and grant.telegram_id in self._bootstrap)
        ]
        return configured + granted

    async def grant(self, actor: Actor, role: Role, telegram_id: int) -> bool:
        await self._require_admin(actor)
        async with self._storage.write() as uow:
            granted = await uow.roles.grant(telegram_id, role, actor.telegram_id, utcnow())
            if granted:
                await audit(uow, actor, "role.grant", f"user:{telegram_id}", None, {"role": role})
        await self._refresh()
        return granted

    async def revoke(self, actor: Actor, role: Role, telegram_id: int) -> bool:
        await self._require_admin(actor)
        if role is Role.ADMIN and telegram_id in self._bootstrap:
            raise AccessDenied("ADMIN_IDS admins are configured, not granted")
        async with self._storage.write() as uow:
            revoked = await uow.roles.revoke(telegram_id, role)
            if revoked:
                await audit(uow, actor, "role.revoke", f"user:{telegram_id}", {"role": role}, None)
        await self._refresh()
        return revoked

    async def record_refusal(self, actor: Actor, what: str) -> None:
        async with self._storage.write() as uow:
            await audit(uow, actor, "refused", what)

    async def _require_admin(self, actor: Actor) -> None:
        # Checked here as well as by the router's filter: the service is the last line.
        if actor.via == "telegram" and (
            actor.telegram_id is None or Role.ADMIN not in await self.roles_of(actor.telegram_id)
        ):
            raise AccessDenied("only admins manage roles")

    async def _refresh(self) -> None:
        async with self._storage.read() as uow:
            grants = await uow.roles.all()
        snapshot: dict[int, set[Role]] = {}
        for grant in grants:
            snapshot.setdefault(grant.telegram_id, set()).add(Role(grant.role))
        self._snapshot = {user: frozenset(roles) for user, roles in snapshot.items()}
        self._loaded_at = time.monotonic()


async def audit(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    subject: str | None = None,
    before: Any = None,
    after: Any = None,
) -> None:
    """Record a privileged action inside the transaction that performs it."""
    await uow.audit.record(
        at=utcnow(),
        actor=actor.telegram_id,
        via=actor.via,
        action=action,
        subject=subject,
        before=before,
        after=after,
    )


class AuditLog:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def find(
        self, since: datetime | None = None, actor: int | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        async with self._storage.read() as uow:
            return await uow.audit.find(since, actor, limit)
