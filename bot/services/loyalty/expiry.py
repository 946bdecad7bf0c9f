"""Points that burn: the daily expiry of lots and the reminders sent before it.

Both are daily jobs (bot/jobs) and both are idempotent, so a run resumed after a crash, or
run again by an operator, never burns or reminds twice:
- each lot is burnt by one debit keyed `expire:<lot id>` that consumes exactly that lot;
- a customer hears of a day's expiry once (outbox dedupe key `expired:<customer>:<day>`) and
  of each date points will burn on once (`remind:<customer>:<date>`).

A lot burns at the first run at or after its `expires_at`, never before; reminders name the
local date of `expires_at`, so the promise "300 points burn on 1 Dec" errs on the side of
the customer by at most a few hours.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from bot.jobs.scheduler import day_bounds
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.rules import LoyaltyRules
from storage.clock import utcnow
from storage.models import Customer
from storage.unit_of_work import Storage, UnitOfWork

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Reminders are queued this many to a transaction, so a large run never holds the write
# lock long enough to delay customers' updates.
_BATCH = 200

# "This customer hears of it from a campaign" (bot/services/campaigns.py): then no notice.
ByCampaign = Callable[[UnitOfWork, int], Awaitable[bool]]


async def burning_lots(
    uow: UnitOfWork, now: datetime, window_end: datetime, zone: ZoneInfo
) -> dict[tuple[int, date], int]:
    """Points left in lots burning in (now, window_end], per customer and local burn date."""
    burning: dict[tuple[int, date], int] = defaultdict(int)
    for lot in await uow.ledger.lots_expiring(now, window_end):
        assert lot.expires_at is not None
        burning[lot.customer_id, lot.expires_at.astimezone(zone).date()] += lot.remaining
    return burning


def is_reachable(customer: Customer | None) -> bool:
    """Worth a message: not forgotten (erased) and not known to have blocked the bot."""
    return customer is not None and customer.telegram_id is not None and customer.reachable


class PointsExpiry:
    def __init__(
        self,
        storage: Storage,
        rules: LoyaltyRules,
        ledger: PointsLedger,
        zone: ZoneInfo,
        clock: Callable[[], datetime] = utcnow,
        reminded_by_campaign: ByCampaign | None = None,
    ) -> None:
        self._storage = storage
        self._rules = rules
        self._ledger = ledger
        self._zone = zone
        self._clock = clock
        self._by_campaign = reminded_by_campaign

    async def expire(self, day: date) -> dict[str, int]:
        """Burn every lot due by now (for a past `day`: by the end of that day), each by a
        debit of exactly its remainder, and tell each customer once how much burnt."""
        now = self._clock()
        cutoff = min(now, day_bounds(day, self._zone)[1])
        async with self._storage.read() as uow:
            due = await uow.ledger.lots_expiring(EPOCH, cutoff)
        burnt_total = 0
        customers = 0
        for customer_id in sorted({lot.customer_id for lot in due}):
            burnt = await self._expire_customer(customer_id, cutoff, now, day)
            burnt_total += burnt
            customers += 1 if burnt else 0
        return {"customers": customers, "points": burnt_total}

    async def _expire_customer(
        self, customer_id: int, cutoff: datetime, now: datetime, day: date
    ) -> int:
        async with self._storage.write() as uow:
            # Read again inside the transaction: a spend since the snapshot may have used
            # part of a lot, and only what is left of it burns.
            lots = [
                lot
                for lot in await uow.ledger.open_lots(customer_id)
                if lot.expires_at is not None and lot.expires_at < cutoff
            ]
            burnt = 0
            for lot in lots:
                debit = await self._ledger.debit(
                    uow,
                    customer_id,
                    lot.remaining,
                    "expire",
                    at=now,
                    source=f"lot:{lot.id}",
                    key=f"expire:{lot.id}",
                    lots=[lot],
                )
                burnt += debit.taken
            if burnt and is_reachable(await uow.customers.by_id(customer_id)):
                await uow.outbox.add(
                    customer_id,
                    "points_expired",
                    {"points": burnt, "balance": await uow.ledger.balance(customer_id)},
                    now,
                    dedupe_key=f"expired:{customer_id}:{day.isoformat()}",
                )
        return burnt

    async def remind(self, day: date) -> dict[str, int]:
        """Remind of points burning within `expiry.remind_days_before` days after `day`:
        one reminder per customer and expiry date, however many runs see that date."""
        days_before = self._rules.expiry.remind_days_before
        if not days_before or not self._rules.expiry.days:
            return {"reminders": 0}
        now = self._clock()
        window_end = day_bounds(day + timedelta(days=days_before), self._zone)[1]
        async with self._storage.read() as uow:
            burning = await burning_lots(uow, now, window_end, self._zone)
        queued = 0
        items = iter(sorted(burning.items()))
        while batch := list(islice(items, _BATCH)):
            queued += await self._queue_reminders(batch, now)
        return {"reminders": queued}

    async def _queue_reminders(
        self, batch: Iterable[tuple[tuple[int, date], int]], now: datetime
    ) -> int:
        queued = 0
        reachable: dict[int, bool] = {}
        async with self._storage.write() as uow:
            for (customer_id, burns_on), points in batch:
                if customer_id not in reachable:
                    reachable[customer_id] = is_reachable(
                        await uow.customers.by_id(customer_id)
                    ) and not (
                        # The expiry campaign reminds those who accept promotions.
                        self._by_campaign is not None and await self._by_campaign(uow, customer_id)
                    )
                if not reachable[customer_id]:
                    continue
                if await uow.outbox.add(
                    customer_id,
                    "points_expiring",
                    {"points": points, "date": burns_on.isoformat()},
                    now,
                    dedupe_key=f"remind:{customer_id}:{burns_on.isoformat()}",
                ):
                    queued += 1
        return queued
