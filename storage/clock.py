"""One place that turns datetimes into the text the database stores, and back."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_db(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware one")
    # isoformat is C; strftime and strptime were a few per cent of the time per update.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def from_db(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
