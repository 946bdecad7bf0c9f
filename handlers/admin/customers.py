"""/customer ID: a customer's record and recent interactions, for admins in Telegram."""

from __future__ import annotations

from aiogram import Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.services.interactions import InteractionLog
from bot.telegram.text import cut, fit_lines, shown_name

router = Router(name=__name__)

RECENT = 10
INTERACTION_SHOWN = 80


@router.message(Command("customer"))
async def show_customer(message: Message, command: CommandObject, log: InteractionLog) -> None:
    argument = (command.args or "").strip()
    if not argument.lstrip("-").isdigit():
        await message.answer(_("Usage: /customer TELEGRAM_ID"))
        return
    history = await log.history(int(argument), limit=RECENT)
    if history is None:
        await message.answer(_("No customer with Telegram id {id}.").format(id=argument))
        return
    customer = history.customer
    lines = [
        _("<b>{name}</b> {username} · id {id}").format(
            name=html.quote(shown_name(customer.full_name)),
            username=html.quote(f"@{customer.username}") if customer.username else "",
            id=customer.telegram_id,
        ),
        _("Language: {language} · first seen {first} · last seen {last}").format(
            language=customer.language or customer.telegram_language or "—",
            first=f"{customer.first_seen:%Y-%m-%d %H:%M}",
            last=f"{customer.last_seen:%Y-%m-%d %H:%M}",
        ),
        _("Promotions: {promotions} · reachable: {reachable}").format(
            promotions="✅" if customer.consent_promotions else "🚫",
            reachable="✅" if customer.reachable else "🚫",
        ),
        "",
        _("Recent interactions ({count}):").format(count=len(history.interactions)),
    ]
    for item in history.interactions:
        arrow = "→" if item.direction == "in" else "←"
        text = cut((item.text or "").replace("\n", " "), INTERACTION_SHOWN)
        lines.append(f"{item.at:%m-%d %H:%M} {arrow} {item.kind}: {html.quote(text)}")
    await message.answer(fit_lines(lines))
