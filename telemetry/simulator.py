"""Synthetic hazmat-vehicle telemetry along the demo district's roads, with known anomalies.

Every vehicle makes one trip on a major road to a designated hazmat parking lot and parks
there, reporting every ``report_s`` seconds while driving and every ``parked_report_s`` while
parked, until the end of the simulation. Normal vehicles keep every rule (below the road's limit,
clear of residential cores and schools, on their registered route, in their permitted hours);
each anomaly vehicle breaks exactly one rule, so :attr:`Simulation.expected` lists exactly the
``(rule, vehicle_id)`` alerts a correct engine raises. Deterministic for a seed; cheap enough
for thousands of vehicles (``normal=...``).

``cases`` adds the held-back cases of issue 17, each one vehicle, whose reports reach the console
as a gateway would send them (:attr:`Simulation.arrivals`; the trajectory backtest uploads them
so): ``buffered_gap`` (20 minutes silent mid-trip, the whole log uploaded at once after it
parks: one ``signal_loss``), ``back_dated`` (its log uploaded 10 minutes after it parks,
followed by a report 500 s older than its newest and 625 m off: refused ``late``, no alert),
``off_road_speeding`` (95 km/h for 90 s with no road within 60 m: one ``speeding``) and
``stale_upload`` (a trip 75 days old uploaded 15 minutes into the run: every report refused
``too_old``, no alert). :attr:`Simulation.refuse` names the reports a correct gate refuses.

>>> from zhizhi.gis.district import DistrictSpec, generate_district
>>> d = generate_district(DistrictSpec(seed=5, grids=64, towns=3, villages_per_town=2, cameras=0))
>>> sim = simulate(d.roads, d.zones, seed=1, anomalies=("speeding",), normal=2, unregistered=False)
>>> sorted(sim.expected), len(sim.vehicles)
([('speeding', 'HZ-0003')], 3)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import shapely
from shapely.ops import substring

from zhizhi.gis.metric import MetricFrame
from zhizhi.layers.hazmat import HazmatVehicle
from zhizhi.telemetry.record import Fix

#: The held-back cases (see the module docstring) and the alert each one should raise.
CASES = ("buffered_gap", "back_dated", "off_road_speeding", "stale_upload")
CASE_RULES = {"buffered_gap": "signal_loss", "off_road_speeding": "speeding"}
#: How old the ``stale_upload`` trip is, and when it arrives after the start.
STALE_AGE_S = 75 * 86_400.0
STALE_ARRIVAL_S = 900.0
#: 2026-11-30 10:00 in China (UTC+8): inside ordinary permitted hours.
SIM_START = 1_796_004_000.0
ANOMALIES = (
    "abnormal_stop",
    "zone_entry",
    "prohibited_hours",
    "speeding",
    "route_deviation",
    "fatigue",
    "signal_loss",
)
LIMITS_KMH = {"expressway": 80.0, "arterial": 60.0, "local": 40.0}
_CARGO = [
    ("1203", "3"),
    ("1965", "2.1"),
    ("1830", "8"),
    ("1005", "2.3"),
    ("1017", "2.3"),
    ("1993", "3"),
]


@dataclass
class Simulation:
    """Time-ordered fixes, the registrations, and the alerts a correct engine raises.

    ``arrivals`` (aligned with ``fixes``; empty: each arrives at its ``ts``) is when a report
    reaches the console; ``refuse`` maps the index of each report a correct gate refuses to the
    reason.
    """

    fixes: list[Fix]
    vehicles: list[HazmatVehicle]
    expected: set[tuple[str, str]]
    roles: dict[str, str]
    start_ts: float
    end_ts: float
    _by_id: dict[str, HazmatVehicle] = field(default_factory=dict, repr=False)
    arrivals: list[float] = field(default_factory=list)
    refuse: dict[int, str] = field(default_factory=dict)

    def arrival(self, index: int) -> float:
        """When report ``index`` reaches the console."""
        return self.arrivals[index] if self.arrivals else self.fixes[index].ts

    def lookup(self, vehicle_id: str) -> HazmatVehicle | None:
        """The registration of a vehicle (None: unregistered), for the engine."""
        if not self._by_id:
            self._by_id = {v.vehicle_id: v for v in self.vehicles}
        return self._by_id.get(vehicle_id)


@dataclass
class _Lot:
    centre: shapely.Point
    piece: shapely.LineString  # the safe stretch of its road through it
    s: float  # the lot's position along the piece
    limit: float

    def approach(self, length: float) -> tuple[shapely.LineString, float]:
        """A path of up to ``length`` metres along the piece ending at the lot; its length."""
        back, ahead = self.s, self.piece.length - self.s
        if back >= ahead:
            start = max(self.s - length, 0.0)
            return substring(self.piece, start, self.s), self.s - start
        end = min(self.s + length, self.piece.length)
        return substring(self.piece, end, self.s), end - self.s


class _Trip:
    """One vehicle's motion along a metric path: times, distances along it, reported speeds."""

    def __init__(self, t0: float, report_s: float) -> None:
        self.t, self.s, self.v = [t0], [0.0], [np.nan]
        self.report_s = report_s

    @property
    def now(self) -> float:
        return self.t[-1]

    def drive(self, to_s: float, speed_kmh: float) -> None:
        s0, t0 = self.s[-1], self.t[-1]
        ms = speed_kmh / 3.6
        duration = abs(to_s - s0) / ms
        steps = np.arange(self.report_s, duration, self.report_s)
        times = np.append(steps, duration)
        self.t.extend((t0 + times).tolist())
        self.s.extend((s0 + np.sign(to_s - s0) * ms * times).tolist())
        self.v.extend([speed_kmh] * len(times))

    def stay(self, duration: float, every: float) -> None:
        times = np.arange(every, duration + 1e-9, every)
        self.t.extend((self.t[-1] + times).tolist())
        self.s.extend([self.s[-1]] * len(times))
        self.v.extend([0.0] * len(times))

    def silence(self, duration: float) -> None:
        """No reports for ``duration`` (the vehicle waits where it is; the device is off air)."""
        self.t.append(self.t[-1] + duration)
        self.s.append(self.s[-1])
        self.v.append(self.v[-1])


class _Map:
    """Roads, lots and prohibited areas of a district in one metric frame."""

    def __init__(
        self, roads: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, prohibited: Iterable[str]
    ) -> None:
        self.frame = MetricFrame.for_geometry(np.asarray(roads.geometry.values, dtype=object))
        lines = self.frame.geometry_to_metric(np.asarray(roads.geometry.values, dtype=object))
        self.roads = shapely.union_all(lines)
        classes = roads["road_class"].to_numpy()
        zone_m = self.frame.geometry_to_metric(np.asarray(zones.geometry.values, dtype=object))
        kinds = zones["zone_type"].to_numpy()
        banned = zone_m[np.isin(kinds, list(prohibited))]
        self.prohibited = shapely.union_all(banned) if len(banned) else shapely.Polygon()
        self.prohibited_pts = [shapely.point_on_surface(z) for z in banned]
        clear = shapely.buffer(self.prohibited, 80.0) if len(banned) else shapely.Polygon()
        major = np.flatnonzero(np.isin(classes, ["expressway", "arterial"]))
        self.lots: list[_Lot] = []
        for lot in zone_m[kinds == "hazmat_parking"]:
            centre = shapely.centroid(lot)
            if not len(major):
                break
            r = major[int(np.argmin(shapely.distance(lines[major], centre)))]
            safe = shapely.difference(lines[r], clear) if len(banned) else lines[r]
            parts = [
                p
                for p in shapely.get_parts(
                    shapely.line_merge(safe) if safe.geom_type != "LineString" else safe
                )
                if p.geom_type == "LineString"
            ]
            if not parts:
                continue
            piece = min(parts, key=lambda p: p.distance(centre))
            s = piece.project(centre)
            self.lots.append(_Lot(piece.interpolate(s), piece, s, LIMITS_KMH[str(classes[r])]))
        if not self.lots:
            raise ValueError(
                "the district has no hazmat_parking zone beside a major road to end trips at"
            )
        self.lots.sort(key=lambda lot: -lot.piece.length)


def simulate(
    roads: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    seed: int = 0,
    normal: int = 4,
    anomalies: Iterable[str] = ANOMALIES,
    unregistered: bool = True,
    start_ts: float = SIM_START,
    report_s: float = 5.0,
    parked_report_s: float = 60.0,
    prohibited_zone_types: Iterable[str] = ("residential_core", "school"),
    stop_s: float = 300.0,
    fatigue_s: float = 4 * 3600.0,
    rest_s: float = 20 * 60.0,
    signal_s: float = 300.0,
    utc_offset_hours: float = 8.0,
    cases: Iterable[str] = (),
) -> Simulation:
    """Trips to parking for ``normal`` vehicles and one vehicle per anomaly (plus, when
    ``unregistered``, an unregistered normal vehicle and an unregistered speeding one).

    The thresholds (``stop_s``, ``fatigue_s``, ``rest_s``, ``signal_s``) are the model's; the
    anomalies exceed them with a margin and normal vehicles stay well clear of them.
    Permitted hours follow the local clock at ``start_ts`` (``utc_offset_hours``): every
    vehicle may drive from an hour before the start for 14 hours, except the
    ``prohibited_hours`` one, whose window is the other 10 — so the run raises the same
    alerts whatever time of day it starts.
    """
    cases = list(cases)
    if unknown := [c for c in cases if c not in CASES]:
        raise ValueError(f"unknown case(s) {unknown}; known: {list(CASES)}")
    rng = np.random.default_rng(seed)
    world = _Map(roads, zones, prohibited_zone_types)
    day, night = _hour_windows(start_ts, utc_offset_hours)
    plans: list[tuple[str, str, bool]] = [("normal", "", True) for _ in range(normal)]
    plans += [(a, a, True) for a in anomalies]
    if unregistered:
        plans += [("normal", "", False), ("speeding", "speeding", False)]
    trips = []
    for k, (role, rule, registered) in enumerate(plans):
        vid = f"HZ-{k + 1:04d}"
        lot = world.lots[k % len(world.lots)] if role == "normal" else world.lots[0]
        t0 = start_ts + float(rng.uniform(0, 600))
        trips.append(
            (
                vid,
                role,
                rule,
                registered,
                *_plan(
                    role,
                    lot,
                    world,
                    t0,
                    rng,
                    report_s,
                    stop_s,
                    fatigue_s,
                    signal_s,
                    parked_report_s,
                    day,
                    night,
                ),
            )
        )
    case_rng = np.random.default_rng([seed, 17])  # the plain run stays as it was without cases
    syncs: dict[str, float] = {}
    for case in cases:
        vid = f"HZ-{len(trips) + 1:04d}"
        t0 = start_ts + float(case_rng.uniform(0, 600))
        path, route, trip, sync = _case_plan(case, world, t0, case_rng, report_s, signal_s)
        trips.append((vid, case, CASE_RULES.get(case, ""), True, path, route, trip, day))
        if sync is not None:
            syncs[vid] = sync
    arrive = max(trip[6].now for trip in trips)
    end_ts = arrive + (rest_s + 300.0 if "fatigue" in anomalies else 600.0)
    end_ts = max([end_ts, *(sync + 300.0 for sync in syncs.values())])
    fixes: list[Fix] = []
    arrivals: list[float] = []
    refused: list[str | None] = []
    vehicles: list[HazmatVehicle] = []
    expected: set[tuple[str, str]] = set()
    roles: dict[str, str] = {}
    for k, (vid, role, rule, registered, path, route, trip, hours) in enumerate(trips):
        trip.stay(end_ts - trip.now, parked_report_s)
        own = _fixes(vid, path, trip, world.frame, case_rng if role in CASES else rng,
                     with_speed=(role != "normal" or k % 2 == 0))
        if role == "stale_upload":
            own = [replace(f, ts=f.ts - STALE_AGE_S) for f in own]
        when, why = _deliveries(role, own, syncs.get(vid), start_ts)
        if role == "back_dated":
            newest = max((f for f, t in zip(own, when) if t == syncs[vid]), key=lambda f: f.ts)
            own, when, why = [*own, _back_dated(newest, world.frame)], [*when, syncs[vid] + 1e-3], [*why, "late"]
        fixes.extend(own)
        arrivals.extend(when)
        refused.extend(why)
        roles[vid] = role if registered else f"{role}, unregistered"
        if rule:
            expected.add((rule, vid))
        if registered:
            un, hazard = _CARGO[k % len(_CARGO)]
            line = world.frame.geometry_to_lonlat(route)
            vehicles.append(
                HazmatVehicle(
                    vehicle_id=vid,
                    plate=f"苏F·D{k + 1:04d}",
                    company=f"南通危险品运输{k % 5 + 1}公司",
                    un_number=un,
                    hazard_class=hazard,
                    route={
                        "type": "LineString",
                        "coordinates": np.round(shapely.get_coordinates(line), 7).tolist(),
                    },
                    corridor_m=200.0,
                    permitted_hours=hours,
                )
            )
    order = sorted(range(len(fixes)), key=lambda i: fixes[i].ts)
    sim = Simulation([fixes[i] for i in order], vehicles, expected, roles, start_ts, end_ts)
    if cases:
        sim.arrivals = [arrivals[i] for i in order]
        sim.refuse = {k: refused[i] for k, i in enumerate(order) if refused[i] is not None}
    return sim


def _case_plan(case: str, world: _Map, t0: float, rng, report_s: float, signal_s: float):
    """(path, registered route, trip, upload time of its log or None) of a held-back case."""
    lot = world.lots[0]
    trip = _Trip(t0, report_s)
    if case == "off_road_speeding":
        path, lot = _off_road_path(world)
        trip.drive(path.length - 150.0, 95.0)  # 95 km/h with no road near
        trip.drive(path.length, 40.0)  # onto the lot's road, slowly
        return path, path, trip, None
    path, length = lot.approach(3000.0)
    speed = lot.limit * rng.uniform(0.7, 0.85)
    if case == "buffered_gap":
        trip.drive(length * 0.3, speed)
        trip.silence(max(1200.0, signal_s + 240.0))  # 20 minutes without a report
    trip.drive(length, speed)
    sync = {"buffered_gap": trip.now + 60.0, "back_dated": trip.now + 600.0}.get(case)
    return path, path, trip, sync


def _off_road_path(world: _Map, length: float = 2600.0) -> tuple[shapely.LineString, _Lot]:
    """A straight drive to a lot whose first ``length - 150`` m keep 60 m from every road and
    the whole of it 100 m from prohibited zones, inside the roads' hull."""
    hull = shapely.convex_hull(world.roads)
    for lot in world.lots:
        for deg in range(0, 360, 10):
            a = np.radians(deg)
            start = shapely.Point(lot.centre.x + length * np.cos(a), lot.centre.y + length * np.sin(a))
            path = shapely.LineString([start, lot.centre])
            fast = substring(path, 0.0, length - 150.0)
            if not hull.contains(start) or shapely.distance(fast, world.roads) < 60.0:
                continue
            if world.prohibited.is_empty or shapely.distance(path, world.prohibited) >= 100.0:
                return path, lot
    raise ValueError("no straight stretch off every road leads to a lot: no off_road_speeding case here")


def _deliveries(role: str, fixes: list[Fix], sync: float | None, start_ts: float):
    """When each report of a vehicle arrives, and the reason a correct gate refuses it (or None)."""
    if role == "stale_upload":
        return [start_ts + STALE_ARRIVAL_S] * len(fixes), ["too_old"] * len(fixes)
    when = [f.ts if sync is None or f.ts > sync else sync for f in fixes]
    return when, [None] * len(fixes)


def _back_dated(newest: Fix, frame: MetricFrame) -> Fix:
    """A report 500 s older than ``newest`` and 625 m north of it, without a speed."""
    x, y = frame.to_metric(newest.lon, newest.lat)
    lon, lat = frame.to_lonlat(float(x), float(y) + 625.0)
    return Fix(vehicle_id=newest.vehicle_id, ts=newest.ts - 500.0, lon=round(float(lon), 7),
               lat=round(float(lat), 7), speed_kmh=None, heading=None)


def _hour_windows(start_ts: float, utc_offset_hours: float) -> tuple[str, str]:
    """("permitted", "prohibited") HH:MM-HH:MM windows around the local hour of ``start_ts``.

    >>> _hour_windows(SIM_START, 8.0)  # 10:00 local
    ('09:00-23:00', '23:00-09:00')
    >>> _hour_windows(SIM_START + 13 * 3600, 8.0)  # 23:00 local
    ('22:00-12:00', '12:00-22:00')
    """
    hour = int((start_ts / 3600.0 + utc_offset_hours) // 1) % 24
    begin, end = (hour - 1) % 24, (hour + 13) % 24
    return f"{begin:02d}:00-{end:02d}:00", f"{end:02d}:00-{begin:02d}:00"


def _plan(
    role, lot: _Lot, world: _Map, t0, rng, report_s, stop_s, fatigue_s, signal_s,
    parked_report_s, day: str, night: str,
):
    """(path, registered route, trip, permitted hours) of one vehicle."""
    hours = day
    trip = _Trip(t0, report_s)
    limit = lot.limit
    if role == "zone_entry":
        start = min(world.prohibited_pts, key=lambda p: p.distance(lot.centre))
        path = shapely.LineString([start, lot.centre])
        trip.drive(min(path.length, 250.0), 12.0)  # slowly through the zone, then on
        trip.drive(path.length, 30.0)
        return path, path, trip, hours
    want = {"normal": rng.uniform(1500, 3000), "fatigue": 4000.0}.get(role, 3000.0)
    path, length = lot.approach(want)
    route = path
    speed = limit * rng.uniform(0.7, 0.85)
    if role == "abnormal_stop":
        trip.drive(length * 0.4, speed)
        trip.stay(stop_s + 180.0, report_s)
    elif role == "speeding":
        trip.drive(min(length * 0.6, limit * 1.35 / 3.6 * 90.0), limit * 1.35)
    elif role == "route_deviation":
        speed = limit * 0.6
        route = substring(path, min(1500.0, length * 0.6), length)
    elif role == "prohibited_hours":
        hours = night
    elif role == "signal_loss":
        trip.drive(length * 0.3, speed)
        trip.silence(signal_s + 240.0)
    elif role == "fatigue":
        while trip.now - t0 < fatigue_s + 900.0:
            trip.drive(length, speed)
            trip.drive(0.0, speed)
    trip.drive(length, speed)
    return path, route, trip, hours


def _fixes(vid: str, path, trip: _Trip, frame: MetricFrame, rng, with_speed: bool) -> list[Fix]:
    t = np.asarray(trip.t[1:])
    s = np.asarray(trip.s[1:])
    v = np.asarray(trip.v[1:])
    pts = shapely.line_interpolate_point(path, s)
    xy = shapely.get_coordinates(pts) + np.clip(rng.normal(0.0, 1.5, (len(s), 2)), -4.0, 4.0)
    lon, lat = frame.to_lonlat(xy[:, 0], xy[:, 1])
    lon, lat = np.round(lon, 7).tolist(), np.round(lat, 7).tolist()
    speeds = np.round(v, 1).tolist() if with_speed else [None] * len(t)
    return [
        Fix(vehicle_id=vid, ts=float(ti), lon=lo, lat=la, speed_kmh=sp, heading=None)
        for ti, lo, la, sp in zip(t.tolist(), lon, lat, speeds)
    ]


__all__ = ["ANOMALIES", "CASES", "CASE_RULES", "LIMITS_KMH", "SIM_START", "Simulation", "simulate"]
