"""The scenario registry: what happens in a clip, with the facts a test or a rule checks.

Each :class:`Scenario` has a name, default parameters and a builder that places its actors on a
site. Builders put the scenario's actors first (track ids from 1) and then fill the road with
traffic that never overlaps them. The facts they return (track ids, times, zones) go into
``scene.json``.

>>> sorted(SCENARIOS)
['crowd', 'hazmat-prohibited-zone', 'hazmat-stop', 'normal', 'speeding', 'wrong-way']
>>> SCENARIOS["hazmat-stop"].duration({"stop_s": 30.0, "approach_s": 12.0})
60.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zhizhi.video.simulator.motion import Lateral, Longitudinal, RoadTrajectory, WaypointWalk
from zhizhi.video.simulator.objects import make_model
from zhizhi.video.simulator.scene import Actor, ScenarioPlan, Site, Zone
from zhizhi.video.simulator.traffic import (
    VEHICLE_WEIGHTS,
    ids_from,
    lane_traffic,
    resolve_conflicts,
    sidewalk_walkers,
)


@dataclass
class Context:
    """What a builder gets: the site, its own random stream, the clip length and parameters."""

    site: Site
    rng: np.random.Generator
    duration_s: float
    params: dict[str, Any]
    ids: Iterator[int] = field(default_factory=lambda: ids_from(1))


@dataclass(frozen=True)
class Scenario:
    """A named scenario with default parameters."""

    name: str
    description: str
    defaults: dict[str, Any]
    build: Callable[[Context], ScenarioPlan]
    default_duration: Callable[[dict[str, Any]], float]

    def duration(self, params: dict[str, Any] | None = None) -> float:
        return float(self.default_duration({**self.defaults, **(params or {})}))


def _kmh(value: float | None, rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(value) if value is not None else float(rng.uniform(lo, hi))


def _traffic(ctx: Context, accepted: list[Actor], *, walkers: int | None = None,
             weights: dict[str, float] | None = None) -> list[Actor]:
    rng = ctx.rng
    gap = float(ctx.params.get("mean_gap_m") or rng.uniform(35.0, 80.0))
    cars = lane_traffic(ctx.site, rng, ctx.duration_s, ctx.ids, mean_gap_m=gap, weights=weights)
    n_walkers = int(rng.integers(2, 6)) if walkers is None else walkers
    people = sidewalk_walkers(ctx.site, rng, n_walkers, ctx.ids)
    return resolve_conflicts(accepted, cars + people, ctx.duration_s)


# --- normal --------------------------------------------------------------------------------
def build_normal(ctx: Context) -> ScenarioPlan:
    return ScenarioPlan(_traffic(ctx, []), facts={})


# --- hazmat-stop ---------------------------------------------------------------------------
def _stop_position(ctx: Context, model, direction: int, d: float) -> float:
    """An ``s`` where the stopped vehicle is fully in view, preferably 30-70 m away."""
    road, site = ctx.site.road, ctx.site
    candidates = []
    for s in np.arange(18.0, 120.0, 1.0):
        x, y = road.point(s, d)
        yaw = float(road.tangent_rad(s)) + (0.0 if direction > 0 else math.pi)
        inside, height = site.box_in_view(model, float(x), float(y), yaw, margin_px=25.0)
        if inside and height >= 45.0:
            candidates.append(float(s))
    if not candidates:
        return 40.0
    preferred = [s for s in candidates if 30.0 <= s <= 75.0] or candidates
    return float(preferred[int(ctx.rng.integers(len(preferred)))])


def build_hazmat_stop(ctx: Context) -> ScenarioPlan:
    """A tanker pulls onto the hard shoulder on the camera's side, stops, then drives off."""
    p, rng, road = ctx.params, ctx.rng, ctx.site.road
    direction = -ctx.site.camera_side  # its right-hand shoulder is the camera's side
    v0 = _kmh(p.get("speed_kmh"), rng, 40.0, 60.0) / 3.6
    model = make_model("hazmat_tanker", rng)
    lane_d = road.lane_offset(direction, road.lanes_per_direction - 1)
    shoulder_d = road.shoulder_offset(direction)
    s_stop = (
        float(p["stop_s_m"]) if p.get("stop_s_m") is not None else _stop_position(ctx, model, direction, shoulder_d)
    )
    approach, stop = float(p["approach_s"]), float(p["stop_s"])
    decel = float(rng.uniform(1.2, 1.8))
    t_dec = min(v0 / decel, approach)
    t_cruise = approach - t_dec
    t_acc = v0 / float(rng.uniform(0.9, 1.3))
    u_stop = direction * s_stop
    u0 = u_stop - (v0 * t_cruise + 0.5 * v0 * t_dec)
    along = Longitudinal.plan(u0, v0, [(t_cruise, v0), (t_dec, 0.0), (stop, 0.0), (t_acc, v0)])
    t_go = approach + stop
    lateral = Lateral(lane_d, (
        (t_cruise + 0.1 * t_dec, t_cruise + 0.75 * t_dec, shoulder_d),
        (t_go + 0.15 * t_acc, t_go + 0.85 * t_acc, lane_d),
    ))
    tanker = Actor(
        next(ctx.ids), "hazmat_tanker", model, RoadTrajectory(road, along, lateral, direction), role="stopping"
    )
    weights = {k: v for k, v in VEHICLE_WEIGHTS.items() if k != "hazmat_tanker"}
    actors = _traffic(ctx, [tanker], weights=weights)
    x, y = road.point(s_stop, shoulder_d)
    lon, lat = ctx.site.frame.to_lonlat(x, y)
    facts = {
        "tanker_track_id": tanker.track_id,
        "direction": direction,
        "speed_kmh": round(v0 * 3.6, 2),
        "stop_start_ts": approach,
        "stop_end_ts": t_go,
        "stop_duration_s": stop,
        "stop_lonlat": [round(float(lon), 7), round(float(lat), 7)],
        "stop_road_s_m": round(s_stop, 2),
    }
    return ScenarioPlan(actors, facts=facts)


# --- hazmat-prohibited-zone ----------------------------------------------------------------
def build_prohibited_zone(ctx: Context) -> ScenarioPlan:
    """A tanker drives into a zone where hazmat vehicles are prohibited (a school zone)."""
    p, rng, road = ctx.params, ctx.rng, ctx.site.road
    z0 = float(p["zone_start_m"]) if p.get("zone_start_m") is not None else float(rng.uniform(35.0, 70.0))
    z1 = z0 + (float(p["zone_length_m"]) if p.get("zone_length_m") is not None else float(rng.uniform(40.0, 80.0)))
    half = road.sidewalk_outer_m + 2.0
    s = np.linspace(z0, z1, 24)
    polygon = road.strip(s, -half, half)[:, :2]
    paint = road.strip(s, -road.carriageway_half_m, road.carriageway_half_m)[:, :2]
    direction = int(rng.choice([-1, 1]))
    lane = int(rng.integers(road.lanes_per_direction))
    v = _kmh(p.get("speed_kmh"), rng, 40.0, 60.0) / 3.6
    enter_t = float(p["enter_ts"])
    u_entry = direction * (z0 if direction > 0 else z1)
    along = Longitudinal.cruise(u_entry - v * enter_t, v)
    tanker = Actor(next(ctx.ids), "hazmat_tanker", make_model("hazmat_tanker", rng),
                   RoadTrajectory(road, along, road.lane_offset(direction, lane), direction), role="prohibited")
    zone = Zone("school-zone", "hazmat_prohibited", polygon)
    painted = Zone("school-zone-pavement", "paint", paint, paint=(60, 70, 150))
    actors = _traffic(ctx, [tanker], weights={k: v for k, v in VEHICLE_WEIGHTS.items() if k != "hazmat_tanker"})
    facts = {
        "tanker_track_id": tanker.track_id,
        "zone": zone.name,
        "enter_ts": enter_t,
        "exit_ts": round(enter_t + (z1 - z0) / v, 3),
        "direction": direction,
        "speed_kmh": round(v * 3.6, 2),
    }
    return ScenarioPlan(actors, zones=[zone, painted], facts=facts)


# --- wrong-way -----------------------------------------------------------------------------
def build_wrong_way(ctx: Context) -> ScenarioPlan:
    """One car drives against the direction of its lane."""
    p, rng, road = ctx.params, ctx.rng, ctx.site.road
    lane_direction = int(rng.choice([-1, 1]))
    lane = int(rng.integers(road.lanes_per_direction))
    d = road.lane_offset(lane_direction, lane)
    direction = -lane_direction
    v = _kmh(p.get("speed_kmh"), rng, 40.0, 60.0) / 3.6
    appear = float(p["appear_ts"])
    # enter the picture at ``appear``: from far away when coming closer, from behind otherwise
    s_at_appear = 260.0 if direction < 0 else -30.0
    along = Longitudinal.cruise(direction * s_at_appear - v * appear, v)
    car = Actor(
        next(ctx.ids), "car", make_model("car", rng), RoadTrajectory(road, along, d, direction), role="wrong_way"
    )
    actors = _traffic(ctx, [car])
    lane_id = _lane_id(lane_direction, lane)
    facts = {
        "wrong_way_track_id": car.track_id,
        "lane_id": lane_id,
        "lane_direction": lane_direction,
        "speed_kmh": round(v * 3.6, 2),
    }
    return ScenarioPlan(actors, facts=facts)


# --- speeding ------------------------------------------------------------------------------
def build_speeding(ctx: Context) -> ScenarioPlan:
    """One vehicle at 110-130 km/h in the fast lane; the limit is in scene.json."""
    p, rng, road = ctx.params, ctx.rng, ctx.site.road
    direction = int(rng.choice([-1, 1]))
    cls = p.get("cls") or ["car", "car", "car", "car", "hazmat_tanker", "truck"][int(rng.integers(6))]
    v = _kmh(p.get("speed_kmh"), rng, 110.0, 130.0) / 3.6
    appear = float(p["appear_ts"])
    s_at_appear = 300.0 if direction < 0 else -40.0
    along = Longitudinal.cruise(direction * s_at_appear - v * appear, v)
    actor = Actor(next(ctx.ids), cls, make_model(cls, rng),
                  RoadTrajectory(road, along, road.lane_offset(direction, 0), direction), role="speeding")
    actors = _traffic(ctx, [actor])
    facts = {
        "speeding_track_id": actor.track_id,
        "speed_kmh": round(v * 3.6, 2),
        "speed_limit_kmh": road.speed_limit_kmh,
        "direction": direction,
    }
    return ScenarioPlan(actors, facts=facts)


# --- crowd ---------------------------------------------------------------------------------
def build_crowd(ctx: Context) -> ScenarioPlan:
    """15+ people walk to a square beside the road and gather there."""
    p, rng, site = ctx.params, ctx.rng, ctx.site
    road = site.road
    count = int(p["count"]) if p.get("count") is not None else int(rng.integers(15, 26))
    side = site.camera_side if rng.random() < 0.7 else -site.camera_side
    depth = 12.0
    d_in = road.sidewalk_outer_m + 0.5
    probe = make_model("bus", rng)  # a 12 m box stands in for the square when checking the view
    fits = []
    for s in np.arange(14.0, 90.0, 2.0):
        x, y = road.point(s, side * (d_in + depth / 2))
        inside, h = site.box_in_view(probe, float(x), float(y), float(road.tangent_rad(s)), margin_px=30.0)
        if inside:
            fits.append((h, float(s)))
    fits.sort(reverse=True)
    best_s = fits[int(rng.integers(min(3, len(fits))))][1] if fits else 40.0
    s_c = best_s
    half_len = 9.0
    s_samples = np.linspace(s_c - half_len, s_c + half_len, 8)
    square = road.strip(s_samples, side * d_in, side * (d_in + depth))[:, :2]
    d_c = side * (d_in + depth / 2)
    cx, cy = (float(v) for v in road.point(s_c, d_c))
    radius = 0.5 * math.sqrt(count) + 0.8
    spots = _spots(rng, count, radius)
    people = []
    for sx, sy in spots:
        gx, gy = cx + sx, cy + sy
        yaw_in = math.atan2(cx - gx, cy - gy) if (sx, sy) != (0.0, 0.0) else 0.0
        if rng.random() < 0.3:
            start = (gx, gy)
            t0 = 0.0
        else:
            ang = float(rng.uniform(0, 2 * math.pi))
            dist = float(rng.uniform(6.0, 16.0))
            start = (gx + dist * math.sin(ang), gy + dist * math.cos(ang))
            t0 = float(rng.uniform(0.0, p["arrive_within_s"] * 0.5))
        speed = float(rng.uniform(1.0, 1.5))
        traj = WaypointWalk((start, (gx, gy)), speed, t0, yaw_in + float(rng.normal(0, 0.4)))
        people.append(Actor(next(ctx.ids), "person", make_model("person", rng), traj, role="crowd"))
    traffic = _traffic(ctx, people, walkers=int(rng.integers(0, 3)))
    arrive = max(
        float(a.traj.start_t + a.traj.cum[-1] / a.traj.speed) for a in people  # type: ignore[attr-defined]
    )
    zone = Zone("gathering-square", "crowd_area", square, paint=(150, 170, 180))
    centre = site.frame.to_lonlat(cx, cy)
    facts = {
        "count": count,
        "crowd_track_ids": [a.track_id for a in people],
        "gathered_ts": round(arrive, 3),
        "centre_lonlat": [round(float(centre[0]), 7), round(float(centre[1]), 7)],
        "radius_m": round(radius, 2),
    }
    return ScenarioPlan(traffic, zones=[zone], facts=facts)


def _spots(rng: np.random.Generator, count: int, radius: float, spacing: float = 0.8) -> list[tuple[float, float]]:
    """Standing spots in a disc, at least ``spacing`` apart (dart throwing, then growing)."""
    spots: list[tuple[float, float]] = []
    r = radius
    while len(spots) < count:
        for _ in range(200):
            a, rr = rng.uniform(0, 2 * math.pi), r * math.sqrt(rng.uniform())
            x, y = rr * math.sin(a), rr * math.cos(a)
            if all((x - u) ** 2 + (y - v) ** 2 >= spacing ** 2 for u, v in spots):
                spots.append((float(x), float(y)))
                break
        else:
            r += 0.3
    return spots


def _lane_id(direction: int, lane: int) -> str:
    return f"{'F' if direction > 0 else 'B'}{lane + 1}"


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("normal", "Mixed traffic at 40-80 km/h with some buses, trucks and tankers, a few pedestrians.",
                 {"mean_gap_m": None}, build_normal, lambda p: 30.0),
        Scenario("hazmat-stop", "A hazmat tanker pulls onto the shoulder, stays stopped for stop_s, then leaves.",
                 {"stop_s": 30.0, "approach_s": 12.0, "speed_kmh": None, "stop_s_m": None, "mean_gap_m": None},
                 build_hazmat_stop, lambda p: float(p["approach_s"]) + float(p["stop_s"]) + 18.0),
        Scenario("hazmat-prohibited-zone", "A hazmat tanker enters a prohibited zone (school zone) on the road.",
                 {"enter_ts": 8.0, "zone_start_m": None, "zone_length_m": None, "speed_kmh": None,
                  "mean_gap_m": None},
                 build_prohibited_zone, lambda p: 30.0),
        Scenario("wrong-way", "One car drives against the direction of its lane.",
                 {"appear_ts": 2.0, "speed_kmh": None, "mean_gap_m": None}, build_wrong_way, lambda p: 30.0),
        Scenario("speeding", "One vehicle at 110-130 km/h where the limit is 80 km/h.",
                 {"appear_ts": 3.0, "speed_kmh": None, "cls": None, "mean_gap_m": None}, build_speeding,
                 lambda p: 20.0),
        Scenario("crowd", "15-25 people gather on a square beside the road.",
                 {"count": None, "arrive_within_s": 20.0, "mean_gap_m": None}, build_crowd, lambda p: 30.0),
    ]
}
