"""/broadcast: an admin composes a promotion, may add a text per language (each previewed
as delivered), picks a segment, previews it exactly as delivered with the recipient count,
then sends it now or schedules it, and confirms.

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
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.domain.languages import SUPPORTED_LANGUAGES
from bot.i18n import N_
from bot.services.access import Actor
from bot.services.broadcasts.segments import SegmentError
from bot.services.broadcasts.service import BroadcastError, BroadcastService, parse_when
from bot.telegram.broadcasts import render
from bot.telegram.callbacks import BroadcastStep
from bot.telegram.filters import Check, IsAdmin
from storage.repositories.broadcasts import Broadcast

if TYPE_CHECKING:
    from bot.telegram.broadcasts.worker import BroadcastWorker

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


# The languages' names as the admin reads them, in SUPPORTED_LANGUAGES order.
LANGUAGE_LABELS = {"en": N_("English"), "ru": N_("Russian"), "uk": N_("Ukrainian")}


class Compose(StatesGroup):
    content = State()
    # The default text is in: a text per language may follow, then the segment.
    languages = State()
    translation = State()
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


@router.message(StateFilter(Compose.content))
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
    await state.set_state(Compose.languages)
    await state.set_data({"id": broadcast_id})
    await _offer_languages(message.chat.id, broadcast_id, {}, message.bot)


async def _offer_languages(
    chat_id: int, broadcast_id: int, texts: dict[str, str], bot: Bot | None
) -> None:
    assert bot is not None
    added = ", ".join(_(LANGUAGE_LABELS[code]) for code in SUPPORTED_LANGUAGES if code in texts)
    rows = [
        [
            InlineKeyboardButton(
                text=("✅ " if code in texts else "➕ ") + _(LANGUAGE_LABELS[code]),
                callback_data=_step(broadcast_id, "lang", index),
            )
            for index, code in enumerate(SUPPORTED_LANGUAGES)
        ],
        [InlineKeyboardButton(text=_("Continue ➡️"), callback_data=_step(broadcast_id, "next"))],
    ]
    await bot.send_message(
        chat_id,
        _(
            "Add a text for another language? Customers who read it get that text; everyone "
            "else gets the one you sent. Texts so far: {added}."
        ).format(added=added or _("only the default")),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
    )


@router.callback_query(BroadcastStep.filter(F.action == "lang"))
async def pick_language(
    query: CallbackQuery,
    callback_data: BroadcastStep,
    state: FSMContext,
    broadcasts: BroadcastService,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    if not 0 <= callback_data.seg < len(SUPPORTED_LANGUAGES):
        callback_answer.text = _("This button is no longer active.")
        return
    try:
        await broadcasts.draft_of(Actor.telegram(query.from_user.id), callback_data.id)
    except BroadcastError as error:
        callback_answer.text = error.explain(_)
        return
    language = SUPPORTED_LANGUAGES[callback_data.seg]
    await state.set_state(Compose.translation)
    await state.set_data({"id": callback_data.id, "language": language})
    await bot.send_message(
        query.from_user.id,
        _(
            "Send the text for customers who read {language}, with formatting, as they "
            "should see it."
        ).format(language=_(LANGUAGE_LABELS[language])),
    )


@router.message(StateFilter(Compose.translation), Check(F.text | F.caption))
async def take_translation(
    message: Message, state: FSMContext, broadcasts: BroadcastService, i18n: I18n
) -> None:
    assert message.from_user is not None
    data = await state.get_data()
    broadcast_id, language = int(data["id"]), str(data["language"])
    actor = Actor.telegram(message.from_user.id)
    try:
        await broadcasts.set_text(actor, broadcast_id, language, message.html_text)
        broadcast = await broadcasts.draft_of(actor, broadcast_id)
    except BroadcastError as error:
        await message.answer(html.quote(error.explain(_)))
        return
    await _show_as_delivered(message.bot, message.chat.id, broadcast, language, i18n)
    await state.set_state(Compose.languages)
    await state.set_data({"id": broadcast_id})
    await _offer_languages(message.chat.id, broadcast_id, broadcast.texts, message.bot)


@router.message(StateFilter(Compose.translation))
async def translation_not_text(message: Message) -> None:
    await message.answer(_("Please send the text for this language."))


@router.message(StateFilter(Compose.languages))
async def languages_by_button(message: Message) -> None:
    await message.answer(_("Pick a language with a button, or press Continue."))


@router.callback_query(BroadcastStep.filter(F.action == "next"))
async def languages_done(
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
    await state.set_state(Compose.segment)
    await state.set_data({"id": callback_data.id})
    await bot.send_message(
        query.from_user.id,
        _(
            "Who should get it? Pick a segment or type an expression, e.g. "
            "<code>tier=gold and balance&gt;=100</code>, <code>lang=ru and not new</code>."
        ),
        reply_markup=_segment_keyboard(callback_data.id),
    )


@router.message(StateFilter(Compose.segment), Check(F.text))
async def typed_segment(
    message: Message, state: FSMContext, broadcasts: BroadcastService, bot: Bot, i18n: I18n
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
    await _preview(bot, message.chat.id, actor, broadcast_id, broadcasts, i18n)


@router.message(StateFilter(Compose.segment))
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
    i18n: I18n,
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
    await _preview(bot, query.from_user.id, actor, callback_data.id, broadcasts, i18n)


async def _show_as_delivered(
    bot: Bot | None, chat_id: int, broadcast: Broadcast, language: str | None, i18n: I18n
) -> None:
    """The message as the customers spoken to in ``language`` get it (None: the default
    text, in the admin's own language), its Unsubscribe button in their language."""
    assert bot is not None
    text = broadcast.text if language is None else broadcast.text_for(language)
    with i18n.use_locale(language or i18n.current_locale):
        markup = render.promotion_keyboard(broadcast.buttons)
    if broadcast.photo:
        await bot.send_photo(chat_id, broadcast.photo, caption=text or None, reply_markup=markup)
    else:
        await bot.send_message(chat_id, text, reply_markup=markup)


async def _preview(
    bot: Bot,
    chat_id: int,
    actor: Actor,
    broadcast_id: int,
    broadcasts: BroadcastService,
    i18n: I18n,
) -> None:
    broadcast = await broadcasts.draft_of(actor, broadcast_id)
    await _show_as_delivered(bot, chat_id, broadcast, None, i18n)
    for language in SUPPORTED_LANGUAGES:
        if language in broadcast.texts:
            await _show_as_delivered(bot, chat_id, broadcast, language, i18n)
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


@router.message(StateFilter(Compose.when), Check(F.text))
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
