"""Failed-login counting: at most N failures per key within a sliding window.

Keys are user names and client addresses; a key over its limit is refused until its oldest
failure in the window ages out. The counts live in memory (a restart forgets them).

>>> now = [0.0]
>>> limiter = FailureLimiter(max_failures=2, window_s=60, clock=lambda: now[0])
>>> limiter.fail("user:a"); limiter.fail("user:a")
>>> limiter.retry_after("user:a")
60.0
>>> now[0] = 61.0
>>> limiter.retry_after("user:a") is None
True
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

_PRUNE_AT = 10_000


class FailureLimiter:
    """Sliding-window failure counts per key; thread-safe."""

    def __init__(
        self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or ``None`` when it may now."""
        with self._lock:
            now = self.clock()
            times = self._recent(key, now)
            if len(times) < self.max_failures:
                return None
            return max(times[-self.max_failures] + self.window_s - now, 0.001)

    def fail(self, key: str) -> None:
        """Count one failure of ``key``."""
        with self._lock:
            now = self.clock()
            if len(self._failures) >= _PRUNE_AT:
                for stale in list(self._failures):
                    self._recent(stale, now)
            self._failures.setdefault(key, deque(maxlen=self.max_failures)).append(now)

    def clear(self, key: str) -> None:
        """Forget the failures of ``key`` (after a successful login)."""
        with self._lock:
            self._failures.pop(key, None)
