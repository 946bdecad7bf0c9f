"""/mydata and /forget: a copy of everything held about the customer, and erasing it."""

from __future__ import annotations

import json
import time

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardRemove,
)
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services.privacy import THE_CUSTOMER, AlreadyForgotten, PrivacyService
from bot.services.reviews import ReviewService
from bot.services.support import SupportService
from bot.telegram.callbacks import ConfirmForget, KeepData, ProfileAction
from bot.telegram.review_posts import withdraw
from bot.telegram.screens import replace_screen
from bot.telegram.support_desk import SupportDesk
from storage.clock import utcnow
from storage.models import Customer

router = Router(name=__name__)

# A confirmation older than this is refused: it was asked for in another moment of mind.
CONFIRMATION_SECONDS = 15 * 60


@router.message(Command("mydata"))
async def my_data_command(
    message: Message, customer: Customer, privacy: PrivacyService, bot: Bot
) -> None:
    await send_my_data(bot, message.chat.id, customer, privacy)


@router.callback_query(ProfileAction.filter(F.what == "export"))
async def my_data_button(
    query: CallbackQuery, customer: Customer, privacy: PrivacyService, bot: Bot
) -> None:
    await send_my_data(bot, query.from_user.id, customer, privacy)


async def send_my_data(bot: Bot, chat_id: int, customer: Customer, privacy: PrivacyService) -> None:
    try:
        document = await privacy.export(THE_CUSTOMER, customer)
    except AlreadyForgotten:
        # Erased a moment ago by an operator; this process had not noticed yet.
        await bot.send_message(chat_id, _("Your data has been erased: there is nothing to send."))
        return
    data = json.dumps(document, ensure_ascii=False, indent=2, default=str).encode()
    await bot.send_document(
        chat_id,
        BufferedInputFile(data, filename=f"my-data-{utcnow():%Y-%m-%d}.json"),
        caption=_(
            "📄 Everything we hold about you: profile, consents, points, purchases, "
            "referrals, rewards, questions and our conversation. Send /forget to have it erased."
        ),
    )


@router.message(Command("forget"))
async def forget_command(message: Message, customer: Customer) -> None:
    await message.answer(_forget_question(), reply_markup=_forget_keyboard(customer))


@router.callback_query(ProfileAction.filter(F.what == "forget"))
async def forget_button(query: CallbackQuery, customer: Customer, bot: Bot) -> None:
    await bot.send_message(
        query.from_user.id, _forget_question(), reply_markup=_forget_keyboard(customer)
    )


def _forget_question() -> str:
    return _(
        "⚠️ <b>Erase your data?</b>\n\n"
        "We will erase your name, username, phone, birthday, card and invitation codes and "
        "the texts of our conversation. Your points are lost with them: if you start again, "
        "you start as a new customer with no points.\n\n"
        "Amounts of past purchases stay in our books without anything that identifies you. "
        "This cannot be undone."
    )


def _forget_keyboard(customer: Customer) -> InlineKeyboardMarkup:
    confirm = ConfirmForget(customer=customer.id, at=int(time.time()))
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("🗑 Yes, erase my data"), callback_data=confirm.pack())],
            [InlineKeyboardButton(text=_("Keep my data"), callback_data=KeepData().pack())],
        ]
    )


@router.callback_query(ConfirmForget.filter())
async def confirm_forget(
    query: CallbackQuery,
    callback_data: ConfirmForget,
    customer: Customer,
    privacy: PrivacyService,
    reviews: ReviewService,
    support: SupportService,
    desk: SupportDesk,
    settings: Settings,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    # Re-checked here whatever the button says: only the record it was asked for (after the
    # erasure this presser is a new customer, so a second press lands here and stops), only
    # the presser's own, and only for a while.
    if callback_data.customer != customer.id:
        callback_answer.text = _("This button is no longer active.")
        return
    if time.time() - callback_data.at > CONFIRMATION_SECONDS:
        callback_answer.text = _("This confirmation has expired: send /forget again.")
        return
    posts = await reviews.published_posts(customer.id)
    open_ticket = await support.open_ticket_of(customer.id)
    try:
        await privacy.forget(THE_CUSTOMER, customer)
    except AlreadyForgotten:
        callback_answer.text = _("This button is no longer active.")
        return
    if open_ticket is not None:
        await desk.customer_forgot(customer.id, open_ticket.id)
    if posts and settings.surveys.reviews_channel_id is not None:
        await withdraw(bot, settings.surveys.reviews_channel_id, posts)
    await replace_screen(query, _("🗑 Your data has been erased."), bot)
    await bot.send_message(
        query.from_user.id,
        _("Goodbye! If you send /start again, you will start as a new customer."),
        reply_markup=ReplyKeyboardRemove(),
    )


@router.callback_query(KeepData.filter())
async def keep_data(query: CallbackQuery, bot: Bot) -> None:
    await replace_screen(query, _("Nothing was erased."), bot)
