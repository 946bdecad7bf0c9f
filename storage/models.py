"""What the repositories return: typed records, never raw rows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

from storage.clock import from_db

Direction = Literal["in", "out"]


def _stored_moment(value: object) -> object:
    # SQLite hands timestamps back as text in one fixed UTC format (storage.clock).
    return from_db(value) if isinstance(value, str) else value


Moment = Annotated[datetime, BeforeValidator(_stored_moment)]


class Record(BaseModel):
    """A row as the repositories return it: typed, validated, immutable."""

    model_config = ConfigDict(frozen=True)


class Customer(Record):
    id: int
    telegram_id: int | None
    first_name: str | None
    last_name: str | None
    username: str | None
    telegram_language: str | None
    language: str | None
    first_seen: Moment
    last_seen: Moment
    consent_promotions: bool
    consent_surveys: bool
    start_payload: str | None
    reachable: bool
    unreachable_since: Moment | None
    card_code: str | None = None
    referral_code: str | None = None
    tier: str | None = None
    birthday: str | None = None

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or "—"


class Interaction(Record):
    id: int
    customer_id: int
    at: Moment
    direction: Direction
    kind: str
    text: str | None
    update_id: int | None
    message_id: int | None
    status: str
    error: str | None
    meta: str | None
    outbound_key: str | None
