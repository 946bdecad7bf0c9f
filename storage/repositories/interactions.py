from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.batching import Statement
from storage.clock import to_db
from storage.database import Session
from storage.models import Direction, Interaction

_COLUMNS = "at, direction, kind, text, update_id, message_id, status, meta, outbound_key"


@dataclass(frozen=True)
class NewInteraction:
    direction: Direction
    kind: str
    text: str | None
    at: datetime
    update_id: int | None = None
    message_id: int | None = None
    status: str = "received"
    meta: str | None = None
    outbound_key: str | None = None

    def values(self) -> tuple[object, ...]:
        return (
            to_db(self.at),
            self.direction,
            self.kind,
            self.text,
            self.update_id,
            self.message_id,
            self.status,
            self.meta,
            self.outbound_key,
        )


class InteractionRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add_many(self, rows: Sequence[tuple[int, NewInteraction]]) -> None:
        """(customer id, interaction) pairs."""
        await self._session.execute_many(
            f"INSERT INTO interactions (customer_id, {_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(customer_id, *interaction.values()) for customer_id, interaction in rows],
        )

    @staticmethod
    def add_for_telegram_id(telegram_id: int, interaction: NewInteraction) -> Statement:
        """Log against the customer with this Telegram id; writes nothing when there is no
        such customer (someone who never wrote to the bot)."""
        return Statement(
            f"INSERT INTO interactions (customer_id, {_COLUMNS}) "
            "SELECT id, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM customers WHERE telegram_id = ?",
            (*interaction.values(), telegram_id),
        )

    @staticmethod
    def settle(
        outbound_key: str, status: str, message_id: int | None, error: str | None
    ) -> Statement:
        return Statement(
            "UPDATE interactions SET status = ?, message_id = ?, error = ? WHERE outbound_key = ?",
            (status, message_id, error, outbound_key),
        )

    async def for_customer(self, customer_id: int, limit: int | None = None) -> list[Interaction]:
        """The customer's interactions, oldest first; with a limit, the most recent ones."""
        if limit is None:
            rows = await self._session.fetch_all(
                "SELECT * FROM interactions WHERE customer_id = ? ORDER BY id", (customer_id,)
            )
        else:
            rows = await self._session.fetch_all(
                """
                SELECT * FROM (SELECT * FROM interactions WHERE customer_id = ?
                               ORDER BY id DESC LIMIT ?) AS recent ORDER BY id
                """,
                (customer_id, limit),
            )
        return [Interaction.model_validate(dict(row)) for row in rows]

    async def inbound_count(self, customer_id: int, limit: int) -> int:
        """How many inbound interactions the customer has, counting no further than `limit`."""
        value = await self._session.fetch_value(
            "SELECT COUNT(*) FROM (SELECT 1 FROM interactions "
            "WHERE customer_id = ? AND direction = 'in' LIMIT ?) AS counted",
            (customer_id, limit),
        )
        return int(value)
