"""The guard on logins: guessing is slowed, but a stranger cannot lock a user out.

Three tables of attempts, each kept in memory (a restart forgets them) and each entry forgotten
``forget_after_s`` after its last attempt:

* **user and address** — after ``per_pair`` attempts that did not succeed, every further try of
  that name from that address waits: ``backoff_s`` after the first, doubling with each
  further one up to ``max_backoff_s``. A right password clears the pair.
* **address** — the same backoff after ``per_address`` attempts from one address whatever the
  names (password spraying). A right password does not clear it (a sprayer may own one
  account); its own attempt is just not counted.
* **user** — attempts of one name from every address. Past ``per_user`` of them the name is
  *under attack*: every address then gets a single free try for it before its backoff starts
  (a guesser with many addresses is slowed), but an address with no failures of its own is
  never refused: the right password from another address always gets through.

An attempt is counted when it is admitted, before the password is checked, so a burst of
parallel guesses cannot slip through between the check and the count; :meth:`succeeded` takes
it back. Nothing here refuses an address or a pair that has never failed.

>>> now = [0.0]
>>> guard = LoginGuard(per_pair=2, per_address=10, per_user=20, backoff_s=1, max_backoff_s=8,
...                    forget_after_s=600, clock=lambda: now[0])
>>> [guard.admit("duty", "10.0.0.9") for _ in range(2)]  # two wrong passwords: free
[None, None]
>>> guard.admit("duty", "10.0.0.9")  # the third waits for the backoff
1.0
>>> guard.admit("duty", "10.0.0.5") is None  # the duty officer's own desk is not affected
True
>>> guard.succeeded("duty", "10.0.0.5")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Above this many entries in a table its forgotten ones are dropped; above twice as many the
#: oldest half goes too (a flood of made-up names or addresses cannot grow memory without end).
_PRUNE_AT = 10_000


@dataclass
class _Entry:
    attempts: int = 0
    last: float = 0.0
    next_allowed: float = 0.0


class _Table:
    """Attempts per key with exponential backoff past ``free`` attempts (not thread-safe:
    :class:`LoginGuard` holds one lock over all its tables)."""

    def __init__(self, backoff_s: float, max_backoff_s: float, forget_after_s: float) -> None:
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.forget_after_s = forget_after_s
        self.entries: dict[str, _Entry] = {}

    def get(self, key: str, now: float) -> _Entry | None:
        entry = self.entries.get(key)
        if entry is not None and now - entry.last >= self.forget_after_s and now >= entry.next_allowed:
            del self.entries[key]
            return None
        return entry

    def wait(self, key: str, now: float) -> float | None:
        entry = self.get(key, now)
        if entry is None or now >= entry.next_allowed:
            return None
        return entry.next_allowed - now

    def count(self, key: str, now: float, free: int | None) -> None:
        """One more attempt of ``key``; from the ``free``-th on (never for ``None``) the next
        one waits."""
        self._prune(now)
        entry = self.get(key, now) or self.entries.setdefault(key, _Entry())
        entry.attempts += 1
        entry.last = now
        if free is not None and entry.attempts >= free:
            delay = min(self.backoff_s * 2.0 ** min(entry.attempts - free, 64), self.max_backoff_s)
            entry.next_allowed = max(entry.next_allowed, now + delay)

    def uncount(self, key: str) -> None:
        entry = self.entries.get(key)
        if entry is not None:
            entry.attempts = max(entry.attempts - 1, 0)

    def attempts(self, key: str, now: float) -> int:
        entry = self.get(key, now)
        return entry.attempts if entry is not None else 0

    def _prune(self, now: float) -> None:
        if len(self.entries) < _PRUNE_AT:
            return
        for key in list(self.entries):
            self.get(key, now)
        if len(self.entries) >= 2 * _PRUNE_AT:
            oldest = sorted(self.entries, key=lambda k: self.entries[k].last)[: len(self.entries) // 2]
            for key in oldest:
                del self.entries[key]


class LoginGuard:
    """Admit or refuse login attempts by user name and client address; thread-safe."""

    def __init__(
        self,
        per_pair: int = 5,
        per_address: int = 20,
        per_user: int = 30,
        backoff_s: float = 1.0,
        max_backoff_s: float = 300.0,
        forget_after_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_pair = per_pair
        self.per_address = per_address
        self.per_user = per_user
        self.clock = clock
        self._pairs = _Table(backoff_s, max_backoff_s, forget_after_s)
        self._addresses = _Table(backoff_s, max_backoff_s, forget_after_s)
        self._users = _Table(backoff_s, max_backoff_s, forget_after_s)  # counts only: never waits
        self._lock = threading.Lock()

    @staticmethod
    def _pair(user: str, address: str) -> str:
        return f"{address}\x00{user}"

    def admit(self, user: str, address: str) -> float | None:
        """``None``: the attempt may go on (and is counted as failed until :meth:`succeeded`);
        otherwise the seconds to wait, and nothing is counted."""
        with self._lock:
            now = self.clock()
            pair = self._pair(user, address)
            waits = [w for w in (self._pairs.wait(pair, now), self._addresses.wait(address, now)) if w is not None]
            if waits:
                return max(waits)
            under_attack = self._users.attempts(user, now) >= self.per_user
            self._pairs.count(pair, now, 1 if under_attack else self.per_pair)
            self._addresses.count(address, now, self.per_address)
            self._users.count(user, now, None)
            return None

    def succeeded(self, user: str, address: str) -> None:
        """The admitted attempt had the right password: the pair starts afresh, and the attempt
        is not held against the address or the name."""
        with self._lock:
            self._pairs.entries.pop(self._pair(user, address), None)
            self._addresses.uncount(address)
            self._users.uncount(user)

    def cancel(self, user: str, address: str) -> None:
        """The admitted attempt ended without a verdict (an error): take its count back."""
        with self._lock:
            self._pairs.uncount(self._pair(user, address))
            self._addresses.uncount(address)
            self._users.uncount(user)

    def clear(self) -> None:
        """Forget every count (an operator after an incident, or a test)."""
        with self._lock:
            for table in (self._pairs, self._addresses, self._users):
                table.entries.clear()

    def under_attack(self, user: str) -> bool:
        """Whether ``user`` had more than ``per_user`` failed attempts lately (from any address)."""
        with self._lock:
            return self._users.attempts(user, self.clock()) >= self.per_user
