"""Texts about a broadcast shown to the admin: live progress and the final report."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.services.broadcasts.service import Status
from bot.telegram.callbacks import Unsubscribe
from storage.repositories.broadcasts import UrlButton


def promotion_keyboard(buttons: Sequence[Sequence[UrlButton]]) -> InlineKeyboardMarkup:
    """A promotion's URL buttons, then Unsubscribe, in the current locale: what every
    recipient sees and the admin's preview shows."""
    rows = [[InlineKeyboardButton(text=b.text, url=b.url) for b in line] for line in buttons]
    rows.append(
        [InlineKeyboardButton(text=_("🔕 Unsubscribe"), callback_data=Unsubscribe().pack())]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def progress_text(status: Status, rate: float, *, final: bool = False, done: bool = False) -> str:
    """The live progress (edited in place), its last state once ``done``, or the ``final``
    report sent as a message of its own."""
    document = status.document()
    figures = _(
        "✅ sent: {sent} · ❌ failed: {failed} · 🚫 blocked: {blocked} · ⏳ left: {pending}"
    ).format(
        sent=document["sent"],
        failed=document["failed"],
        blocked=document["blocked"],
        pending=document["pending"],
    )
    if final:
        head = _("📣 Broadcast #{id} finished: {total} recipients.").format(
            id=document["id"], total=document["total"]
        )
        return f"{head}\n{figures}"
    if done:
        head = _("📣 Broadcast #{id}: sending is over.").format(id=document["id"])
        return f"{head}\n{figures}"
    eta = document["pending"] / rate if rate > 0 else 0.0
    head = _("📣 Broadcast #{id} is sending…").format(id=document["id"])
    speed = _("{rate} messages/s · about {eta} s left").format(rate=f"{rate:.1f}", eta=f"{eta:.0f}")
    return f"{head}\n{figures}\n{speed}"
