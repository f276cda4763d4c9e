"""Matching predicted alerts to ground-truth events, per clip and rule instance.

A prediction is the engine's first event of a key (one alert per rule, camera and track), timed
when it fired. It matches a ground-truth event of its rule kind when

- the firing time lies in ``[start_ts, end_ts + tolerance_s]``, and
- the track ids are equal (when both are known and comparable), or the positions lie within
  ``radius_m`` of each other.

Predictions are taken in firing order; each takes the best unmatched candidate (same track
first, then the nearest, then the earliest), so every event is matched at most once.
Unmatched predictions are false positives, unmatched events false negatives; the delay of a
match is its firing time minus the event's ``start_ts``.

>>> p = Prediction(rule_id="stop", rule="abnormal_stop", track_id=3, ts=42.0, first_ts=12.0, lon=121.0, lat=32.0)
>>> e = TruthEvent(rule="abnormal_stop", track_id=3, start_ts=12.0, end_ts=60.0, lon=121.0, lat=32.0)
>>> m = match([p], [e], kind="abnormal_stop", tolerance_s=5.0, radius_m=30.0)
>>> len(m.matched), m.false_positives, m.false_negatives, m.matched[0].delay_s
(1, [], [], 30.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, Field

from zhizhi.video.simulator.events import TruthEvent

_EARTH_M = 6_371_008.8


class Prediction(BaseModel):
    """A predicted alert: a rule instance fired for a track (or an area) at ``ts``."""

    rule_id: str
    rule: str = Field(description="Rule kind.")
    track_id: int | None = None
    cls: str | None = None
    ts: float = Field(description="When it fired (the engine's first event of the key).")
    first_ts: float = Field(description="When its condition began to hold.")
    lon: float
    lat: float


class Match(BaseModel):
    prediction: Prediction
    event: TruthEvent
    delay_s: float


class MatchResult(BaseModel):
    """The outcome of matching one rule instance's predictions against a clip's events."""

    matched: list[Match] = Field(default_factory=list)
    false_positives: list[Prediction] = Field(default_factory=list)
    false_negatives: list[TruthEvent] = Field(default_factory=list)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_M * math.asin(min(1.0, math.sqrt(h)))


def match(
    predictions: Sequence[Prediction],
    events: Sequence[TruthEvent],
    *,
    kind: str,
    tolerance_s: float,
    radius_m: float,
    compare_tracks: bool = True,
) -> MatchResult:
    """Match one rule instance's predictions to the events of its ``kind`` (others are ignored).

    ``compare_tracks``: whether prediction and event track ids live in the same id space (the
    labels refer to these observations); otherwise only time and place count.
    """
    result = MatchResult()
    free = [e for e in events if e.rule == kind]
    for p in sorted(predictions, key=lambda p: (p.ts, p.rule_id, p.track_id or -1)):
        best: tuple[tuple, TruthEvent] | None = None
        for e in free:
            if not (e.start_ts <= p.ts <= e.end_ts + tolerance_s):
                continue
            same_track = compare_tracks and p.track_id is not None and p.track_id == e.track_id
            d = distance_m(p.lon, p.lat, e.lon, e.lat)
            if not same_track and d > radius_m:
                continue
            rank = (not same_track, d, e.start_ts)
            if best is None or rank < best[0]:
                best = (rank, e)
        if best is None:
            result.false_positives.append(p)
            continue
        free.remove(best[1])
        result.matched.append(Match(prediction=p, event=best[1], delay_s=round(p.ts - best[1].start_ts, 6)))
    result.false_negatives = free
    return result
