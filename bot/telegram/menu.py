"""The main menu: one entry per feature that exists, shown as a persistent reply keyboard."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from aiogram.types import KeyboardButton, ReplyKeyboardMarkup
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _

from bot.i18n import N_


@dataclass(frozen=True)
class MenuEntry:
    key: str
    label: str  # a msgid; translated when the keyboard is drawn


FAQ = MenuEntry("faq", N_("📚 FAQ"))
HELP = MenuEntry("help", N_("❓ Help"))
LANGUAGE = MenuEntry("language", N_("🌐 Language"))
POINTS = MenuEntry("points", N_("⭐ Points"))
CARD = MenuEntry("card", N_("💳 My card"))
REWARDS = MenuEntry("rewards", N_("🎁 Rewards"))
REVIEW = MenuEntry("review", N_("✍️ Review"))
SUPPORT = MenuEntry("support", N_("🙋 Support"))

# Rows of the keyboard; features add their entry here as they arrive.
MAIN_MENU: tuple[tuple[MenuEntry, ...], ...] = (
    (FAQ, POINTS, REWARDS),
    (CARD, REVIEW, SUPPORT),
    (HELP, LANGUAGE),
)


def main_menu_keyboard() -> ReplyKeyboardMarkup:
    return _main_menu_keyboard(get_i18n().current_locale)


@cache
def _main_menu_keyboard(language: str) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_(entry.label)) for entry in row] for row in MAIN_MENU],
        resize_keyboard=True,
        is_persistent=True,
        input_field_placeholder=_("Type a question or pick from the menu"),
    )
