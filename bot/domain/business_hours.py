"""When agents are at work: opening hours on working days, minus holidays, in TIMEZONE."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class BusinessHours:
    opens: time
    closes: time  # after opens; a shift past midnight is not supported
    days: frozenset[int]  # 0 = Monday
    holidays: frozenset[date]
    zone: ZoneInfo

    @classmethod
    def parse(cls, hours: str, days: str, holidays: str, zone: ZoneInfo) -> BusinessHours:
        """hours "09:00-18:00"; days "mon-fri" or "mon,wed,sat"; holidays "2026-12-25,...".
        Raises ValueError with the reason."""
        match = _HOURS.match(hours)
        if match is None:
            raise ValueError(f"hours {hours!r} are not like 09:00-18:00")
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
            raise ValueError(f"hours {hours!r} are not times of day")
        opens = time(h1, m1)
        closes = time.max if (h2, m2) == (24, 0) else time(h2 % 24, m2)
        if closes <= opens:
            raise ValueError(f"hours {hours!r} close before they open")
        return cls(opens, closes, _days(days), _dates(holidays), zone)

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        return self._working_day(local.date()) and self.opens <= local.time() < self.closes

    def next_opening(self, moment: datetime) -> datetime | None:
        """When agents are next at work (aware, in TIMEZONE); `moment` itself if open now;
        None if no working day comes within a year."""
        if self.is_open(moment):
            return moment.astimezone(self.zone)
        local = moment.astimezone(self.zone)
        day = local.date()
        for offset in range(367):
            candidate_day = day + timedelta(days=offset)
            if not self._working_day(candidate_day):
                continue
            candidate = datetime.combine(candidate_day, self.opens, tzinfo=self.zone)
            if candidate > local:
                return candidate
        return None

    def _working_day(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays


def _days(text: str) -> frozenset[int]:
    result: set[int] = set()
    for part in (piece.strip().lower() for piece in text.split(",") if piece.strip()):
        if "-" in part:
            first, last = (_day(name) for name in part.split("-", 1))
            index = first
            while True:
                result.add(index)
                if index == last:
                    break
                index = (index + 1) % 7
        else:
            result.add(_day(part))
    if not result:
        raise ValueError("no working days")
    return frozenset(result)


def _day(name: str) -> int:
    key = name.strip()[:3]
    if key not in DAY_NAMES:
        raise ValueError(f"{name!r} is not a day of the week (mon … sun)")
    return DAY_NAMES.index(key)


def _dates(text: str) -> frozenset[date]:
    try:
        return frozenset(
            date.fromisoformat(piece.strip()) for piece in text.split(",") if piece.strip()
        )
    except ValueError:
        raise ValueError(f"holidays {text!r} are not dates like 2026-12-25") from None
