"""Rates such as "20 per 10 seconds", parsed without importing aiogram: settings validate
them, and the operator CLI should not pay aiogram's import time to read its settings."""

from __future__ import annotations

import re
from dataclasses import dataclass

_RATE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d*)\s*(second|minute|hour)s?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        """'20 per 10 seconds', '30/minute', '5 per second'."""
        match = _RATE.match(text)
        if match is None or int(match.group(1)) < 1:
            raise ValueError(f"not a rate: {text!r}")
        multiple = int(match.group(2) or 1)
        return cls(int(match.group(1)), multiple * _UNIT_SECONDS[match.group(3).lower()])
