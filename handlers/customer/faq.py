"""The FAQ in the chat: /faq browses categories → questions → answer; free text is asked
of the matcher, which answers, offers a choice, or says honestly that it doesn't know."""

from __future__ import annotations

from aiogram import Router, html
from aiogram.filters import Command, Filter, StateFilter
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _

from bot.container import Services
from bot.services.faq.content import FaqEntry
from bot.services.faq.service import WARMING_UP, Answer, FaqService
from bot.telegram.callbacks import FaqFeedback, FaqNav, FaqPick, TalkToHuman
from bot.telegram.filters import MenuButton
from bot.telegram.menu import FAQ
from bot.telegram.text import CAPTION_LIMIT, cut, visible_len
from storage.models import Customer

router = Router(name=__name__)

PAGE_SIZE = 8
TITLE_LENGTH = 60


class AnswerableText(Filter):
    """Free text a customer typed (not a command) that fits within MAX_TEXT_LENGTH; longer
    texts fall through to the fallback, which asks for a shorter one."""

    async def __call__(self, message: Message, services: Services) -> bool:
        text = message.text
        if not text or text.startswith("/"):
            return False
        return len(text) <= services.settings.telegram.max_text_length


def _language() -> str:
    return get_i18n().current_locale


def _title(entry: FaqEntry, language: str) -> str:
    phrasings = entry.questions.get(language) or entry.questions.get("en")
    title = (phrasings or next(iter(entry.questions.values())))[0]
    return cut(title, TITLE_LENGTH)


def _pager(
    items: list[InlineKeyboardButton], page: int, page_button: type[FaqNav], **where: int
) -> list[list[InlineKeyboardButton]]:
    pages = max(1, -(-len(items) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    rows = [[button] for button in items[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]]
    if pages > 1:
        navigation = []
        if page > 0:
            navigation.append(
                InlineKeyboardButton(
                    text="◀️", callback_data=page_button(**where, page=page - 1).pack()
                )
            )
        navigation.append(
            InlineKeyboardButton(
                text=f"{page + 1}/{pages}",
                callback_data=page_button(**where, page=page).pack(),
            )
        )
        if page < pages - 1:
            navigation.append(
                InlineKeyboardButton(
                    text="▶️", callback_data=page_button(**where, page=page + 1).pack()
                )
            )
        rows.append(navigation)
    return rows


def _categories_screen(faq: FaqService, page: int) -> tuple[str, InlineKeyboardMarkup]:
    language = _language()
    buttons = [
        InlineKeyboardButton(text=name, callback_data=FaqNav(v=faq.version, cat=index).pack())
        for index, name in enumerate(faq.categories(language))
    ]
    rows = _pager(buttons, page, FaqNav, v=faq.version)
    return _("📚 Frequently asked questions. Pick a topic:"), InlineKeyboardMarkup(
        inline_keyboard=rows
    )


def _category_screen(
    faq: FaqService, category_index: int, page: int
) -> tuple[str, InlineKeyboardMarkup] | None:
    language = _language()
    categories = faq.categories(language)
    if not 0 <= category_index < len(categories):
        return None
    name = categories[category_index]
    buttons = []
    for entry in faq.in_category(name, language):
        position = faq.position(entry.id)
        assert position is not None
        buttons.append(
            InlineKeyboardButton(
                text=_title(entry, language),
                callback_data=FaqNav(v=faq.version, cat=category_index, entry=position).pack(),
            )
        )
    rows = _pager(buttons, page, FaqNav, v=faq.version, cat=category_index)
    rows.append([_back_button(FaqNav(v=faq.version))])
    return f"<b>{html.quote(name)}</b>", InlineKeyboardMarkup(inline_keyboard=rows)


def _back_button(target: FaqNav) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=_("⬅️ Back"), callback_data=target.pack())


def _answer_text(entry: FaqEntry, is_admin: bool, score: float | None = None) -> str:
    text = entry.answer_in(_language())
    if is_admin:
        detail = f"faq:{entry.id}" + (f" · score {score:.2f}" if score is not None else "")
        text += f"\n\n<code>{html.quote(detail)}</code>"
    return text


def _answer_keyboard(
    entry: FaqEntry, query_id: int | None, back: FaqNav | None = None
) -> InlineKeyboardMarkup | None:
    language = _language()
    rows = [
        [
            InlineKeyboardButton(
                text=button.text.get(language) or next(iter(button.text.values())), url=button.url
            )
        ]
        for button in entry.buttons
    ]
    if query_id is not None:
        rows.append(
            [
                InlineKeyboardButton(
                    text=_("👍 Helped"), callback_data=FaqFeedback(q=query_id, helpful=1).pack()
                ),
                InlineKeyboardButton(
                    text=_("👎 Didn't help"),
                    callback_data=FaqFeedback(q=query_id, helpful=0).pack(),
                ),
            ]
        )
    if back is not None:
        rows.append([_back_button(back)])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


async def _send_answer(
    message: Message,
    entry: FaqEntry,
    query_id: int | None,
    is_admin: bool,
    score: float | None = None,
    *,
    edit: bool = False,
    back: FaqNav | None = None,
) -> None:
    text = _answer_text(entry, is_admin, score)
    keyboard = _answer_keyboard(entry, query_id, back)
    if entry.photo:
        # A photo can't replace a text message in place; it comes as a new one.
        if visible_len(text) <= CAPTION_LIMIT:
            await message.answer_photo(entry.photo, caption=text, reply_markup=keyboard)
        else:
            await message.answer_photo(entry.photo)
            await message.answer(text, reply_markup=keyboard)
    elif edit:
        await message.edit_text(text, reply_markup=keyboard)
    else:
        await message.answer(text, reply_markup=keyboard)


def _browse_rows(faq: FaqService, *, human: bool = False) -> list[list[InlineKeyboardButton]]:
    rows = [
        [
            InlineKeyboardButton(
                text=_("📚 Browse the FAQ"), callback_data=FaqNav(v=faq.version).pack()
            )
        ]
    ]
    if human:
        rows.append(
            [
                InlineKeyboardButton(
                    text=_("🙋 Talk to a person"), callback_data=TalkToHuman().pack()
                )
            ]
        )
    return rows


def _browse_keyboard(faq: FaqService, *, human: bool = False) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=_browse_rows(faq, human=human))


@router.message(Command("faq"))
@router.message(MenuButton(FAQ.label))
async def browse(message: Message, faq: FaqService) -> None:
    if not faq.entries:
        await message.answer(_("The FAQ is empty for now."))
        return
    text, keyboard = _categories_screen(faq, 0)
    await message.answer(text, reply_markup=keyboard)


@router.callback_query(FaqNav.filter())
async def navigate(
    query: CallbackQuery,
    callback_data: FaqNav,
    faq: FaqService,
    customer: Customer,
    is_admin: bool,
    callback_answer: CallbackAnswer,
) -> None:
    message = query.message
    if not isinstance(message, Message):
        callback_answer.text = _("This button is no longer active.")
        return
    if callback_data.v != faq.version:
        callback_answer.text = _("The FAQ has been updated; here is the current one.")
        text, keyboard = _categories_screen(faq, 0)
        await message.answer(text, reply_markup=keyboard)
        return
    if callback_data.entry >= 0:
        entry = faq.at_position(callback_data.entry)
        if entry is None:
            callback_answer.text = _("This button is no longer active.")
            return
        query_id = await faq.record_view(entry.id, customer.id, _language())
        back = FaqNav(v=faq.version, cat=callback_data.cat, page=callback_data.page)
        await _send_answer(message, entry, query_id, is_admin, edit=True, back=back)
        return
    if callback_data.cat >= 0:
        screen = _category_screen(faq, callback_data.cat, callback_data.page)
        if screen is None:
            callback_answer.text = _("This button is no longer active.")
            return
    else:
        screen = _categories_screen(faq, callback_data.page)
    text, keyboard = screen
    if message.text == text and message.reply_markup == keyboard:
        return  # the page button of the page already shown
    await message.edit_text(text, reply_markup=keyboard)


@router.callback_query(FaqPick.filter())
async def pick(
    query: CallbackQuery,
    callback_data: FaqPick,
    faq: FaqService,
    customer: Customer,
    is_admin: bool,
    callback_answer: CallbackAnswer,
) -> None:
    entry = faq.at_position(callback_data.entry) if callback_data.v == faq.version else None
    message = query.message
    if entry is None or not isinstance(message, Message):
        callback_answer.text = _("This button is no longer active.")
        return
    if not await faq.record_pick(callback_data.q, customer.id, entry.id):
        # Not this customer's question, or already answered: nothing to change.
        callback_answer.text = _("This button is no longer active.")
        return
    await _send_answer(message, entry, callback_data.q, is_admin, edit=True)


@router.callback_query(FaqFeedback.filter())
async def feedback(
    query: CallbackQuery,
    callback_data: FaqFeedback,
    faq: FaqService,
    customer: Customer,
    callback_answer: CallbackAnswer,
) -> None:
    helpful = bool(callback_data.helpful)
    if not await faq.record_feedback(callback_data.q, customer.id, helpful):
        callback_answer.text = _("This button is no longer active.")
        return
    callback_answer.text = _("Thanks for the feedback!")
    message = query.message
    if isinstance(message, Message) and message.reply_markup is not None:
        # The vote is in: keep the answer's own buttons, drop the voting row.
        rows = [
            row
            for row in message.reply_markup.inline_keyboard
            if not any(
                (button.callback_data or "").startswith(FaqFeedback.__prefix__ + ":")
                for button in row
            )
        ]
        await message.edit_reply_markup(
            reply_markup=InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
        )
    if not helpful and isinstance(message, Message):
        await message.answer(
            _("Sorry that didn't help. Try asking in other words, or browse the FAQ."),
            reply_markup=_browse_keyboard(faq, human=True),
        )


@router.message(StateFilter(None), AnswerableText())
async def ask(message: Message, faq: FaqService, customer: Customer, is_admin: bool) -> None:
    assert message.text is not None
    answer = await faq.ask(message.text, language=_language(), customer_id=customer.id)
    await _reply(message, answer, faq, is_admin)


async def _reply(message: Message, answer: Answer, faq: FaqService, is_admin: bool) -> None:
    if answer.outcome == WARMING_UP:
        await message.answer(
            _("The FAQ is warming up after a restart: ask again in a few seconds, please."),
            reply_markup=_browse_keyboard(faq),
        )
        return
    if answer.outcome == "answered" and answer.entries:
        best = answer.result.best
        await _send_answer(
            message, answer.entries[0], answer.query_id, is_admin, best.score if best else None
        )
        return
    choices = _choice_rows(answer, faq) if answer.query_id is not None else []
    if answer.outcome == "suggested" and choices:
        await message.answer(
            _("Did you mean…"),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[*choices, *_browse_rows(faq)]),
        )
        return
    if choices:  # declined, with the nearest entries as related questions
        await message.answer(
            _(
                "I'm not sure I know the answer to that, and I'd rather not guess. These may "
                "be related; or ask in other words, browse the FAQ, or talk to a person."
            ),
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[*choices, *_browse_rows(faq, human=True)]
            ),
        )
        return
    await message.answer(
        _(
            "I'm not sure I know the answer to that, and I'd rather not guess. Try asking in "
            "other words, or browse the FAQ."
        ),
        reply_markup=_browse_keyboard(faq, human=True),
    )


def _choice_rows(answer: Answer, faq: FaqService) -> list[list[InlineKeyboardButton]]:
    """One button per entry offered for the question: a pick answers it (`pick`)."""
    assert answer.query_id is not None
    language = _language()
    rows = []
    for entry in answer.choices:
        position = faq.position(entry.id)
        if position is not None:
            pick = FaqPick(q=answer.query_id, entry=position, v=faq.version)
            rows.append(
                [InlineKeyboardButton(text=_title(entry, language), callback_data=pick.pack())]
            )
    return rows
