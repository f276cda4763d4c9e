"""Background traffic and pedestrians, and the rule that no two road users ever overlap.

Each lane gets a stream of vehicles at nearly the lane's speed, spread so the flow is already
established at ``t = 0``; heavy vehicles keep to the outer lanes. Scenario actors are placed
first; any generated road user whose footprint would ever overlap an already accepted one
(while on screen) is dropped, so nobody drives through anybody.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from zhizhi.video.simulator.motion import Longitudinal, RoadTrajectory
from zhizhi.video.simulator.objects import make_model
from zhizhi.video.simulator.scene import Actor, Site

Float = NDArray[np.float64]

VEHICLE_WEIGHTS: dict[str, float] = {"car": 0.70, "bus": 0.09, "truck": 0.14, "hazmat_tanker": 0.07}
HEAVY = frozenset({"bus", "truck", "hazmat_tanker"})
#: Road-coordinate window (s) in which overlaps matter: what the camera can show, with margin.
SHOWN_S = (-120.0, 420.0)
CONFLICT_DT = 0.2


def ids_from(start: int) -> Iterator[int]:
    i = start
    while True:
        yield i
        i += 1


def lane_traffic(
    site: Site,
    rng: np.random.Generator,
    duration_s: float,
    ids: Iterator[int],
    *,
    mean_gap_m: float = 55.0,
    speed_kmh: tuple[float, float] = (40.0, 80.0),
    weights: dict[str, float] | None = None,
) -> list[Actor]:
    """Vehicles flowing in every lane for the whole clip (conflicts not yet resolved)."""
    road = site.road
    weights = weights or VEHICLE_WEIGHTS
    classes = list(weights)
    lo, hi = SHOWN_S
    actors = []
    for direction in (1, -1):
        speeds = np.sort(rng.uniform(speed_kmh[0], speed_kmh[1], road.lanes_per_direction))[::-1] / 3.6
        for lane in range(road.lanes_per_direction):
            d = road.lane_offset(direction, lane)
            v_lane = float(speeds[lane])
            heavy_factor = 0.25 if (lane == 0 and road.lanes_per_direction > 2) else (0.6 if lane == 0 else 1.3)
            w = np.array([weights[c] * (heavy_factor if c in HEAVY else 1.0) for c in classes])
            w = w / w.sum()
            span = v_lane * 1.06 * duration_s + 60.0
            # positions along the direction of travel (u = direction * s) at t = 0
            u_start, u_end = (lo - span, hi) if direction > 0 else (-hi - span, -lo)
            u = u_end - float(rng.uniform(0, mean_gap_m))
            while u > u_start:
                cls = classes[int(rng.choice(len(classes), p=w))]
                model = make_model(cls, rng)
                v = v_lane * float(np.clip(rng.normal(1.0, 0.025), 0.95, 1.05))
                v = float(np.clip(v, speed_kmh[0] / 3.6, speed_kmh[1] / 3.6))
                lateral = d + float(rng.normal(0.0, 0.12))
                traj = RoadTrajectory(road, Longitudinal.cruise(u, v), lateral, direction)
                actors.append(Actor(next(ids), cls, model, traj))
                u -= model.length_m + 8.0 + float(rng.exponential(mean_gap_m))
    return actors


def sidewalk_walkers(
    site: Site, rng: np.random.Generator, count: int, ids: Iterator[int], s_range: tuple[float, float] = (8.0, 140.0)
) -> list[Actor]:
    """Pedestrians walking along the footways in both directions."""
    road = site.road
    out = []
    for _ in range(count):
        side = int(rng.choice([-1, 1]))
        d = road.sidewalk_offset(side, float(rng.uniform(0.25, 0.75)))
        direction = int(rng.choice([-1, 1]))
        s0 = float(rng.uniform(*s_range))
        v = float(rng.uniform(1.0, 1.6))
        traj = RoadTrajectory(road, Longitudinal.cruise(direction * s0, v), d, direction)
        out.append(Actor(next(ids), "person", make_model("person", rng), traj, role="pedestrian"))
    return out


def resolve_conflicts(accepted: Sequence[Actor], candidates: Sequence[Actor], duration_s: float) -> list[Actor]:
    """``accepted`` plus every candidate that never overlaps anyone accepted before it."""
    times = np.arange(0.0, duration_s + CONFLICT_DT, CONFLICT_DT)
    kept: list[Actor] = []
    s_rows: list[Float] = []
    d_rows: list[Float] = []
    half_l: list[float] = []
    half_w: list[float] = []
    gaps: list[float] = []

    def add(actor: Actor) -> None:
        coords = actor.traj.road_coords(times)
        kept.append(actor)
        if coords is None:
            return
        s, d = coords
        s_rows.append(np.asarray(s, dtype=np.float64))
        d_rows.append(np.asarray(d, dtype=np.float64))
        half_l.append(actor.model.length_m / 2.0)
        half_w.append(actor.model.width_m / 2.0)
        gaps.append(0.3 if actor.cls == "person" else 3.0)

    for actor in accepted:
        add(actor)
    for actor in candidates:
        coords = actor.traj.road_coords(times)
        if coords is None or not s_rows:
            add(actor)
            continue
        s, d = (np.asarray(c, dtype=np.float64) for c in coords)
        on_screen = (s > SHOWN_S[0]) & (s < SHOWN_S[1])
        if not on_screen.any():
            continue  # never shown: skip it altogether
        gap = 0.3 if actor.cls == "person" else 3.0
        ds = np.abs(np.vstack(s_rows) - s) < (np.array(half_l)[:, None] + actor.model.length_m / 2.0
                                              + np.maximum(np.array(gaps), gap)[:, None])
        dd = np.abs(np.vstack(d_rows) - d) < (np.array(half_w)[:, None] + actor.model.width_m / 2.0 + 0.35)
        if (ds & dd & on_screen).any():
            continue
        add(actor)
    return kept
