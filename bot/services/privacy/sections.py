"""Data sections: what each feature holds about a customer, and how it forgets it.

A section exports its part of a customer's data (for /mydata) and erases what is personal
in it (for /forget), both inside the caller's unit of work. Features that store customer
data add a section to bot/services/privacy/catalogue.py, so that an export stays complete
and an erasure leaves nothing behind as the bot grows.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.models import Customer
from storage.unit_of_work import UnitOfWork

Export = Callable[[UnitOfWork, Customer], Awaitable[Any]]
# Returns how many rows it changed (for the audit trail's counts).
Forget = Callable[[UnitOfWork, Customer, datetime], Awaitable[int]]


@dataclass(frozen=True)
class DataSection:
    name: str  # the key of this part in the exported document
    export: Export
    forget: Forget


def audit_subject(customer: Customer) -> str:
    """The customer as the audit trail names them in privacy actions: the internal number,
    which leads to no person once the row is anonymous."""
    return f"customer:#{customer.id}"


async def _nothing_to_forget(_uow: UnitOfWork, _customer: Customer, _at: datetime) -> int:
    """For data that is anonymous once the profile is gone (amounts, dates, codes)."""
    return 0


async def _export_profile(uow: UnitOfWork, customer: Customer) -> dict[str, Any]:
    return customer.model_dump(
        mode="json",
        exclude={
            "consent_promotions",
            "consent_surveys",
            "consents_changed_at",
            "forgotten_at",
            "reachable",
            "unreachable_since",
        },
    )


async def _forget_profile(uow: UnitOfWork, customer: Customer, at: datetime) -> int:
    # The customer's name, written into their referral partners' records ("your friend Bob
    # made a purchase", "you were invited by Ann"), goes too.
    names = [name for name in (customer.first_name, customer.last_name) if name and len(name) > 1]
    partners = await uow.personal_data.referral_counterparts(customer.id)
    if names and partners:
        await uow.personal_data.erase_name_from(partners, names)
    if customer.telegram_id is not None:
        await uow.personal_data.rename_audit_subject(
            f"customer:{customer.telegram_id}", audit_subject(customer)
        )
    return await uow.personal_data.erase_customer(customer.id, at)


async def _export_consents(uow: UnitOfWork, customer: Customer) -> dict[str, Any]:
    changed = customer.consents_changed_at
    return {
        "promotions": customer.consent_promotions,
        "surveys": customer.consent_surveys,
        "changed_at": changed.isoformat() if changed else None,
        "reachable": customer.reachable,
    }


async def _export_points(uow: UnitOfWork, customer: Customer) -> list[dict[str, Any]]:
    return await uow.personal_data.points_entries(customer.id)


async def _forget_points(uow: UnitOfWork, customer: Customer, at: datetime) -> int:
    return await uow.personal_data.erase_points_notes(customer.id)


async def _export_purchases(uow: UnitOfWork, customer: Customer) -> dict[str, Any]:
    return {
        "purchases": await uow.personal_data.purchases(customer.id),
        "refunds": await uow.personal_data.refunds(customer.id),
    }


async def _export_referrals(uow: UnitOfWork, customer: Customer) -> dict[str, Any]:
    # The other party appears only as a number within this document: their identity is
    # their own personal data, not this customer's.
    made = await uow.personal_data.referrals_made(customer.id)
    return {
        "invited_by_a_friend": await uow.personal_data.referral_received(customer.id),
        "friends_invited": [
            {"friend": f"friend-{number}", **row} for number, row in enumerate(made, start=1)
        ],
    }


async def _export_redemptions(uow: UnitOfWork, customer: Customer) -> list[dict[str, Any]]:
    return await uow.personal_data.redemptions(customer.id)


async def _export_faq(uow: UnitOfWork, customer: Customer) -> list[dict[str, Any]]:
    return await uow.personal_data.faq_queries(customer.id)


async def _forget_faq(uow: UnitOfWork, customer: Customer, at: datetime) -> int:
    return await uow.personal_data.erase_faq_queries(customer.id)


async def _export_interactions(uow: UnitOfWork, customer: Customer) -> list[dict[str, Any]]:
    return await uow.personal_data.interactions(customer.id)


async def _forget_interactions(uow: UnitOfWork, customer: Customer, at: datetime) -> int:
    return await uow.personal_data.erase_interactions(customer.id)


async def _export_notices(uow: UnitOfWork, customer: Customer) -> list[dict[str, Any]]:
    return await uow.personal_data.notices(customer.id)


async def _forget_notices(uow: UnitOfWork, customer: Customer, at: datetime) -> int:
    return await uow.personal_data.erase_notices(customer.id)


async def _export_reviews(uow: UnitOfWork, customer: Customer) -> dict[str, Any]:
    return {
        "reviews": await uow.personal_data.reviews(customer.id),
        "nps_answers": await uow.personal_data.nps_answers(customer.id),
        "nps_invitations": await uow.personal_data.nps_invitations(customer.id),
    }


async def _forget_reviews(uow: UnitOfWork, customer: Customer, at: datetime) -> int:
    return (
        await uow.personal_data.erase_reviews(customer.id)
        + await uow.personal_data.erase_nps_reasons(customer.id)
        + await uow.personal_data.erase_nps_invitations(customer.id)
    )


async def _export_promotions(uow: UnitOfWork, customer: Customer) -> dict[str, Any]:
    return {
        "tags": await uow.personal_data.tags(customer.id),
        "broadcasts": await uow.personal_data.broadcasts_received(customer.id),
        # Automated campaigns (birthday, reactivation, ...): which, for which period, when.
        "campaigns": await uow.campaigns.deliveries_of(customer.id),
    }


async def _forget_promotions(uow: UnitOfWork, customer: Customer, at: datetime) -> int:
    # Delivery rows are kept (counts of a broadcast); the labels put on the customer go, and
    # so do their campaign history and what campaign messages said to them.
    erased = await uow.personal_data.erase_tags(customer.id)
    return erased + await uow.campaigns.forget(customer.id)


async def _export_tickets(uow: UnitOfWork, customer: Customer) -> list[dict[str, Any]]:
    return await uow.personal_data.tickets(customer.id)


async def _forget_tickets(uow: UnitOfWork, customer: Customer, at: datetime) -> int:
    return await uow.personal_data.erase_tickets(customer.id, at)


async def _export_conversation(uow: UnitOfWork, customer: Customer) -> list[dict[str, Any]]:
    if customer.telegram_id is None:
        return []
    return [
        {"step": row.state, "data": json.loads(row.data)}
        for row in await uow.fsm.for_user(customer.telegram_id)
    ]


async def _forget_conversation(uow: UnitOfWork, customer: Customer, at: datetime) -> int:
    # A conversation in progress (a review comment awaited, its draft) ends with the customer.
    if customer.telegram_id is None:
        return 0
    return await uow.fsm.forget_user(customer.telegram_id)


CONVERSATION_STATE = DataSection("conversation_state", _export_conversation, _forget_conversation)
CONSENTS = DataSection("consents", _export_consents, _nothing_to_forget)
SUPPORT_TICKETS = DataSection("support_tickets", _export_tickets, _forget_tickets)
PROMOTIONS = DataSection("promotions", _export_promotions, _forget_promotions)
REVIEWS = DataSection("reviews", _export_reviews, _forget_reviews)
POINTS = DataSection("points_movements", _export_points, _forget_points)
PURCHASES = DataSection("purchases", _export_purchases, _nothing_to_forget)
REFERRALS = DataSection("referrals", _export_referrals, _nothing_to_forget)
REDEMPTIONS = DataSection("redemptions", _export_redemptions, _nothing_to_forget)
FAQ_QUESTIONS = DataSection("faq_questions", _export_faq, _forget_faq)
INTERACTIONS = DataSection("interactions", _export_interactions, _forget_interactions)
NOTICES = DataSection("notices", _export_notices, _forget_notices)
PROFILE = DataSection("profile", _export_profile, _forget_profile)
