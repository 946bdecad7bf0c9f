from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.batching import Statement
from storage.clock import to_db
from storage.database import IntegrityError, Session
from storage.models import Customer


@dataclass(frozen=True)
class TelegramProfile:
    """The customer's profile as Telegram reports it on each update."""

    telegram_id: int
    first_name: str | None
    last_name: str | None
    username: str | None
    language_code: str | None


class CustomerRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def touch(self, profile: TelegramProfile, seen_at: datetime) -> Customer:
        return (await self.touch_many([profile], seen_at))[profile.telegram_id]

    async def touch_many(
        self, profiles: Sequence[TelegramProfile], seen_at: datetime
    ) -> dict[int, Customer]:
        """Create customers on first contact, else refresh their profile and last_seen."""
        moment = to_db(seen_at)
        latest = {profile.telegram_id: profile for profile in profiles}
        await self._session.execute_many(
            """
            INSERT INTO customers (telegram_id, first_name, last_name, username,
                                   telegram_language, first_seen, last_seen)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (telegram_id) DO UPDATE SET
                first_name = excluded.first_name,
                last_name = excluded.last_name,
                username = excluded.username,
                telegram_language = COALESCE(excluded.telegram_language,
                                             customers.telegram_language),
                last_seen = excluded.last_seen
            """,
            [
                (
                    profile.telegram_id,
                    profile.first_name,
                    profile.last_name,
                    profile.username,
                    profile.language_code,
                    moment,
                    moment,
                )
                for profile in latest.values()
            ],
        )
        return await self.by_telegram_ids(list(latest))

    async def by_telegram_ids(self, telegram_ids: Sequence[int]) -> dict[int, Customer]:
        if not telegram_ids:
            return {}
        placeholders = ",".join("?" * len(telegram_ids))
        rows = await self._session.fetch_all(
            f"SELECT * FROM customers WHERE telegram_id IN ({placeholders})",  # noqa: S608
            list(telegram_ids),
        )
        customers = [Customer.model_validate(dict(row)) for row in rows]
        return {customer.telegram_id: customer for customer in customers if customer.telegram_id}

    async def by_telegram_id(self, telegram_id: int) -> Customer | None:
        row = await self._session.fetch_one(
            "SELECT * FROM customers WHERE telegram_id = ?", (telegram_id,)
        )
        return None if row is None else Customer.model_validate(dict(row))

    async def set_language(self, customer_id: int, language: str | None) -> None:
        await self._session.execute(
            "UPDATE customers SET language = ? WHERE id = ?", (language, customer_id)
        )

    async def keep_start_payload(self, customer_id: int, payload: str) -> bool:
        """Store the first deep-link payload only; later ones never overwrite it."""
        changed = await self._session.execute(
            "UPDATE customers SET start_payload = ? WHERE id = ? AND start_payload IS NULL",
            (payload, customer_id),
        )
        return changed > 0

    async def set_reachable_many(self, changes: Sequence[tuple[int, bool]], at: datetime) -> None:
        """(customer id, reachable) pairs: a block or an unblock seen in an update."""
        await self._session.execute_many(
            """
            UPDATE customers SET reachable = ?,
                unreachable_since = CASE WHEN ? THEN NULL ELSE COALESCE(unreachable_since, ?) END
            WHERE id = ?
            """,
            [(reachable, reachable, to_db(at), customer_id) for customer_id, reachable in changes],
        )

    @staticmethod
    def mark_unreachable(telegram_id: int, at: datetime) -> Statement:
        """Telegram refused delivery (blocked, deactivated): stop counting on this chat."""
        return Statement(
            "UPDATE customers SET reachable = 0, "
            "unreachable_since = COALESCE(unreachable_since, ?) WHERE telegram_id = ?",
            (to_db(at), telegram_id),
        )

    async def set_promotions_consent(
        self, customer_id: int, consent: bool, at: datetime | None = None
    ) -> None:
        # consents_changed_at also dates an unsubscription (/stop, the Unsubscribe button)
        # for the analytics' "unsubscribed in the period".
        await self._session.execute(
            "UPDATE customers SET consent_promotions = ?, "
            "consents_changed_at = COALESCE(?, consents_changed_at) WHERE id = ?",
            (consent, None if at is None else to_db(at), customer_id),
        )
        if not consent:
            await self.clear_promotions_opt_in(customer_id)

    async def record_promotions_opt_in(self, customer_id: int, at: datetime) -> None:
        """The customer asked for promotions themselves (/subscribe): what lets staff, who
        are left out of segments otherwise, receive them."""
        await self._session.execute(
            "UPDATE customers SET promotions_opted_in_at = ? WHERE id = ?", (to_db(at), customer_id)
        )

    async def clear_promotions_opt_in(self, customer_id: int) -> None:
        await self._session.execute(
            "UPDATE customers SET promotions_opted_in_at = NULL WHERE id = ?", (customer_id,)
        )

    async def set_consents(
        self, customer_id: int, *, promotions: bool, surveys: bool, at: datetime
    ) -> None:
        await self._session.execute(
            "UPDATE customers SET consent_promotions = ?, consent_surveys = ?, "
            "consents_changed_at = ? WHERE id = ? AND forgotten_at IS NULL",
            (promotions, surveys, to_db(at), customer_id),
        )
        if not promotions:
            await self.clear_promotions_opt_in(customer_id)

    async def set_phone(self, customer_id: int, phone: str | None) -> None:
        await self._session.execute(
            "UPDATE customers SET phone = ? WHERE id = ? AND forgotten_at IS NULL",
            (phone, customer_id),
        )

    async def lock(self, customer_id: int) -> None:
        """Hold the customer's row until the write transaction ends (see Session.lock)."""
        await self._session.lock("customers", customer_id)

    async def by_id(self, customer_id: int) -> Customer | None:
        row = await self._session.fetch_one("SELECT * FROM customers WHERE id = ?", (customer_id,))
        return None if row is None else Customer.model_validate(dict(row))

    async def by_card_code(self, card_code: str) -> Customer | None:
        row = await self._session.fetch_one(
            "SELECT * FROM customers WHERE card_code = ?", (card_code,)
        )
        return None if row is None else Customer.model_validate(dict(row))

    async def by_referral_code(self, referral_code: str) -> Customer | None:
        row = await self._session.fetch_one(
            "SELECT * FROM customers WHERE referral_code = ?", (referral_code,)
        )
        return None if row is None else Customer.model_validate(dict(row))

    async def set_codes_if_missing(
        self, customer_id: int, card_code: str, referral_code: str
    ) -> bool:
        """Give the customer their card and referral codes once; False on a code collision."""
        try:
            async with self._session.savepoint():
                await self._session.execute(
                    "UPDATE customers SET card_code = COALESCE(card_code, ?), "
                    "referral_code = COALESCE(referral_code, ?) WHERE id = ?",
                    (card_code, referral_code, customer_id),
                )
        except IntegrityError:
            return False
        return True

    async def set_tier(self, customer_id: int, tier: str) -> None:
        await self._session.execute(
            "UPDATE customers SET tier = ? WHERE id = ?", (tier, customer_id)
        )

    async def set_birthday(self, customer_id: int, birthday: str | None) -> None:
        await self._session.execute(
            # A forgotten row stays empty, whatever a stale copy of it asks.
            "UPDATE customers SET birthday = ? WHERE id = ? AND forgotten_at IS NULL",
            (birthday, customer_id),
        )

    async def with_birthday(self, month_day: str) -> list[Customer]:
        rows = await self._session.fetch_all(
            "SELECT * FROM customers WHERE birthday = ? AND telegram_id IS NOT NULL", (month_day,)
        )
        return [Customer.model_validate(dict(row)) for row in rows]
