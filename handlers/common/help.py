from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.services.access import Role
from bot.telegram.filters import MenuButton
from bot.telegram.menu import HELP, main_menu_keyboard

router = Router(name=__name__)


@router.message(Command("help"))
@router.message(MenuButton(HELP.label))
async def show_help(message: Message, is_admin: bool, roles: frozenset[Role] = frozenset()) -> None:
    text = _(
        "Here's what I can do:\n\n"
        "/menu — show the main menu\n"
        "/language — choose the language I speak\n"
        "/help — this message"
    )
    text += "\n" + _(
        "/faq — frequently asked questions (or just type your question)\n"
        "/points — your points, tier and history\n"
        "/card — your loyalty card to show at the till\n"
        "/rewards — spend your points on rewards\n"
        "/invite — invite friends and both earn points"
    )
    text += "\n" + _(
        "/profile — your phone, birthday and what you agree to\n"
        "/mydata — everything we hold about you, as a file\n"
        "/forget — erase your data"
    )
    if is_admin or Role.CASHIER in roles:
        text += "\n\n" + _(
            "For cashiers:\n/sale — record a sale by the customer's card\n"
            "/redeem CODE — confirm a customer's code"
        )
    if is_admin:
        text += "\n\n" + _(
            "For administrators:\n/customer ID — a customer's record and recent interactions\n"
            "/roles, /grant ROLE ID, /revoke ROLE ID — who may do what\n"
            "/faq_gaps, /faq_stats, /faq_reload — look after the FAQ"
        )
    await message.answer(text, reply_markup=main_menu_keyboard())
