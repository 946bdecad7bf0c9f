"""The till, for cashiers (and admins): /sale records a sale by the customer's card, /redeem
confirms a customer's code. Both also open from deep links a cashier's phone scans:
`/start card_<card>` (the customer's card QR) and `/start redeem_<code>` (their code QR).

Two routers, both behind HasRole(Role.CASHIER): `links` sits before /start so a cashier's
scan lands here (everyone else's is an ordinary /start), `router` after the customer
features so their commands and menu buttons win over a question left open here. A
non-cashier typing /sale or /redeem reaches the fallback, which refuses and records it.
"""

from __future__ import annotations

from aiogram import Bot, F, Router, html
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services.access import AccessDenied, Actor, Role
from bot.services.loyalty.idempotency import RequestConflict
from bot.services.loyalty.purchases import PurchaseError, UnknownCustomer
from bot.services.loyalty.redemptions import (
    MAX_SALE_MINOR,
    CodeClosed,
    CodeExpired,
    CodeView,
    RedemptionRefused,
    RedemptionService,
    SaleAmountRequired,
    ShareExceeded,
    UnknownCode,
    new_sale_reference,
    normalise_card,
    normalise_code,
    parse_amount,
    till_order_id,
)
from bot.services.loyalty.service import LoyaltyService, is_valid_card_code
from bot.telegram.callbacks import ConfirmCode, ConfirmSale, DropSale, KeepCode
from bot.telegram.filters import Check, HasRole
from bot.telegram.notices.formatting import clock, money, percent, points
from bot.telegram.notices.rewards import code_purpose, spaced_code
from bot.telegram.notices.worker import NoticeWorker
from bot.telegram.qr import CARD_PAYLOAD, REDEEM_PAYLOAD
from bot.telegram.screens import replace_screen
from bot.telegram.text import shown_name
from storage.clock import utcnow

links = Router(name=f"{__name__}.links")
router = Router(name=__name__)
for _router in (links, router):
    _router.message.filter(HasRole(Role.CASHIER))
    _router.callback_query.filter(HasRole(Role.CASHIER))

# Typed answers only: a command typed mid-question goes to its own handler or the fallback.
_ANSWER = Check(F.text & ~F.text.startswith("/"))


class SaleQuestions(StatesGroup):
    card = State()
    amount = State()


class RedeemQuestions(StatesGroup):
    code = State()
    amount = State()


def _language() -> str:
    return get_i18n().current_locale


def _actor(event: Message | CallbackQuery) -> Actor:
    assert event.from_user is not None
    return Actor.telegram(event.from_user.id)


def _money(amount_minor: int, redemptions: RedemptionService) -> str:
    return money(amount_minor, redemptions.rules.currency, _language())


# --- sales ---


def _card_problem(card: str) -> str | None:
    if is_valid_card_code(card):
        return None
    return _(
        "Please check the digits: {card} is not a card number (12 digits, the last one "
        "a check digit)."
    ).format(card=html.quote(card[:24]))


def _amount_problem() -> str:
    return _("Please type the amount like 12.50 (more than 0, at most {max}).").format(
        max=f"{MAX_SALE_MINOR // 100:,}".replace(",", " ")
    )


@router.message(Command("sale"))
async def sale(
    message: Message, command: CommandObject, state: FSMContext, redemptions: RedemptionService
) -> None:
    parts = (command.args or "").split()
    if not parts:
        await state.set_state(SaleQuestions.card)
        await message.answer(_("🧾 New sale. Type the customer's card number (12 digits):"))
        return
    if len(parts) < 2:
        await message.answer(_("Usage: /sale CARD AMOUNT, e.g. /sale 123456789012 12.50"))
        return
    card, amount = normalise_card("".join(parts[:-1])), parse_amount(parts[-1])
    problem = _card_problem(card) or (_amount_problem() if amount is None else None)
    if problem is not None:
        await message.answer(problem)
        return
    assert amount is not None
    await state.clear()
    await _offer_sale(message, card, amount, redemptions)


@links.message(CommandStart(deep_link=True, magic=F.args.startswith(CARD_PAYLOAD)))
async def sale_from_card_link(
    message: Message, command: CommandObject, state: FSMContext, loyalty: LoyaltyService
) -> None:
    """A cashier scanned a customer's card QR: the sale starts with the card filled in."""
    card = (command.args or "").removeprefix(CARD_PAYLOAD)
    await _take_card(message, card, state, loyalty)


@router.message(StateFilter(SaleQuestions.card), _ANSWER)
async def sale_card(message: Message, state: FSMContext, loyalty: LoyaltyService) -> None:
    assert message.text is not None
    await _take_card(message, normalise_card(message.text), state, loyalty)


async def _take_card(
    message: Message, card: str, state: FSMContext, loyalty: LoyaltyService
) -> None:
    problem = _card_problem(card)
    customer = None if problem else await loyalty.customer_by_card(card)
    if problem is None and customer is None:
        problem = _("No customer has the card {card}. Please check the digits.").format(card=card)
    if problem is not None:
        await state.set_state(SaleQuestions.card)
        await message.answer(problem)
        return
    assert customer is not None
    await state.set_state(SaleQuestions.amount)
    await state.set_data({"card": card})
    await message.answer(
        _("🧾 Sale to <b>{name}</b>. Type the amount, e.g. 12.50:").format(
            name=html.quote(shown_name(customer.full_name))
        )
    )


@router.message(StateFilter(SaleQuestions.amount), _ANSWER)
async def sale_amount(message: Message, state: FSMContext, redemptions: RedemptionService) -> None:
    answer = await _amount_answer(message, state, "card", "/sale")
    if answer is not None:
        card, amount = answer
        await _offer_sale(message, card, amount, redemptions)


async def _amount_answer(
    message: Message, state: FSMContext, key: str, restart: str
) -> tuple[str, int] | None:
    """The amount a cashier typed and what the question was about (`key` in the state);
    None when the answer was not an amount (asked again) or the question was lost."""
    assert message.text is not None
    amount = parse_amount(message.text)
    if amount is None:
        await message.answer(_amount_problem())
        return None
    subject = (await state.get_data()).get(key)
    await state.clear()
    if not isinstance(subject, str):
        await message.answer(_("Let's start again: {command}").format(command=restart))
        return None
    return subject, amount


async def _offer_sale(
    message: Message, card: str, amount: int, redemptions: RedemptionService
) -> None:
    try:
        preview = await redemptions.preview_sale(_actor(message), card, amount)
    except PurchaseError:
        await message.answer(
            _("No customer has the card {card}. Please check the digits.").format(card=card)
        )
        return
    ref = new_sale_reference()
    await message.answer(
        _(
            "🧾 Sale to <b>{name}</b> (card {card})\nAmount: {amount}\nPoints to earn: {points}"
        ).format(
            name=html.quote(shown_name(preview.customer.full_name)),
            card=card,
            amount=_money(amount, redemptions),
            points=points(preview.points, _language()),
        ),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=_("✅ Confirm"),
                        callback_data=ConfirmSale(card=card, amount=amount, ref=ref).pack(),
                    ),
                    InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=DropSale().pack()),
                ]
            ]
        ),
    )


@router.callback_query(ConfirmSale.filter(F.ref.regexp(r"^[0-9a-f]{32}$")))
async def confirm_sale(
    query: CallbackQuery,
    callback_data: ConfirmSale,
    redemptions: RedemptionService,
    notices: NoticeWorker,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    actor = _actor(query)
    assert actor.telegram_id is not None
    order_id = till_order_id(actor.telegram_id, callback_data.ref)
    try:
        sale = await redemptions.record_sale(
            actor, callback_data.card, callback_data.amount, order_id
        )
    except AccessDenied:
        callback_answer.text = _("Only cashiers can do this.")
        return
    except UnknownCustomer:
        callback_answer.text = _("No customer has this card any more.")
        return
    except (PurchaseError, RequestConflict):  # forged: another amount for this order, or none
        callback_answer.text = _("This button is no longer active.")
        return
    notices.wake()
    purchase = sale.purchase
    text = (
        _(
            "✅ Sale recorded: {amount} for <b>{name}</b>, +{points} points.\n"
            "Their balance: {balance} points."
        )
        if sale.created
        else _(
            "This sale was recorded already: {amount} for <b>{name}</b>, +{points} points.\n"
            "Their balance: {balance} points."
        )
    ).format(
        amount=_money(purchase.amount_minor, redemptions),
        name=html.quote(shown_name(sale.customer.full_name)),
        points=points(purchase.points, _language()),
        balance=points(purchase.balance_after, _language()),
    )
    await replace_screen(query, text, bot)


@router.callback_query(DropSale.filter())
async def drop_sale(query: CallbackQuery, bot: Bot) -> None:
    await replace_screen(query, _("Sale cancelled: nothing was recorded."), bot)


# --- codes ---


def _parse_redeem(arguments: str) -> tuple[str | None, str | None]:
    """'12345678', '1234 5678' or either followed by an amount -> (code, amount text)."""
    parts = arguments.split()
    if parts and normalise_code(parts[0]):
        return parts[0], " ".join(parts[1:]) or None
    if len(parts) >= 2 and normalise_code(parts[0] + parts[1]):
        return parts[0] + parts[1], " ".join(parts[2:]) or None
    return None, None


@router.message(Command("redeem"))
async def redeem(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    redemptions: RedemptionService,
    settings: Settings,
) -> None:
    if not (command.args or "").strip():
        await state.set_state(RedeemQuestions.code)
        await message.answer(_("🎟 Type the customer's 8-digit code:"))
        return
    code, amount_text = _parse_redeem(command.args or "")
    amount = parse_amount(amount_text) if amount_text else None
    if code is None or (amount_text and amount is None):
        await message.answer(
            _(
                "Usage: /redeem CODE, or /redeem CODE AMOUNT for a points code, "
                "e.g. /redeem 12345678 12.50"
            )
        )
        return
    await state.clear()
    await _show_code(message, code, amount, state, redemptions, settings)


@links.message(CommandStart(deep_link=True, magic=F.args.regexp(rf"^{REDEEM_PAYLOAD}\d{{8}}$")))
async def redeem_from_link(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    redemptions: RedemptionService,
    settings: Settings,
) -> None:
    """A cashier scanned a customer's code QR."""
    await state.clear()
    code = (command.args or "").removeprefix(REDEEM_PAYLOAD)
    await _show_code(message, code, None, state, redemptions, settings)


@router.message(StateFilter(RedeemQuestions.code), _ANSWER)
async def redeem_code(
    message: Message, state: FSMContext, redemptions: RedemptionService, settings: Settings
) -> None:
    assert message.text is not None
    code = normalise_code(message.text)
    if code is None:
        await message.answer(_("A code has 8 digits. Please check it and type it again:"))
        return
    await state.clear()
    await _show_code(message, code, None, state, redemptions, settings)


@router.message(StateFilter(RedeemQuestions.amount), _ANSWER)
async def redeem_amount(
    message: Message, state: FSMContext, redemptions: RedemptionService, settings: Settings
) -> None:
    answer = await _amount_answer(message, state, "code", "/redeem")
    if answer is not None:
        code, amount = answer
        await _show_code(message, code, amount, state, redemptions, settings)


async def _show_code(
    message: Message,
    code: str,
    amount: int | None,
    state: FSMContext,
    redemptions: RedemptionService,
    settings: Settings,
) -> None:
    """What the code is for, and Confirm / Cancel; a points code first needs the sale."""
    try:
        view = await redemptions.look_up(_actor(message), code)
    except RedemptionRefused as refusal:
        await message.answer(_refusal_text(refusal, code, redemptions, settings))
        return
    redemption = view.redemption
    if redemption.reward_id is None:
        problem = None
        if amount is not None:
            try:
                redemptions.check_share(redemption.points, amount)
            except ShareExceeded as refusal:
                problem = _refusal_text(refusal, code, redemptions, settings)
        if amount is None or problem is not None:
            await state.set_state(RedeemQuestions.amount)
            await state.set_data({"code": code})
            await message.answer(
                _describe(view, None, redemptions, settings)
                + "\n\n"
                + (problem or _("What is the sale amount? Type it like 12.50:"))
            )
            return
    await message.answer(
        _describe(view, amount, redemptions, settings),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=_("✅ Confirm"),
                        callback_data=ConfirmCode(code=code, amount=amount or 0).pack(),
                    ),
                    InlineKeyboardButton(
                        text=_("✖️ Cancel"), callback_data=KeepCode(code=code).pack()
                    ),
                ]
            ]
        ),
    )


def _describe(
    view: CodeView, amount: int | None, redemptions: RedemptionService, settings: Settings
) -> str:
    redemption = view.redemption
    lines = [
        _("🎟 Code <b>{code}</b>").format(code=spaced_code(redemption.code)),
        _("Customer: <b>{name}</b>").format(name=html.quote(shown_name(view.customer.full_name))),
        _("For: {what}").format(
            what=code_purpose(
                redemption.reward_id, redemption.points, redemptions.rules, _language()
            )
        ),
        _("Valid until {time}").format(
            time=clock(redemption.expires_at, settings.jobs.timezone, utcnow())
        ),
    ]
    if amount is not None:
        value = redemptions.rules.points_value_minor(redemption.points)
        lines.append(
            _("Sale: {amount}; points pay {value}; the customer pays {rest}.").format(
                amount=_money(amount, redemptions),
                value=_money(value, redemptions),
                rest=_money(amount - value, redemptions),
            )
        )
    return "\n".join(lines)


def _refusal_text(
    refusal: RedemptionRefused, code: str, redemptions: RedemptionService, settings: Settings
) -> str:
    now = utcnow()
    shown = spaced_code(code)
    if isinstance(refusal, CodeExpired):
        return _("❌ Code {code} expired at {time}; its points went back to the customer.").format(
            code=shown, time=clock(refusal.redemption.expires_at, settings.jobs.timezone, now)
        )
    if isinstance(refusal, CodeClosed):
        when = clock(refusal.redemption.closed_at or now, settings.jobs.timezone, now)
        if refusal.redemption.state == "confirmed":
            return _("❌ Code {code} was already used at {time}.").format(code=shown, time=when)
        return _("❌ Code {code} was cancelled by the customer at {time}.").format(
            code=shown, time=when
        )
    if isinstance(refusal, ShareExceeded):
        rules = redemptions.rules
        return _(
            "{points} points (worth {value}) may pay at most {share} of a sale, so the sale "
            "must be at least {minimum}. Type the sale amount again:"
        ).format(
            points=points(refusal.points, _language()),
            value=_money(rules.points_value_minor(refusal.points), redemptions),
            share=percent(rules.redemption.max_share_of_purchase),
            minimum=_money(refusal.min_sale_minor, redemptions),
        )
    if isinstance(refusal, SaleAmountRequired):
        return _(
            "This code is for points: type /redeem {code} AMOUNT with the sale amount."
        ).format(code=code)
    assert isinstance(refusal, UnknownCode)
    return _("❌ There is no code {code}. Please check the digits.").format(code=shown)


@router.callback_query(ConfirmCode.filter(F.code.regexp(r"^\d{8}$")))
async def confirm_code(
    query: CallbackQuery,
    callback_data: ConfirmCode,
    redemptions: RedemptionService,
    notices: NoticeWorker,
    settings: Settings,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    code, amount = callback_data.code, callback_data.amount or None
    try:
        confirmed = await redemptions.confirm(_actor(query), code, amount)
    except AccessDenied:
        callback_answer.text = _("Only cashiers can do this.")
        return
    except RedemptionRefused as refusal:
        text = _refusal_text(refusal, code, redemptions, settings)
        await replace_screen(query, text, bot)
        return
    notices.wake()
    redemption = confirmed.redemption
    name = html.quote(shown_name(confirmed.customer.full_name))
    if confirmed.reward is not None:
        text = _("✅ Confirmed: give <b>{name}</b> {reward}.").format(
            name=name, reward=html.quote(confirmed.reward.title(_language()))
        )
    else:
        value = redemptions.rules.points_value_minor(redemption.points)
        sale = redemption.sale_amount_minor or 0
        text = _(
            "✅ Confirmed: {points} points pay {value} of {amount}; <b>{name}</b> pays {rest}."
        ).format(
            points=points(redemption.points, _language()),
            value=_money(value, redemptions),
            amount=_money(sale, redemptions),
            name=name,
            rest=_money(sale - value, redemptions),
        )
    await replace_screen(query, text, bot)


@router.callback_query(KeepCode.filter())
async def keep_code(query: CallbackQuery, bot: Bot) -> None:
    await replace_screen(query, _("Not confirmed: the code stays valid for the customer."), bot)


# --- anything else while a question is open ---


@router.message(StateFilter(SaleQuestions.card), ~Check(F.text))
@router.message(StateFilter(RedeemQuestions.code), ~Check(F.text))
async def digits_not_text(message: Message) -> None:
    await message.answer(_("Please type the digits."))


@router.message(StateFilter(SaleQuestions.amount), ~Check(F.text))
@router.message(StateFilter(RedeemQuestions.amount), ~Check(F.text))
async def amount_not_text(message: Message) -> None:
    await message.answer(_("Please type the amount, e.g. 12.50."))
