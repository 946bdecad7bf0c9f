"""Recognising a forgotten customer who comes back, without keeping who they were.

Erasure (/forget) blanks the customer's row, so the same person writing again is a new
customer. That must not pay the one-off bonuses (welcome, referral) a second time, so the
Telegram id of every erased customer is kept as HMAC-SHA256 under a random key made once per
installation (`installation_secrets`). Telegram ids are a small space (about 10^10 in use), so a
plain hash would be reversed by hashing them all; the keyed one cannot be without the key.
The key sits in the same database, so this protects a leaked table or export, not a full dump.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from storage.unit_of_work import UnitOfWork

_SECRET_NAME = "erased-ids"


async def _fingerprint(uow: UnitOfWork, telegram_id: int, at: datetime) -> str:
    key = await uow.erased_ids.secret(_SECRET_NAME, secrets.token_hex(32), at)
    return hmac.new(key.encode(), str(telegram_id).encode(), hashlib.sha256).hexdigest()


async def remember_erased(uow: UnitOfWork, telegram_id: int, at: datetime) -> None:
    """Inside the erasing (write) transaction."""
    await uow.erased_ids.remember(await _fingerprint(uow, telegram_id, at), at)


async def was_erased(uow: UnitOfWork, telegram_id: int | None, at: datetime) -> bool:
    """Whether this Telegram id belonged to a customer who was forgotten; inside a write
    transaction (the first use stores the installation's key)."""
    if telegram_id is None:
        return False
    return await uow.erased_ids.contains(await _fingerprint(uow, telegram_id, at))
