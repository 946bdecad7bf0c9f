"""/stats: retention figures for admins, with buttons for the period."""

from __future__ import annotations

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.services.analytics import AnalyticsService, Figures
from bot.services.loyalty.service import LoyaltyService
from handlers.callbacks import StatsPeriod
from handlers.filters import IsAdmin

router = Router(name=__name__)
# The admin parent filters messages only; period buttons are checked here.
router.callback_query.filter(IsAdmin())

PERIODS = (7, 30, 90)


def _keyboard(current: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("{days} days").format(days=days).join(("• ", " •"))
                    if days == current
                    else _("{days} days").format(days=days),
                    callback_data=StatsPeriod(days=days).pack(),
                )
                for days in PERIODS
            ]
        ]
    )


def _value(number: object) -> str:
    return "—" if number is None else str(number)


def figures_text(figures: Figures, currency: str) -> str:
    segments = "\n".join(
        f"• {segment.name}: {segment.customers} · {segment.revenue} {currency} "
        f"({_value(segment.revenue_share)} %)"
        for segment in figures.segments
    )
    return _(
        "📊 <b>Last {days} days</b>\n"
        "Customers: {total} known, {active} active, {buyers} bought "
        "({new} new, {returning} returning)\n"
        "CRR: {crr} % · churn: {churn} %\n"
        "Revenue: {revenue} {currency} in {purchases} purchases; average check {check}\n"
        "Repeat-purchase rate: {repeat} % · CLV: {clv}\n"
        "Points: +{issued} issued, −{spent} spent, −{expired} expired; outstanding {liability}\n"
        "FAQ: {questions} questions, {answered} answered, {declined} declined\n\n"
        "<b>Segments</b> (customers · revenue, share):\n{segments}"
    ).format(
        days=figures.days,
        total=figures.customers_total,
        active=figures.customers_active,
        buyers=figures.buyers,
        new=figures.new,
        returning=figures.returning,
        crr=_value(figures.crr),
        churn=_value(figures.churn),
        revenue=figures.revenue,
        currency=currency,
        purchases=figures.purchases,
        check=_value(figures.average_check),
        repeat=_value(figures.repeat_purchase_rate),
        clv=_value(figures.clv),
        issued=figures.points_issued,
        spent=figures.points_spent,
        expired=figures.points_expired,
        liability=figures.points_liability,
        questions=figures.faq_questions,
        answered=figures.faq_answered,
        declined=figures.faq_declined,
        segments=segments,
    )


@router.message(Command("stats"))
async def stats(
    message: Message, command: CommandObject, analytics: AnalyticsService, loyalty: LoyaltyService
) -> None:
    argument = (command.args or "").strip().removesuffix("d")
    days = int(argument) if argument.isdigit() and 1 <= int(argument) <= 3660 else 30
    figures = await analytics.figures(days)
    await message.answer(
        figures_text(figures, loyalty.rules.currency), reply_markup=_keyboard(days)
    )


@router.callback_query(StatsPeriod.filter())
async def change_period(
    query: CallbackQuery,
    callback_data: StatsPeriod,
    analytics: AnalyticsService,
    loyalty: LoyaltyService,
) -> None:
    if callback_data.days not in PERIODS or not isinstance(query.message, Message):
        return
    figures = await analytics.figures(callback_data.days)
    try:
        await query.message.edit_text(
            figures_text(figures, loyalty.rules.currency),
            reply_markup=_keyboard(callback_data.days),
        )
    except TelegramBadRequest as error:
        if "message is not modified" not in str(error):
            raise
