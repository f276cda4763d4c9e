"""A re-entrant lock that a busy loop hands over between its steps.

The worker's loop holds its cameras lock through a whole analysis step and takes it again at
once for the next one. A plain lock is not fair: a thread that waits for it (a status view, a
``/metrics`` scrape, a camera added by the registry) is woken when it is released, but the loop,
still running, takes it back first — under overload the waiter starved for tens of seconds.
:class:`StepLock` counts who waits, and :meth:`StepLock.let_waiters_in` (called by the loop
between steps) waits, only when someone does, until those waiters have taken the lock (at most
``max_wait_s``), so a waiter gets the lock after at most the current step.

>>> lock = StepLock()
>>> with lock:
...     with lock:  # re-entrant
...         lock.waiting
0
>>> lock.let_waiters_in()  # nobody waits: returns at once
False
"""

from __future__ import annotations

import threading
import time
from typing import Self


class StepLock:
    """A re-entrant lock (``with lock:``) that counts its waiters; see the module."""

    def __init__(self, max_wait_s: float = 0.2) -> None:
        self._lock = threading.RLock()
        self._count = threading.Lock()
        self._waiting = 0
        self.max_wait_s = max_wait_s

    @property
    def waiting(self) -> int:
        """Threads blocked on the lock now."""
        return self._waiting

    def __enter__(self) -> Self:
        if self._lock.acquire(blocking=False):
            return self
        with self._count:
            self._waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._count:
                self._waiting -= 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def let_waiters_in(self) -> bool:
        """When threads wait for the lock, wait (without holding it) until they have taken it, at
        most ``max_wait_s``; True when someone waited."""
        if not self._waiting:
            return False
        deadline = time.monotonic() + self.max_wait_s
        while self._waiting and time.monotonic() < deadline:
            time.sleep(0.0005)
        return True
