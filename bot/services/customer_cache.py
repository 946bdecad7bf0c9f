"""Recently seen customers, so that a burst of messages does not rewrite the same row."""

from __future__ import annotations

import time

from storage.models import Customer
from storage.repositories import TelegramProfile


class CustomerCache:
    """Customer rows as last written by this process, keyed by Telegram id.

    An update from a customer seen in the last minute, with the same name, username and
    language, needs no write: the record is already right, except `last_seen`, which is
    therefore exact to a minute. Whatever changes a customer elsewhere in this process calls
    `forget`; other processes do not change customers (the CLI only reads them)."""

    FRESH_SECONDS = 60.0
    MAX_SIZE = 100_000

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Customer, float]] = {}

    def fresh(self, profile: TelegramProfile) -> Customer | None:
        entry = self._entries.get(profile.telegram_id)
        if entry is None:
            return None
        customer, written_at = entry
        if time.monotonic() - written_at > self.FRESH_SECONDS:
            return None
        unchanged = (
            customer.first_name == profile.first_name
            and customer.last_name == profile.last_name
            and customer.username == profile.username
            and (
                profile.language_code is None or customer.telegram_language == profile.language_code
            )
        )
        return customer if unchanged else None

    def put(self, customer: Customer) -> None:
        if customer.telegram_id is None:
            return
        if len(self._entries) >= self.MAX_SIZE:
            self._entries.clear()
        self._entries[customer.telegram_id] = (customer, time.monotonic())

    def forget(self, telegram_id: int | None) -> None:
        if telegram_id is not None:
            self._entries.pop(telegram_id, None)
