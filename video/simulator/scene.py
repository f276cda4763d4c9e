"""The site (camera, road, roadside props) and what moves in it (actors), drawn from a seed.

World coordinates are metres of ``MetricFrame.around(camera lon, lat)``; the camera stands on
a pole at ``(0, 0)`` beside (or above the edge of) the road, at road coordinate ``s = 0``,
looking along ``+s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from zhizhi.gis.metric import MetricFrame
from zhizhi.video.simulator.camera import PinholeCamera
from zhizhi.video.simulator.motion import Kinematics, Trajectory, kinematics
from zhizhi.video.simulator.objects import Model, make_model
from zhizhi.video.simulator.road import Road

Float = NDArray[np.float64]

DEFAULT_LONLAT = (121.06, 32.09)

#: Fields beside the road: ground colour (BGR) and crop-row strength (<= 0.6: no rows).
FIELD_STYLES: list[tuple[tuple[int, int, int], float]] = [
    ((70, 130, 85), 0.8),   # summer grass
    ((60, 115, 95), 1.0),   # rice paddies (rows)
    ((80, 150, 160), 1.0),  # ripe wheat (rows)
    ((75, 110, 120), 0.6),  # bare earth
]


@dataclass(frozen=True)
class Prop:
    """A static roadside object (tree, lamp pole)."""

    model: Model
    x: float
    y: float
    yaw: float
    s: float
    d: float


@dataclass(frozen=True)
class Site:
    """Where the camera stands and what it looks at."""

    lon: float
    lat: float
    camera: PinholeCamera
    road: Road
    camera_d: float
    props: tuple[Prop, ...]
    field_colour: tuple[int, int, int]
    field_rows: float
    frame: MetricFrame = field(compare=False)

    @property
    def camera_side(self) -> int:
        """+1: the camera stands left of ``+s``; -1: right of it."""
        return 1 if self.camera_d > 0 else -1

    def box_in_view(self, model: Model, x: float, y: float, yaw: float, margin_px: float = 0.0) -> tuple[bool, float]:
        """Whether a model at a pose lies fully inside the image; and its pixel height."""
        verts, *_ = model.world(x, y, yaw)
        u, v, z = self.camera.project(verts)
        if (z <= 1.0).any():
            return False, 0.0
        cam = self.camera
        inside = (u.min() >= margin_px and v.min() >= margin_px and u.max() <= cam.width - 1 - margin_px
                  and v.max() <= cam.height - 1 - margin_px)
        return bool(inside), float(v.max() - v.min())


@dataclass
class Actor:
    """Something that moves (or stands) in the scene with a stable track id."""

    track_id: int
    cls: str
    model: Model
    traj: Trajectory
    role: str = "traffic"

    def states(self, times: Float) -> Kinematics:
        return kinematics(self.traj, times)


@dataclass(frozen=True)
class Zone:
    """A named ground polygon (metres) with an optional pavement colour drawn on the road."""

    name: str
    kind: str
    polygon: Float
    paint: tuple[int, int, int] | None = None


@dataclass
class ScenarioPlan:
    """What a scenario builder returns."""

    actors: list[Actor]
    zones: list[Zone] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def make_site(rng: np.random.Generator, width: int, height: int, lonlat: tuple[float, float] | None = None) -> Site:
    """A random but plausible camera and road (2-3 lanes each way, shoulders, footways)."""
    lon, lat = lonlat or (
        round(DEFAULT_LONLAT[0] + rng.uniform(-0.04, 0.04), 6),
        round(DEFAULT_LONLAT[1] + rng.uniform(-0.03, 0.03), 6),
    )
    lanes = int(rng.choice([2, 3]))
    curved = rng.random() < 0.5
    curvature = float(rng.choice([-1, 1]) * rng.uniform(1 / 3000, 1 / 1000)) if curved else 0.0
    heading = float(rng.uniform(0, 360))
    road_kw = {
        "heading_deg": heading,
        "curvature": curvature,
        "lanes_per_direction": lanes,
        "lane_width_m": float(rng.uniform(3.5, 3.75)),
        "centre_gap_m": float(rng.uniform(0.4, 0.6)),
        "shoulder_m": float(rng.uniform(3.0, 3.5)),
        "sidewalk_m": float(rng.uniform(2.0, 3.5)),
        "speed_limit_kmh": 80.0,
    }
    probe = Road(origin=(0.0, 0.0), **road_kw)
    side = int(rng.choice([-1, 1]))
    camera_d = side * (probe.shoulder_outer_m + float(rng.uniform(-1.5, probe.sidewalk_m + 3.0)))
    psi0 = math.radians(heading)
    road = Road(origin=(camera_d * math.cos(psi0), -camera_d * math.sin(psi0)), **road_kw)
    cam_height = float(rng.uniform(6.0, 12.0))
    hfov = float(rng.uniform(55.0, 75.0))
    vfov = math.degrees(2 * math.atan(math.tan(math.radians(hfov) / 2) * height / width))
    pitch = float(rng.uniform(10.0, min(22.0, vfov / 2 + 1.5)))
    aim_s = float(rng.uniform(60.0, 120.0))
    ax, ay = road.point(aim_s, side * float(rng.uniform(0.0, road.carriageway_half_m * 0.6)))
    cam_heading = (math.degrees(math.atan2(float(ax), float(ay))) + float(rng.uniform(-2.0, 2.0))) % 360.0
    camera = PinholeCamera(
        height_m=cam_height, heading_deg=cam_heading, pitch_deg=pitch, hfov_deg=hfov, width=width, height=height
    )
    colour, rows = FIELD_STYLES[int(rng.integers(len(FIELD_STYLES)))]
    jitter = rng.uniform(0.9, 1.1, 3)
    colour = tuple(int(min(255, c * j)) for c, j in zip(colour, jitter))
    props = _props(rng, road, side)
    return Site(lon, lat, camera, road, camera_d, props, colour, rows, MetricFrame.around(lon, lat))


def _props(rng: np.random.Generator, road: Road, camera_side: int) -> tuple[Prop, ...]:
    props: list[Prop] = []
    for side in (-1, 1):
        near_ok = 45.0 if side == camera_side else -20.0
        s = float(rng.uniform(-20, 10))
        while s < 320:
            s += float(rng.uniform(14, 34))
            if s < near_ok or rng.random() < 0.25:
                continue
            d = side * (road.sidewalk_outer_m + float(rng.uniform(2.5, 9.0)))
            x, y = road.point(s, d)
            props.append(Prop(make_model("tree", rng), float(x), float(y), float(rng.uniform(0, 2 * math.pi)), s, d))
        if rng.random() < 0.7:
            spacing = float(rng.uniform(35, 50))
            s = float(rng.uniform(0, spacing))
            while s < 300:
                if s >= near_ok:
                    d = side * (road.shoulder_outer_m + 0.4)
                    x, y = road.point(s, d)
                    yaw = float(road.tangent_rad(s)) + (math.pi if side > 0 else 0.0)
                    props.append(Prop(make_model("pole", rng), float(x), float(y), yaw, s, d))
                s += spacing
    return tuple(props)
