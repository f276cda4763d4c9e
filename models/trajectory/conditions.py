"""Per rule kind: which fixes of a batch meet the rule's condition now, and the facts to report.

Geometric questions are asked for the whole batch at once (STRtree queries, element-wise
distances); only the rules that carry a state through time (a stop, a driving period) walk the
fixes, and ``abnormal_stop`` only the slow ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from zhizhi.models.trajectory.batch import Batch
from zhizhi.models.trajectory.config import (
    AbnormalStopRule,
    FatigueRule,
    ProhibitedHoursRule,
    RouteDeviationRule,
    SpeedingRule,
    ZoneEntryRule,
)
from zhizhi.models.trajectory.places import TrajectoryPlaces

Bool = NDArray[np.bool_]
Float = NDArray[np.float64]


@dataclass
class Hits:
    """Per fix: whether the condition holds, and (optionally) since when and where to report it."""

    hit: Bool
    facts: Callable[[int], dict]
    since: Float | None = None  # start of the current run (stateful rules)
    where: Callable[[int], tuple[float, float]] | None = None  # lon/lat to report


@dataclass
class StopRun:
    start: float
    x: float
    y: float
    lon: float
    lat: float


@dataclass
class Driving:
    """A vehicle's continuous driving: seconds driven since its last rest, and its current stop."""

    last_ts: float
    x: float
    y: float
    moving: bool
    driving_s: float = 0.0
    stop_start: float | None = None


def local_minute(ts: Float, utc_offset_hours: float) -> NDArray[np.int64]:
    """Minute of the local day of epoch times."""
    return (((ts + utc_offset_hours * 3600.0) % 86_400.0) // 60).astype(np.int64)


def zone_entry(rule: ZoneEntryRule, b: Batch, places: TrajectoryPlaces) -> Hits:
    zone = places.zone_of(rule.zone_types, b.x, b.y)

    def facts(i: int) -> dict:
        zid, name, kind = places.zone(int(zone[i]))
        return {"zone_id": zid, "zone_name": name, "zone_type": kind}

    return Hits(zone >= 0, facts)


def speeding(rule: SpeedingRule, b: Batch, places: TrajectoryPlaces) -> Hits:
    """Over the matched road's limit; off any road (or on a class without a limit), over the
    rule's ``off_road_limit_kmh`` — when the places have roads at all."""
    road, limit = places.road_of(b.x, b.y, rule.match_distance_m, rule.limits_kmh, rule.ambiguity_m)
    fallback = np.isnan(limit)
    if rule.off_road_limit_kmh is not None and len(places.road_ids):
        limit = np.where(fallback, rule.off_road_limit_kmh, limit)
    with np.errstate(invalid="ignore"):
        hit = b.speed > limit * (1.0 + rule.tolerance)

    def facts(i: int) -> dict:
        rid, rclass = places.road(int(road[i])) if road[i] >= 0 else (None, None)
        if not fallback[i]:
            source = f"{rclass} road {rid}"
        elif rid is None:
            source = f"no road within {rule.match_distance_m:g} m"
        else:
            source = f"no limit for road class {rclass}"
        return {
            "speed_kmh": round(float(b.speed[i]), 1),
            "limit_kmh": float(limit[i]),
            "limit_source": source,
            "road_class": rclass,
            "road_id": rid,
            "max_speed_kmh": round(float(b.speed[i]), 1),
        }

    return Hits(hit, facts)


def prohibited_hours(rule: ProhibitedHoursRule, b: Batch, utc_offset_hours: float) -> Hits:
    minute = local_minute(b.ts, utc_offset_hours)
    start = np.array([p.window[0] for p in b.profiles], dtype=np.int64)[b.code]
    end = np.array([p.window[1] for p in b.profiles], dtype=np.int64)[b.code]
    permitted = np.where(
        start < end, (minute >= start) & (minute < end), (minute >= start) | (minute < end)
    )
    with np.errstate(invalid="ignore"):
        driving = b.speed >= rule.min_speed_kmh
    hit = b.registered() & driving & ~permitted

    def facts(i: int) -> dict:
        m = int(minute[i])
        return {
            "local_time": f"{m // 60:02d}:{m % 60:02d}",
            "permitted_hours": b.profiles[b.code[i]].vehicle.permitted_hours,
            "speed_kmh": round(float(b.speed[i]), 1),
        }

    return Hits(hit, facts)


def route_deviation(rule: RouteDeviationRule, b: Batch) -> Hits:
    reg = b.registered()
    dist = np.full(len(b), np.nan)
    idx = np.flatnonzero(reg)
    if len(idx):
        routes = np.array([p.route_m for p in b.profiles], dtype=object)[b.code[idx]]
        dist[idx] = shapely.distance(shapely.points(b.x[idx], b.y[idx]), routes)
    corridor = np.array([p.corridor_m for p in b.profiles], dtype=float)[b.code]
    with np.errstate(invalid="ignore"):
        hit = reg & (dist > corridor)

    def facts(i: int) -> dict:
        d = round(float(dist[i]), 1)
        return {
            "distance_from_route_m": d,
            "corridor_m": float(corridor[i]),
            "max_distance_from_route_m": d,
        }

    return Hits(hit, facts)


def abnormal_stop(
    rule: AbnormalStopRule, b: Batch, places: TrajectoryPlaces, runs: dict[str, StopRun]
) -> Hits:
    """Stopped: slow, and within ``radius_m`` of where the stop began; ``runs`` carries stops on."""
    with np.errstate(invalid="ignore"):
        slow = b.speed < rule.max_speed_kmh
    open_run = np.isin(b.code, [i for i, v in enumerate(b.vehicles) if v in runs])
    idx = np.flatnonzero(slow | open_run)
    hit = np.zeros(len(b), dtype=bool)
    since = np.full(len(b), np.nan)
    anchor: dict[int, StopRun] = {}
    allowed = np.zeros(len(b), dtype=bool)
    if len(idx) and rule.allowed_zone_types:
        allowed[idx] = places.zone_of(rule.allowed_zone_types, b.x[idx], b.y[idx]) >= 0
    radius2 = rule.radius_m**2
    vid, ts, x, y = b.vid, b.ts, b.x, b.y
    for i in idx:
        v = vid[i]
        if not slow[i]:
            runs.pop(v, None)
            continue
        run = runs.get(v)
        if run is None or (x[i] - run.x) ** 2 + (y[i] - run.y) ** 2 > radius2:
            run = runs[v] = StopRun(
                float(ts[i]), float(x[i]), float(y[i]), float(b.lon[i]), float(b.lat[i])
            )
        hit[i] = not allowed[i]
        since[i] = run.start
        anchor[i] = run

    def facts(i: int) -> dict:
        return {
            "stopped_s": round(float(ts[i] - since[i]), 1),
            "speed_kmh": round(float(b.speed[i]), 1),
        }

    return Hits(hit, facts, since, lambda i: (anchor[i].lon, anchor[i].lat))


def fatigue(rule: FatigueRule, b: Batch, state: dict[str, Driving]) -> Hits:
    """Seconds driven since the last rest (stopped ``rest_s``, or silent that long in one place)."""
    hit = np.zeros(len(b), dtype=bool)
    driven = np.zeros(len(b))
    with np.errstate(invalid="ignore"):
        moving_arr = b.speed >= rule.stop_speed_kmh
    known = ~np.isnan(b.speed)
    radius2 = rule.stop_radius_m**2
    vid, ts, x, y = b.vid, b.ts.tolist(), b.x.tolist(), b.y.tolist()
    moving_l, known_l = moving_arr.tolist(), known.tolist()
    rest_s, max_s = rule.rest_s, rule.max_driving_s
    for i in range(len(b)):
        t = ts[i]
        d = state.get(vid[i])
        moving = moving_l[i] if known_l[i] else (d.moving if d is not None else True)
        if d is None:
            d = state[vid[i]] = Driving(t, x[i], y[i], moving)
        else:
            dt = t - d.last_ts
            if dt > rest_s and (x[i] - d.x) ** 2 + (y[i] - d.y) ** 2 <= radius2:
                d.driving_s = 0.0  # silent in one place long enough: a rest
            elif d.moving:
                d.driving_s += dt
            d.last_ts, d.x, d.y, d.moving = t, x[i], y[i], moving
        if moving:
            d.stop_start = None
        else:
            if d.stop_start is None:
                d.stop_start = t
            if t - d.stop_start >= rest_s:
                d.driving_s = 0.0
        driven[i] = d.driving_s
        hit[i] = d.driving_s > max_s

    def facts(i: int) -> dict:
        return {"driving_s": round(float(driven[i]), 1), "limit_driving_s": rule.max_driving_s}

    return Hits(hit, facts)


__all__ = [
    "Driving",
    "Hits",
    "StopRun",
    "abnormal_stop",
    "fatigue",
    "local_minute",
    "prohibited_hours",
    "route_deviation",
    "speeding",
    "zone_entry",
]
