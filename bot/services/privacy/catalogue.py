"""Every data section of the bot, in one place for the bot and the CLI alike.

A feature that stores something about a customer (support tickets, broadcasts' deliveries,
reviews, ...) adds its DataSection here: /mydata then includes it, and /forget erases it.
Sections are exported in this order and forgotten in the reverse order, so the profile
(first) is erased last: the others may still need it (its name, its Telegram id).
"""

from __future__ import annotations

from bot.services.privacy.sections import (
    CONSENTS,
    CONVERSATION_STATE,
    FAQ_QUESTIONS,
    INTERACTIONS,
    NOTICES,
    POINTS,
    PROFILE,
    PROMOTIONS,
    PURCHASES,
    REDEMPTIONS,
    REFERRALS,
    REVIEWS,
    SUPPORT_TICKETS,
    DataSection,
)

DATA_SECTIONS: tuple[DataSection, ...] = (
    PROFILE,
    CONSENTS,
    POINTS,
    PURCHASES,
    REFERRALS,
    REDEMPTIONS,
    REVIEWS,
    PROMOTIONS,
    SUPPORT_TICKETS,
    FAQ_QUESTIONS,
    INTERACTIONS,
    NOTICES,
    CONVERSATION_STATE,
)
