"""/stats: retention figures for admins, with buttons for the period, and a PNG chart of
weekly active and retained customers; /cohorts (or the chart's button): the cohort table
as an image."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services.analytics import AnalyticsService, Figures, WeekActivity
from bot.services.charts import (
    CohortLabels,
    WeeklyLabels,
    cohort_chart,
    period_label,
    weekly_chart,
)
from bot.services.loyalty.service import LoyaltyService
from bot.services.stats_report import stats_report
from bot.telegram.callbacks import StatsCohorts, StatsPeriod
from bot.telegram.filters import IsAdmin

router = Router(name=__name__)
# The admin parent filters messages only; period buttons are checked here.
router.callback_query.filter(IsAdmin())

PERIODS = (7, 30, 90)
CHART_WEEKS = 12
COHORT_MONTHS = 12


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


def _figures_text(figures: Figures, loyalty: LoyaltyService, i18n: I18n, settings: Settings) -> str:
    period = period_label(
        figures.period_start, figures.period_end, i18n.current_locale, settings.zone
    )
    return stats_report(figures, loyalty.rules.currency, period, _)


@router.message(Command("stats"))
async def stats(
    message: Message,
    command: CommandObject,
    analytics: AnalyticsService,
    loyalty: LoyaltyService,
    i18n: I18n,
    settings: Settings,
) -> None:
    argument = (command.args or "").strip().removesuffix("d")
    days = int(argument) if argument.isdigit() and 1 <= int(argument) <= 3660 else 30
    figures = await analytics.figures(days)
    await message.answer(
        _figures_text(figures, loyalty, i18n, settings), reply_markup=_keyboard(days)
    )
    weeks = await analytics.weekly_activity(CHART_WEEKS)
    period = period_label(
        weeks[0].start, weeks[-1].start + timedelta(weeks=1), i18n.current_locale, settings.zone
    )
    title = _("Customers per week: active and retained, {period}").format(period=period)
    labels = WeeklyLabels(title, _("active"), _("retained"))
    png = await asyncio.to_thread(weekly_chart, weeks, labels)
    await message.answer_photo(
        BufferedInputFile(png, "weekly-activity.png"),
        caption=f"{title}\n{_weekly_caption(weeks)}",
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=_("📅 Cohorts"),
                        callback_data=StatsCohorts(months=COHORT_MONTHS).pack(),
                    )
                ]
            ]
        ),
    )


def _weekly_caption(weeks: list[WeekActivity]) -> str:
    lines = [
        _(
            "Weekly customers (7-day weeks, starting): active = bought that week, "
            "retained = of them, bought before too."
        )
    ]
    lines.extend(
        _("{start}: {active} active, {retained} retained").format(
            start=f"{week.start:%d.%m}", active=week.active, retained=week.retained
        )
        for week in weeks
    )
    return "\n".join(lines)


@router.message(Command("cohorts"))
async def cohorts(message: Message, analytics: AnalyticsService) -> None:
    await _send_cohorts(message.bot, message.chat.id, analytics, COHORT_MONTHS)


@router.callback_query(StatsCohorts.filter())
async def cohorts_button(
    query: CallbackQuery, callback_data: StatsCohorts, analytics: AnalyticsService, bot: Bot
) -> None:
    months = callback_data.months if 1 <= callback_data.months <= 36 else COHORT_MONTHS
    await _send_cohorts(bot, query.from_user.id, analytics, months)


async def _send_cohorts(
    bot: Bot | None, chat_id: int, analytics: AnalyticsService, months: int
) -> None:
    assert bot is not None
    rows = await analytics.cohorts(months)
    if not rows:
        await bot.send_message(chat_id, _("No purchases yet: no cohorts to show."))
        return
    labels = CohortLabels(
        _("Monthly cohorts: share buying in each month after the first purchase"),
        _("cohort (customers)"),
        _("+{n} mo"),
    )
    png = await asyncio.to_thread(cohort_chart, rows, labels)
    await bot.send_photo(
        chat_id,
        BufferedInputFile(png, "cohorts.png"),
        caption=_("Cohorts of the last {months} months by first purchase.").format(months=months),
    )


@router.callback_query(StatsPeriod.filter())
async def change_period(
    query: CallbackQuery,
    callback_data: StatsPeriod,
    analytics: AnalyticsService,
    loyalty: LoyaltyService,
    i18n: I18n,
    settings: Settings,
) -> None:
    if callback_data.days not in PERIODS or not isinstance(query.message, Message):
        return
    figures = await analytics.figures(callback_data.days)
    try:
        await query.message.edit_text(
            _figures_text(figures, loyalty, i18n, settings),
            reply_markup=_keyboard(callback_data.days),
        )
    except TelegramBadRequest as error:
        if "message is not modified" not in str(error):
            raise
