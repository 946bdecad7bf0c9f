"""/profile: the customer's phone, birthday and consents, each visible and changeable.

Every button acts on the presser's own record and carries no customer id; consent buttons
set a value rather than toggle it, so a repeated or replayed press changes nothing.
"""

from __future__ import annotations

from aiogram import Bot, F, Router, html
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.i18n import N_
from bot.services.profile import ProfileService, parse_birthday, shown_birthday
from bot.telegram.callbacks import ProfileAction, SetConsent
from bot.telegram.filters import Check, MenuButton
from bot.telegram.menu import main_menu_keyboard
from storage.models import Customer

router = Router(name=__name__)

CANCEL = N_("✖️ Cancel")
CONSENTS = ("promotions", "surveys")


class ProfileStates(StatesGroup):
    birthday = State()


def profile_screen(customer: Customer) -> tuple[str, InlineKeyboardMarkup]:
    name = html.quote(customer.full_name)
    not_given = _("not given")
    phone = html.quote(customer.phone) if customer.phone else not_given
    birthday = shown_birthday(customer.birthday) if customer.birthday else not_given

    def mark(on: bool) -> str:
        return "✅" if on else "❌"

    text = "\n".join(
        [
            _("👤 <b>Your profile</b>"),
            "",
            _("Name: {name} (from Telegram)").format(name=name),
            _("Phone: {phone}").format(phone=phone),
            _("Birthday: {birthday}").format(birthday=birthday),
            "",
            _("<b>What you agree to</b> (change it any time with the buttons):"),
            _("{mark} Promotions: offers and news from us").format(
                mark=mark(customer.consent_promotions)
            ),
            _("{mark} Surveys: short questions about your visits").format(
                mark=mark(customer.consent_surveys)
            ),
            "",
            _("/mydata sends you everything we hold about you; /forget erases it."),
        ]
    )
    promotions = customer.consent_promotions
    surveys = customer.consent_surveys
    rows = [
        [
            InlineKeyboardButton(
                text=_("{mark} Promotions").format(mark=mark(promotions)),
                callback_data=SetConsent(kind="promotions", on=int(not promotions)).pack(),
            ),
            InlineKeyboardButton(
                text=_("{mark} Surveys").format(mark=mark(surveys)),
                callback_data=SetConsent(kind="surveys", on=int(not surveys)).pack(),
            ),
        ],
        [
            InlineKeyboardButton(
                text=_("🗑 Remove phone") if customer.phone else _("📱 Add phone"),
                callback_data=ProfileAction(what="nophone" if customer.phone else "phone").pack(),
            ),
            InlineKeyboardButton(
                text=_("🗑 Remove birthday") if customer.birthday else _("🎂 Add birthday"),
                callback_data=ProfileAction(
                    what="nobirthday" if customer.birthday else "birthday"
                ).pack(),
            ),
        ],
        [
            InlineKeyboardButton(
                text=_("📄 My data"), callback_data=ProfileAction(what="export").pack()
            ),
            InlineKeyboardButton(
                text=_("🗑 Erase my data"), callback_data=ProfileAction(what="forget").pack()
            ),
        ],
    ]
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


@router.message(Command("profile"))
async def show_profile(
    message: Message, customer: Customer, profile: ProfileService, state: FSMContext
) -> None:
    await state.clear()
    text, keyboard = profile_screen(await profile.current(customer))
    await message.answer(text, reply_markup=keyboard)


async def _redraw(query: CallbackQuery, customer: Customer, bot: Bot) -> None:
    text, keyboard = profile_screen(customer)
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=keyboard)
    else:
        await bot.send_message(query.from_user.id, text, reply_markup=keyboard)


@router.callback_query(SetConsent.filter(F.kind.in_(CONSENTS)))
async def set_consent(
    query: CallbackQuery,
    callback_data: SetConsent,
    customer: Customer,
    profile: ProfileService,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    updated = await profile.set_consent(customer, callback_data.kind, bool(callback_data.on))
    callback_answer.text = _("Saved.")
    if updated is not None:  # else a repeated press: the screen already shows it
        await _redraw(query, updated, bot)


# Phone: Telegram's contact button sends the user's own contact, user_id included.


def _phone_keyboard() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=_("📱 Share my phone number"), request_contact=True)],
            [KeyboardButton(text=_(CANCEL))],
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


@router.callback_query(ProfileAction.filter(F.what == "phone"))
async def ask_phone(query: CallbackQuery, bot: Bot) -> None:
    await bot.send_message(
        query.from_user.id,
        _(
            "📱 Share your phone number with the button below.\n\n"
            "By sharing it you agree that we keep it with your loyalty account. We show it to "
            "no one else and never use it for advertising. You can remove it any time in "
            "/profile."
        ),
        reply_markup=_phone_keyboard(),
    )


@router.message(Check(F.contact))
async def contact_shared(
    message: Message, customer: Customer, profile: ProfileService, state: FSMContext
) -> None:
    assert message.contact is not None and message.from_user is not None
    if message.contact.user_id != message.from_user.id:
        await message.answer(
            _(
                "That is someone else's contact: I only keep your own number. "
                "Please use the “Share my phone number” button."
            ),
            reply_markup=_phone_keyboard(),
        )
        return
    await profile.set_phone(customer, message.contact.phone_number)
    await state.clear()
    await message.answer(_("📱 Your phone number is saved."), reply_markup=main_menu_keyboard())
    text, keyboard = profile_screen(await profile.current(customer))
    await message.answer(text, reply_markup=keyboard)


@router.message(MenuButton(CANCEL))
async def cancel(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(_("Nothing changed."), reply_markup=main_menu_keyboard())


@router.callback_query(ProfileAction.filter(F.what.in_({"nophone", "nobirthday"})))
async def remove_detail(
    query: CallbackQuery,
    callback_data: ProfileAction,
    customer: Customer,
    profile: ProfileService,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    if callback_data.what == "nophone":
        await profile.set_phone(customer, None)
    else:
        await profile.set_birthday(customer, None)
    callback_answer.text = _("Removed.")
    await _redraw(query, await profile.current(customer), bot)


# Birthday: typed as DD.MM; the year is not asked (not needed, and less personal).


@router.callback_query(ProfileAction.filter(F.what == "birthday"))
async def ask_birthday(query: CallbackQuery, bot: Bot, state: FSMContext) -> None:
    await state.set_state(ProfileStates.birthday)
    await bot.send_message(
        query.from_user.id,
        _(
            "🎂 Type your birthday as DD.MM, for example 14.03.\n\n"
            "By sending it you agree that we keep it to give you a birthday bonus; the year "
            "is not needed. You can remove it any time in /profile. /cancel to stop."
        ),
    )


@router.message(StateFilter(ProfileStates.birthday), Command("cancel"))
async def cancel_birthday(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(_("Nothing changed."), reply_markup=main_menu_keyboard())


@router.message(StateFilter(ProfileStates.birthday), Check(F.text))
async def birthday_typed(
    message: Message, customer: Customer, profile: ProfileService, state: FSMContext
) -> None:
    assert message.text is not None
    month_day = parse_birthday(message.text)
    if month_day is None:
        await message.answer(
            _("That is not a date I know. Please type it as DD.MM, for example 14.03, or /cancel.")
        )
        return
    await profile.set_birthday(customer, month_day)
    await state.clear()
    await message.answer(
        _("🎂 Saved: {birthday}.").format(birthday=shown_birthday(month_day)),
        reply_markup=main_menu_keyboard(),
    )


@router.message(StateFilter(ProfileStates.birthday))
async def birthday_not_text(message: Message) -> None:
    await message.answer(_("Please type your birthday as DD.MM, for example 14.03, or /cancel."))
