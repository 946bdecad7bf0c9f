"""Quiet hours: a daily range of local time when the bot starts no conversation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class QuietHours:
    """Hours in the business's time zone when no survey or promotion is sent."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """'21:00-09:00'; empty means none."""
        if not text.strip():
            return None
        first, _, second = text.partition("-")
        try:
            return cls(time.fromisoformat(first.strip()), time.fromisoformat(second.strip()))
        except ValueError:
            raise ValueError(f"not a range of hours such as 21:00-09:00: {text!r}") from None

    def contains(self, moment: datetime, zone: ZoneInfo) -> bool:
        local = moment.astimezone(zone).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end
