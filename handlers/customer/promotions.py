"""Promotions consent: /stop and the Unsubscribe button under every broadcast opt out;
/subscribe (or the toggle in /profile) opts back in.

/start deliberately never opts in: a customer who said stop must say so themselves."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.services.customers import CustomerService
from bot.telegram.callbacks import Unsubscribe
from storage.models import Customer

router = Router(name=__name__)


def _stopped_text() -> str:
    return _("🔕 You won't receive promotions any more. Send /subscribe to get them again.")


@router.message(Command("stop"))
async def stop(message: Message, customer: Customer, customers: CustomerService) -> None:
    await customers.set_promotions(customer, False)
    await message.answer(_stopped_text())


@router.message(Command("subscribe"))
async def subscribe(message: Message, customer: Customer, customers: CustomerService) -> None:
    if await customers.subscribe(customer):
        await message.answer(_("🔔 You're subscribed to promotions again; /stop turns them off."))
    else:
        await message.answer(_("🔔 You're already subscribed to promotions; /stop turns them off."))


@router.callback_query(Unsubscribe.filter())
async def unsubscribe(
    query: CallbackQuery,
    customer: Customer,
    customers: CustomerService,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    # Always the presser's own consent: nothing in the button names a customer.
    changed = await customers.set_promotions(customer, False)
    callback_answer.text = _("Unsubscribed")
    if changed:
        await bot.send_message(query.from_user.id, _stopped_text())
