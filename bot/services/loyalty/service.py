"""What customers, cashiers and admins ask of the loyalty programme, outside purchases."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from bot.services.access import Actor, audit
from bot.services.erased_ids import was_erased
from bot.services.loyalty.idempotency import RequestConflict, bind_key, fingerprint
from bot.services.loyalty.ledger import InsufficientPoints, PointsLedger
from bot.services.loyalty.purchases import TIER_WINDOW
from bot.services.loyalty.rules import LoyaltyRules, Tier
from storage.clock import utcnow
from storage.conflicts import retry_on_conflict
from storage.models import Customer
from storage.repositories.loyalty import PointsEntry
from storage.repositories.referrals import ReferralStats
from storage.unit_of_work import Storage, UnitOfWork

# Referral codes avoid look-alike characters: people retype them from screenshots.
_REFERRAL_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
# Deep-link payloads (t.me/<bot>?start=<payload>): an invitation, and a customer's card as
# its QR code carries it to a cashier's phone.
REFERRAL_PREFIX = "r-"
CARD_PREFIX = "card_"


@dataclass(frozen=True)
class ExpiringPoints:
    points: int
    expires_at: datetime


@dataclass(frozen=True)
class PointsSummary:
    balance: int
    tier: Tier
    next_tier: Tier | None
    spend_minor: int  # the rolling 12-month spend the tier is computed from
    expiring: list[ExpiringPoints]  # within EXPIRING_SOON, the soonest first
    movements: list[PointsEntry]  # latest first

    @property
    def spend_to_next_minor(self) -> int | None:
        """What is still to spend (minor units) to reach the next tier; None at the top."""
        if self.next_tier is None:
            return None
        return max(0, _minor(self.next_tier.spend) - self.spend_minor)

    @property
    def tier_progress(self) -> float:
        """How far from the current tier's threshold to the next one, 0.0 to 1.0 (1.0 at
        the top tier)."""
        if self.next_tier is None:
            return 1.0
        start, end = _minor(self.tier.spend), _minor(self.next_tier.spend)
        return min(1.0, max(0.0, (self.spend_minor - start) / (end - start)))


def _minor(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


@dataclass(frozen=True)
class Adjustment:
    balance_before: int
    balance_after: int
    replayed: bool = False  # the key was used before for this very adjustment


EXPIRING_SOON = timedelta(days=30)


def new_card_code() -> str:
    """12 digits, the last a Luhn check digit, so a mistyped code is caught at the till."""
    body = [secrets.randbelow(10) for _ in range(11)]
    body[0] = body[0] or 1
    return "".join(map(str, body)) + str(luhn_check_digit(body))


def luhn_check_digit(digits: list[int]) -> int:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if position % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return (10 - total % 10) % 10


def is_valid_card_code(code: str) -> bool:
    if len(code) != 12 or not code.isdigit():
        return False
    digits = [int(char) for char in code]
    return luhn_check_digit(digits[:-1]) == digits[-1]


def new_referral_code() -> str:
    return "".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(8))


def referral_payload(referral_code: str) -> str:
    return REFERRAL_PREFIX + referral_code


def card_payload(card_code: str) -> str:
    return CARD_PREFIX + card_code


class LoyaltyService:
    def __init__(self, storage: Storage, rules: LoyaltyRules, ledger: PointsLedger) -> None:
        self._storage = storage
        self.rules = rules
        self.ledger = ledger

    async def ensure_codes(self, customer: Customer) -> Customer:
        """The customer with a card code and a referral code, created on first need."""
        if customer.card_code and customer.referral_code:
            return customer
        for _attempt in range(5):
            async with self._storage.write() as uow:
                if await uow.customers.set_codes_if_missing(
                    customer.id, new_card_code(), new_referral_code()
                ):
                    refreshed = await uow.customers.by_id(customer.id)
                    assert refreshed is not None
                    return refreshed
        raise RuntimeError("could not find a free card code")

    async def summary(self, customer: Customer, history: int = 10) -> PointsSummary:
        now = utcnow()
        async with self._storage.read() as uow:
            balance = await uow.ledger.balance(customer.id)
            lots = await uow.ledger.open_lots(customer.id)
            movements = await uow.ledger.history(customer.id, history)
            spend = await uow.purchases.spend_since(customer.id, now - TIER_WINDOW)
        tier = self.rules.tier_for(spend)
        expiring: dict[datetime, int] = {}
        for lot in lots:
            if lot.expires_at is not None and lot.expires_at <= now + EXPIRING_SOON:
                day = lot.expires_at
                expiring[day] = expiring.get(day, 0) + lot.remaining
        return PointsSummary(
            balance=balance,
            tier=tier,
            next_tier=self.rules.next_tier(tier),
            spend_minor=spend,
            expiring=[ExpiringPoints(points, day) for day, points in sorted(expiring.items())],
            movements=movements,
        )

    async def balance(self, customer_id: int) -> int:
        async with self._storage.read() as uow:
            return await uow.ledger.balance(customer_id)

    async def grant_welcome_bonus(self, customer: Customer) -> int:
        """Once per person, however many times they press /start, and not again after they
        were forgotten and came back; returns points given."""
        points = self.rules.welcome_bonus
        if not points:
            return 0
        now = utcnow()
        async with self._storage.write() as uow:
            if await was_erased(uow, customer.telegram_id, now):
                return 0
            added = await self.ledger.credit(
                uow, customer.id, points, "welcome", at=now, key=f"welcome:{customer.id}"
            )
        return points if added else 0

    @retry_on_conflict
    async def adjust(
        self, actor: Actor, customer: Customer, delta: int, reason: str, key: str | None = None
    ) -> Adjustment:
        """A manual correction, audited with the balance before and after. A negative delta
        larger than the balance raises InsufficientPoints: the balance never goes below 0.
        With a `key`, the same adjustment again answers its first result (replayed) and the
        key with another customer, delta or reason raises RequestConflict."""
        if delta == 0:
            raise ValueError("an adjustment of 0 points changes nothing")
        now = utcnow()
        async with self._storage.write() as uow:
            if key is not None:
                replay = await self._replay_of(uow, customer, delta, reason, key, now)
                if replay is not None:
                    return replay
            before = await uow.ledger.balance(customer.id)
            source = f"{actor.via}:{actor.telegram_id or ''}".rstrip(":")
            if delta > 0:
                await self.ledger.credit(
                    uow, customer.id, delta, "adjust", at=now, source=source, key=key, note=reason
                )
            else:
                await self.ledger.debit(
                    uow, customer.id, -delta, "adjust", at=now, source=source, key=key, note=reason
                )
            after = await uow.ledger.balance(customer.id)
            if after != before:
                await audit(
                    uow,
                    actor,
                    "points.adjust",
                    f"customer:{customer.telegram_id}",
                    {"balance": before},
                    {"balance": after, "delta": delta, "reason": reason},
                )
                await uow.outbox.add(
                    customer.id,
                    "points_adjusted",
                    {"delta": delta, "balance": after, "reason": reason},
                    now,
                )
            if key is not None:
                await uow.requests.set_result(
                    "adjust", key, {"balance_before": before, "balance_after": after}
                )
        return Adjustment(before, after)

    @staticmethod
    async def _replay_of(
        uow: UnitOfWork, customer: Customer, delta: int, reason: str, key: str, now: datetime
    ) -> Adjustment | None:
        """The first result of this keyed adjustment, or None when the key is new (it is
        bound to this request then)."""
        fields = fingerprint(
            "adjust", key, {"telegram_id": customer.telegram_id, "delta": delta, "reason": reason}
        )
        legacy = await uow.ledger.by_key(key)
        if legacy is not None and await uow.requests.get("adjust", key) is None:
            # Applied before fingerprints were kept: the ledger entry still tells customer
            # and delta (its balances were not kept: the current one is answered).
            differing = []
            if legacy.customer_id != customer.id:
                differing.append("telegram_id")
            if legacy.delta != delta:
                differing.append("delta")
            if differing:
                raise RequestConflict("idempotency_key", differing)
            balance = await uow.ledger.balance(customer.id)
            return Adjustment(balance, balance, replayed=True)
        stored = await bind_key(uow, "adjust", "idempotency_key", key, fields, now)
        if stored is None:
            return None
        result = stored.result or {}
        return Adjustment(
            int(result.get("balance_before", 0)), int(result.get("balance_after", 0)), True
        )

    @retry_on_conflict
    async def attribute_referral(self, referee: Customer, payload: str) -> Customer | None:
        """Credit the inviter of a first-ever /start with payload `r-<code>`. Returns the
        referrer when attributed. Refused silently for an existing customer, oneself, or a
        cycle, nor for someone forgotten who came back (their first contact was long ago):
        a deep link is not an instruction the customer chose to give."""
        if not payload.startswith(REFERRAL_PREFIX):
            return None
        code = payload.removeprefix(REFERRAL_PREFIX)
        async with self._storage.write() as uow:
            referrer = await uow.customers.by_referral_code(code)
            if referrer is None or referrer.id == referee.id:
                return None
            if not await self._is_first_contact(uow, referee) or await was_erased(
                uow, referee.telegram_id, utcnow()
            ):
                return None
            if await uow.referrals.chain_contains(referrer.id, referee.id):
                return None
            if not await uow.referrals.attribute(referee.id, referrer.id, utcnow()):
                return None
        return referrer

    @staticmethod
    async def _is_first_contact(uow: UnitOfWork, customer: Customer) -> bool:
        if await uow.purchases.count(customer.id):
            return False
        # The /start being handled is already recorded; anything before it makes the
        # customer an existing one.
        return await uow.interactions.inbound_count(customer.id, limit=2) <= 1

    async def referral_stats(self, customer: Customer) -> ReferralStats:
        async with self._storage.read() as uow:
            return await uow.referrals.stats(customer.id)

    async def customer_by_card(self, card_code: str) -> Customer | None:
        async with self._storage.read() as uow:
            return await uow.customers.by_card_code(card_code)


__all__ = [
    "Adjustment",
    "ExpiringPoints",
    "InsufficientPoints",
    "LoyaltyService",
    "PointsSummary",
]
