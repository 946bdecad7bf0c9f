"""/customer ID: a customer's record and recent interactions, for admins in Telegram."""

from __future__ import annotations

from aiogram import Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services.interactions import InteractionLog
from bot.telegram.history import history_line
from bot.telegram.notices.formatting import moment_in
from bot.telegram.text import fit_lines, shown_name

router = Router(name=__name__)

RECENT = 10


@router.message(Command("customer"))
async def show_customer(
    message: Message, command: CommandObject, log: InteractionLog, settings: Settings
) -> None:
    language = get_i18n().current_locale
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
            first=moment_in(customer.first_seen, language, settings.zone),
            last=moment_in(customer.last_seen, language, settings.zone),
        ),
        _("Promotions: {promotions} · reachable: {reachable}").format(
            promotions="✅" if customer.consent_promotions else "🚫",
            reachable="✅" if customer.reachable else "🚫",
        ),
        "",
        _("Recent interactions ({count}):").format(count=len(history.interactions)),
    ]
    # The same lines as an agent's /history (← from the customer, → to them), in the
    # admin's own language.
    lines.extend(history_line(item, language, settings.zone) for item in history.interactions)
    await message.answer(fit_lines(lines))
