"""/help: the commands of the sender's own menu, from the same table (bot/telegram/commands)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.services.access import Role
from bot.telegram.commands import command_lines, help_sections
from bot.telegram.filters import MenuButton
from bot.telegram.menu import HELP, main_menu_keyboard

router = Router(name=__name__)


@router.message(Command("help"))
@router.message(MenuButton(HELP.label))
async def show_help(message: Message, is_admin: bool, roles: frozenset[Role] = frozenset()) -> None:
    parts = []
    for heading, entries in help_sections(is_admin=is_admin, is_cashier=Role.CASHIER in roles):
        lines = command_lines(entries, _)
        parts.append(lines if heading is None else f"{_(heading)}\n{lines}")
    text = _("Here's what I can do:") + "\n\n" + "\n\n".join(parts)
    await message.answer(text, reply_markup=main_menu_keyboard())
