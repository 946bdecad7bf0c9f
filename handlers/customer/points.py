"""/points, /card and /invite: a customer's own side of the loyalty programme.

Every screen is about the sender: the buttons carry no customer id, so a forged or replayed
button can only ever show the presser their own data.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, LinkPreviewOptions, Message
from aiogram.utils.deep_linking import create_start_link
from aiogram.utils.i18n import I18n

from bot.config import Settings
from bot.services.loyalty.service import LoyaltyService, card_payload, referral_payload
from bot.telegram import loyalty_texts as texts
from bot.telegram.callbacks import ShowCard, ShowInvite
from bot.telegram.filters import MenuButton
from bot.telegram.menu import CARD, POINTS
from bot.telegram.qr import qr_png
from storage.models import Customer

router = Router(name=__name__)


@router.message(Command("points"))
@router.message(MenuButton(POINTS.label))
async def show_points(
    message: Message, customer: Customer, loyalty: LoyaltyService, settings: Settings, i18n: I18n
) -> None:
    summary = await loyalty.summary(customer)
    text = texts.points_screen(
        summary, loyalty.rules, i18n.current_locale, ZoneInfo(settings.jobs.timezone)
    )
    await message.answer(text, reply_markup=texts.points_keyboard())


@router.message(Command("card"))
@router.message(MenuButton(CARD.label))
async def card_command(
    message: Message, customer: Customer, loyalty: LoyaltyService, bot: Bot
) -> None:
    await _send_card(bot, message.chat.id, customer, loyalty)


@router.callback_query(ShowCard.filter())
async def card_button(
    query: CallbackQuery, customer: Customer, loyalty: LoyaltyService, bot: Bot
) -> None:
    await _send_card(bot, query.from_user.id, customer, loyalty)


async def _send_card(bot: Bot, chat_id: int, customer: Customer, loyalty: LoyaltyService) -> None:
    customer = await loyalty.ensure_codes(customer)
    assert customer.card_code is not None
    # A phone camera opens this link in Telegram: a cashier lands in the bot with the card.
    link = await create_start_link(bot, card_payload(customer.card_code))
    await bot.send_photo(
        chat_id,
        BufferedInputFile(qr_png(link), filename="card.png"),
        caption=texts.card_caption(customer.card_code),
    )


@router.message(Command("invite"))
async def invite_command(
    message: Message, customer: Customer, loyalty: LoyaltyService, bot: Bot, i18n: I18n
) -> None:
    await _send_invite(bot, message.chat.id, customer, loyalty, i18n.current_locale)


@router.callback_query(ShowInvite.filter())
async def invite_button(
    query: CallbackQuery, customer: Customer, loyalty: LoyaltyService, bot: Bot, i18n: I18n
) -> None:
    await _send_invite(bot, query.from_user.id, customer, loyalty, i18n.current_locale)


async def _send_invite(
    bot: Bot, chat_id: int, customer: Customer, loyalty: LoyaltyService, language: str
) -> None:
    customer = await loyalty.ensure_codes(customer)
    assert customer.referral_code is not None
    link = await create_start_link(bot, referral_payload(customer.referral_code))
    stats = await loyalty.referral_stats(customer)
    rules = loyalty.rules.referral
    await bot.send_message(
        chat_id,
        texts.invite_screen(link, stats, rules, language),
        reply_markup=texts.invite_keyboard(link, rules),
        # The link itself is the content; a preview card of the bot would only push it up.
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
