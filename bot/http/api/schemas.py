"""Request and response bodies of the API; also the source of its OpenAPI description."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

# Ids are stored as 64-bit integers on both databases; a larger one is not an id.
INT64_MAX = 2**63 - 1
# Python reads "²" or "١٢" as digits; a till's number is written in ASCII digits only.
_ASCII_DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def _ascii_decimal(value: Any) -> Any:
    if isinstance(value, str) and not _ASCII_DECIMAL.fullmatch(value.strip()):
        raise ValueError("is not a number written in the digits 0-9")
    return value


OrderId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
Money = Annotated[
    Decimal,
    Field(gt=0, max_digits=12, decimal_places=2, allow_inf_nan=False),
    BeforeValidator(_ascii_decimal),
]
CardCode = Annotated[str, Field(pattern=r"^[0-9]{12}$")]
TelegramId = Annotated[int, Field(gt=0, le=INT64_MAX)]
# A till's clock may run a little fast; anything further in the future is a mistake.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class ApiLimits:
    """Bounds on what one request may do (MAX_PURCHASE_AMOUNT, PURCHASE_BACKDATE_DAYS,
    MAX_ADJUST_POINTS); passed to validation as its context."""

    max_purchase_amount: Decimal = Decimal(100_000)
    purchase_backdate_days: int = 90
    max_adjust_points: int = 100_000


def _limits(info: ValidationInfo) -> ApiLimits:
    return info.context if isinstance(info.context, ApiLimits) else ApiLimits()


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PurchaseIn(_Request):
    order_id: OrderId
    telegram_id: TelegramId | None = None
    card: CardCode | None = None
    amount: Money = Field(description="At most MAX_PURCHASE_AMOUNT (100000 by default).")
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    purchased_at: AwareDatetime | None = Field(
        default=None,
        description="When the sale happened, for tills that sync late: not in the future, "
        "nor older than PURCHASE_BACKDATE_DAYS (90 by default).",
    )

    @model_validator(mode="after")
    def _one_customer(self) -> PurchaseIn:
        if (self.telegram_id is None) == (self.card is None):
            raise ValueError("give exactly one of telegram_id and card")
        return self

    @field_validator("amount")
    @classmethod
    def _within_limit(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        limit = _limits(info).max_purchase_amount
        if value > limit:
            raise ValueError(f"must be at most {limit}")
        return value

    @field_validator("purchased_at")
    @classmethod
    def _recent_and_not_in_future(
        cls, value: datetime | None, info: ValidationInfo
    ) -> datetime | None:
        if value is None:
            return value
        now = datetime.now(UTC)
        if value > now + CLOCK_SKEW:
            raise ValueError("is in the future")
        days = _limits(info).purchase_backdate_days
        if value < now - timedelta(days=days):
            raise ValueError(f"is more than {days} days ago")
        return value


class PurchaseOut(BaseModel):
    order_id: str
    telegram_id: int | None
    amount: Decimal
    currency: str
    purchased_at: datetime
    points_earned: int
    balance: int
    tier: str | None
    replayed: bool = Field(description="True when this very order was recorded before.")


class RefundIn(_Request):
    order_id: OrderId
    amount: Money | None = Field(default=None, description="Omit to refund all that is left.")
    refund_id: OrderId | None = Field(
        default=None,
        description="Tells apart two partial refunds of the same amount; replays reuse it. "
        "It names one refund of one order: reused with another order or amount, a 409.",
    )


class RefundOut(BaseModel):
    order_id: str
    amount: Decimal
    points_reversed: int
    points_uncollected: int = Field(description="Points due back that were already spent.")
    balance: int
    replayed: bool


class AdjustIn(_Request):
    telegram_id: TelegramId
    delta: int = Field(
        description="Not 0; at most MAX_ADJUST_POINTS (100000 by default) either way."
    )
    reason: Annotated[str, Field(min_length=3, max_length=200)]
    idempotency_key: OrderId | None = Field(
        default=None,
        description="Makes a retry safe: the same adjustment again answers its first result "
        "(replayed); the key with another customer, delta or reason is a 409.",
    )

    @field_validator("delta")
    @classmethod
    def _moves_points_within_limit(cls, delta: int, info: ValidationInfo) -> int:
        if delta == 0:
            raise ValueError("must not be 0")
        limit = _limits(info).max_adjust_points
        if abs(delta) > limit:
            raise ValueError(f"must be at most {limit} points either way")
        return delta


class AdjustOut(BaseModel):
    telegram_id: int
    balance_before: int
    balance_after: int
    replayed: bool = Field(description="True when this idempotency_key was applied before.")


class ExpiringOut(BaseModel):
    points: int
    expires_at: datetime


class TierOut(BaseModel):
    id: str
    name: str
    spend_12_months: Decimal
    next_tier: str | None
    spend_to_next: Decimal | None


class CustomerOut(BaseModel):
    telegram_id: int
    first_name: str | None
    last_name: str | None
    username: str | None
    language: str | None
    card: str | None
    balance: int
    tier: TierOut
    expiring_soon: list[ExpiringOut]
    first_seen: datetime
    last_seen: datetime


class FieldError(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    error: str
    errors: list[FieldError] = []
