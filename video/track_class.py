"""A track's class: the one with the highest summed confidence over the track's life.

Detectors flicker between close classes (a tanker called a truck in one frame, a bus in the
next). Everything downstream — the depth correction of geolocation, the warning rules — wants
the track's class, not the frame's, so votes are summed per (camera, track).

One asymmetry is built in: a *marked* class wins over the look-alikes it is marked among once
it has been seen clearly enough. A hazardous-chemical tanker carries an orange placard that no
bus or truck carries, but seen head-on at night it looks like any lorry; so a track that was a
tanker for a fair share of its large-vehicle votes stays a tanker when it stops facing the
camera (:data:`MARKED`).

>>> votes = TrackClasses()
>>> [votes.vote("cam", 7, c, p) for c, p in [("hazmat_tanker", 0.8), ("truck", 0.5), ("hazmat_tanker", 0.6)]]
['hazmat_tanker', 'hazmat_tanker', 'hazmat_tanker']
>>> for _ in range(6):
...     _ = votes.vote("cam", 8, "hazmat_tanker", 0.9)  # placard clearly seen while it approached
>>> [votes.vote("cam", 8, "bus", 0.8) for _ in range(20)][-1]  # then 20 frames head-on, stopped
'hazmat_tanker'
"""

from __future__ import annotations

from collections import defaultdict

#: class -> (look-alikes, share of the group's votes it needs, summed confidence it needs).
MARKED: dict[str, tuple[tuple[str, ...], float, float]] = {
    "hazmat_tanker": (("truck", "bus"), 0.2, 4.0),
}


class TrackClasses:
    """Summed confidence per class for each (camera, track), forgotten when unseen."""

    def __init__(self, forget_after_s: float = 120.0) -> None:
        self.forget_after_s = forget_after_s
        self._votes: dict[tuple[str, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._seen: dict[tuple[str, int], float] = {}
        self._calls = 0

    def vote(self, camera_id: str, track_id: int, cls: str, conf: float, ts: float | None = None) -> str:
        """Add one detection's vote; return the track's class so far."""
        key = (camera_id, int(track_id))
        votes = self._votes[key]
        votes[cls] += max(float(conf), 1e-6)
        if ts is not None:
            self._seen[key] = ts
            self._calls += 1
            if self._calls % 500 == 0:
                self.forget(ts)
        return _decide(votes)

    def votes_of(self, camera_id: str, track_id: int) -> dict[str, float]:
        """A track's summed confidence per class (empty when unknown)."""
        return dict(self._votes.get((camera_id, int(track_id)), {}))

    def forget(self, now: float) -> None:
        """Drop the tracks not seen for ``forget_after_s``."""
        stale = [k for k, seen in self._seen.items() if now - seen > self.forget_after_s]
        for key in stale:
            self._seen.pop(key, None)
            self._votes.pop(key, None)


def _decide(votes: dict[str, float]) -> str:
    for marked, (alikes, share, support) in MARKED.items():
        own = votes.get(marked, 0.0)
        if own >= support and own >= share * (own + sum(votes.get(a, 0.0) for a in alikes)):
            return marked
    return max(votes, key=votes.__getitem__)
