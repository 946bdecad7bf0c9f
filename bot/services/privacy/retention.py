"""Retention: the texts of conversations are kept for INTERACTION_RETENTION_DAYS, then
blanked by a daily job. The rows stay (when, which way, what kind), so counts and the
shape of a customer's history survive; only what was written goes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from storage.clock import utcnow
from storage.unit_of_work import Storage

# Rows blanked per transaction: short transactions keep the bot's own writes flowing.
BATCH = 500


class TextRetention:
    def __init__(self, storage: Storage, days: int, clock: Callable[[], datetime] = utcnow) -> None:
        if days <= 0:
            raise ValueError("retention needs a positive number of days (0 keeps texts forever)")
        self._storage = storage
        self._days = days
        self._clock = clock

    async def blank_old_texts(self, _day: date | None = None) -> dict[str, int]:
        cutoff = self._clock() - timedelta(days=self._days)
        interactions = faq = 0
        while True:
            async with self._storage.write() as uow:
                changed = await uow.personal_data.blank_old_interaction_texts(cutoff, BATCH)
            interactions += changed
            if changed < BATCH:
                break
        while True:
            async with self._storage.write() as uow:
                changed = await uow.personal_data.blank_old_faq_texts(cutoff, BATCH)
            faq += changed
            if changed < BATCH:
                break
        if interactions or faq:
            await self._storage.database.checkpoint()
        return {"interactions": interactions, "faq_questions": faq}
