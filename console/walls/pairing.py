"""Pairing codes: short, unambiguous, typed by an admin from across the room; and the sliding
window that limits how often they are drawn and guessed.

The alphabet leaves out what a wall's font makes ambiguous (0/O/Q/D, 1/I/L, 2/Z, 5/S, 6/G,
8/B, U/V): 21 symbols, 6 of them: about 86 million codes, of which a few are waiting at once,
and an admin may enter a wrong code only ``GUESSES_PER_WINDOW`` times a window.

>>> len(new_code()), set(new_code()) <= set(ALPHABET)
(6, True)
>>> normalize(" ab-c 4x7 ")
'ABC4X7'
>>> limit = Window(2, 60.0, clock=lambda: 0.0)
>>> limit.hit("a"), limit.hit("a"), limit.hit("a"), limit.wait("a"), limit.wait("b")
(None, None, 60.0, 60.0, None)
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable

ALPHABET = "ACEFHJKMNPRTWXY345679"
CODE_LENGTH = 6
CODE_TTL_S = 600.0  # a code shown on a screen lives ten minutes, then the screen draws another
CODES_PER_WINDOW = 20  # new codes per address per window
GUESSES_PER_WINDOW = 10  # wrong codes per admin per window
WINDOW_S = 600.0


def new_code() -> str:
    """A random pairing code."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize(typed: str) -> str:
    """A code as typed (any case, spaces or dashes) in its stored form."""
    return "".join(c for c in typed.upper() if c not in " -\t")


class Window:
    """At most ``limit`` events per key in any ``window_s`` seconds (thread-safe)."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every count."""
        with self._lock:
            self._events.clear()

    def wait(self, key: str) -> float | None:
        """The seconds ``key`` must wait before its next event, or ``None`` (nothing counted)."""
        now = self.clock()
        with self._lock:
            events = self._events.get(key)
            while events and events[0] <= now - self.window_s:
                events.popleft()
            return max(1.0, events[0] + self.window_s - now) if events and len(events) >= self.limit else None

    def hit(self, key: str) -> float | None:
        """Count an event of ``key``: ``None`` when allowed, else the seconds to wait."""
        wait = self.wait(key)
        if wait is not None:
            return wait
        with self._lock:
            events = self._events.setdefault(key, deque())
            events.append(self.clock())
            if len(self._events) > 10_000:  # forget idle keys
                for k in [k for k, v in self._events.items() if not v]:
                    del self._events[k]
            return None
