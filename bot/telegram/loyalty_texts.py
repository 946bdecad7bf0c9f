"""The customer's loyalty screens (/points, /card, /invite): texts and keyboards.

Pure functions of the data and the language, so they are tested without Telegram. Russian
and Ukrainian put a noun after a number in one of three forms (1 балл, 2 балла, 5 баллов);
the texts here therefore put numbers after a label ("Balance: 1 250") instead of before a
noun, and read correctly for any number without plural forms in the catalogues.
"""

from __future__ import annotations

from datetime import tzinfo
from urllib.parse import quote, urlencode

from aiogram import html
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal

from bot.i18n import N_
from bot.services.loyalty.rules import LoyaltyRules, ReferralRules
from bot.services.loyalty.service import PointsSummary
from bot.telegram.callbacks import ShowCard, ShowInvite, ShowRewards
from bot.telegram.menu import CARD
from bot.telegram.notices.formatting import day, money, points
from bot.telegram.text import cut
from storage.repositories.loyalty import PointsEntry
from storage.repositories.referrals import ReferralStats

# Why points moved, as the ledger records it (points_entries.reason in storage/schema.py).
REASONS: dict[str, str] = {
    "purchase": N_("Purchase"),
    "refund": N_("Refund"),
    "welcome": N_("Welcome bonus"),
    "review": N_("Bonus for a review"),
    "birthday": N_("Birthday bonus"),
    "referral": N_("Bonus for an invitation"),
    "referral_reversed": N_("Invitation bonus taken back (purchase refunded)"),
    "adjust": N_("Correction"),
    "redeem": N_("Paid with points"),
    "redeem_return": N_("Returned from a cancelled redemption"),
    "expire": N_("Expired"),
}
_ORDER_SOURCE = "order:"
_NOTE_LIMIT = 80
PROGRESS_CELLS = 10


# --- /points ---------------------------------------------------------------------------


def signed(delta: int, language: str) -> str:
    """+100 / −30 with the language's digit grouping (a true minus sign reads better)."""
    return ("+" if delta >= 0 else "−") + points(abs(delta), language)


def progress_bar(share: float, cells: int = PROGRESS_CELLS) -> str:
    """▰▰▰▱▱▱▱▱▱▱ for 0.3; a cell fills only when reached, so 99 % never shows as full."""
    filled = min(cells, max(0, int(share * cells)))
    return "▰" * filled + "▱" * (cells - filled)


def reason_label(entry: PointsEntry) -> str:
    label = REASONS.get(entry.reason)
    text = _(label) if label is not None else _("Other")
    source = entry.source or ""
    if entry.reason in ("purchase", "refund") and source.startswith(_ORDER_SOURCE):
        order = source.removeprefix(_ORDER_SOURCE)
        text = _("{what}, order {order}").format(what=text, order=html.quote(order))
    elif entry.reason == "adjust" and entry.note:
        note = cut(entry.note, _NOTE_LIMIT)
        text = f"{text}: {html.quote(note)}"
    return text


def movement_line(entry: PointsEntry, language: str, zone: tzinfo) -> str:
    moment = day(entry.at.astimezone(zone), language)
    return f"{signed(entry.delta, language)} · {reason_label(entry)} · {moment}"


def _tier_lines(summary: PointsSummary, rules: LoyaltyRules, language: str) -> list[str]:
    tier = summary.tier
    name = html.bold(html.quote(tier.title(language)))
    if tier.multiplier != 1:
        line = _("Tier: {tier} (points ×{multiplier})").format(
            tier=name, multiplier=format_decimal(tier.multiplier, locale=language)
        )
    else:
        line = _("Tier: {tier}").format(tier=name)
    lines = [line]
    next_tier, missing = summary.next_tier, summary.spend_to_next_minor
    if next_tier is None or missing is None:
        lines.append(_("🏆 This is our highest tier. Thank you for staying with us!"))
        return lines
    lines.append(f"{progress_bar(summary.tier_progress)} {int(summary.tier_progress * 100)}%")
    lines.append(
        _("Spend {amount} more to reach {tier} (purchases of the last 12 months count).").format(
            amount=money(missing, rules.currency, language),
            tier=html.quote(next_tier.title(language)),
        )
    )
    return lines


def points_screen(summary: PointsSummary, rules: LoyaltyRules, language: str, zone: tzinfo) -> str:
    sections = [
        "\n".join(
            [
                _("⭐ <b>Your points</b>"),
                "",
                _("Balance: {balance}").format(
                    balance=html.bold(points(summary.balance, language))
                ),
                *_tier_lines(summary, rules, language),
            ]
        )
    ]
    if summary.expiring:
        sections.append(
            "\n".join(
                [_("🔥 Points that will burn soon:")]
                + [
                    "• "
                    + _("{points} on {date}").format(
                        points=points(item.points, language),
                        date=day(item.expires_at.astimezone(zone), language),
                    )
                    for item in summary.expiring
                ]
            )
        )
    if summary.movements:
        sections.append(
            "\n".join(
                [_("🧾 Recent movements:")]
                + [movement_line(entry, language, zone) for entry in summary.movements]
            )
        )
    else:
        sections.append(_("🧾 No points movements yet: purchases will show up here."))
    return "\n\n".join(sections)


def points_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("🎁 Rewards"), callback_data=ShowRewards().pack())],
            [
                InlineKeyboardButton(text=_(CARD.label), callback_data=ShowCard().pack()),
                InlineKeyboardButton(
                    text=_("🤝 Invite friends"), callback_data=ShowInvite().pack()
                ),
            ],
        ]
    )


# --- /card -----------------------------------------------------------------------------


def group_digits(code: str, size: int = 4) -> str:
    """'123456789012' -> '1234 5678 9012': easier to read out and type in at a till."""
    return " ".join(code[start : start + size] for start in range(0, len(code), size))


def card_caption(card_code: str) -> str:
    return _(
        "💳 <b>Your loyalty card</b>\n\n"
        "Show this QR code at the till, or tell the cashier your card number:\n"
        "<code>{code}</code>"
    ).format(code=group_digits(card_code))


# --- /invite ---------------------------------------------------------------------------


def referral_rules_line(rules: ReferralRules, language: str) -> str:
    """What an invitation earns, in one line, for whatever the rules file says."""
    rewards_referrer = rules.referrer_points > 0 and rules.monthly_cap > 0
    values = {
        "you": points(rules.referrer_points, language),
        "friend": points(rules.referee_points, language),
        "cap": points(rules.monthly_cap, language),
    }
    if rewards_referrer and rules.referee_points:
        text = _(
            "Points after your friend's first purchase: {you} for you and {friend} for your "
            "friend (rewarded invitations a month: up to {cap})."
        )
    elif rewards_referrer:
        text = _(
            "Points after your friend's first purchase: {you} for you "
            "(rewarded invitations a month: up to {cap})."
        )
    elif rules.referee_points:
        text = _("Points after your friend's first purchase: {friend} for your friend.")
    else:
        return _("Share it with friends who would like to join us.")
    return text.format(**values)


def share_text(rules: ReferralRules) -> str:
    if rules.referee_points:
        return _("Join me here: you'll get bonus points after your first purchase!")
    return _("Join me here!")


def share_url(link: str, text: str) -> str:
    """Telegram's share dialog: the user picks a chat, the link and text are pre-filled."""
    return "https://t.me/share/url?" + urlencode({"url": link, "text": text}, quote_via=quote)


def invite_screen(link: str, stats: ReferralStats, rules: ReferralRules, language: str) -> str:
    return "\n".join(
        [
            _("🤝 <b>Invite friends</b>"),
            "",
            _("Your personal link for friends who haven't used this bot yet:"),
            link,
            "",
            referral_rules_line(rules, language),
            "",
            _("Friends invited: {count}").format(count=points(stats.invited, language)),
            _("Made a purchase: {count}").format(count=points(stats.converted, language)),
            _("Points earned for invitations: {points}").format(
                points=points(stats.points, language)
            ),
        ]
    )


def invite_keyboard(link: str, rules: ReferralRules) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("📤 Share the link"), url=share_url(link, share_text(rules))
                )
            ]
        ]
    )
