"""What the repositories return: typed records, never raw rows."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from storage.clock import from_db

Direction = Literal["in", "out"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _parse_timestamps(cls, value: object, info: object) -> object:
        # Timestamps come back from SQLite as text in one fixed UTC format.
        if isinstance(value, str) and len(value) == 26 and value[4] == "-" and value[10] == " ":
            return from_db(value)
        return value


class Customer(_Record):
    id: int
    telegram_id: int | None
    first_name: str | None
    last_name: str | None
    username: str | None
    telegram_language: str | None
    language: str | None
    first_seen: datetime
    last_seen: datetime
    consent_promotions: bool
    consent_surveys: bool
    start_payload: str | None
    reachable: bool
    unreachable_since: datetime | None

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or "—"


class Interaction(_Record):
    id: int
    customer_id: int
    at: datetime
    direction: Direction
    kind: str
    text: str | None
    update_id: int | None
    message_id: int | None
    status: str
    error: str | None
    meta: str | None
    outbound_key: str | None
