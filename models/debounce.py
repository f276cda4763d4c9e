"""The debounce timer both rule engines share: "meets it now" -> "has met it long enough".

A rule's condition is judged at each frame (video) or fix (telemetry). A :class:`Debounce` is
one run of it for one subject (a track, a zone, a vehicle): it starts at the first hit and
lasts while hits come at most ``max_gap_s`` apart (:meth:`Debounce.lapsed`); once it has
:meth:`~Debounce.held` for ``min_duration_s`` the engine fires its warning. Each hit's facts
are kept for the warning's details, a ``max_*`` fact at its largest over the run.

>>> run = Debounce(start=10.0, last_true=10.0)
>>> run.hit(12.0, {"max_speed_kmh": 50.0, "zone": "A"})
>>> run.hit(13.0, {"max_speed_kmh": 45.0, "zone": "B"})
>>> run.details, run.held(13.0), run.due(13.0, min_duration_s=5.0)
({'max_speed_kmh': 50.0, 'zone': 'B'}, 3.0, False)
>>> run.lapsed(14.5, max_gap_s=2.0), run.lapsed(15.5, max_gap_s=2.0)
(False, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Debounce:
    """One run of a condition for one subject: its first hit (``start``), its last, its facts."""

    start: float
    last_true: float
    details: dict[str, Any] = field(default_factory=dict)

    def hit(self, ts: float, facts: Mapping[str, Any] = ()) -> None:
        """The condition holds at ``ts``; ``facts`` update the details (``max_*`` keep the largest)."""
        self.last_true = ts
        for key, value in dict(facts).items():
            if key.startswith("max_") and key in self.details:
                value = max(self.details[key], value)
            self.details[key] = value

    def lapsed(self, ts: float, max_gap_s: float) -> bool:
        """Whether the run is over at ``ts``: no hit for more than ``max_gap_s``."""
        return ts - self.last_true > max_gap_s

    def held(self, ts: float) -> float:
        """Seconds from the run's start to ``ts``."""
        return ts - self.start

    def due(self, ts: float, min_duration_s: float) -> bool:
        """Whether the run has held for ``min_duration_s`` at ``ts`` (its warning fires)."""
        return self.held(ts) >= min_duration_s


__all__ = ["Debounce"]
