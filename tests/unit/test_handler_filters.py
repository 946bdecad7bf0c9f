"""Every filter on the update path runs in the event loop: aiogram runs a synchronous one
(a bare State, a bare magic filter, a plain function) in a worker thread, a hop that costs a
hundred times the check, paid by every message that reaches the router."""

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject

from handlers import feature_routers


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
