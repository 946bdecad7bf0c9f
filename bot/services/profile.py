"""What a customer tells us about themselves, and what they agree to: phone, birthday,
consents. Each change is the customer's own, made in /profile."""

from __future__ import annotations

import re
from datetime import date

from bot.services.customer_cache import CustomerCache
from storage.clock import utcnow
from storage.models import Customer
from storage.unit_of_work import Storage

_BIRTHDAY = re.compile(r"^\s*(\d{1,2})\s*[./-]\s*(\d{1,2})\s*$")


def parse_birthday(text: str) -> str | None:
    """'DD.MM' (also D.M, DD/MM, DD-MM) as stored: 'MM-DD'; None when it is no real date.
    29.02 is a birthday too (celebrated on 28.02 in other years)."""
    match = _BIRTHDAY.match(text)
    if match is None:
        return None
    day, month = int(match.group(1)), int(match.group(2))
    try:
        date(2000, month, day)  # a leap year: 29.02 is valid
    except ValueError:
        return None
    return f"{month:02d}-{day:02d}"


def shown_birthday(stored: str) -> str:
    """'MM-DD' back as 'DD.MM'."""
    month, day = stored.split("-")
    return f"{day}.{month}"


def normalise_phone(phone: str) -> str:
    """Telegram sends the number with or without '+', sometimes with spaces."""
    digits = re.sub(r"\D", "", phone)
    return f"+{digits}"


class ProfileService:
    def __init__(self, storage: Storage, cache: CustomerCache | None = None) -> None:
        self._storage = storage
        self._cache = cache or CustomerCache()

    async def current(self, customer: Customer) -> Customer:
        """The customer as stored now (the update's copy may predate a change)."""
        async with self._storage.read() as uow:
            found = await uow.customers.by_id(customer.id)
        return found or customer

    async def set_consent(self, customer: Customer, kind: str, value: bool) -> Customer | None:
        """Set (not toggle) one consent, so a repeated press changes nothing. Returns the
        customer as changed, or None when the consent already had that value."""
        async with self._storage.write() as uow:
            current = await uow.customers.by_id(customer.id)
            assert current is not None
            promotions = value if kind == "promotions" else current.consent_promotions
            surveys = value if kind == "surveys" else current.consent_surveys
            if (promotions, surveys) == (current.consent_promotions, current.consent_surveys):
                return None
            await uow.customers.set_consents(
                customer.id, promotions=promotions, surveys=surveys, at=utcnow()
            )
            updated = await uow.customers.by_id(customer.id)
        self._cache.forget(customer.telegram_id)
        return updated

    async def set_phone(self, customer: Customer, phone: str | None) -> None:
        async with self._storage.write() as uow:
            await uow.customers.set_phone(customer.id, normalise_phone(phone) if phone else None)
        self._cache.forget(customer.telegram_id)

    async def set_birthday(self, customer: Customer, month_day: str | None) -> None:
        async with self._storage.write() as uow:
            await uow.customers.set_birthday(customer.id, month_day)
        self._cache.forget(customer.telegram_id)
