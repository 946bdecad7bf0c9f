"""A customer's data rights: a copy of everything held about them, and being forgotten."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from bot.services.access import Actor, audit
from bot.services.customer_cache import CustomerCache
from bot.services.erased_ids import remember_erased
from bot.services.privacy.sections import DataSection, audit_subject
from storage.clock import utcnow
from storage.models import Customer
from storage.unit_of_work import Storage

logger = logging.getLogger(__name__)

# A customer acting on their own data. Their Telegram id is not written into the audit
# trail: it would outlive their erasure there.
THE_CUSTOMER = Actor("customer")

EXPORT_FORMAT = "loyalty-bot/customer-data/1"


class AlreadyForgotten(Exception):
    pass


class PrivacyService:
    def __init__(
        self,
        storage: Storage,
        sections: Sequence[DataSection],
        cache: CustomerCache | None = None,
    ) -> None:
        self._storage = storage
        self._sections = tuple(sections)
        self._cache = cache or CustomerCache()

    async def find(self, telegram_id: int) -> Customer | None:
        async with self._storage.read() as uow:
            return await uow.customers.by_telegram_id(telegram_id)

    async def export(self, actor: Actor, customer: Customer) -> dict[str, Any]:
        """Everything held about the customer, as one JSON-ready document. Audited."""
        now = utcnow()
        async with self._storage.write() as uow:
            current = await uow.customers.by_id(customer.id)
            if current is None or current.forgotten_at is not None:
                raise AlreadyForgotten(customer.id)
            document: dict[str, Any] = {"format": EXPORT_FORMAT, "exported_at": now.isoformat()}
            for section in self._sections:
                document[section.name] = await section.export(uow, current)
            await audit(
                uow,
                actor,
                "data.export",
                audit_subject(current),
                after={"sections": [section.name for section in self._sections]},
            )
        return document

    async def forget(self, actor: Actor, customer: Customer) -> dict[str, int]:
        """Erase the customer's personal data, keeping anonymous amounts and counts.
        Audited with counts only. Raises AlreadyForgotten on a second attempt."""
        now = utcnow()
        async with self._storage.write() as uow:
            current = await uow.customers.by_id(customer.id)
            if current is None or current.forgotten_at is not None:
                raise AlreadyForgotten(customer.id)
            if current.telegram_id is not None:
                # So that coming back does not pay the one-off bonuses again.
                await remember_erased(uow, current.telegram_id, now)
            counts = {
                section.name: await section.forget(uow, current, now)
                for section in reversed(self._sections)
            }
            await audit(uow, actor, "data.forget", audit_subject(current), after=counts)
        self._cache.forget(customer.telegram_id)
        # The old versions of the erased pages live on in the WAL until a checkpoint; with
        # secure_delete the main file keeps no copy once they are folded back.
        if not await self._storage.database.checkpoint():
            logger.warning(
                "after erasing customer #%s the WAL could not be emptied yet", customer.id
            )
        return counts
