"""Customer preferences the customer changes themselves."""

from __future__ import annotations

from bot.domain.languages import SUPPORTED_LANGUAGES
from bot.services.customer_cache import CustomerCache
from bot.services.languages import effective_language
from storage.clock import utcnow
from storage.models import Customer
from storage.unit_of_work import Storage


class UnsupportedLanguage(ValueError):
    pass


class CustomerService:
    def __init__(self, storage: Storage, cache: CustomerCache | None = None) -> None:
        self._storage = storage
        self._cache = cache or CustomerCache()

    async def choose_language(self, customer: Customer, language: str) -> None:
        if language not in SUPPORTED_LANGUAGES:
            raise UnsupportedLanguage(language)
        async with self._storage.write() as uow:
            await uow.customers.set_language(customer.id, language)
        self._cache.forget(customer.telegram_id)

    async def keep_start_payload(self, customer: Customer, payload: str) -> bool:
        async with self._storage.write() as uow:
            kept = await uow.customers.keep_start_payload(customer.id, payload)
        self._cache.forget(customer.telegram_id)
        return kept

    async def known_telegram_ids(self, telegram_ids: frozenset[int]) -> frozenset[int]:
        """Which of these people have a customer record, i.e. have opened the bot."""
        async with self._storage.read() as uow:
            return frozenset(await uow.customers.by_telegram_ids(sorted(telegram_ids)))

    async def subscribe(self, customer: Customer) -> bool:
        """/subscribe: opt in to promotions, and record that they asked (staff receive
        promotions only then, bot/services/broadcasts/segments.py); True if the consent
        changed (it may have been on already, as it is for everyone by default)."""
        async with self._storage.write() as uow:
            now = utcnow()
            if not customer.consent_promotions:
                await uow.customers.set_promotions_consent(customer.id, True, now)
            await uow.customers.record_promotions_opt_in(customer.id, now)
        self._cache.forget(customer.telegram_id)
        return not customer.consent_promotions

    async def languages_of(self, telegram_ids: frozenset[int], default: str) -> dict[int, str]:
        """The language each of these people reads (staff too: they are customers of the bot
        as well); `default` for those who have never opened it."""
        async with self._storage.read() as uow:
            known = await uow.customers.by_telegram_ids(sorted(telegram_ids))
        return {
            telegram_id: effective_language(
                known[telegram_id].language, known[telegram_id].telegram_language, default
            )
            if telegram_id in known
            else default
            for telegram_id in telegram_ids
        }

    async def set_promotions(self, customer: Customer, consent: bool) -> bool:
        """Opt in to or out of promotions (/stop, Unsubscribe, /subscribe); True if it changed."""
        if customer.consent_promotions == consent:
            return False
        async with self._storage.write() as uow:
            await uow.customers.set_promotions_consent(customer.id, consent, utcnow())
        self._cache.forget(customer.telegram_id)
        return True
