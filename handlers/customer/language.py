"""/language: the customer picks the language the bot speaks to them in."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.domain.languages import SUPPORTED_LANGUAGES
from bot.services.customers import CustomerService
from bot.telegram.callbacks import LanguageChoice
from bot.telegram.commands import CommandMenu
from bot.telegram.filters import MenuButton
from bot.telegram.menu import LANGUAGE, main_menu_keyboard
from storage.models import Customer

router = Router(name=__name__)

# Each language's name in that language: the one label a lost customer can still read.
LANGUAGE_NAMES = {"en": "🇬🇧 English", "ru": "🇷🇺 Русский", "uk": "🇺🇦 Українська"}


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=LANGUAGE_NAMES[code], callback_data=LanguageChoice(code=code).pack()
                )
            ]
            for code in SUPPORTED_LANGUAGES
        ]
    )


@router.message(Command("language"))
@router.message(MenuButton(LANGUAGE.label))
async def ask_language(message: Message) -> None:
    await message.answer(_("Choose your language:"), reply_markup=language_keyboard())


@router.callback_query(LanguageChoice.filter(F.code.in_(SUPPORTED_LANGUAGES)))
async def choose_language(
    query: CallbackQuery,
    callback_data: LanguageChoice,
    customer: Customer,
    customers: CustomerService,
    i18n: I18n,
    bot: Bot,
    command_menu: CommandMenu,
    is_admin: bool,
    callback_answer: CallbackAnswer,
) -> None:
    await customers.choose_language(customer, callback_data.code)
    with i18n.use_locale(callback_data.code):
        callback_answer.text = _("Done!")
        await bot.send_message(
            query.from_user.id,
            _("From now on I'll speak English with you."),
            reply_markup=main_menu_keyboard(),
        )
    await command_menu.set_for_chat(bot, query.from_user.id, callback_data.code, is_admin)
