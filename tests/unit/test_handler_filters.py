"""Every filter on the update path runs in the event loop: aiogram runs a synchronous one
(a bare State, a bare magic filter, a plain function) in a worker thread, a hop that costs a
hundred times the check, paid by every message that reaches the router."""

from datetime import UTC, datetime
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.filters import Command, StateFilter
from aiogram.types import Chat, Contact, Message

from bot.i18n import create_i18n
from bot.telegram.filters import CommandButtonOrAnswer, MenuButton
from handlers import REPLY_BUTTONS, feature_routers, requests


def _filters(router: Router) -> list[tuple[str, FilterObject]]:
    found = []
    for name, observer in router.observers.items():
        # The router-wide filters (router.message.filter(...)) live on a handler of its own.
        router_wide = observer._handler.filters or []
        found += [(f"{router.name} {name} (router)", item) for item in router_wide]
        for handler in observer.handlers:
            label = f"{router.name} {name} {handler.callback.__name__}"
            found += [(label, item) for item in handler.filters or ()]
    for child in router.sub_routers:
        found += _filters(child)
    return found


def test_no_filter_of_any_handler_runs_in_a_worker_thread():
    in_threads = [
        f"{where}: {item.callback!r}"
        for router in feature_routers()
        for where, item in _filters(router)
        if not item.awaitable
    ]
    assert in_threads == []


# Message handlers under `requests` that match no text at all (so the parent's filter lets
# every message they want through): a shared contact.
NON_TEXT_HANDLERS = {"contact_shared"}


def _message_handlers(router: Router) -> list[tuple[str, list[object]]]:
    found: list[tuple[str, list[object]]] = [
        (f"{router.name} {handler.callback.__name__}", [f.callback for f in handler.filters or ()])
        for handler in router.message.handlers
    ]
    for child in router.sub_routers:
        found += _message_handlers(child)
    return found


def _takes_no_free_text(filters: list[object]) -> bool:
    """A command, one of REPLY_BUTTONS, or a state other than "no state"."""
    for item in filters:
        if isinstance(item, Command):
            return True
        if isinstance(item, MenuButton) and item._msgid in REPLY_BUTTONS:
            return True
        if isinstance(item, StateFilter) and not {None, "*"} & set(item.states):
            return True
    return False


def test_free_text_with_no_question_pending_skips_only_routers_that_never_take_it():
    """The `requests` parent lets such text skip every router under it: a handler there that
    could take it (a new button whose label is not in REPLY_BUTTONS, a free-text handler)
    would silently never run."""
    [gate] = [item.callback for item in requests.message._handler.filters or ()]
    assert isinstance(gate, CommandButtonOrAnswer) and gate.labels == REPLY_BUTTONS
    loose = [
        where
        for where, filters in _message_handlers(requests)
        if where.rsplit(" ", 1)[1] not in NON_TEXT_HANDLERS and not _takes_no_free_text(filters)
    ]
    assert loose == []


async def test_the_gate_lets_through_commands_buttons_answers_and_non_text_only():
    i18n = create_i18n("en")
    gate = CommandButtonOrAnswer(REPLY_BUTTONS)
    chat = Chat(id=1, type="private")

    def message(**fields: Any) -> Message:
        return Message(message_id=1, date=datetime.now(UTC), chat=chat, **fields)

    assert await gate(message(text="/points"), i18n)
    assert await gate(message(text="❓ Помощь"), i18n)  # a button, in another language
    assert await gate(message(text="42"), i18n, raw_state="PointsQuestion:how_many")
    assert await gate(message(contact=Contact(phone_number="1", first_name="A")), i18n)
    assert not await gate(message(text="where is my order"), i18n)
    assert not await gate(message(text="❓ Help me please"), i18n)
