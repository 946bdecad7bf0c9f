"""Delivers queued notices: in order, in each customer's language, each at most once.

The worker polls the outbox (cheap: a partial index holds only pending rows), so notices
queued by another process, such as the operator CLI, go out too. A notice is marked sent
only after Telegram accepted it; a crash in between sends it again at the next start, which
is the safer side for "you earned points" messages.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
)
from aiogram.utils.i18n import I18n

from bot.background import PollingLoop
from bot.services.languages import effective_language
from bot.services.loyalty.rules import LoyaltyRules
from bot.telegram.notices import RenderContext, Renderer
from storage.clock import utcnow
from storage.repositories.outbox import Notice, OutboxRepository
from storage.unit_of_work import Storage

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# How long a claimed notice is left to its claimer before another process may send it:
# far longer than a pass takes, short enough that a crash delays a notice only a little.
CLAIM_LEASE = timedelta(minutes=2)


class NoticeWorker(PollingLoop):
    def __init__(
        self,
        storage: Storage,
        bot: Bot,
        i18n: I18n,
        rules: LoyaltyRules,
        renderers: dict[str, Renderer],
        default_language: str,
        poll_seconds: float = 1.0,
    ) -> None:
        self._storage = storage
        self._bot = bot
        self._i18n = i18n
        self._rules = rules
        self._renderers = renderers
        self._default_language = default_language
        super().__init__("notice worker", poll_seconds)

    async def pass_once(self) -> bool:
        return await self.deliver_due() > 0

    async def deliver_due(self, limit: int = 50) -> int:
        async with self._storage.read() as uow:
            anything_due = bool(await uow.outbox.due(utcnow(), 1))
        if not anything_due:  # the common case costs a read, not a write transaction
            return 0
        # Claimed in a write transaction, so of several bot processes sharing the database
        # (PostgreSQL) only one sends each notice; see OutboxRepository.claim_due.
        async with self._storage.write() as uow:
            notices = await uow.outbox.claim_due(utcnow(), CLAIM_LEASE, limit)
        for notice in notices:
            await self._deliver(notice)
        # Outcomes go through the group-commit batcher; the next read must see them.
        await self._storage.batcher.barrier()
        return len(notices)

    async def _deliver(self, notice: Notice) -> None:
        if notice.telegram_id is None:
            self._settle(notice, "failed", "customer forgotten")
            return
        renderer = self._renderers.get(notice.kind)
        if renderer is None:
            self._settle(notice, "failed", f"no renderer for {notice.kind!r}")
            logger.error("no renderer for notice kind %r", notice.kind)
            return
        language = effective_language(
            notice.language, notice.telegram_language, self._default_language
        )
        with self._i18n.context(), self._i18n.use_locale(language):
            rendered = renderer(notice.payload, RenderContext(language, self._rules))
        try:
            await self._bot.send_message(
                notice.telegram_id, rendered.text, reply_markup=rendered.reply_markup
            )
        except TelegramForbiddenError:
            self._settle(notice, "failed", "blocked")
        except (TelegramBadRequest, TelegramNotFound) as error:
            self._settle(notice, "failed", str(error)[:200])
        except (TelegramNetworkError, TelegramAPIError) as error:
            # Already retried by the session's retry middleware: wait longer before the next go.
            if notice.attempts + 1 >= MAX_ATTEMPTS:
                self._settle(notice, "failed", str(error)[:200])
            else:
                delay = timedelta(seconds=min(600, 5 * 2**notice.attempts))
                async with self._storage.write() as uow:
                    await uow.outbox.retry_later(notice.id, utcnow() + delay, str(error)[:200])
        else:
            self._settle(notice, "sent", None)

    def _settle(self, notice: Notice, state: str, error: str | None) -> None:
        self._storage.batcher.write_soon(OutboxRepository.settle(notice.id, state, utcnow(), error))
