"""The agents' side of support: messages in a customer's topic of the SUPPORT_CHAT_ID forum
go to the customer (except /note), /close and the card's Take / Close buttons work the
ticket. Only the chat's members can write in it; buttons are re-checked on every press."""

from __future__ import annotations

import re
from datetime import datetime

from aiogram import Router, html
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import CallbackQuery, Message, User
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.container import Services
from bot.services.access import Actor, Role
from bot.services.interactions import InteractionLog
from bot.services.languages import effective_language
from bot.services.loyalty.ledger import InsufficientPoints
from bot.services.snippets import Snippets
from bot.services.support import OverLimit, SupportService, TakeOutcome
from bot.services.ticket_desk import TicketDesk
from bot.telegram.callbacks import TicketAction
from bot.telegram.commands import AGENT_COMMANDS, command_lines
from bot.telegram.history import render_history
from bot.telegram.middlewares.locale import SharedChatLocaleMiddleware
from bot.telegram.support_desk import SupportDesk, agent_name
from storage.models import Customer

router = Router(name=__name__)

# What an agent may send that Telegram can copy to the customer; service messages (topic
# created, renamed, pinned ...) and the like are not relayed.
_RELAYED = frozenset(
    {
        "text",
        "photo",
        "video",
        "animation",
        "document",
        "audio",
        "voice",
        "video_note",
        "sticker",
        "location",
        "venue",
        "contact",
        "dice",
    }
)


class InSupportTopic(Filter):
    """A person's message in a topic of the support chat; the topic's customer is resolved
    here once (messages in other topics, e.g. General, are not ours)."""

    async def __call__(self, message: Message, services: Services) -> bool | dict[str, object]:
        chat_id = services.settings.support.chat_id
        if chat_id is None or message.chat.id != chat_id:
            return False
        if not message.is_topic_message or message.message_thread_id is None:
            return False
        if message.from_user is None or message.from_user.is_bot:
            return False
        topic = await services.support.topic_by_thread(message.chat.id, message.message_thread_id)
        if topic is None:
            return False
        client = await services.support.customer(topic.customer_id)
        if client is None:
            return False
        return {"client": client}


router.message.filter(InSupportTopic())
router.edited_message.filter(InSupportTopic())
router.message.middleware(SharedChatLocaleMiddleware())


class ClientForgotten(Filter):
    """The topic's customer has erased their data: there is no one to write to any more."""

    async def __call__(self, message: Message, client: Customer) -> bool:
        return client.forgotten_at is not None or client.telegram_id is None


@router.message(ClientForgotten())
async def client_forgotten(message: Message) -> None:
    # Registered first, so no handler below ever meets a customer without a Telegram id.
    await message.reply(
        _("🗑 This customer has erased their data: messages can no longer reach them.")
    )


def _agent(user: User) -> tuple[int, str]:
    return user.id, agent_name(user.first_name, user.username)


@router.message(Command("note"))
async def note(
    message: Message, command: CommandObject, client: Customer, log: InteractionLog
) -> None:
    """Internal notes stay in the topic; the customer's record keeps them as notes."""
    assert message.from_user is not None and client.telegram_id is not None
    if command.args:
        await log.record_note(client.telegram_id, command.args, message.from_user.id)


@router.edited_message()
async def edited(message: Message, desk: SupportDesk) -> None:
    """An agent corrected a message: the customer's copy is corrected too."""
    await desk.mirror_edit(message)


@router.message(Command("close"))
async def close_command(message: Message, client: Customer, tickets: TicketDesk) -> None:
    assert message.from_user is not None
    if not await tickets.close_open_ticket(client, *_agent(message.from_user)):
        await message.reply(_("There is no open ticket in this topic."))


@router.message(Command("help"))
async def agent_help(message: Message) -> None:
    await message.reply(
        _("In a customer's topic, whatever you write goes to the customer, except:")
        + "\n"
        + command_lines(AGENT_COMMANDS, _)
    )


HISTORY_LIMIT = 15
_POINTS = re.compile(r"^([+-]?\d{1,7})\s+(\S.*)$", re.DOTALL)


@router.message(Command("history"))
async def history(
    message: Message, client: Customer, log: InteractionLog, settings: Settings
) -> None:
    assert client.telegram_id is not None
    found = await log.history(client.telegram_id, HISTORY_LIMIT)
    if found is None or not found.interactions:
        await message.reply(_("No interactions recorded yet."))
        return
    await message.reply(
        render_history(found.interactions, settings.telegram.default_language, settings.zone)
    )


@router.message(Command("points"))
async def points(
    message: Message,
    command: CommandObject,
    client: Customer,
    support: SupportService,
    settings: Settings,
    is_admin: bool = False,
) -> None:
    assert message.from_user is not None
    match = _POINTS.match((command.args or "").strip())
    if match is None or int(match.group(1)) == 0:
        await message.reply(
            _("Usage: /points +N reason (or -N reason), e.g. /points +50 late delivery")
        )
        return
    delta, reason = int(match.group(1)), match.group(2).strip()[:200]
    today = datetime.now(settings.zone).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        adjustment = await support.adjust_points(
            Actor.telegram(message.from_user.id),
            client,
            delta,
            reason,
            key=f"support:{message.chat.id}:{message.message_id}",
            limit=None if is_admin else settings.support.points_limit,
            since=today,
        )
    except OverLimit as error:
        await message.reply(
            _(
                "Not done: that would exceed your limit of {limit} points a day "
                "({used} used today)."
            ).format(limit=error.limit, used=error.used)
        )
        return
    except InsufficientPoints:
        await message.reply(_("Not done: the customer has fewer points than that."))
        return
    await message.reply(
        _("Done: {delta:+d} points ({reason}). Balance {before} → {after}.").format(
            delta=delta,
            reason=html.quote(reason),
            before=adjustment.balance_before,
            after=adjustment.balance_after,
        )
    )


@router.message(Command("snippet"))
async def snippet(
    message: Message,
    command: CommandObject,
    client: Customer,
    desk: SupportDesk,
    tickets: TicketDesk,
    snippets: Snippets,
) -> None:
    assert message.from_user is not None
    name = (command.args or "").strip()
    language = effective_language(client.language, client.telegram_language, "en")
    text = snippets.text(name, language) if name else None
    if text is None:
        names = ", ".join(snippets.names) or _("none configured (SUPPORT_SNIPPETS)")
        await message.reply(
            _("Usage: /snippet NAME. Snippets: {names}").format(names=html.quote(names))
        )
        return
    problem = await desk.send_text(client, text)
    if problem is not None:
        await message.reply(problem)
        return
    await message.reply(_("Sent to the customer:") + "\n" + text)
    await tickets.agent_replied(client, *_agent(message.from_user))


@router.message()
async def relay(message: Message, client: Customer, desk: SupportDesk, tickets: TicketDesk) -> None:
    assert message.from_user is not None
    if message.text is not None and message.text.startswith("/"):
        await message.reply(
            _("Commands are not sent to the customer. /help lists what works here.")
        )
        return
    if message.content_type not in _RELAYED:
        return
    problem = await desk.to_customer(client, message)
    if problem is not None:
        await message.reply(problem)
        return
    await tickets.agent_replied(client, *_agent(message.from_user))


# Buttons on the customer's card. The callback router is not behind InSupportTopic (that
# filters messages); every check is made here, on the server, at each press.
buttons = Router(name=__name__ + ".buttons")


@buttons.callback_query(TicketAction.filter())
async def ticket_action(
    query: CallbackQuery,
    callback_data: TicketAction,
    settings: Settings,
    support: SupportService,
    desk: SupportDesk,
    tickets: TicketDesk,
    callback_answer: CallbackAnswer,
    roles: frozenset[Role] = frozenset(),
) -> None:
    message = query.message
    if (
        not isinstance(message, Message)
        or settings.support.chat_id is None
        or message.chat.id != settings.support.chat_id
        or message.message_thread_id is None
    ):
        callback_answer.text = _("This button is no longer active.")
        return
    if not await desk.is_agent(query.from_user.id, roles):
        callback_answer.text = _("Only support agents can do this.")
        callback_answer.show_alert = True
        return
    ticket = await support.ticket(callback_data.ticket)
    topic = await support.topic_by_thread(message.chat.id, message.message_thread_id)
    client = await support.customer(ticket.customer_id) if ticket is not None else None
    if ticket is None or topic is None or client is None or topic.customer_id != client.id:
        callback_answer.text = _("This button is no longer active.")
        return
    agent_id, name = _agent(query.from_user)
    if callback_data.action == "close":
        if not await tickets.close(ticket.id, client, agent_id, name):
            callback_answer.text = _("This ticket is closed already.")
        return
    if callback_data.action != "take":
        callback_answer.text = _("This button is no longer active.")
        return
    outcome, current = await tickets.take(ticket.id, client, agent_id, name)
    if outcome is TakeOutcome.TAKEN and current is not None:
        callback_answer.text = _("The ticket is yours.")
    elif outcome is TakeOutcome.ALREADY_YOURS:
        callback_answer.text = _("The ticket is yours already.")
    elif outcome is TakeOutcome.TAKEN_BY_OTHER and current is not None:
        callback_answer.text = _("{agent} has taken this ticket already.").format(
            agent=current.assignee_name or ""
        )
        callback_answer.show_alert = True
    else:
        callback_answer.text = _("This ticket is closed already.")
