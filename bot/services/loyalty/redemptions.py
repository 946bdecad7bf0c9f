"""Spending points at the till: one-time codes for a reward (or N points off a sale) that a
cashier confirms, and the cashier's own sales.

Issuing a code reserves its points at once (a "redeem" debit keyed by the code), so the
balance a customer sees is what is left to spend and two codes can never spend the same
points. A code then ends exactly once, by one state transition from 'issued' made in the
write transaction that also moves the points:

- confirmed by a cashier: the points stay spent;
- expired (past `code_valid_minutes`: by the periodic `expire_due`, or at the moment a
  cashier tries it) or cancelled by the customer: the points come back into the lots they
  came from ("redeem_return", keyed by the code, so never twice); those whose lot burnt
  while they were held burn there at once ("expire"), so holding points never extends
  their life.

A customer holds at most one open code per catalogue reward and one open "use N points"
code: asking for the same thing again shows the open code again (a double tap never
reserves twice), and asking for a different number of points replaces the open points code.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import TypeVar

from bot.services.access import AccessDenied, Actor, Role, RoleService, audit
from bot.services.loyalty.ledger import InsufficientPoints, PointsLedger, Restored
from bot.services.loyalty.purchases import (
    CustomerRef,
    PurchaseError,
    PurchaseRequest,
    PurchaseService,
    UnknownCustomer,
    to_minor,
)
from bot.services.loyalty.rules import LoyaltyRules, Reward
from bot.services.loyalty.service import is_valid_card_code
from storage.clock import utcnow
from storage.conflicts import retry_on_conflict
from storage.models import Customer
from storage.repositories.loyalty import Purchase
from storage.repositories.redemptions import Redemption
from storage.unit_of_work import Storage, UnitOfWork

_T = TypeVar("_T")

CODE_LENGTH = 8
# Beyond this a sale typed at the till is a typo rather than a purchase (100 000.00).
MAX_SALE_MINOR = 10_000_000
MAX_POINTS_PER_CODE = 1_000_000
_EXPIRY_BATCH = 100

_AMOUNT = re.compile(r"^\d{1,9}(?:[.,]\d{1,2})?$")


class RedemptionRefused(Exception):
    """A request that cannot be applied; the handler tells the person why."""


class UnknownReward(RedemptionRefused):
    pass


class InvalidPoints(RedemptionRefused):
    pass


class UnknownCode(RedemptionRefused):
    """No such code, or (to its customer's eyes) someone else's."""


class CodeClosed(RedemptionRefused):
    """Confirmed or cancelled before; `redemption.closed_at` says when."""

    def __init__(self, redemption: Redemption) -> None:
        super().__init__(f"code {redemption.code} is {redemption.state}")
        self.redemption = redemption


class CodeExpired(RedemptionRefused):
    """Past `expires_at`; its points are back with the customer (now, or earlier)."""

    def __init__(self, redemption: Redemption) -> None:
        super().__init__(f"code {redemption.code} expired")
        self.redemption = redemption


class SaleAmountRequired(RedemptionRefused):
    """A "use N points" code is confirmed against a sale: its amount is needed."""

    def __init__(self, redemption: Redemption) -> None:
        super().__init__("the sale amount is needed")
        self.redemption = redemption


class ShareExceeded(RedemptionRefused):
    """The points would pay more than `max_share_of_purchase` of the sale."""

    def __init__(self, points: int, min_sale_minor: int) -> None:
        super().__init__(f"{points} points need a sale of at least {min_sale_minor}")
        self.points = points
        self.min_sale_minor = min_sale_minor


@dataclass(frozen=True)
class Catalogue:
    balance: int
    rewards: list[Reward]
    open_codes: list[Redemption]


@dataclass(frozen=True)
class Issued:
    redemption: Redemption
    reward: Reward | None
    created: bool  # False: the customer's open code for the same thing, shown again
    balance: int


@dataclass(frozen=True)
class Cancelled:
    redemption: Redemption
    points_returned: int  # back on the balance
    points_expired: int  # their lot burnt while the code held them
    balance: int


@dataclass(frozen=True)
class CodeView:
    redemption: Redemption
    customer: Customer
    reward: Reward | None


@dataclass(frozen=True)
class Confirmed:
    redemption: Redemption
    customer: Customer
    reward: Reward | None
    balance: int


@dataclass(frozen=True)
class SalePreview:
    customer: Customer
    amount_minor: int
    points: int


@dataclass(frozen=True)
class Sale:
    created: bool  # False: this submission was recorded before (a retried Confirm)
    purchase: Purchase
    customer: Customer


def new_code() -> str:
    """8 random digits, never starting with 0 (spreadsheets and tills drop leading zeros)."""
    return str(10 ** (CODE_LENGTH - 1) + secrets.randbelow(9 * 10 ** (CODE_LENGTH - 1)))


def normalise_code(text: str) -> str | None:
    """A code as typed ("1234 5678") or scanned; None unless it is 8 digits."""
    digits = "".join(text.split())
    return digits if len(digits) == CODE_LENGTH and digits.isdigit() else None


def normalise_card(text: str) -> str:
    return "".join(text.split())


def parse_amount(text: str) -> int | None:
    """ "12.50", "12,50" or "12" in minor units; None unless 0 < amount <= MAX_SALE_MINOR."""
    cleaned = "".join(text.split())
    if not _AMOUNT.match(cleaned):
        return None
    minor = to_minor(Decimal(cleaned.replace(",", ".")))
    return minor if 0 < minor <= MAX_SALE_MINOR else None


def new_sale_reference() -> str:
    """Chosen when the cashier is shown the sale to confirm, before anything is recorded:
    pressing Confirm again (or Telegram delivering the press twice) records it once."""
    return uuid.uuid4().hex


def till_order_id(cashier_telegram_id: int, reference: str) -> str:
    return f"till-{cashier_telegram_id}-{reference}"


def _raise_refusal(outcome: _T | RedemptionRefused) -> _T:
    """Refusals are returned from inside a transaction, so that what it did (a code past its
    time expired, its points back) commits, and raised once it has."""
    if isinstance(outcome, RedemptionRefused):
        raise outcome
    return outcome


def _debit_key(code: str) -> str:
    return f"redeem:{code}"


def _source(code: str) -> str:
    return f"redemption:{code}"


class RedemptionService:
    def __init__(
        self,
        storage: Storage,
        rules: LoyaltyRules,
        ledger: PointsLedger,
        purchases: PurchaseService,
        roles: RoleService,
    ) -> None:
        self._storage = storage
        self.rules = rules
        self._ledger = ledger
        self._purchases = purchases
        self._roles = roles

    @property
    def valid_for(self) -> timedelta:
        return timedelta(minutes=self.rules.redemption.code_valid_minutes)

    # --- customers ---

    async def catalogue(self, customer: Customer, now: datetime | None = None) -> Catalogue:
        """The balance, the rewards and the customer's open codes; codes that have run out
        give their points back first, so the balance shown is true."""
        now = now or utcnow()
        async with self._storage.read() as uow:
            open_codes = await uow.redemptions.open_of(customer.id)
            balance = await uow.ledger.balance(customer.id)
        if any(code.expires_at <= now for code in open_codes):
            async with self._storage.write() as uow:
                open_codes = await self._open_codes(uow, customer.id, now)
                balance = await uow.ledger.balance(customer.id)
        return Catalogue(balance, list(self.rules.rewards), open_codes)

    @retry_on_conflict
    async def issue(
        self,
        customer: Customer,
        *,
        reward_id: str | None = None,
        points: int | None = None,
        now: datetime | None = None,
    ) -> Issued:
        """A code for a catalogue reward, or for `points` off a sale. Raises UnknownReward,
        InvalidPoints, or InsufficientPoints (nothing is reserved then)."""
        now = now or utcnow()
        reward = None
        if reward_id is not None:
            reward = self.rules.reward(reward_id)
            if reward is None:
                raise UnknownReward(reward_id)
            wanted = reward.points
        elif points is None or not 0 < points <= MAX_POINTS_PER_CODE:
            raise InvalidPoints(str(points))
        else:
            wanted = points
        async with self._storage.write() as uow:
            open_codes = await self._open_codes(uow, customer.id, now)
            for code in open_codes:
                if code.reward_id == reward_id and (reward_id is not None or code.points == wanted):
                    return Issued(code, reward, False, await uow.ledger.balance(customer.id))
            if reward_id is None:
                for code in open_codes:
                    if code.reward_id is None:
                        await self._give_back(uow, code, "cancelled", now)
            redemption = await self._add(uow, customer.id, reward_id, wanted, now)
            await self._ledger.debit(
                uow,
                customer.id,
                wanted,
                "redeem",
                at=now,
                source=_source(redemption.code),
                key=_debit_key(redemption.code),
            )
            balance = await uow.ledger.balance(customer.id)
        return Issued(redemption, reward, True, balance)

    @retry_on_conflict
    async def cancel(
        self, customer: Customer, redemption_id: int, now: datetime | None = None
    ) -> Cancelled:
        """The customer gives up an open code: its points come back at once."""
        now = now or utcnow()
        async with self._storage.write() as uow:
            outcome = await self._cancel(uow, customer, redemption_id, now)
        return _raise_refusal(outcome)

    # --- cashiers ---

    async def look_up(self, actor: Actor, code: str, now: datetime | None = None) -> CodeView:
        """What a code is for, before the cashier confirms it. An expired code is refused and
        gives its points back at this moment."""
        await self._require_cashier(actor)
        now = now or utcnow()
        customer = None
        async with self._storage.write() as uow:
            opened = await self._open_code(uow, code, now)
            if isinstance(opened, Redemption):
                customer = await uow.customers.by_id(opened.customer_id)
        redemption = _raise_refusal(opened)
        assert customer is not None
        return CodeView(redemption, customer, self._reward_of(redemption))

    def min_sale_for(self, points: int) -> int:
        """The smallest sale (minor units) `points` may pay part of."""
        value = Decimal(self.rules.points_value_minor(points))
        share = self.rules.redemption.max_share_of_purchase
        return int((value / share).to_integral_value(rounding=ROUND_CEILING))

    def check_share(self, points: int, sale_amount_minor: int) -> None:
        if self.rules.points_value_minor(points) > (
            Decimal(sale_amount_minor) * self.rules.redemption.max_share_of_purchase
        ):
            raise ShareExceeded(points, self.min_sale_for(points))

    @retry_on_conflict
    async def confirm(
        self,
        actor: Actor,
        code: str,
        sale_amount_minor: int | None = None,
        now: datetime | None = None,
    ) -> Confirmed:
        """The cashier hands over the reward (or takes the points off the sale). Of two
        cashiers confirming one code at once exactly one succeeds: the state moves from
        'issued' once, inside the write transaction."""
        await self._require_cashier(actor)
        now = now or utcnow()
        outcome: Confirmed | RedemptionRefused
        async with self._storage.write() as uow:
            opened = await self._open_code(uow, code, now)
            if isinstance(opened, RedemptionRefused):
                outcome = opened
            else:
                outcome = self._sale_refusal(opened, sale_amount_minor) or await self._confirm(
                    uow, actor, opened, sale_amount_minor, now
                )
        return _raise_refusal(outcome)

    @retry_on_conflict
    async def expire_due(self, now: datetime | None = None) -> int:
        """Give back the points of every code past its expiry, mark it expired and tell its
        customer. Safe to run often and from several places: each code expires once.
        Returns how many codes expired."""
        now = now or utcnow()
        expired = 0
        while True:
            async with self._storage.write() as uow:
                due = await uow.redemptions.due_for_expiry(now, _EXPIRY_BATCH)
                for redemption in due:
                    if await self._expire(uow, redemption, now) is not None:
                        expired += 1
            if len(due) < _EXPIRY_BATCH:
                return expired

    async def preview_sale(self, actor: Actor, card_code: str, amount_minor: int) -> SalePreview:
        """Who the card belongs to and the points this sale would earn, for the confirm screen."""
        await self._require_cashier(actor)
        customer = await self._customer_by_card(card_code)
        points = await self._purchases.preview_points(customer, amount_minor)
        return SalePreview(customer, amount_minor, points)

    @retry_on_conflict
    async def record_sale(
        self, actor: Actor, card_code: str, amount_minor: int, order_id: str
    ) -> Sale:
        """A sale at the till, recorded as a purchase by the customer's card. `order_id` is
        chosen before the call (see `new_sale_reference`), so a retry records it once."""
        await self._require_cashier(actor)
        if not 0 < amount_minor <= MAX_SALE_MINOR:
            raise PurchaseError("amount", "out of range")
        if not is_valid_card_code(card_code):
            raise UnknownCustomer("card", "no customer with this card code")
        request = PurchaseRequest(
            order_id=order_id,
            customer=CustomerRef(card=card_code),
            amount_minor=amount_minor,
            currency=self.rules.currency,
            purchased_at=None,
            recorded_by=f"cashier:{actor.telegram_id}",
        )
        async with self._storage.write() as uow:
            result = await self._purchases.record_in(uow, request)
            customer = await uow.customers.by_id(result.purchase.customer_id)
            assert customer is not None
            if result.created:
                await audit(
                    uow,
                    actor,
                    "sale.record",
                    f"customer:{customer.telegram_id}",
                    None,
                    {
                        "order_id": order_id,
                        "amount_minor": amount_minor,
                        "points": result.purchase.points,
                    },
                )
        return Sale(result.created, result.purchase, customer)

    # --- inside a transaction ---

    async def _open_codes(
        self, uow: UnitOfWork, customer_id: int, now: datetime
    ) -> list[Redemption]:
        """The customer's open codes, after expiring those whose time ran out."""
        alive = []
        for code in await uow.redemptions.open_of(customer_id):
            if code.expires_at <= now:
                await self._expire(uow, code, now)
            else:
                alive.append(code)
        return alive

    async def _add(
        self, uow: UnitOfWork, customer_id: int, reward_id: str | None, points: int, now: datetime
    ) -> Redemption:
        expires_at = now + self.valid_for
        for _attempt in range(20):
            code = new_code()
            redemption_id = await uow.redemptions.add(
                code=code,
                customer_id=customer_id,
                reward_id=reward_id,
                points=points,
                created_at=now,
                expires_at=expires_at,
            )
            if redemption_id is not None:
                return Redemption(
                    id=redemption_id,
                    code=code,
                    customer_id=customer_id,
                    reward_id=reward_id,
                    points=points,
                    created_at=now,
                    expires_at=expires_at,
                    state="issued",
                    closed_at=None,
                    confirmed_by=None,
                    sale_amount_minor=None,
                )
        raise RuntimeError("could not find a free redemption code")

    async def _give_back(
        self, uow: UnitOfWork, redemption: Redemption, state: str, now: datetime
    ) -> Restored | None:
        """Close an issued code as expired or cancelled and return its points; None when it
        was not open any more."""
        if not await uow.redemptions.close(redemption.id, state, now):
            return None
        debit = await uow.ledger.by_key(_debit_key(redemption.code))
        if debit is None:
            return Restored(0, 0)
        return await self._ledger.restore(
            uow,
            debit.id,
            redemption.customer_id,
            "redeem_return",
            at=now,
            source=_source(redemption.code),
            key=f"redeem_return:{redemption.code}",
        )

    async def _expire(
        self, uow: UnitOfWork, redemption: Redemption, now: datetime
    ) -> Restored | None:
        returned = await self._give_back(uow, redemption, "expired", now)
        if returned is not None:
            await uow.outbox.add(
                redemption.customer_id,
                "redemption_expired",
                {
                    "code": redemption.code,
                    "reward_id": redemption.reward_id,
                    "points": returned.returned,
                    "expired": returned.expired,
                    "balance": await uow.ledger.balance(redemption.customer_id),
                },
                now,
                dedupe_key=f"redemption_expired:{redemption.code}",
            )
        return returned

    async def _open_code(
        self, uow: UnitOfWork, code: str, now: datetime
    ) -> Redemption | RedemptionRefused:
        """The issued code, or why it cannot be used; one past its time expires now."""
        redemption = await uow.redemptions.by_code(code)
        if redemption is None:
            return UnknownCode(code)
        if redemption.state == "expired":
            return CodeExpired(redemption)
        if redemption.state != "issued":
            return CodeClosed(redemption)
        if redemption.expires_at <= now:
            await self._expire(uow, redemption, now)
            return CodeExpired(redemption)
        return redemption

    async def _cancel(
        self, uow: UnitOfWork, customer: Customer, redemption_id: int, now: datetime
    ) -> Cancelled | RedemptionRefused:
        redemption = await uow.redemptions.by_id(redemption_id)
        if redemption is None or redemption.customer_id != customer.id:
            return UnknownCode(str(redemption_id))
        if redemption.state == "expired":
            return CodeExpired(redemption)
        returned = await self._give_back(uow, redemption, "cancelled", now)
        if returned is None:
            return CodeClosed(redemption)
        closed = await uow.redemptions.by_id(redemption_id)
        assert closed is not None
        return Cancelled(
            closed, returned.returned, returned.expired, await uow.ledger.balance(customer.id)
        )

    def _sale_refusal(
        self, redemption: Redemption, sale_amount_minor: int | None
    ) -> RedemptionRefused | None:
        if redemption.reward_id is not None:
            return None
        if sale_amount_minor is None or sale_amount_minor <= 0:
            return SaleAmountRequired(redemption)
        try:
            self.check_share(redemption.points, sale_amount_minor)
        except ShareExceeded as refusal:
            return refusal
        return None

    async def _confirm(
        self,
        uow: UnitOfWork,
        actor: Actor,
        redemption: Redemption,
        sale_amount_minor: int | None,
        now: datetime,
    ) -> Confirmed:
        sale = sale_amount_minor if redemption.reward_id is None else None
        if not await uow.redemptions.close(
            redemption.id, "confirmed", now, confirmed_by=actor.telegram_id, sale_amount_minor=sale
        ):
            # Another cashier's confirm (or the customer's cancel) closed it first: on
            # PostgreSQL both read 'issued', one UPDATE wins. Say what happened to it.
            raise CodeClosed(await uow.redemptions.by_id(redemption.id) or redemption)
        customer = await uow.customers.by_id(redemption.customer_id)
        assert customer is not None
        balance = await uow.ledger.balance(customer.id)
        await audit(
            uow,
            actor,
            "redemption.confirm",
            f"redemption:{redemption.code}",
            {"state": "issued"},
            {
                "state": "confirmed",
                "customer": customer.telegram_id,
                "reward": redemption.reward_id,
                "points": redemption.points,
                "sale_amount_minor": sale,
            },
        )
        await uow.outbox.add(
            customer.id,
            "redemption_confirmed",
            {
                "code": redemption.code,
                "reward_id": redemption.reward_id,
                "points": redemption.points,
                "sale_amount_minor": sale,
                "currency": self.rules.currency,
                "balance": balance,
            },
            now,
            dedupe_key=f"redemption_confirmed:{redemption.code}",
        )
        closed = await uow.redemptions.by_id(redemption.id)
        assert closed is not None
        return Confirmed(closed, customer, self._reward_of(redemption), balance)

    # --- helpers ---

    def _reward_of(self, redemption: Redemption) -> Reward | None:
        return self.rules.reward(redemption.reward_id) if redemption.reward_id else None

    async def _customer_by_card(self, card_code: str) -> Customer:
        customer = None
        if is_valid_card_code(card_code):
            async with self._storage.read() as uow:
                customer = await uow.customers.by_card_code(card_code)
        if customer is None:
            raise UnknownCustomer("card", "no customer with this card code")
        return customer

    async def _require_cashier(self, actor: Actor) -> None:
        # Checked here as well as by the cashier router's filter: the service is the last
        # line (a forged button press reaches no further than this).
        if actor.via != "telegram":
            return
        roles = await self._roles.roles_of(actor.telegram_id) if actor.telegram_id else frozenset()
        if Role.CASHIER not in roles and Role.ADMIN not in roles:
            raise AccessDenied("only cashiers confirm codes and record sales")


__all__ = [
    "Catalogue",
    "CodeClosed",
    "CodeExpired",
    "CodeView",
    "Confirmed",
    "InsufficientPoints",
    "InvalidPoints",
    "Issued",
    "RedemptionRefused",
    "RedemptionService",
    "Sale",
    "SaleAmountRequired",
    "SalePreview",
    "ShareExceeded",
    "UnknownCode",
    "UnknownReward",
]
