"""Units of work: a transaction (or a read snapshot) with every repository bound to it.

Services open one per operation; repositories never commit, so a service's writes land
together or not at all.

On PostgreSQL write transactions run side by side: one that loses a race raises a
`ConflictError`, and the service method owning it carries `@retry_on_conflict` (both in
storage.conflicts).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from storage.batching import WriteBatcher
from storage.conflicts import retry_on_conflict
from storage.database import Database, Session
from storage.postgres import PostgresDatabase, is_postgres
from storage.repositories import (
    CustomerRepository,
    InteractionRepository,
    ProcessedUpdateRepository,
)
from storage.repositories.access import AuditRepository, RoleRepository
from storage.repositories.analytics import AnalyticsRepository
from storage.repositories.api_tokens import ApiTokenRepository
from storage.repositories.broadcasts import BroadcastRepository
from storage.repositories.campaigns import CampaignRepository
from storage.repositories.erased_ids import ErasedIdRepository
from storage.repositories.faq import FaqRepository
from storage.repositories.fsm import FsmStateRepository
from storage.repositories.idempotency import RequestFingerprintRepository
from storage.repositories.inbox import WebhookInboxRepository
from storage.repositories.loyalty import LedgerRepository, PurchaseRepository
from storage.repositories.operations import OperationsRepository
from storage.repositories.outbox import JobRunRepository, OutboxRepository
from storage.repositories.personal_data import PersonalDataRepository
from storage.repositories.redemptions import RedemptionRepository
from storage.repositories.referrals import ReferralRepository
from storage.repositories.reviews import NpsRepository, ReviewRepository
from storage.repositories.support import SupportRepository

__all__ = ["Storage", "UnitOfWork", "open_storage", "retry_on_conflict"]


class UnitOfWork:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.customers = CustomerRepository(session)
        self.interactions = InteractionRepository(session)
        self.updates = ProcessedUpdateRepository(session)
        self.faq = FaqRepository(session)
        self.roles = RoleRepository(session)
        self.audit = AuditRepository(session)
        self.ledger = LedgerRepository(session)
        self.purchases = PurchaseRepository(session)
        self.referrals = ReferralRepository(session)
        self.erased_ids = ErasedIdRepository(session)
        self.outbox = OutboxRepository(session)
        self.jobs = JobRunRepository(session)
        self.api_tokens = ApiTokenRepository(session)
        self.analytics = AnalyticsRepository(session)
        self.reviews = ReviewRepository(session)
        self.nps = NpsRepository(session)
        self.redemptions = RedemptionRepository(session)
        self.broadcasts = BroadcastRepository(session)
        self.personal_data = PersonalDataRepository(session)
        self.support = SupportRepository(session)
        self.campaigns = CampaignRepository(session)
        self.webhook_inbox = WebhookInboxRepository(session)
        self.fsm = FsmStateRepository(session)
        self.operations = OperationsRepository(session)
        self.requests = RequestFingerprintRepository(session)


class Storage:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.batcher = WriteBatcher(database)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[UnitOfWork]:
        """A write transaction. On PostgreSQL it may raise `ConflictError`: the method that
        opens it carries `@retry_on_conflict` if it reads before it writes (see above)."""
        async with self.database.transaction() as session:
            yield UnitOfWork(session)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[UnitOfWork]:
        async with self.database.snapshot() as session:
            yield UnitOfWork(session)

    async def close(self) -> None:
        await self.batcher.close()
        await self.database.close()


async def open_database(url: str) -> Database:
    """The engine the URL names: PostgreSQL (asyncpg) or an SQLite file (aiosqlite)."""
    if is_postgres(url):
        return await PostgresDatabase.connect(url)
    return await Database.open(url)


async def open_storage(url: str) -> Storage:
    return Storage(await open_database(url))
