"""/start (with an optional deep-link payload) and /menu."""

from __future__ import annotations

import re

from aiogram import Bot, Router, html
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.services.customers import CustomerService
from bot.services.loyalty.service import LoyaltyService
from bot.telegram.commands import CommandMenu
from bot.telegram.menu import main_menu_keyboard
from storage.models import Customer

router = Router(name=__name__)

# Telegram allows A-Z, a-z, 0-9, _ and - in deep-link payloads, up to 64 characters.
_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@router.message(CommandStart())
async def start(
    message: Message,
    command: CommandObject,
    customer: Customer,
    customers: CustomerService,
    is_admin: bool,
    command_menu: CommandMenu,
    loyalty: LoyaltyService,
    bot: Bot,
) -> None:
    payload = (command.args or "").strip()
    referrer = None
    if payload and _PAYLOAD.match(payload):
        await customers.keep_start_payload(customer, payload)
        referrer = await loyalty.attribute_referral(customer, payload)
    name = html.quote(customer.first_name or "")
    lines = [
        _("Hi, {name}! 👋\n\nUse the menu below, or send /help to see everything I can do.").format(
            name=name
        )
    ]
    welcome_points = await loyalty.grant_welcome_bonus(customer)
    if welcome_points:
        lines.append(
            _("🎁 {points} welcome points are on your balance: see /points.").format(
                points=welcome_points
            )
        )
    if referrer is not None:
        lines.append(
            _(
                "🤝 You were invited by {friend}: you both get a bonus after your first purchase."
            ).format(friend=html.quote(referrer.first_name or ""))
        )
    await message.answer("\n\n".join(lines), reply_markup=main_menu_keyboard())
    if is_admin:
        # Registering an admin's commands fails until they have opened the bot; now they have.
        await command_menu.set_for_chat(bot, message.chat.id, customer.language, is_admin=True)


@router.message(Command("menu"))
async def menu(message: Message) -> None:
    await message.answer(_("Here's the menu 👇"), reply_markup=main_menu_keyboard())
