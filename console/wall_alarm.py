"""Which walls are silenced: the alarm sound of a wall's screens, switched off for a while.

A wall's alarm (``console/static/wall/alarm.js``) rings for new red and orange alerts until they
are acknowledged; a duty officer may silence the whole wall for some minutes. The silence is
kept here per wall (its hub key, :func:`console.live.hub.wall_key`: a town's wall ``main`` is not
the district's), so a screen that joins or reloads learns it, and every screen of the wall is
told over the websocket when it changes. It lives in the console's memory: a restart ends it.

>>> silences = WallSilences()
>>> silences.silence("320612/main", until=160.0, by="duty", now=100.0).until
160.0
>>> silences.get("320612/main", now=170.0) is None
True
"""

from __future__ import annotations

import threading

from pydantic import BaseModel, Field


class Silence(BaseModel):
    """A wall's silence: until when, set by whom, when."""

    until: float = Field(description="Epoch seconds when the alarm sounds again.")
    by: str = Field(description="Who silenced the wall.")
    since: float = Field(description="When.")


class WallSilences:
    """The silences in force, per wall key; safe from any thread."""

    def __init__(self) -> None:
        self._silences: dict[str, Silence] = {}
        self._lock = threading.Lock()

    def silence(self, key: str, *, until: float, by: str, now: float) -> Silence | None:
        """Silence wall ``key`` until ``until`` (at or before ``now``: the silence ends)."""
        with self._lock:
            if until <= now:
                self._silences.pop(key, None)
                return None
            silence = self._silences[key] = Silence(until=until, by=by, since=now)
            return silence

    def get(self, key: str, *, now: float) -> Silence | None:
        """The silence of wall ``key`` in force at ``now``, if any."""
        with self._lock:
            silence = self._silences.get(key)
            if silence is not None and silence.until <= now:
                del self._silences[key]
                return None
            return silence


__all__ = ["Silence", "WallSilences"]
