"""Idempotency keys that belong to one request.

A key (an order id, a refund id, an adjustment's key) is stored with a digest of every field
of the request it first came with. The same request again is a replay and gets the first
result; the same key with anything else is a conflict naming the fields that differ, never
a silent "done" for something that was not done.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime

from storage.repositories.idempotency import StoredRequest
from storage.unit_of_work import UnitOfWork

Fingerprint = dict[str, str]


class RequestConflict(Exception):
    """The key was used before for a request that differs in `fields`."""

    def __init__(self, key_field: str, fields: list[str]) -> None:
        super().__init__(
            f"this {key_field} was used before for a request with another {' and '.join(fields)}"
        )
        self.key_field = key_field
        self.fields = fields
        self.field = fields[0]


def fingerprint(kind: str, key: str, values: Mapping[str, object]) -> Fingerprint:
    """A digest per field. Salted with the key, so equal values under two keys (a customer's
    Telegram id, say) do not show up as equal digests."""
    return {
        name: hashlib.sha256(
            json.dumps([kind, key, name, value], default=str).encode()
        ).hexdigest()[:32]
        for name, value in values.items()
    }


def same_request(stored: StoredRequest, key_field: str, fields: Fingerprint) -> StoredRequest:
    """`stored` when `fields` match it; raises RequestConflict naming the fields that differ."""
    differing = sorted(
        name
        for name in fields.keys() | stored.fields.keys()
        if fields.get(name) != stored.fields.get(name)
    )
    if differing:
        raise RequestConflict(key_field, differing)
    return stored


async def bind_key(
    uow: UnitOfWork,
    kind: str,
    key_field: str,
    key: str,
    fields: Fingerprint,
    at: datetime,
) -> StoredRequest | None:
    """Binds a new key to this request (None), or returns the earlier identical request.

    The insert is the arbiter, not the read before it: of two transactions racing with one
    key, the second finds the row once the first commits and answers as a replay."""
    stored = await uow.requests.get(kind, key)
    if stored is None:
        if await uow.requests.claim(kind, key, fields, at):
            return None
        stored = await uow.requests.get(kind, key)
        assert stored is not None  # the insert lost to a committed row with this key
    return same_request(stored, key_field, fields)
