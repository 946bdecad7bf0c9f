"""Every dependency a handler asks for by name comes from one typed place: the fields of
bot.container.Services, or what aiogram, our middlewares and filters add to each update."""

import inspect
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from aiogram import Router
from aiogram.filters import Filter

from bot.container import Services
from handlers import feature_routers

# Added per update by aiogram itself (the FSM, filters' results, the callback answer…).
AIOGRAM = {"bot", "state", "raw_state", "callback_data", "callback_answer", "command", "i18n"}
# Added per update by our middlewares (intake, roles) and filters (the ticket's customer).
OURS = {"customer", "roles", "is_admin", "client"}
# What filters see: the services come as one object (ServicesMiddleware spreads them by name
# only for the chosen handler).
WALK = {"services", "event_from_user", "event_chat", "message"} | AIOGRAM | OURS


def _filters(router: Router) -> list[Callable[..., Any]]:
    found = []
    for observer in router.observers.values():
        for handler in [observer._handler, *observer.handlers]:
            found += [item.callback for item in handler.filters or []]
    for child in router.sub_routers:
        found += _filters(child)
    return found


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


def test_filters_reach_the_services_through_the_one_services_key():
    filters = [callback for router in feature_routers() for callback in _filters(router)]
    asked = {
        (type(callback).__qualname__, name)
        for callback in filters
        if isinstance(callback, Filter)
        for name in list(inspect.signature(type(callback).__call__).parameters)[2:]
    }
    assert ("AnswerableText", "services") in asked  # the check sees our filters at all
    unknown = {(owner, name) for owner, name in asked if name not in WALK and name != "kwargs"}
    assert unknown == set()
