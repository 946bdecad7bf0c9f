"""Purchases and refunds: points earned and reversed, tiers recomputed, referrals converted.

Each operation is one write transaction keyed by the order (or refund) id, so a replay from
a till that never saw our answer finds the first result instead of awarding points twice.
A key belongs to the request it first came with (bot.services.loyalty.idempotency): the
same key with another customer, amount or order is a conflict, not a replay.

A referral converts on the friend's first purchase of at least the minimum
(REFERRAL_MIN_PURCHASE); smaller ones leave it pending. A refund that takes that purchase
below the minimum reverses it: both rewards are taken back (as far as they are unspent, like
a refund's points) and the referral stays closed, so buy-and-refund cannot farm it.

Two replays at once on PostgreSQL: the second waits on the buyer's row lock, then its insert
of the order id fails (unique) and `retry_on_conflict` runs it again, as a replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.services.loyalty.idempotency import (
    Fingerprint,
    RequestConflict,
    bind_key,
    fingerprint,
    same_request,
)
from bot.services.loyalty.ledger import PointsLedger
from bot.services.loyalty.rules import LoyaltyRules
from storage.clock import utcnow
from storage.conflicts import retry_on_conflict
from storage.models import Customer
from storage.repositories.loyalty import Purchase, Refund
from storage.unit_of_work import Storage, UnitOfWork

TIER_WINDOW = timedelta(days=365)
DEFAULT_REFERRAL_MIN_MINOR = 1000  # REFERRAL_MIN_PURCHASE's default, 10.00


class PurchaseError(Exception):
    """A request that cannot be applied; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownCustomer(PurchaseError):
    pass


class UnknownOrder(PurchaseError):
    pass


# The order id (or refund id) was used before for a different request.
OrderConflict = RequestConflict


@dataclass(frozen=True)
class CustomerRef:
    telegram_id: int | None = None
    card: str | None = None


@dataclass(frozen=True)
class PurchaseRequest:
    order_id: str
    customer: CustomerRef
    amount_minor: int
    currency: str
    purchased_at: datetime | None
    recorded_by: str

    def fingerprint(self) -> Fingerprint:
        # Who recorded it is not part of the request: a second till replaying the same sale
        # is a replay.
        return fingerprint(
            "purchase",
            self.order_id,
            {
                "telegram_id": self.customer.telegram_id,
                "card": self.customer.card,
                "amount": self.amount_minor,
                "currency": self.currency,
                "purchased_at": (
                    None if self.purchased_at is None else self.purchased_at.astimezone(UTC)
                ),
            },
        )


@dataclass(frozen=True)
class PurchaseResult:
    created: bool
    purchase: Purchase
    telegram_id: int | None


@dataclass(frozen=True)
class RefundResult:
    created: bool
    order_id: str
    amount_minor: int
    points_reversed: int
    points_uncollected: int
    balance: int
    telegram_id: int | None


def to_minor(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


async def resolve_customer(uow: UnitOfWork, ref: CustomerRef) -> Customer:
    if ref.telegram_id is not None:
        customer = await uow.customers.by_telegram_id(ref.telegram_id)
        if customer is None:
            raise UnknownCustomer("telegram_id", "no customer with this Telegram id")
        return customer
    if ref.card is not None:
        customer = await uow.customers.by_card_code(ref.card)
        if customer is None:
            raise UnknownCustomer("card", "no customer with this card code")
        return customer
    raise UnknownCustomer("telegram_id", "give telegram_id or card")


class PurchaseService:
    def __init__(
        self,
        storage: Storage,
        rules: LoyaltyRules,
        ledger: PointsLedger,
        *,
        referral_min_minor: int = DEFAULT_REFERRAL_MIN_MINOR,
    ) -> None:
        self._storage = storage
        self._rules = rules
        self._ledger = ledger
        self._referral_min_minor = referral_min_minor

    @retry_on_conflict
    async def record(self, request: PurchaseRequest) -> PurchaseResult:
        async with self._storage.write() as uow:
            return await self.record_in(uow, request)

    async def record_in(self, uow: UnitOfWork, request: PurchaseRequest) -> PurchaseResult:
        """`record` inside the caller's transaction (a cashier's sale is audited with it)."""
        fields = request.fingerprint()
        stored = await uow.requests.get("purchase", request.order_id)
        if stored is not None:
            same_request(stored, "order_id", fields)
            return await self._replay(uow, request)
        if await uow.purchases.by_order(request.order_id) is not None:
            # Recorded before fingerprints were kept: its customer and amount still tell.
            return await self._replay(uow, request, legacy=True)
        customer = await resolve_customer(uow, request.customer)
        if await bind_key(uow, "purchase", "order_id", request.order_id, fields, utcnow()):
            return await self._replay(uow, request)  # a concurrent identical request won
        return await self._record_new(uow, request, customer)

    async def preview_points(self, customer: Customer, amount_minor: int) -> int:
        """What a purchase of this amount would earn now, at the customer's current tier."""
        async with self._storage.read() as uow:
            spend = await uow.purchases.spend_since(customer.id, utcnow() - TIER_WINDOW)
        return self._rules.points_for(amount_minor, self._rules.tier_for(spend))

    async def _replay(
        self, uow: UnitOfWork, request: PurchaseRequest, *, legacy: bool = False
    ) -> PurchaseResult:
        existing = await uow.purchases.by_order(request.order_id)
        assert existing is not None
        customer = await uow.customers.by_id(existing.customer_id)
        if legacy:
            differing = []
            if customer is None or request.customer.telegram_id not in (
                None,
                customer.telegram_id,
            ):
                differing.append("telegram_id")
            if customer is None or request.customer.card not in (None, customer.card_code):
                differing.append("card")
            if existing.amount_minor != request.amount_minor:
                differing.append("amount")
            if differing:
                raise RequestConflict("order_id", differing)
        return PurchaseResult(False, existing, customer.telegram_id if customer else None)

    async def _record_new(
        self, uow: UnitOfWork, request: PurchaseRequest, customer: Customer
    ) -> PurchaseResult:
        now = utcnow()
        purchased_at = (request.purchased_at or now).astimezone(UTC)
        window_start = now - TIER_WINDOW
        buyer = await uow.purchases.buyer_context(customer.id, window_start)
        tier = self._rules.tier_for(buyer.spend_minor)
        points = self._rules.points_for(request.amount_minor, tier)
        await self._ledger.credit(
            uow,
            customer.id,
            points,
            "purchase",
            at=now,
            earned_at=purchased_at,
            source=f"order:{request.order_id}",
            key=f"purchase:{request.order_id}",
        )
        balance = buyer.balance + points
        if request.amount_minor >= self._referral_min_minor:
            balance += await self._convert_referral(uow, customer, request.order_id, now)
        in_window = purchased_at >= window_start
        new_tier = self._rules.tier_for(
            buyer.spend_minor + (request.amount_minor if in_window else 0)
        )
        purchase = Purchase(
            id=0,
            order_id=request.order_id,
            customer_id=customer.id,
            amount_minor=request.amount_minor,
            currency=request.currency,
            purchased_at=purchased_at,
            recorded_at=now,
            points=points,
            balance_after=balance,
            tier=new_tier.id,
            recorded_by=request.recorded_by,
        )
        purchase = purchase.model_copy(update={"id": await uow.purchases.add(purchase)})
        await uow.outbox.add(
            customer.id,
            "points_earned",
            {
                "order_id": request.order_id,
                "amount_minor": request.amount_minor,
                "currency": request.currency,
                "points": points,
                "balance": balance,
            },
            now,
        )
        await self._update_tier(uow, customer, new_tier.id, now)
        return PurchaseResult(True, purchase, customer.telegram_id)

    async def _update_tier(
        self, uow: UnitOfWork, customer: Customer, tier_id: str, now: datetime
    ) -> None:
        if customer.tier == tier_id:
            return
        await uow.customers.set_tier(customer.id, tier_id)
        ids = [tier.id for tier in self._rules.tiers]
        previous = ids.index(customer.tier) if customer.tier in ids else 0
        if ids.index(tier_id) > previous:
            await uow.outbox.add(customer.id, "tier_up", {"tier": tier_id}, now)

    async def _convert_referral(
        self, uow: UnitOfWork, referee: Customer, order_id: str, now: datetime
    ) -> int:
        """Rewards both sides of a pending referral on the referee's first purchase of the
        minimum; returns the points the referee got."""
        referral = await uow.referrals.of_referee(referee.id)
        if referral is None or referral.converted_at is not None:
            return 0
        rules = self._rules.referral
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        capped = await uow.referrals.rewarded_since(referral.referrer_id, month_start) >= (
            rules.monthly_cap
        )
        referrer_points = 0 if capped else rules.referrer_points
        await uow.referrals.convert(
            referee.id, order_id, now, referrer_points, rules.referee_points
        )
        source = f"referral:{referee.id}"
        if rules.referee_points:
            await self._ledger.credit(
                uow,
                referee.id,
                rules.referee_points,
                "referral",
                at=now,
                source=source,
                key=f"referral:referee:{referee.id}",
            )
            await uow.outbox.add(
                referee.id, "referral_welcome", {"points": rules.referee_points}, now
            )
        if referrer_points:
            await self._ledger.credit(
                uow,
                referral.referrer_id,
                referrer_points,
                "referral",
                at=now,
                source=source,
                key=f"referral:referrer:{referee.id}",
            )
        await uow.outbox.add(
            referral.referrer_id,
            "referral_converted",
            {"points": referrer_points, "friend": referee.first_name or "", "capped": capped},
            now,
        )
        return rules.referee_points

    async def _reverse_referral(self, uow: UnitOfWork, purchase: Purchase, now: datetime) -> None:
        """Take back both rewards of the referral this purchase converted, if it did."""
        referral = await uow.referrals.of_referee(purchase.customer_id)
        if referral is None or referral.order_id != purchase.order_id:
            return
        if not await uow.referrals.reverse(purchase.customer_id, now):
            return
        sides = (
            (
                purchase.customer_id,
                referral.referee_points,
                "referee",
                f"order {purchase.order_id}",
            ),
            (
                referral.referrer_id,
                referral.referrer_points,
                "referrer",
                f"the friend's order {purchase.order_id} was",
            ),
        )
        for customer_id, points, side, what in sides:
            # Like a refund's points: what was spent already is not taken (never below 0).
            debit = await self._ledger.debit(
                uow,
                customer_id,
                points,
                "referral_reversed",
                at=now,
                source=f"referral:{purchase.customer_id}",
                key=f"referral_reversed:{side}:{purchase.customer_id}",
                note=f"referral reversed: {what} refunded",
                partial=True,
            )
            if debit.taken:
                await uow.outbox.add(
                    customer_id,
                    "referral_reversed",
                    {
                        "side": side,
                        "points": debit.taken,
                        "balance": await uow.ledger.balance(customer_id),
                    },
                    now,
                )

    @retry_on_conflict
    async def refund(
        self, order_id: str, amount_minor: int | None, refund_id: str | None
    ) -> RefundResult:
        key = refund_id or f"{order_id}:{'rest' if amount_minor is None else amount_minor}"
        fields = fingerprint("refund", key, {"order_id": order_id, "amount": amount_minor})
        async with self._storage.write() as uow:
            stored = await uow.requests.get("refund", key)
            if stored is not None:
                same_request(stored, "refund_id", fields)
            purchase = await uow.purchases.by_order(order_id)
            if purchase is None:
                raise UnknownOrder("order_id", "no purchase with this order_id")
            customer = await uow.customers.by_id(purchase.customer_id)
            telegram_id = customer.telegram_id if customer else None
            existing = await uow.purchases.refund_by_key(key)
            if existing is not None and stored is None:
                _same_legacy_refund(existing, purchase.id, amount_minor)
            if existing is None and await bind_key(
                uow, "refund", "refund_id", key, fields, utcnow()
            ):
                existing = await uow.purchases.refund_by_key(key)  # a concurrent twin won
            if existing is not None:
                return RefundResult(
                    False,
                    order_id,
                    existing.amount_minor,
                    existing.points_reversed,
                    existing.points_uncollected,
                    existing.balance_after,
                    telegram_id,
                )
            refunded, reversed_so_far = await uow.purchases.refunded(purchase.id)
            left = purchase.amount_minor - refunded
            amount = left if amount_minor is None else amount_minor
            if amount <= 0 or amount > left:
                raise PurchaseError(
                    "amount", f"only {left / 100:.2f} of this order is left to refund"
                )
            now = utcnow()
            # Cumulative rounding: however a purchase is refunded in parts, the parts add up to
            # exactly the points it earned once it is refunded in full.
            due = purchase.points * (refunded + amount) // purchase.amount_minor - reversed_so_far
            debit = await self._ledger.debit(
                uow,
                purchase.customer_id,
                due,
                "refund",
                at=now,
                source=f"order:{order_id}",
                key=f"refund:{key}",
                partial=True,
            )
            if purchase.amount_minor - refunded - amount < self._referral_min_minor:
                await self._reverse_referral(uow, purchase, now)
            balance = await uow.ledger.balance(purchase.customer_id)
            await uow.purchases.add_refund(
                refund_key=key,
                purchase_id=purchase.id,
                amount_minor=amount,
                points_reversed=debit.taken,
                points_uncollected=due - debit.taken,
                balance_after=balance,
                at=now,
            )
            if debit.taken:
                await uow.outbox.add(
                    purchase.customer_id,
                    "points_refunded",
                    {"order_id": order_id, "points": debit.taken, "balance": balance},
                    now,
                )
            if customer is not None:
                spend = await uow.purchases.spend_since(customer.id, now - TIER_WINDOW)
                tier = self._rules.tier_for(spend)
                if tier.id != customer.tier:
                    # A tier lost to a refund is not announced; /points shows it.
                    await uow.customers.set_tier(customer.id, tier.id)
            return RefundResult(
                True, order_id, amount, debit.taken, due - debit.taken, balance, telegram_id
            )


def _same_legacy_refund(existing: Refund, purchase_id: int, amount_minor: int | None) -> None:
    """A refund recorded before fingerprints were kept: its order and amount still tell
    whether a request under its key is the same one."""
    differing = []
    if existing.purchase_id != purchase_id:
        differing.append("order_id")
    if amount_minor not in (None, existing.amount_minor):
        differing.append("amount")
    if differing:
        raise RequestConflict("refund_id", differing)
