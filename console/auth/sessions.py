"""Live connections end with their session.

A websocket (``/ws``) or an MJPEG stream lasts as long as the client keeps it open, long after
the token or ticket that opened it was checked. Each such connection *watches* its session
(:meth:`LiveSessions.watch`, on its event loop) and stops when the watch's ``ended`` event is
set. A watch is ended

- at once by the service that ends the session on this console (a logout, a password change:
  :meth:`LiveSessions.end`), and
- by a re-check of every watched session in the database once a ``recheck_s`` (one query for
  all of them, by a thread that runs only while something is watched): a session ended on
  another console of a scaled-out deployment, by the command line, by its expiry or by its idle
  timeout ends here within about a ``recheck_s`` as well.

The re-check is also what keeps a session with open live connections in use (the service's
``check`` records the use, at most once a minute): a wall screen on display does not idle out.

>>> import asyncio
>>> async def demo():
...     sessions = LiveSessions(check=lambda digests: set(digests))  # every session lives
...     watch = sessions.watch("d1", "duty")
...     sessions.end(username="duty")  # e.g. the password was changed
...     await asyncio.wait_for(watch.ended.wait(), 1)
...     sessions.unwatch(watch)
...     return watch.reason
>>> asyncio.run(demo())
'session ended'
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)
RECHECK_S = 1.0  # how often watched sessions are looked up in the database
ENDED = "session ended"


class SessionWatch:
    """One live connection's hold on its session; ``ended`` is set on the connection's loop."""

    def __init__(self, digest: str, username: str, loop: asyncio.AbstractEventLoop) -> None:
        self.digest = digest
        self.username = username
        self.ended = asyncio.Event()
        self.reason = ""
        self._loop = loop

    def end(self, reason: str = ENDED) -> None:
        """End the watch (safe from any thread; the first reason stays)."""
        if self.reason:
            return
        self.reason = reason
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing is left to stop
            self._loop.call_soon_threadsafe(self.ended.set)


class LiveSessions:
    """The sessions that live connections watch, by the token's digest."""

    def __init__(self, check: Callable[[set[str]], set[str]], recheck_s: float = RECHECK_S) -> None:
        """``check(digests)``: those of ``digests`` whose sessions are still valid."""
        self._check = check
        self.recheck_s = recheck_s
        self._lock = threading.Lock()
        self._watches: dict[str, set[SessionWatch]] = {}
        self._thread: threading.Thread | None = None

    def watch(self, digest: str, username: str) -> SessionWatch:
        """A watch on the session ``digest``; call it on the connection's event loop."""
        watch = SessionWatch(digest, username, asyncio.get_running_loop())
        with self._lock:
            self._watches.setdefault(digest, set()).add(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="zhizhi-live-sessions", daemon=True)
                self._thread.start()
        return watch

    def unwatch(self, watch: SessionWatch) -> None:
        """The connection is closed: stop watching for it."""
        with self._lock:
            group = self._watches.get(watch.digest)
            if group is not None:
                group.discard(watch)
                if not group:
                    del self._watches[watch.digest]

    @property
    def watched(self) -> int:
        """How many live connections watch a session now."""
        with self._lock:
            return sum(len(group) for group in self._watches.values())

    def end(self, digests: Iterable[str] = (), *, username: str | None = None, reason: str = ENDED) -> int:
        """End the watches of the sessions ``digests`` (and of every session of ``username``);
        returns how many were ended."""
        wanted = set(digests)
        with self._lock:
            ending = [
                w for digest, group in self._watches.items() for w in group
                if digest in wanted or (username is not None and w.username == username)
            ]
        for watch in ending:
            watch.end(reason)
        return len(ending)

    def _run(self) -> None:
        """Re-check the watched sessions every ``recheck_s`` until none is watched."""
        wait = threading.Event()
        while True:
            wait.wait(self.recheck_s)
            with self._lock:
                digests = set(self._watches)
                if not digests:
                    self._thread = None
                    return
            try:
                alive = self._check(digests)
            except Exception as exc:  # noqa: BLE001 - the database is away: keep the streams, try again
                log.warning("live sessions not re-checked: %s", str(exc).splitlines()[0] if str(exc) else exc)
                continue
            self.end(digests - alive)
