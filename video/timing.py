"""A latency tally: how long something took, in cumulative buckets, cheap enough for every call.

A worker times each analysis step with one (:attr:`video.worker.Worker.detect_latency`); the
console reads it when scraped (``/metrics``: a Prometheus histogram) without this package knowing
Prometheus.

>>> tally = LatencyTally(bounds=(0.01, 0.1))
>>> for s in (0.004, 0.05, 0.5):
...     tally.observe(s)
>>> snap = tally.snapshot()
>>> snap.cumulative, snap.count, round(snap.total_s, 3)
([1, 2, 3], 3, 0.554)
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass

#: Default upper bounds (seconds): a small detector on a GPU to a large batch on a CPU.
BOUNDS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class TallySnapshot:
    """The bucket bounds, the cumulative count at or below each (then all: ``+Inf``), the count and
    the sum of the durations."""

    bounds: tuple[float, ...]
    cumulative: list[int]
    count: int
    total_s: float


class LatencyTally:
    """Durations counted into fixed buckets; thread-safe."""

    def __init__(self, bounds: tuple[float, ...] = BOUNDS_S) -> None:
        if list(bounds) != sorted(bounds) or not bounds:
            raise ValueError("bounds must be increasing and not empty")
        self.bounds = tuple(bounds)
        self._counts = [0] * (len(bounds) + 1)
        self._total = 0.0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        index = bisect.bisect_left(self.bounds, seconds)
        with self._lock:
            self._counts[index] += 1
            self._total += seconds

    def snapshot(self) -> TallySnapshot:
        with self._lock:
            counts, total = list(self._counts), self._total
        cumulative, running = [], 0
        for n in counts:
            running += n
            cumulative.append(running)
        return TallySnapshot(self.bounds, cumulative, running, total)
