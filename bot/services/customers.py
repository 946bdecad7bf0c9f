"""Customer preferences the customer changes themselves."""

from __future__ import annotations

from bot.settings import SUPPORTED_LANGUAGES
from storage.unit_of_work import Storage


class UnsupportedLanguage(ValueError):
    pass


class CustomerService:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def choose_language(self, customer_id: int, language: str) -> None:
        if language not in SUPPORTED_LANGUAGES:
            raise UnsupportedLanguage(language)
        async with self._storage.write() as uow:
            await uow.customers.set_language(customer_id, language)

    async def keep_start_payload(self, customer_id: int, payload: str) -> bool:
        async with self._storage.write() as uow:
            return await uow.customers.keep_start_payload(customer_id, payload)

    async def known_telegram_ids(self, telegram_ids: frozenset[int]) -> frozenset[int]:
        """Which of these people have a customer record, i.e. have opened the bot."""
        async with self._storage.read() as uow:
            return frozenset(await uow.customers.by_telegram_ids(sorted(telegram_ids)))
