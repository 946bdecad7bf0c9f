"""Automated campaigns: messages the bot sends on its own when a customer's situation calls
for one, each switched on or off in the settings (CAMPAIGN_*).

- birthday: a greeting on the customer's birthday, with the birthday bonus it brings;
  once a year.
- reactivation: "we miss you" after CAMPAIGN_REACTIVATION_DAYS without a purchase (since
  joining for those who never bought: the `inactive>=Nd` segment); once per inactivity
  spell, i.e. per last purchase.
- expiry: "N points burn on DATE" `expiry.remind_days_before` days ahead (the loyalty
  rules); once per burn date.
- welcome: a follow-up CAMPAIGN_WELCOME_HOURS after the customer first came to the bot;
  once.

A run only decides who is due and queues them, as one broadcast per run, keyed
(campaign, customer, period) in `campaign_deliveries`; the broadcast worker delivers it, so
quiet hours, opt-outs, unreachable customers, the rate limits and crash recovery all apply
exactly as to an admin's broadcast, and each message lands in the customer's interactions.

Campaign messages are promotions: a customer who opted out gets none. The birthday bonus
and expiry reminders also exist as account notices (the outbox); one event never gives two
messages: while a campaign is on, a customer who accepts promotions hears of it from the
campaign, and one who opted out gets the plain account notice instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.jobs.scheduler import day_bounds
from bot.services.broadcasts.segments import SegmentContext, compile_segment
from bot.services.loyalty.birthdays import birthdays_on
from bot.services.loyalty.expiry import burning_lots
from bot.services.loyalty.rules import LoyaltyRules
from storage.clock import utcnow
from storage.repositories.campaigns import CampaignItem
from storage.unit_of_work import Storage, UnitOfWork

BIRTHDAY = "birthday"
REACTIVATION = "reactivation"
EXPIRY = "expiry"
WELCOME = "welcome"
CAMPAIGNS = (BIRTHDAY, REACTIVATION, EXPIRY, WELCOME)
# A welcome follow-up is sent to those who joined within this long before it fell due: a
# bot switched on (or the campaign enabled) later does not greet its whole history.
WELCOME_WINDOW = timedelta(days=7)
# Items queued per transaction, so a large run never holds the write lock for long.
_BATCH = 500


@dataclass(frozen=True)
class CampaignSettings:
    birthday: bool = False
    reactivation_days: int = 0  # 0: off
    expiry: bool = False
    welcome_hours: float = 0.0  # 0: off

    def enabled(self, campaign: str) -> bool:
        return {
            BIRTHDAY: self.birthday,
            REACTIVATION: self.reactivation_days > 0,
            EXPIRY: self.expiry,
            WELCOME: self.welcome_hours > 0,
        }[campaign]


class Campaigns:
    def __init__(
        self,
        storage: Storage,
        settings: CampaignSettings,
        rules: LoyaltyRules,
        zone: ZoneInfo,
        default_language: str,
        clock: Callable[[], datetime] = utcnow,
        on_queued: Callable[[], None] | None = None,
        staff: frozenset[int] = frozenset(),
    ) -> None:
        """``staff``: the configured admins, left out of the reactivation segment (as of
        every segment) unless they opted in."""
        self._storage = storage
        self._staff = staff
        self.settings = settings
        self._rules = rules
        self._zone = zone
        self._default_language = default_language
        self._clock = clock
        self._on_queued = on_queued

    # Who hears of an account event from a campaign instead of an outbox notice.

    async def greets_birthday(self, uow: UnitOfWork, customer_id: int) -> bool:
        return self.settings.birthday and bool(await uow.campaigns.consenting([customer_id]))

    async def reminds_expiry(self, uow: UnitOfWork, customer_id: int) -> bool:
        return self.settings.expiry and bool(await uow.campaigns.consenting([customer_id]))

    # The runs (scheduled in bot/jobs/catalogue.py)

    async def birthday(self, day: date) -> dict[str, Any]:
        """Greet everyone whose birthday is `day`, naming the bonus the birthday job gave."""
        async with self._storage.read() as uow:
            customers = [
                customer.id
                for month_day in birthdays_on(day)
                for customer in await uow.customers.with_birthday(month_day)
            ]
            told = await uow.campaigns.notified([f"birthday:{c}:{day.year}" for c in customers])
            items = []
            for customer_id in customers:
                if f"birthday:{customer_id}:{day.year}" in told:
                    continue  # the bonus notice went out (the campaign was off then)
                bonus = await uow.ledger.by_key(f"birthday:{customer_id}:{day.year}")
                payload: dict[str, Any] = {"points": bonus.delta if bonus else 0}
                payload["balance"] = await uow.ledger.balance(customer_id)
                items.append(CampaignItem(customer_id, str(day.year), payload))
        return await self._queue(BIRTHDAY, items)

    async def reactivation(self, day: date) -> dict[str, Any]:
        days = self.settings.reactivation_days
        now = self._clock()
        compiled = compile_segment(
            f"inactive>={days}d",
            SegmentContext(now, self._zone, self._default_language, staff=self._staff),
        )
        async with self._storage.read() as uow:
            customers = await uow.campaigns.customers_where(compiled.sql, compiled.params)
            since = await uow.campaigns.last_activity(customers)
            items = [
                CampaignItem(
                    customer_id,
                    since[customer_id],
                    {"days": days, "balance": await uow.ledger.balance(customer_id)},
                )
                for customer_id in customers
                if customer_id in since
            ]
        return await self._queue(REACTIVATION, items)

    async def expiry(self, day: date) -> dict[str, Any]:
        """The same reminders, over the same window, as the expiry-reminders job."""
        days_before = self._rules.expiry.remind_days_before
        if not days_before or not self._rules.expiry.days:
            return {"queued": 0, "broadcasts": []}
        now = self._clock()
        window_end = day_bounds(day + timedelta(days=days_before), self._zone)[1]
        async with self._storage.read() as uow:
            burning = await burning_lots(uow, now, window_end, self._zone)
            # Reminded by an account notice before the campaign was switched on: not again.
            told = await uow.campaigns.notified(
                [f"remind:{c}:{burns_on.isoformat()}" for c, burns_on in burning]
            )
        items = [
            CampaignItem(
                customer_id,
                burns_on.isoformat(),
                {"points": points, "date": burns_on.isoformat()},
            )
            for (customer_id, burns_on), points in sorted(burning.items())
            if f"remind:{customer_id}:{burns_on.isoformat()}" not in told
        ]
        return await self._queue(EXPIRY, items)

    async def welcome(self, now: datetime) -> None:
        """A periodic job: follow up everyone whose first visit is WELCOME_HOURS old."""
        due_before = now - timedelta(hours=self.settings.welcome_hours)
        async with self._storage.read() as uow:
            customers = await uow.campaigns.joined_between(due_before - WELCOME_WINDOW, due_before)
        await self._queue(WELCOME, [CampaignItem(customer_id, "once") for customer_id in customers])

    async def _queue(self, campaign: str, items: list[CampaignItem]) -> dict[str, Any]:
        """Queue who is due (a few hundred per transaction); the run's figures, with the
        broadcasts it made (for `python -m bot broadcast status ID`)."""
        queued = 0
        broadcasts: list[int] = []
        now = self._clock()
        for start in range(0, len(items), _BATCH):
            async with self._storage.write() as uow:
                broadcast_id, count = await uow.campaigns.enqueue(
                    campaign, items[start : start + _BATCH], now
                )
            queued += count
            if broadcast_id is not None:
                broadcasts.append(broadcast_id)
        if queued and self._on_queued is not None:
            self._on_queued()
        return {"queued": queued, "broadcasts": broadcasts}
