"""The birthday bonus: `birthday_bonus` points once a year, on the customer's birthday in
the business's calendar. Customers born on 29 February celebrate on 28 February in other
years (the last day of their month, as most civil rules do).

The credit's idempotency key `birthday:<customer>:<year>` makes a resumed or repeated run,
or a birthday changed to a later date in the same year, give nothing twice.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, datetime

from bot.services.loyalty.expiry import ByCampaign, is_reachable
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.rules import LoyaltyRules
from storage.clock import utcnow
from storage.models import Customer
from storage.unit_of_work import Storage


def birthdays_on(day: date) -> list[str]:
    """The 'MM-DD' birthdays celebrated on `day`."""
    month_days = [f"{day:%m-%d}"]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        month_days.append("02-29")
    return month_days


class BirthdayBonus:
    def __init__(
        self,
        storage: Storage,
        rules: LoyaltyRules,
        ledger: PointsLedger,
        clock: Callable[[], datetime] = utcnow,
        greeted_by_campaign: ByCampaign | None = None,
    ) -> None:
        self._storage = storage
        self._rules = rules
        self._ledger = ledger
        self._clock = clock
        self._by_campaign = greeted_by_campaign

    async def grant(self, day: date) -> dict[str, int]:
        points = self._rules.birthday_bonus
        if not points:
            return {"customers": 0, "points": 0}
        async with self._storage.read() as uow:
            customers = [
                customer
                for month_day in birthdays_on(day)
                for customer in await uow.customers.with_birthday(month_day)
            ]
        granted = 0
        for customer in customers:
            granted += await self._grant_one(customer, points, day.year)
        return {"customers": granted, "points": granted * points}

    async def _grant_one(self, customer: Customer, points: int, year: int) -> int:
        now = self._clock()
        key = f"birthday:{customer.id}:{year}"
        async with self._storage.write() as uow:
            entry = await self._ledger.credit(
                uow, customer.id, points, "birthday", at=now, source=f"birthday:{year}", key=key
            )
            if entry is None:
                return 0
            # The points are the customer's even while the bot cannot reach them; the
            # greeting is only queued for a chat that can receive it.
            # The birthday campaign greets those who accept promotions, naming the bonus.
            by_campaign = self._by_campaign is not None and await self._by_campaign(
                uow, customer.id
            )
            if is_reachable(await uow.customers.by_id(customer.id)) and not by_campaign:
                await uow.outbox.add(
                    customer.id,
                    "birthday_bonus",
                    {"points": points, "balance": await uow.ledger.balance(customer.id)},
                    now,
                    dedupe_key=key,
                )
        return 1
