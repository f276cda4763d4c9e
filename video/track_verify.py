"""A track is believed only when its evidence holds: motion, confidence, and a size physics allows.

A detector trained on one world fires on things of another: a bar table is a tanker, a median
strip a tanker for 45 s, a traffic cone a person, a motorcycle a person at 109 km/h. Each
(camera, track) gathers evidence here and the frame analyzer asks, per frame, which class to
show and whether to show the track at all:

- **Background until it moves.** A track is shown once its foot point has moved from where it
  was first seen: by half its box height in the picture, measured between medians of three
  sightings so that box jitter does not count; or by two steps of a quarter box height each,
  the same way, in its last three sightings (a vehicle under way: jitter keeps no direction);
  or, slower, by a tenth of its box height in a steady drift (a line through its last sightings
  moves it ``drift_sigmas`` times farther than their scatter about the line) at a ground speed
  of at least ``drift_min_kmh`` (a walker; trees and signs sway slower). Something that has not
  moved since the camera first saw it is background; once it has moved it stays shown (a
  tanker that drove in and stopped is what the rules are for).
- **A tanker is verified before it is believed**: it moved, it was a confident
  (``confident_score``) ``hazmat_tanker`` in ``tanker_frames`` frames, and its ground size fits
  a tanker (bottom edge at least ``tanker_min_width_m`` across, box at least
  ``tanker_min_height_m`` tall at its distance), so only a calibrated camera (or a drone's,
  placed by its pose) can verify one. Until then it is shown as the look-alike it was voted most
  among the others (a ``truck`` when none).
- **Classes obey physics** (calibrated cameras; at least ``size_samples`` sizes or speeds):
  a "vehicle" whose ground width and height are a person's is a person (or not shown, if it never
  was one); a "person" wider than ``person_max_width_m``, or faster than ``person_max_kmh``, is the
  vehicle it was voted most among the vehicles (a ``car`` when none).
- **Per-camera filters** (:mod:`video.object_filters`): a track whose median score stays below its
  class's ``threshold`` is not shown.

Hidden tracks are still tracked, timed and voted; only their rows leave the batch. Motion is not
asked of a detector that finds moving things only (``moving_only``, the motion backend) nor of a
drone's camera, under which everything moves (:meth:`TrackVerifier.set_require_motion`).

>>> v = TrackVerifier()
>>> size = lambda t: ([0.0], [30.0 + t], [2.5], [3.5])  # foot (x, y), ground width, height (m)
>>> for t in range(8):  # a tanker that drives 20 px per frame, confidently
...     v.observe("cam", t * 0.2, [3], ["hazmat_tanker"], [0.9], [[100 + 20 * t, 50, 160 + 20 * t, 90]], size(t))
>>> classes, shown = v.decide("cam", [3], ["hazmat_tanker"], [{"hazmat_tanker": 7.2}])
>>> classes, shown.tolist()
(['hazmat_tanker'], [True])
>>> for t in range(8):  # a "tanker" that never moves
...     v.observe("cam", t * 0.2, [4], ["hazmat_tanker"], [0.9], [[300, 50, 360, 150]])
>>> v.decide("cam", [4], ["hazmat_tanker"], [{"hazmat_tanker": 7.2, "bus": 0.4}])[1].tolist()
[False]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from zhizhi.video.object_filters import ObjectFilters
from zhizhi.video.observation import VEHICLES

TANKER = "hazmat_tanker"
PERSON = "person"


@dataclass(frozen=True)
class VerifyRules:
    """The thresholds of the evidence (see the module's doc)."""

    confident_score: float = 0.5
    tanker_frames: int = 3
    tanker_min_width_m: float = 1.8
    tanker_min_height_m: float = 2.0
    vehicle_min_width_m: float = 1.2
    vehicle_min_height_m: float = 1.0
    person_max_width_m: float = 1.6
    person_max_kmh: float = 30.0
    move_box_share: float = 0.5
    move_min_px: float = 4.0
    drift_box_share: float = 0.1
    step_box_share: float = 0.25
    drift_sigmas: float = 4.0
    drift_min_kmh: float = 3.5
    size_samples: int = 3


@dataclass
class _Evidence:
    start: list[tuple[float, float]] = field(default_factory=list)  # the first 3 foot points (u, v)
    heights: deque = field(default_factory=lambda: deque(maxlen=15))  # box heights, px
    feet: deque = field(default_factory=lambda: deque(maxlen=12))  # (ts, u, v, x, y) of the foot point
    scores: deque = field(default_factory=lambda: deque(maxlen=64))
    widths_m: deque = field(default_factory=lambda: deque(maxlen=32))
    heights_m: deque = field(default_factory=lambda: deque(maxlen=32))
    speeds: deque = field(default_factory=lambda: deque(maxlen=10))
    tanker_frames: int = 0
    moved: bool = False
    tanker: bool = False  # verified, for good
    last_ts: float = 0.0


class TrackVerifier:
    """Evidence per (camera, track) and the class and visibility it allows."""

    def __init__(self, rules: VerifyRules | None = None, forget_after_s: float = 120.0) -> None:
        self.rules = rules or VerifyRules()
        self._still: set[str] = set()  # cameras whose tracks need no motion to be believed
        self.forget_after_s = forget_after_s
        self._tracks: dict[tuple[str, int], _Evidence] = {}
        self._filters: dict[str, ObjectFilters] = {}
        self._calls = 0

    def set_filters(self, camera_id: str, filters: ObjectFilters | None) -> None:
        """The camera's object filters (None or empty: none)."""
        if filters:
            self._filters[camera_id] = filters
        else:
            self._filters.pop(camera_id, None)

    def set_require_motion(self, camera_id: str, required: bool) -> None:
        """Whether a camera's tracks must move before they are shown (not for a detector that finds
        only moving things, nor for a drone's camera, under which everything moves)."""
        if required:
            self._still.discard(camera_id)
        else:
            self._still.add(camera_id)

    def filters(self, camera_id: str) -> ObjectFilters | None:
        return self._filters.get(camera_id)

    def observe(
        self,
        camera_id: str,
        ts: float,
        track_ids: ArrayLike,
        classes: Sequence[str],
        conf: ArrayLike,
        xyxy: ArrayLike,
        ground: tuple[ArrayLike, ArrayLike, ArrayLike, ArrayLike] | None = None,
    ) -> None:
        """Add one frame's detections (their detected classes, not the votes); ``ground``: each
        foot point's (x, y) in metres and the box's ground width and height in metres, NaN where
        unknown (None: an uncalibrated camera)."""
        rules = self.rules
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(conf, dtype=np.float64).reshape(-1)
        n = len(boxes)
        gx, gy, gw, gh = (np.full(n, np.nan),) * 4 if ground is None else (np.asarray(g, float) for g in ground)
        still = camera_id in self._still
        for i, tid in enumerate(np.asarray(track_ids, dtype=np.int64).reshape(-1).tolist()):
            ev = self._tracks.setdefault((camera_id, tid), _Evidence())
            ev.last_ts = ts
            u, v = (boxes[i, 0] + boxes[i, 2]) / 2.0, boxes[i, 3]
            if len(ev.start) < 3:
                ev.start.append((u, v))
            ev.feet.append((ts, u, v, gx[i], gy[i]))
            ev.heights.append(boxes[i, 3] - boxes[i, 1])
            ev.scores.append(scores[i])
            if np.isfinite(gw[i]) and np.isfinite(gh[i]):
                ev.widths_m.append(gw[i])
                ev.heights_m.append(gh[i])
            if classes[i] == TANKER and scores[i] >= rules.confident_score:
                ev.tanker_frames += 1
            if still:
                ev.moved = True
            elif not ev.moved and len(ev.feet) == 2:  # a whole box height at once
                (_, u0, v0, *_), (_, u1, v1, *_) = ev.feet
                ev.moved = bool(np.hypot(u1 - u0, v1 - v0) >= max(ev.heights))
            if not ev.moved and len(ev.feet) >= 3:
                ev.moved = self._has_moved(ev)
        self._calls += 1
        if self._calls % 500 == 0:
            self.forget(ts)

    def _has_moved(self, ev: _Evidence) -> bool:
        rules = self.rules
        su, sv = np.median(ev.start, axis=0)
        ru, rv = np.median([f[1:3] for f in list(ev.feet)[-3:]], axis=0)
        shift_px = float(np.hypot(ru - su, rv - sv))
        box = float(np.median(ev.heights))
        if shift_px >= max(rules.move_box_share * box, rules.move_min_px):
            return True
        if _two_steps(ev.feet, max(rules.step_box_share * box, rules.move_min_px)):
            return True
        drift_px = max(rules.move_min_px, rules.drift_box_share * box)
        if shift_px < drift_px or len(ev.feet) < 4:
            return False
        t, u, v, x, y = (np.asarray(c, dtype=np.float64) for c in zip(*ev.feet))
        if _drift(t, u, v) < max(drift_px, rules.drift_sigmas * _scatter(t, u, v)):
            return False
        ground = np.isfinite(x) & np.isfinite(y)
        if ground.sum() < 5:  # uncalibrated, or off the ground: the picture's evidence is all there is
            return True
        t, x, y = t[ground], x[ground], y[ground]
        return _drift(t, x, y) / max(float(t[-1] - t[0]), 1e-9) * 3.6 >= rules.drift_min_kmh

    def record_speeds(self, camera_id: str, track_ids: ArrayLike, speed_kmh: ArrayLike | None) -> None:
        """Add the frame's smoothed speeds (NaN: unknown) of these tracks."""
        if speed_kmh is None:
            return
        for tid, speed in zip(np.asarray(track_ids, dtype=np.int64).tolist(), np.asarray(speed_kmh, float).tolist()):
            ev = self._tracks.get((camera_id, tid))
            if ev is not None and np.isfinite(speed):
                ev.speeds.append(speed)

    def decide(
        self,
        camera_id: str,
        track_ids: ArrayLike,
        voted: Sequence[str],
        votes: Sequence[Mapping[str, float]],
    ) -> tuple[list[str], NDArray[np.bool_]]:
        """The class to show for each track (from its voted class and all its votes) and whether
        to show it at all."""
        ids = np.asarray(track_ids, dtype=np.int64).reshape(-1).tolist()
        filters = self._filters.get(camera_id)
        classes: list[str] = []
        shown = np.zeros(len(ids), dtype=bool)
        for i, tid in enumerate(ids):
            ev = self._tracks.get((camera_id, tid))
            if ev is None:
                classes.append(voted[i])
                continue
            cls = self._physics(ev, voted[i], votes[i])
            classes.append(cls or voted[i])
            threshold = filters.threshold(cls) if (filters is not None and cls) else None
            shown[i] = (cls is not None and ev.moved
                        and (threshold is None or float(np.median(ev.scores)) >= threshold))
        return classes, shown

    def _physics(self, ev: _Evidence, cls: str, votes: Mapping[str, float]) -> str | None:
        """The class the evidence allows (None: nothing that should be shown)."""
        rules = self.rules
        sized = len(ev.widths_m) >= rules.size_samples
        width = float(np.median(ev.widths_m)) if sized else float("nan")
        height = float(np.median(ev.heights_m)) if sized else float("nan")
        if cls in VEHICLES and sized and width < rules.vehicle_min_width_m and height < 2.5:
            return PERSON if votes.get(PERSON, 0.0) > 0 else None
        if cls in VEHICLES and sized and height < rules.vehicle_min_height_m:
            return None
        if cls == PERSON:
            fast = len(ev.speeds) >= rules.size_samples and float(np.median(ev.speeds)) > rules.person_max_kmh
            if fast or (sized and width > rules.person_max_width_m):
                return _best(votes, VEHICLES) or "car"
        if cls == TANKER and not ev.tanker:
            ev.tanker = (
                ev.moved
                and ev.tanker_frames >= rules.tanker_frames
                and sized  # no calibration, no size: a tanker cannot be verified (nor would a rule place it)
                and width >= rules.tanker_min_width_m
                and height >= rules.tanker_min_height_m
            )
            if not ev.tanker:
                return _best(votes, ("truck", "bus", "car")) or "truck"
        return cls

    def forget(self, now: float) -> None:
        """Drop the tracks not seen for ``forget_after_s``."""
        for key in [k for k, ev in self._tracks.items() if now - ev.last_ts > self.forget_after_s]:
            del self._tracks[key]

    def reset(self, camera_id: str) -> None:
        """Forget a camera's tracks (its filters and motion rule stay)."""
        for key in [k for k in self._tracks if k[0] == camera_id]:
            del self._tracks[key]


def _two_steps(feet, min_px: float) -> bool:
    """Whether the last three sightings make two steps of at least ``min_px`` the same way (a
    vehicle under way; jitter does not keep a direction)."""
    if len(feet) < 3:
        return False
    (_, u0, v0, *_), (_, u1, v1, *_), (_, u2, v2, *_) = list(feet)[-3:]
    a, b = np.array([u1 - u0, v1 - v0]), np.array([u2 - u1, v2 - v1])
    na, nb = float(np.hypot(*a)), float(np.hypot(*b))
    return na >= min_px and nb >= min_px and float(a @ b) >= 0.7 * na * nb


def _line(t: NDArray, a: NDArray, b: NDArray) -> tuple[float, float, NDArray]:
    """Least-squares velocity (va, vb) of points (a, b) over times t, and t about its mean."""
    dt = t - t.mean()
    denom = max(float(np.dot(dt, dt)), 1e-12)
    return float(np.dot(dt, a - a.mean())) / denom, float(np.dot(dt, b - b.mean())) / denom, dt


def _drift(t: NDArray, a: NDArray, b: NDArray) -> float:
    """How far a line through the points moves over their time span."""
    va, vb, _ = _line(t, a, b)
    return float(np.hypot(va, vb)) * float(t[-1] - t[0])


def _scatter(t: NDArray, a: NDArray, b: NDArray) -> float:
    """The points' scatter about that line (box jitter goes nowhere: all scatter, no drift)."""
    va, vb, dt = _line(t, a, b)
    ra, rb = a - a.mean() - va * dt, b - b.mean() - vb * dt
    return float(np.sqrt((np.dot(ra, ra) + np.dot(rb, rb)) / (2 * max(len(t) - 2, 1))))


def _best(votes: Mapping[str, float], among: Iterable[str]) -> str | None:
    """The class of ``among`` with the most votes, ties to the later name (None: none voted)."""
    scored = [(votes.get(c, 0.0), c) for c in among if votes.get(c, 0.0) > 0]
    return max(scored)[1] if scored else None
