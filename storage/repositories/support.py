"""Support tickets and the customers' forum topics in the agents' supergroup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.clock import from_db, to_db
from storage.database import Row, Session


def _moment(value: str | None) -> datetime | None:
    return from_db(value) if value else None


@dataclass(frozen=True)
class Ticket:
    id: int
    customer_id: int
    status: str  # open | closed
    source: str
    opened_at: datetime
    assignee_id: int | None
    assignee_name: str | None
    first_response_at: datetime | None
    closed_at: datetime | None
    closed_by: int | None
    rating: int | None
    rating_comment: str | None
    rated_at: datetime | None
    card_message_id: int | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @classmethod
    def from_row(cls, row: Row) -> Ticket:
        return cls(
            id=row["id"],
            customer_id=row["customer_id"],
            status=row["status"],
            source=row["source"],
            opened_at=from_db(row["opened_at"]),
            assignee_id=row["assignee_id"],
            assignee_name=row["assignee_name"],
            first_response_at=_moment(row["first_response_at"]),
            closed_at=_moment(row["closed_at"]),
            closed_by=row["closed_by"],
            rating=row["rating"],
            rating_comment=row["rating_comment"],
            rated_at=_moment(row["rated_at"]),
            card_message_id=row["card_message_id"],
        )


@dataclass(frozen=True)
class SupportTopic:
    customer_id: int
    chat_id: int
    thread_id: int


@dataclass(frozen=True)
class Relay:
    """A message and its copy on the other side of the support conversation."""

    source_chat_id: int
    source_message_id: int
    target_chat_id: int
    target_message_id: int
    customer_id: int


@dataclass(frozen=True)
class AskedQuestion:
    at: datetime
    text: str
    outcome: str
    feedback: str | None


class SupportRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    # --- tickets ---

    async def open_ticket(self, customer_id: int, source: str, at: datetime) -> int | None:
        """A new open ticket; None when the customer already has one (the unique index)."""
        return await self._session.insert(
            """
            INSERT INTO tickets (customer_id, source, opened_at) VALUES (?, ?, ?)
            ON CONFLICT DO NOTHING
            """,
            (customer_id, source, to_db(at)),
        )

    async def ticket(self, ticket_id: int) -> Ticket | None:
        row = await self._session.fetch_one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        return None if row is None else Ticket.from_row(row)

    async def open_of(self, customer_id: int) -> Ticket | None:
        row = await self._session.fetch_one(
            "SELECT * FROM tickets WHERE customer_id = ? AND status = 'open'", (customer_id,)
        )
        return None if row is None else Ticket.from_row(row)

    async def latest_of(self, customer_id: int) -> Ticket | None:
        row = await self._session.fetch_one(
            "SELECT * FROM tickets WHERE customer_id = ? ORDER BY id DESC LIMIT 1",
            (customer_id,),
        )
        return None if row is None else Ticket.from_row(row)

    async def tickets_of(self, customer_id: int, limit: int = 5) -> list[Ticket]:
        rows = await self._session.fetch_all(
            "SELECT * FROM tickets WHERE customer_id = ? ORDER BY id DESC LIMIT ?",
            (customer_id, limit),
        )
        return [Ticket.from_row(row) for row in rows]

    async def assign(self, ticket_id: int, agent_id: int, agent_name: str) -> bool:
        """Make the agent the assignee if nobody is; of two at once, one wins."""
        changed = await self._session.execute(
            """
            UPDATE tickets SET assignee_id = ?, assignee_name = ?
            WHERE id = ? AND status = 'open' AND assignee_id IS NULL
            """,
            (agent_id, agent_name, ticket_id),
        )
        return changed > 0

    async def mark_first_response(self, ticket_id: int, at: datetime) -> bool:
        changed = await self._session.execute(
            "UPDATE tickets SET first_response_at = ? WHERE id = ? AND first_response_at IS NULL",
            (to_db(at), ticket_id),
        )
        return changed > 0

    async def close(self, ticket_id: int, closed_by: int | None, at: datetime) -> bool:
        changed = await self._session.execute(
            """
            UPDATE tickets SET status = 'closed', closed_at = ?, closed_by = ?
            WHERE id = ? AND status = 'open'
            """,
            (to_db(at), closed_by, ticket_id),
        )
        return changed > 0

    async def reopen(self, ticket_id: int) -> bool:
        """A closed ticket open again (the customer wrote soon after its close); False when
        it is not closed. The caller holds the customer's row: no other open ticket appears
        meanwhile (the one-open-ticket index would refuse this one)."""
        changed = await self._session.execute(
            """
            UPDATE tickets SET status = 'open', closed_at = NULL, closed_by = NULL
            WHERE id = ? AND status = 'closed'
              AND NOT EXISTS (
                SELECT 1 FROM tickets other
                WHERE other.customer_id = tickets.customer_id AND other.status = 'open'
              )
            """,
            (ticket_id,),
        )
        return changed > 0

    async def set_card_message(self, ticket_id: int, message_id: int) -> None:
        await self._session.execute(
            "UPDATE tickets SET card_message_id = ? WHERE id = ?", (message_id, ticket_id)
        )

    async def rate(self, ticket_id: int, customer_id: int, stars: int, at: datetime) -> bool:
        """The customer's rating of their closed ticket, once."""
        changed = await self._session.execute(
            """
            UPDATE tickets SET rating = ?, rated_at = ?
            WHERE id = ? AND customer_id = ? AND status = 'closed' AND rating IS NULL
            """,
            (stars, to_db(at), ticket_id, customer_id),
        )
        return changed > 0

    async def comment(self, ticket_id: int, customer_id: int, text: str) -> bool:
        changed = await self._session.execute(
            """
            UPDATE tickets SET rating_comment = ?
            WHERE id = ? AND customer_id = ? AND rating IS NOT NULL AND rating_comment IS NULL
            """,
            (text, ticket_id, customer_id),
        )
        return changed > 0

    async def claim_reminders(self, opened_before: datetime, at: datetime) -> list[Ticket]:
        """Open tickets still without a first reply since before `opened_before` and not yet
        reminded of; marked reminded in the same transaction, so each is reminded once."""
        rows = await self._session.fetch_all(
            """
            SELECT * FROM tickets
            WHERE status = 'open' AND first_response_at IS NULL AND reminded_at IS NULL
              AND opened_at <= ?
            ORDER BY id
            """
            # PostgreSQL: another replica's claim in progress is skipped; one it committed
            # meanwhile fails `reminded_at IS NULL` when the locked row is re-checked.
            + self._session.for_update(skip_locked=True),
            (to_db(opened_before),),
        )
        if rows:
            await self._session.execute_many(
                "UPDATE tickets SET reminded_at = ? WHERE id = ?",
                [(to_db(at), row["id"]) for row in rows],
            )
        return [Ticket.from_row(row) for row in rows]

    async def points_given_by(self, agent_id: int, since: datetime) -> int:
        """Points an agent added or removed by hand since a moment (both count)."""
        value = await self._session.fetch_value(
            """
            SELECT COALESCE(SUM(ABS(delta)), 0) FROM points_entries
            WHERE reason = 'adjust' AND source = ? AND at >= ?
            """,
            (f"telegram:{agent_id}", to_db(since)),
        )
        return int(value)

    # --- topics ---

    async def topic_of(self, customer_id: int) -> SupportTopic | None:
        row = await self._session.fetch_one(
            "SELECT * FROM support_topics WHERE customer_id = ?", (customer_id,)
        )
        return None if row is None else _topic(row)

    async def topic_by_thread(self, chat_id: int, thread_id: int) -> SupportTopic | None:
        row = await self._session.fetch_one(
            "SELECT * FROM support_topics WHERE chat_id = ? AND thread_id = ?",
            (chat_id, thread_id),
        )
        return None if row is None else _topic(row)

    async def set_topic(self, customer_id: int, chat_id: int, thread_id: int, at: datetime) -> None:
        await self._session.execute(
            """
            INSERT INTO support_topics (customer_id, chat_id, thread_id, created_at)
            VALUES (?, ?, ?, ?)
            ON CONFLICT (customer_id) DO UPDATE
            SET chat_id = excluded.chat_id, thread_id = excluded.thread_id,
                created_at = excluded.created_at
            """,
            (customer_id, chat_id, thread_id, to_db(at)),
        )

    # --- relayed messages, for mirroring edits ---

    async def add_relay(self, relay: Relay) -> None:
        await self._session.execute(
            """
            INSERT INTO support_relays (source_chat_id, source_message_id, target_chat_id,
                                        target_message_id, customer_id)
            VALUES (?, ?, ?, ?, ?)
            ON CONFLICT DO NOTHING
            """,
            (
                relay.source_chat_id,
                relay.source_message_id,
                relay.target_chat_id,
                relay.target_message_id,
                relay.customer_id,
            ),
        )

    async def relay_of(self, source_chat_id: int, source_message_id: int) -> Relay | None:
        row = await self._session.fetch_one(
            "SELECT * FROM support_relays WHERE source_chat_id = ? AND source_message_id = ?",
            (source_chat_id, source_message_id),
        )
        if row is None:
            return None
        return Relay(
            row["source_chat_id"],
            row["source_message_id"],
            row["target_chat_id"],
            row["target_message_id"],
            row["customer_id"],
        )

    # --- what the customer tried before asking a person ---

    async def recent_questions(self, customer_id: int, limit: int = 5) -> list[AskedQuestion]:
        rows = await self._session.fetch_all(
            """
            SELECT at, text, outcome, feedback FROM faq_queries
            WHERE customer_id = ? AND text <> '' ORDER BY id DESC LIMIT ?
            """,
            (customer_id, limit),
        )
        return [
            AskedQuestion(from_db(row["at"]), row["text"], row["outcome"], row["feedback"])
            for row in rows
        ]


def _topic(row: Row) -> SupportTopic:
    return SupportTopic(row["customer_id"], row["chat_id"], row["thread_id"])
