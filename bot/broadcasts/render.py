"""Texts about a broadcast shown to the admin: live progress and the final report."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from bot.services.broadcasts.service import Status


def progress_text(status: Status, rate: float, *, final: bool = False) -> str:
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
    eta = document["pending"] / rate if rate > 0 else 0.0
    head = _("📣 Broadcast #{id} is sending…").format(id=document["id"])
    speed = _("{rate} messages/s · about {eta} s left").format(rate=f"{rate:.1f}", eta=f"{eta:.0f}")
    return f"{head}\n{figures}\n{speed}"
