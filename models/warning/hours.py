"""Daily time windows in local time (``"22:00-06:00"``), shared by rules and suppression windows.

>>> w = DailyWindow.parse("22:00-06:00")
>>> w.contains(23 * 60), w.contains(12 * 60), w.contains(5 * 60 + 59)
(True, False, True)
>>> local_minute(1_750_000_000.0, 8.0)  # 2025-06-15 23:06:40 in China
1386
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True)
class DailyWindow:
    """Start and end minute of the day; an end below the start passes midnight."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> DailyWindow:
        """``"HH:MM-HH:MM"``; a ValueError names the bad text."""
        match = _WINDOW.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        return cls(h1 * 60 + m1, h2 * 60 + m2)

    def contains(self, minute: int) -> bool:
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


def local_minute(ts: float, utc_offset_hours: float) -> int:
    """Minute of the local day of an epoch time."""
    return int(((ts + utc_offset_hours * 3600.0) % 86_400.0) // 60)
