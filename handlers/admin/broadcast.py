"""/broadcast: an admin composes a promotion, picks a segment, previews it exactly as
delivered with the recipient count, then sends it now or schedules it, and confirms.

The draft lives in the database from the first step; every button carries its id and the
service re-checks on each press that it is still a draft and the presser's own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiogram import Bot, F, Router, html
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

# A module, not its names: bot.broadcasts imports handlers.callbacks, which imports this.
from bot.broadcasts import render
from bot.config import Settings
from bot.i18n import N_
from bot.services.access import Actor
from bot.services.broadcasts.segments import SegmentError
from bot.services.broadcasts.service import BroadcastError, BroadcastService, parse_when
from handlers.callbacks import BroadcastStep
from handlers.filters import IsAdmin

if TYPE_CHECKING:
    from bot.broadcasts.worker import BroadcastWorker

router = Router(name=__name__)
router.callback_query.filter(IsAdmin())

# The segments offered as buttons (index in the callback data); any other is typed.
COMMON_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("all", N_("Everyone")),
    ("new", N_("New (first purchase in 30 days)")),
    ("returning", N_("Returning")),
    ("never_purchased", N_("Never purchased")),
    ("inactive>=30d", N_("Inactive 30+ days")),
    ("birthday_month", N_("Birthday this month")),
    ("expiring<=14d", N_("Points burning in 14 days")),
)


class Compose(StatesGroup):
    content = State()
    segment = State()
    when = State()


def _step(broadcast_id: int, action: str, seg: int = -1, at: int = 0) -> str:
    return BroadcastStep(id=broadcast_id, action=action, seg=seg, at=at).pack()


def _segment_keyboard(broadcast_id: int) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(text=_(label), callback_data=_step(broadcast_id, "seg", index))]
        for index, (_expression, label) in enumerate(COMMON_SEGMENTS)
    ]
    rows.append(
        [InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=_step(broadcast_id, "cancel"))]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


@router.message(Command("broadcast"))
async def begin(message: Message, state: FSMContext) -> None:
    await state.set_state(Compose.content)
    await message.answer(
        _(
            "📣 Send the message exactly as customers should see it: text with formatting, "
            "or a photo with a caption. /cancel stops."
        )
    )


@router.message(Command("cancel"), StateFilter(Compose))
async def stop_composing(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(_("Broadcast not created."))


@router.message(Compose.content)
async def take_content(message: Message, state: FSMContext, broadcasts: BroadcastService) -> None:
    assert message.from_user is not None
    photo = message.photo[-1].file_id if message.photo else None
    if photo is None and not message.text:
        await message.answer(_("Please send text or a photo with a caption."))
        return
    # html_text keeps the admin's formatting (entities) as Telegram HTML.
    text = message.html_text if (message.text or message.caption) else ""
    try:
        broadcast_id = await broadcasts.create(
            Actor.telegram(message.from_user.id), text=text, photo=photo, draft=True
        )
    except BroadcastError as error:
        await message.answer(html.quote(error.explain(_)))
        return
    await state.set_state(Compose.segment)
    await state.set_data({"id": broadcast_id})
    await message.answer(
        _(
            "Who should get it? Pick a segment or type an expression, e.g. "
            "<code>tier=gold and balance&gt;=100</code>, <code>lang=ru and not new</code>."
        ),
        reply_markup=_segment_keyboard(broadcast_id),
    )


@router.message(Compose.segment, F.text)
async def typed_segment(
    message: Message, state: FSMContext, broadcasts: BroadcastService, bot: Bot
) -> None:
    assert message.from_user is not None and message.text is not None
    broadcast_id = int((await state.get_data())["id"])
    actor = Actor.telegram(message.from_user.id)
    try:
        await broadcasts.set_segment(actor, broadcast_id, message.text)
    except SegmentError as error:
        await message.answer(
            _("That segment does not work: {error}. Try again.").format(
                error=html.quote(error.explain(_))
            )
        )
        return
    except BroadcastError as error:
        await state.clear()
        await message.answer(html.quote(error.explain(_)))
        return
    await state.clear()
    await _preview(bot, message.chat.id, actor, broadcast_id, broadcasts)


@router.message(Compose.segment)
async def segment_not_text(message: Message) -> None:
    await message.answer(_("Pick a segment with a button or type an expression."))


@router.callback_query(BroadcastStep.filter(F.action == "seg"))
async def picked_segment(
    query: CallbackQuery,
    callback_data: BroadcastStep,
    state: FSMContext,
    broadcasts: BroadcastService,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    if not 0 <= callback_data.seg < len(COMMON_SEGMENTS):
        callback_answer.text = _("This button is no longer active.")
        return
    actor = Actor.telegram(query.from_user.id)
    try:
        await broadcasts.set_segment(actor, callback_data.id, COMMON_SEGMENTS[callback_data.seg][0])
    except BroadcastError as error:
        callback_answer.text = error.explain(_)
        return
    await state.clear()
    await _preview(bot, query.from_user.id, actor, callback_data.id, broadcasts)


async def _preview(
    bot: Bot, chat_id: int, actor: Actor, broadcast_id: int, broadcasts: BroadcastService
) -> None:
    broadcast = await broadcasts.draft_of(actor, broadcast_id)
    markup = render.promotion_keyboard(broadcast.buttons)
    if broadcast.photo:
        await bot.send_photo(
            chat_id, broadcast.photo, caption=broadcast.text or None, reply_markup=markup
        )
    else:
        await bot.send_message(chat_id, broadcast.text, reply_markup=markup)
    reachable, unreachable = await broadcasts.count(broadcast.segment)
    buttons = [
        [
            InlineKeyboardButton(text=_("🚀 Send now"), callback_data=_step(broadcast_id, "now")),
            InlineKeyboardButton(text=_("🕒 Schedule"), callback_data=_step(broadcast_id, "when")),
        ],
        [InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=_step(broadcast_id, "cancel"))],
    ]
    await bot.send_message(
        chat_id,
        _(
            "👆 This is exactly what customers will get.\n"
            "Segment: <code>{segment}</code>\nRecipients: {count} "
            "(plus {unreachable} who blocked the bot, counted but not sent to)."
        ).format(segment=html.quote(broadcast.segment), count=reachable, unreachable=unreachable),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons),
    )


def _confirm_keyboard(broadcast_id: int, at: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("✅ Yes, send"), callback_data=_step(broadcast_id, "go", at=at)
                ),
                InlineKeyboardButton(
                    text=_("✖️ Cancel"), callback_data=_step(broadcast_id, "cancel")
                ),
            ]
        ]
    )


@router.callback_query(BroadcastStep.filter(F.action == "now"))
async def ask_send_now(
    query: CallbackQuery,
    callback_data: BroadcastStep,
    broadcasts: BroadcastService,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        broadcast = await broadcasts.draft_of(Actor.telegram(query.from_user.id), callback_data.id)
    except BroadcastError as error:
        callback_answer.text = error.explain(_)
        return
    reachable, _unreachable = await broadcasts.count(broadcast.segment)
    await bot.send_message(
        query.from_user.id,
        _("Send broadcast #{id} to {count} customers now?").format(
            id=broadcast.id, count=reachable
        ),
        reply_markup=_confirm_keyboard(broadcast.id, 0),
    )


@router.callback_query(BroadcastStep.filter(F.action == "when"))
async def ask_when(
    query: CallbackQuery,
    callback_data: BroadcastStep,
    state: FSMContext,
    broadcasts: BroadcastService,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        await broadcasts.draft_of(Actor.telegram(query.from_user.id), callback_data.id)
    except BroadcastError as error:
        callback_answer.text = error.explain(_)
        return
    await state.set_state(Compose.when)
    await state.set_data({"id": callback_data.id})
    await bot.send_message(
        query.from_user.id,
        _(
            "When? Send a time such as <code>18:30</code> (the next one, in the business's "
            "time zone), <code>2026-12-01T10:00</code> or <code>+2h</code>."
        ),
    )


@router.message(Compose.when, F.text)
async def take_when(
    message: Message, state: FSMContext, broadcasts: BroadcastService, settings: Settings
) -> None:
    assert message.from_user is not None and message.text is not None
    broadcast_id = int((await state.get_data())["id"])
    try:
        moment = parse_when(message.text, settings.zone)
        broadcast = await broadcasts.draft_of(Actor.telegram(message.from_user.id), broadcast_id)
    except ValueError:
        await message.answer(_("I can't read that time. Try 18:30, 2026-12-01T10:00 or +2h."))
        return
    except BroadcastError as error:
        await state.clear()
        await message.answer(html.quote(error.explain(_)))
        return
    await state.clear()
    reachable, _unreachable = await broadcasts.count(broadcast.segment)
    local = moment.astimezone(settings.zone)
    await message.answer(
        _("Send broadcast #{id} to about {count} customers at {when}?").format(
            id=broadcast.id,
            count=reachable,
            when=f"{local:%Y-%m-%d %H:%M} ({settings.jobs.timezone})",
        ),
        reply_markup=_confirm_keyboard(broadcast.id, int(moment.timestamp())),
    )


@router.callback_query(BroadcastStep.filter(F.action == "go"))
async def confirm(
    query: CallbackQuery,
    callback_data: BroadcastStep,
    broadcasts: BroadcastService,
    broadcast_worker: BroadcastWorker,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    actor = Actor.telegram(query.from_user.id)
    try:
        await broadcasts.draft_of(actor, callback_data.id)
    except BroadcastError as error:
        callback_answer.text = error.explain(_)
        return
    send_at = datetime.fromtimestamp(callback_data.at, UTC) if callback_data.at else None
    if send_at is None:
        text = _("📣 Broadcast #{id} is starting…").format(id=callback_data.id)
    else:
        text = _("🕒 Broadcast #{id} is scheduled; this message will show its progress.").format(
            id=callback_data.id
        )
    progress = await bot.send_message(query.from_user.id, text)
    try:
        await broadcasts.confirm(
            actor, callback_data.id, send_at, progress=(progress.chat.id, progress.message_id)
        )
    except BroadcastError as error:
        await bot.edit_message_text(
            html.quote(error.explain(_)), chat_id=progress.chat.id, message_id=progress.message_id
        )
        return
    broadcast_worker.wake()


@router.callback_query(BroadcastStep.filter(F.action == "cancel"))
async def cancel(
    query: CallbackQuery,
    callback_data: BroadcastStep,
    state: FSMContext,
    broadcasts: BroadcastService,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    actor = Actor.telegram(query.from_user.id)
    try:
        await broadcasts.draft_of(actor, callback_data.id)
        await broadcasts.cancel(actor, callback_data.id)
    except BroadcastError as error:
        callback_answer.text = error.explain(_)
        return
    await state.clear()
    await bot.send_message(query.from_user.id, _("Broadcast not created."))
