"""Money, points and dates as a customer reading their language expects them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal


def money(amount_minor: int, currency: str, language: str) -> str:
    return format_currency(Decimal(amount_minor) / 100, currency, locale=language)


def points(value: int, language: str) -> str:
    return format_decimal(value, locale=language)


def day(moment: datetime, language: str) -> str:
    """'1 Dec 2026' in English, '1 дек. 2026 г.' in Russian."""
    return format_date(moment.date(), format="medium", locale=language)
