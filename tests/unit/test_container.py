"""Every dependency a handler asks for by name comes from one typed place: the fields of
bot.container.Services, or what aiogram, our middlewares and filters add to each update."""

import inspect
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from aiogram import Router

from bot.container import Services
from handlers import feature_routers

# Added per update by aiogram itself (the FSM, filters' results, the callback answer…).
AIOGRAM = {"bot", "state", "raw_state", "callback_data", "callback_answer", "command", "i18n"}
# Added per update by our middlewares (intake, roles) and filters (the ticket's customer).
OURS = {"customer", "roles", "is_admin", "client"}


def _handlers(router: Router) -> list[Callable[..., Any]]:
    found = [h.callback for observer in router.observers.values() for h in observer.handlers]
    for child in router.sub_routers:
        found += _handlers(child)
    return found


def test_every_handler_asks_only_for_what_the_container_or_aiogram_provides():
    provided = {field.name for field in fields(Services)} | AIOGRAM | OURS
    callbacks = [callback for router in feature_routers() for callback in _handlers(router)]
    assert len(callbacks) > 50
    unknown = {
        f"{callback.__module__}.{callback.__qualname__}({name})"
        for callback in callbacks
        for name in list(inspect.signature(callback).parameters)[1:]  # the event comes first
        if name not in provided
    }
    assert unknown == set()
