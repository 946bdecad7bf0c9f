"""Opting out of promotions: /stop and the Unsubscribe button under every broadcast.

/start opts back in (handlers/start.py)."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.services.customers import CustomerService
from handlers.callbacks import Unsubscribe
from storage.models import Customer

router = Router(name=__name__)


def _stopped_text() -> str:
    return _("🔕 You won't receive promotions any more. Send /start to subscribe again.")


@router.message(Command("stop"))
async def stop(message: Message, customer: Customer, customers: CustomerService) -> None:
    await customers.set_promotions(customer, False)
    await message.answer(_stopped_text())


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
