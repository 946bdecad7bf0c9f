"""aiogram routers, one per feature; `feature_routers()` is their one ordered list."""

from __future__ import annotations

from aiogram import Router

from handlers import errors, fallback, language, start
from handlers import help as help_
from handlers.admin import customers as admin_customers


def feature_routers() -> list[Router]:
    # Order matters: the first router whose filters match handles the update, so the
    # catch-all fallback must stay last.
    return [
        errors.router,
        start.router,
        help_.router,
        language.router,
        admin_customers.router,
        fallback.router,
    ]
