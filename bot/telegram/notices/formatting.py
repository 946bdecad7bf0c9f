"""Money, points and dates as a customer reading their language expects them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal


def money(amount_minor: int, currency: str, language: str) -> str:
    return format_currency(Decimal(amount_minor) / 100, currency, locale=language)


def points(value: int, language: str) -> str:
    return format_decimal(value, locale=language)


def day(moment: datetime, language: str) -> str:
    """'1 Dec 2026' in English, '1 дек. 2026 г.' in Russian."""
    return format_date(moment.date(), format="medium", locale=language)


def moment_in(moment: datetime, language: str, zone: ZoneInfo) -> str:
    """A date and time, short, as the reader's language writes them ('12/4/26, 5:39 PM',
    '04.12.2026, 17:39'), in the business's time zone."""
    return format_datetime(moment, format="short", tzinfo=zone, locale=language)


def clock(moment: datetime, timezone: str, now: datetime) -> str:
    """'14:05' in the business's time zone, with the date in front when it is not today."""
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return f"{local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


def percent(share: Decimal) -> str:
    """0.5 -> '50%'."""
    return f"{(share * 100).normalize():f}%"
