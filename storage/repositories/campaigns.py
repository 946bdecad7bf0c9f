"""Automated campaigns: who is due a campaign message, and queueing it as a broadcast.

A campaign run turns into one broadcast (``broadcasts.campaign`` names the campaign) whose
recipients are materialised here, each with the payload their message is rendered from;
from then on the broadcast worker delivers it like any other broadcast.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.clock import to_db
from storage.database import Session
from storage.repositories.broadcasts import ELIGIBLE


@dataclass(frozen=True)
class CampaignItem:
    customer_id: int
    # The period the customer hears of this campaign at most once in.
    period: str
    payload: dict[str, Any] = field(default_factory=dict)


class CampaignRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def enqueue(
        self, campaign: str, items: Sequence[CampaignItem], at: datetime
    ) -> tuple[int | None, int]:
        """Queue the items not queued before (per campaign, customer and period) as one
        broadcast that starts sending at once; (broadcast id or None, recipients queued).
        Customers who opted out or were forgotten are left out; those known unreachable are
        recorded as 'blocked' (counted, never sent to), as a broadcast does."""
        if not items:
            return None, 0
        broadcast_id = await self._session.insert(
            """
            INSERT INTO broadcasts (text, segment, state, created_by, created_at, send_at,
                                    started_at, campaign)
            VALUES (?, ?, 'sending', ?, ?, ?, ?, ?)
            """,
            (
                f"[campaign: {campaign}]",
                f"campaign:{campaign}",
                f"campaign:{campaign}",
                to_db(at),
                to_db(at),
                to_db(at),
                campaign,
            ),
        )
        assert broadcast_id is not None
        queued = 0
        for item in items:
            eligible = await self._session.fetch_one(
                f"SELECT c.reachable FROM customers c WHERE c.id = ? AND {ELIGIBLE}",  # noqa: S608
                (item.customer_id,),
            )
            if eligible is None:
                continue
            claimed = await self._session.execute(
                "INSERT INTO campaign_deliveries "
                "(campaign, customer_id, period, broadcast_id, queued_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (campaign, item.customer_id, item.period, broadcast_id, to_db(at)),
            )
            if not claimed:
                continue
            reachable = bool(eligible[0])
            await self._session.execute(
                "INSERT INTO broadcast_recipients (broadcast_id, customer_id, state, at, payload) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    broadcast_id,
                    item.customer_id,
                    "pending" if reachable else "blocked",
                    None if reachable else to_db(at),
                    json.dumps(item.payload, ensure_ascii=False),
                ),
            )
            queued += 1
        if not queued:
            await self._session.execute("DELETE FROM broadcasts WHERE id = ?", (broadcast_id,))
            return None, 0
        await self._session.execute(
            "UPDATE broadcasts SET total = ? WHERE id = ?", (queued, broadcast_id)
        )
        return broadcast_id, queued

    async def customers_where(self, condition: str, params: Sequence[Any]) -> list[int]:
        """Customers who may get a promotion and match a compiled segment condition."""
        rows = await self._session.fetch_all(
            f"SELECT c.id FROM customers c WHERE {ELIGIBLE} AND ({condition}) ORDER BY c.id",  # noqa: S608
            tuple(params),
        )
        return [int(row[0]) for row in rows]

    async def last_activity(self, customer_ids: Sequence[int]) -> dict[int, str]:
        """Per customer, when their current inactivity began: the last purchase, or joining
        for those who never bought (the `inactive` segment's definition)."""
        found: dict[int, str] = {}
        for customer_id in customer_ids:
            value = await self._session.fetch_value(
                "SELECT COALESCE((SELECT MAX(p.purchased_at) FROM purchases p "
                "WHERE p.customer_id = c.id), c.first_seen) FROM customers c WHERE c.id = ?",
                (customer_id,),
            )
            if value is not None:
                found[customer_id] = str(value)
        return found

    async def joined_between(self, start: datetime, end: datetime) -> list[int]:
        """Customers who may get a promotion and first came to the bot in [start, end)."""
        rows = await self._session.fetch_all(
            f"SELECT c.id FROM customers c WHERE {ELIGIBLE} "  # noqa: S608
            "AND c.first_seen >= ? AND c.first_seen < ? ORDER BY c.id",
            (to_db(start), to_db(end)),
        )
        return [int(row[0]) for row in rows]

    async def consenting(self, customer_ids: Sequence[int]) -> set[int]:
        """Those of these customers who accept promotions (and can be written to at all)."""
        found: set[int] = set()
        for customer_id in customer_ids:
            row = await self._session.fetch_one(
                f"SELECT 1 FROM customers c WHERE c.id = ? AND {ELIGIBLE}",  # noqa: S608
                (customer_id,),
            )
            if row is not None:
                found.add(customer_id)
        return found

    async def notified(self, dedupe_keys: Sequence[str]) -> set[str]:
        """Those of these outbox keys already queued as account notices: the event was
        told that way (e.g. before the campaign was switched on), not to be told twice."""
        found: set[str] = set()
        for key in dedupe_keys:
            if await self._session.fetch_one("SELECT 1 FROM outbox WHERE dedupe_key = ?", (key,)):
                found.add(key)
        return found

    # Data rights

    async def deliveries_of(self, customer_id: int) -> list[dict[str, Any]]:
        rows = await self._session.fetch_all(
            "SELECT d.campaign, d.period, d.queued_at, r.state "
            "FROM campaign_deliveries d LEFT JOIN broadcast_recipients r "
            "ON r.broadcast_id = d.broadcast_id AND r.customer_id = d.customer_id "
            "WHERE d.customer_id = ? ORDER BY d.queued_at, d.campaign",
            (customer_id,),
        )
        return [dict(row) for row in rows]

    async def forget(self, customer_id: int) -> int:
        """The customer's campaign history goes, and what their messages said (points,
        dates); the delivery rows stay as anonymous counts of their broadcasts."""
        erased = await self._session.execute(
            "DELETE FROM campaign_deliveries WHERE customer_id = ?", (customer_id,)
        )
        await self._session.execute(
            "UPDATE broadcast_recipients SET payload = NULL WHERE customer_id = ? "
            "AND payload IS NOT NULL",
            (customer_id,),
        )
        return erased
