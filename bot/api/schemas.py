"""Request and response bodies of the API; also the source of its OpenAPI description."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

OrderId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
Money = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]
CardCode = Annotated[str, Field(pattern=r"^\d{12}$")]
# A till's clock may run a little fast; anything further in the future is a mistake.
CLOCK_SKEW = timedelta(minutes=5)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PurchaseIn(_Request):
    order_id: OrderId
    telegram_id: Annotated[int, Field(gt=0)] | None = None
    card: CardCode | None = None
    amount: Money
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    purchased_at: AwareDatetime | None = Field(
        default=None, description="When the sale happened, for tills that sync late."
    )

    @model_validator(mode="after")
    def _one_customer(self) -> PurchaseIn:
        if (self.telegram_id is None) == (self.card is None):
            raise ValueError("give exactly one of telegram_id and card")
        return self

    @field_validator("purchased_at")
    @classmethod
    def _not_in_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError("is in the future")
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
    replayed: bool = Field(description="True when this order was recorded before.")


class RefundIn(_Request):
    order_id: OrderId
    amount: Money | None = Field(default=None, description="Omit to refund all that is left.")
    refund_id: OrderId | None = Field(
        default=None,
        description="Tells apart two partial refunds of the same amount; replays reuse it.",
    )


class RefundOut(BaseModel):
    order_id: str
    amount: Decimal
    points_reversed: int
    points_uncollected: int = Field(description="Points due back that were already spent.")
    balance: int
    replayed: bool


class AdjustIn(_Request):
    telegram_id: Annotated[int, Field(gt=0)]
    delta: Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
    reason: Annotated[str, Field(min_length=3, max_length=200)]
    idempotency_key: OrderId | None = None

    @field_validator("delta")
    @classmethod
    def _moves_points(cls, delta: int) -> int:
        if delta == 0:
            raise ValueError("must not be 0")
        return delta


class AdjustOut(BaseModel):
    telegram_id: int
    balance_before: int
    balance_after: int


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
