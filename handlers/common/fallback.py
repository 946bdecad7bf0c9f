"""The catch-all router, registered last: whatever no feature claimed gets a helpful answer."""

from __future__ import annotations

from aiogram import F, Router, html
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.i18n import N_
from bot.services.access import Actor, RoleService
from bot.telegram.commands import ADMIN_COMMANDS, CASHIER_COMMANDS
from bot.telegram.filters import Check
from bot.telegram.text import cut

router = Router(name=__name__)

# Commands of a role's router: reaching here means that router's filter refused the sender.
_RESTRICTED_COMMANDS = {
    **{name: N_("Sorry, /{command} is for cashiers only.") for name, _text in CASHIER_COMMANDS},
    **{name: N_("Sorry, /{command} is for administrators only.") for name, _text in ADMIN_COMMANDS},
}


@router.message(Check(F.text.startswith("/")))
async def unknown_command(message: Message, role_service: RoleService) -> None:
    assert message.text is not None and message.from_user is not None
    name = message.text.split(maxsplit=1)[0].split("@", 1)[0].lstrip("/").lower()
    refusal = _RESTRICTED_COMMANDS.get(name)
    if refusal is not None:
        await role_service.record_refusal(Actor.telegram(message.from_user.id), f"/{name}")
        await message.answer(_(refusal).format(command=name))
        return
    await message.answer(
        _("I don't know the command /{command}. Send /help to see what I can do.").format(
            command=html.quote(cut(name, 32))
        )
    )


@router.message(Check(F.text))
async def free_text(message: Message, settings: Settings) -> None:
    assert message.text is not None
    if len(message.text) > settings.telegram.max_text_length:
        await message.answer(
            _(
                "That message is {length} characters long; I can read up to {limit}. "
                "Please send a shorter one."
            ).format(length=len(message.text), limit=settings.telegram.max_text_length)
        )
        return
    # Free text the FAQ did not take (it was sent in the middle of another step).
    await message.answer(_("I didn't catch that. Please pick something from the menu."))


@router.message()
async def unexpected_content(message: Message) -> None:
    """Stickers, photos, voice and the like where the bot expects text."""
    await message.answer(
        _("I can only read text here. Please type your message, or pick from the menu.")
    )


@router.edited_message()
async def edited(message: Message) -> None:
    """Edits are kept in the customer's record; nothing else to do with them here."""


@router.callback_query()
async def stale_button(query: CallbackQuery, callback_answer: CallbackAnswer) -> None:
    """A button whose data no feature understands: forged, or from an old message.
    Answered (so it stops spinning), and nothing changes."""
    callback_answer.text = _("This button is no longer active.")
