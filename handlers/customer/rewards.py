"""/rewards: the catalogue, a code for the cashier (a QR code and its digits), and
"use N points" against a purchase. The rules live in RedemptionService."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services.loyalty.ledger import InsufficientPoints
from bot.services.loyalty.redemptions import (
    Catalogue,
    CodeClosed,
    CodeExpired,
    Issued,
    RedemptionService,
    UnknownCode,
    UnknownReward,
)
from bot.telegram.callbacks import CancelCode, PickReward, ShowRewards, StopUsingPoints, UsePoints
from bot.telegram.filters import Check, MenuButton
from bot.telegram.menu import REWARDS
from bot.telegram.notices.formatting import clock, money, percent, points
from bot.telegram.notices.rewards import code_purpose, spaced_code
from bot.telegram.qr import REDEEM_PAYLOAD, qr_png, start_link
from bot.telegram.screens import replace_screen
from storage.clock import utcnow
from storage.models import Customer
from storage.repositories.redemptions import Redemption

router = Router(name=__name__)


class PointsQuestion(StatesGroup):
    how_many = State()


def _language() -> str:
    return get_i18n().current_locale


def _what(redemption: Redemption, service: RedemptionService) -> str:
    return code_purpose(redemption.reward_id, redemption.points, service.rules, _language())


def _catalogue_screen(
    catalogue: Catalogue, service: RedemptionService, settings: Settings
) -> tuple[str, InlineKeyboardMarkup]:
    language = _language()
    lines = [
        _("🎁 <b>Rewards</b>\nYour balance: <b>{balance}</b> points.").format(
            balance=points(catalogue.balance, language)
        ),
        _(
            "Pick a reward to get a one-time code for the cashier, or use points to pay "
            "up to {share} of a purchase."
        ).format(share=percent(service.rules.redemption.max_share_of_purchase)),
    ]
    if catalogue.open_codes:
        now = utcnow()
        lines.append(
            _("Your open codes:")
            + "".join(
                "\n• "
                + _("{code} — {what}, valid until {time}").format(
                    code=spaced_code(code.code),
                    what=_what(code, service),
                    time=clock(code.expires_at, settings.jobs.timezone, now),
                )
                for code in catalogue.open_codes
            )
        )
    buttons = []
    for reward in catalogue.rewards:
        label = f"{reward.title(language)} — {points(reward.points, language)}"
        if reward.points > catalogue.balance:
            label = "🔒 " + label
        buttons.append(
            [InlineKeyboardButton(text=label, callback_data=PickReward(reward_id=reward.id).pack())]
        )
    buttons.append(
        [InlineKeyboardButton(text=_("💰 Use points"), callback_data=UsePoints().pack())]
    )
    return "\n\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons)


async def _send_catalogue(
    bot: Bot, chat_id: int, customer: Customer, redemptions: RedemptionService, settings: Settings
) -> None:
    catalogue = await redemptions.catalogue(customer)
    text, markup = _catalogue_screen(catalogue, redemptions, settings)
    await bot.send_message(chat_id, text, reply_markup=markup)


async def _leave_question(state: FSMContext) -> None:
    """Going back to the catalogue abandons an open "how many points?" question."""
    if await state.get_state() == PointsQuestion.how_many.state:
        await state.clear()


@router.message(Command("rewards"))
@router.message(MenuButton(REWARDS.label))
async def show_rewards(
    message: Message,
    customer: Customer,
    redemptions: RedemptionService,
    settings: Settings,
    state: FSMContext,
    bot: Bot,
) -> None:
    await _leave_question(state)
    await _send_catalogue(bot, message.chat.id, customer, redemptions, settings)


@router.callback_query(ShowRewards.filter())
async def show_rewards_from_button(
    query: CallbackQuery,
    customer: Customer,
    redemptions: RedemptionService,
    settings: Settings,
    state: FSMContext,
    bot: Bot,
) -> None:
    await _leave_question(state)
    await _send_catalogue(bot, query.from_user.id, customer, redemptions, settings)


async def _send_code(
    bot: Bot, chat_id: int, issued: Issued, service: RedemptionService, settings: Settings
) -> None:
    redemption = issued.redemption
    me = await bot.me()
    link = start_link(me.username or "", REDEEM_PAYLOAD + redemption.code)
    lines = [] if issued.created else [_("You already have this code open:")]
    lines += [
        _("🎟 Your code: <b>{code}</b>").format(code=spaced_code(redemption.code)),
        _("For: {what}").format(what=_what(redemption, service)),
        _(
            "Valid until {time}. Show this to the cashier: they scan the QR code "
            "or type the digits."
        ).format(time=clock(redemption.expires_at, settings.jobs.timezone, utcnow())),
        _("Balance after this code: {balance} points.").format(
            balance=points(issued.balance, _language())
        ),
    ]
    await bot.send_photo(
        chat_id,
        BufferedInputFile(qr_png(link), filename=f"code-{redemption.code}.png"),
        caption="\n".join(lines),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=_("✖️ Cancel code"),
                        callback_data=CancelCode(redemption_id=redemption.id).pack(),
                    )
                ]
            ]
        ),
    )


@router.callback_query(PickReward.filter())
async def pick_reward(
    query: CallbackQuery,
    callback_data: PickReward,
    customer: Customer,
    redemptions: RedemptionService,
    settings: Settings,
    state: FSMContext,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    await _leave_question(state)
    try:
        issued = await redemptions.issue(customer, reward_id=callback_data.reward_id)
    except UnknownReward:
        callback_answer.text = _("This reward is no longer offered.")
        return
    except InsufficientPoints as short:
        callback_answer.text = _(
            "You need {missing} more points for this reward (you have {balance})."
        ).format(
            missing=points(short.wanted - short.available, _language()),
            balance=points(short.available, _language()),
        )
        callback_answer.show_alert = True
        return
    await _send_code(bot, query.from_user.id, issued, redemptions, settings)


@router.callback_query(UsePoints.filter())
async def ask_how_many(
    query: CallbackQuery,
    customer: Customer,
    redemptions: RedemptionService,
    state: FSMContext,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    balance = (await redemptions.catalogue(customer)).balance
    if balance <= 0:
        callback_answer.text = _("You have no points to use yet.")
        callback_answer.show_alert = True
        return
    language = _language()
    rules = redemptions.rules
    await state.set_state(PointsQuestion.how_many)
    await bot.send_message(
        query.from_user.id,
        _(
            "How many points do you want to use? You have {balance} (worth {value}). "
            "Points can pay up to {share} of a purchase. Send a number, e.g. {example}."
        ).format(
            balance=points(balance, language),
            value=money(rules.points_value_minor(balance), rules.currency, language),
            share=percent(rules.redemption.max_share_of_purchase),
            example=min(balance, 100),
        ),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=StopUsingPoints().pack())]
            ]
        ),
    )


@router.callback_query(StopUsingPoints.filter())
async def stop_asking(query: CallbackQuery, state: FSMContext, bot: Bot) -> None:
    await _leave_question(state)
    await replace_screen(query, _("OK, no points were reserved."), bot)


# Commands typed while the question is open go to their own handlers (or the fallback).
@router.message(StateFilter(PointsQuestion.how_many), Check(F.text & ~F.text.startswith("/")))
async def how_many(
    message: Message,
    customer: Customer,
    redemptions: RedemptionService,
    settings: Settings,
    state: FSMContext,
    bot: Bot,
) -> None:
    assert message.text is not None
    text = "".join(message.text.split())
    language = _language()
    if not text.isdigit() or int(text) <= 0:
        await message.answer(_("Please send a whole number of points greater than 0, e.g. 100."))
        return
    try:
        issued = await redemptions.issue(customer, points=int(text))
    except InsufficientPoints as short:
        await message.answer(
            _("You have {balance} points; send a number up to that.").format(
                balance=points(short.available, language)
            )
        )
        return
    await state.clear()
    await _send_code(bot, message.chat.id, issued, redemptions, settings)


@router.message(StateFilter(PointsQuestion.how_many), ~Check(F.text))
async def how_many_not_text(message: Message) -> None:
    await message.answer(_("Please type the number of points in digits, e.g. 100."))


@router.callback_query(CancelCode.filter())
async def cancel_code(
    query: CallbackQuery,
    callback_data: CancelCode,
    customer: Customer,
    redemptions: RedemptionService,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    language = _language()
    try:
        cancelled = await redemptions.cancel(customer, callback_data.redemption_id)
    except UnknownCode:
        callback_answer.text = _("This button is no longer active.")
        return
    except CodeExpired:
        callback_answer.text = _("This code has expired; its points are already back.")
        return
    except CodeClosed as closed:
        moment = closed.redemption.closed_at or utcnow()
        when = clock(moment, settings.jobs.timezone, utcnow())
        callback_answer.text = (
            _("This code was already used at {time}.")
            if closed.redemption.state == "confirmed"
            else _("This code was already cancelled at {time}.")
        ).format(time=when)
        return
    callback_answer.text = _("Code cancelled.")
    if isinstance(query.message, Message):
        await query.message.edit_caption(
            caption=(
                _(
                    "✖️ Code {code} is cancelled: {points} points are back, and {expired} burnt, "
                    "as their time ran out while the code held them. Balance: {balance} points."
                )
                if cancelled.points_expired
                else _(
                    "✖️ Code {code} is cancelled: {points} points are back. "
                    "Balance: {balance} points."
                )
            ).format(
                code=spaced_code(cancelled.redemption.code),
                points=points(cancelled.points_returned, language),
                expired=points(cancelled.points_expired, language),
                balance=points(cancelled.balance, language),
            ),
            reply_markup=None,
        )
