"""Quiet hours: a span of the business's day in which the bot starts no conversation
(promotions, surveys)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

_SPAN = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class QuietHours:
    start: time | None = None
    end: time | None = None

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """ "21:00-09:00" (may cross midnight); "" for none. ValueError if malformed."""
        if not text.strip():
            return cls()
        match = _SPAN.fullmatch(text.strip())
        if match is None:
            raise ValueError("is not a span of the day like 21:00-09:00")
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        if (h1, m1) == (h2, m2):
            raise ValueError("starts and ends at the same time")
        return cls(time(h1, m1), time(h2, m2))

    def contains(self, moment: datetime, zone: ZoneInfo) -> bool:
        if self.start is None or self.end is None:
            return False
        local = moment.astimezone(zone).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The first moment at or after ``moment`` outside quiet hours."""
        if not self.contains(moment, zone) or self.end is None:
            return moment
        local = moment.astimezone(zone)
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end
