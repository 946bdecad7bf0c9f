from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain.business_hours import BusinessHours

KYIV = ZoneInfo("Europe/Kyiv")


def hours(days: str = "mon-fri", holidays: str = "") -> BusinessHours:
    return BusinessHours.parse("09:00-18:00", days, holidays, KYIV)


def test_open_within_hours_on_a_working_day_in_the_business_zone():
    # Monday 2026-11-23 07:30 UTC is 09:30 in Kyiv.
    assert hours().is_open(datetime(2026, 11, 23, 7, 30, tzinfo=UTC))
    assert not hours().is_open(datetime(2026, 11, 23, 6, 30, tzinfo=UTC))  # 08:30 local
    assert not hours().is_open(datetime(2026, 11, 23, 16, 0, tzinfo=UTC))  # 18:00 local


def test_next_opening_skips_the_weekend_and_holidays():
    friday_evening = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # 19:00 in Kyiv
    assert hours().next_opening(friday_evening) == datetime(2026, 11, 30, 9, 0, tzinfo=KYIV)
    with_holiday = hours(holidays="2026-11-30")
    assert with_holiday.next_opening(friday_evening) == datetime(2026, 12, 1, 9, 0, tzinfo=KYIV)
    early = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 07:00 Tuesday in Kyiv
    assert hours().next_opening(early) == datetime(2026, 11, 24, 9, 0, tzinfo=KYIV)


def test_day_lists_and_ranges_wrap_around_the_week():
    assert hours("fri-mon").days == frozenset({4, 5, 6, 0})
    assert hours("mon,wed").days == frozenset({0, 2})
    assert hours(holidays="2026-12-25").holidays == frozenset({date(2026, 12, 25)})


@pytest.mark.parametrize(
    ("text", "days", "holidays"),
    [
        ("9-18", "mon-fri", ""),
        ("18:00-09:00", "mon-fri", ""),
        ("09:00-18:00", "funday", ""),
        ("09:00-18:00", "mon-fri", "25.12.2026"),
    ],
)
def test_malformed_settings_are_refused(text, days, holidays):
    with pytest.raises(ValueError):
        BusinessHours.parse(text, days, holidays, KYIV)
