"""Aerial clips: the scene simulator seen from a drone's camera (high, steeply tilted, no roll).

The fixed-camera simulator already projects through a general pinhole over flat ground, so a
drone's view is the same renderer with another :class:`~video.simulator.camera.PinholeCamera`:
``height_m`` 120 m and a pitch of 55° down instead of a pole's 8 m and 15°. Only the site
differs: :func:`make_aerial_site` lays a straight road obliquely across the picture, through
the point the camera looks at, instead of along the camera's line of sight. The camera is
given as a :class:`gis.drones.DroneView` (the form the console's fleet draws and the worker
geolocates with), so the clip and the drone's reported pose are one and the same.

``simulate_aerial(view, scenario, seed, out_dir)`` writes ``clip.mp4``, ``truth.jsonl`` (the
fixed-camera simulator's truth format: ground positions in metres of
``MetricFrame.around(view.lon, view.lat)``), ``scene.json`` and ``view.json`` (the view).

>>> from zhizhi.gis.drones import DroneView
>>> view = DroneView(lon=121.06, lat=32.09, height_m=120, yaw_deg=30, pitch_deg=-55,
...                  hfov_deg=72, width_px=480, height_px=270)
>>> site = make_aerial_site(np.random.default_rng(1), view)
>>> round(site.camera.height_m), round(site.camera.pitch_deg), site.camera.width
(120, 55, 480)
"""

from __future__ import annotations

import math
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from zhizhi.gis.drones import DroneView
from zhizhi.gis.metric import MetricFrame
from zhizhi.video.simulator.build import Simulation, SimulationError
from zhizhi.video.simulator.camera import PinholeCamera
from zhizhi.video.simulator.render import Renderer
from zhizhi.video.simulator.road import Road
from zhizhi.video.simulator.scenarios import SCENARIOS, Context
from zhizhi.video.simulator.scene import FIELD_STYLES, Site, _props
from zhizhi.video.simulator.variation import Lighting, NoiseBank, Variation, shake_offsets

#: Road coordinate ``s`` of the point the camera looks at: the road's drawn and populated
#: stretch (about -80..400 m) then covers the whole picture on both sides of it.
AIM_S_M = 150.0
#: A steady gimbal in daylight, dry: what a patrol flight films (override with ``variation``).
AERIAL_LOOK = Variation(night=False, rain=0.0, shake=0.0, noise=2.0)


def aim_point(view: DroneView) -> tuple[float, float]:
    """Where the optical axis meets the ground, metres east/north of the drone."""
    if view.pitch_deg >= 0:
        raise SimulationError("an aerial view must look down (pitch_deg < 0)")
    reach = view.height_m / math.tan(math.radians(-view.pitch_deg))
    yaw = math.radians(view.yaw_deg)
    return reach * math.sin(yaw), reach * math.cos(yaw)


def make_aerial_site(rng: np.random.Generator, view: DroneView, road_angle_deg: float | None = None) -> Site:
    """A drone's camera and a straight two-way road crossing its picture.

    The road passes through the aim point at ``road_angle_deg`` (default: drawn from 40-70°,
    either side) to the camera's azimuth; lanes, shoulders, footways and roadside props are
    those of the fixed-camera simulator.
    """
    camera = PinholeCamera(
        height_m=view.height_m, heading_deg=view.yaw_deg, pitch_deg=-view.pitch_deg, hfov_deg=view.hfov_deg,
        width=view.width_px, height=view.height_px,
    )
    angle = road_angle_deg if road_angle_deg is not None else float(rng.choice([-1, 1]) * rng.uniform(40.0, 70.0))
    heading = (view.yaw_deg + angle) % 360.0
    psi = math.radians(heading)
    ax, ay = aim_point(view)
    origin = (ax - AIM_S_M * math.sin(psi), ay - AIM_S_M * math.cos(psi))
    road = Road(
        origin=origin, heading_deg=heading, curvature=0.0, lanes_per_direction=int(rng.choice([2, 3])),
        lane_width_m=float(rng.uniform(3.5, 3.75)), centre_gap_m=float(rng.uniform(0.4, 0.6)),
        shoulder_m=float(rng.uniform(3.0, 3.5)), sidewalk_m=float(rng.uniform(2.0, 3.5)), speed_limit_kmh=80.0,
    )
    # the drone's lateral road coordinate (d > 0: left of +s), as a pole's would be
    camera_d = -(0.0 - origin[0]) * math.cos(psi) + (0.0 - origin[1]) * math.sin(psi)
    colour, rows = FIELD_STYLES[int(rng.integers(len(FIELD_STYLES)))]
    colour = tuple(int(min(255, c * j)) for c, j in zip(colour, rng.uniform(0.9, 1.1, 3)))
    props = _props(rng, road, 1 if camera_d > 0 else -1)
    return Site(view.lon, view.lat, camera, road, camera_d, props, colour, rows, MetricFrame.around(view.lon, view.lat))


def build_aerial_simulation(
    view: DroneView,
    scenario: str = "normal",
    seed: int = 1,
    *,
    duration_s: float | None = None,
    fps: float = 5.0,
    variation: Variation | None = None,
    params: dict[str, Any] | None = None,
    road_angle_deg: float | None = None,
) -> Simulation:
    """A :class:`~video.simulator.build.Simulation` seen from ``view`` (not yet rendered)."""
    if scenario not in SCENARIOS:
        raise SimulationError(f"unknown scenario {scenario!r}; choose from {', '.join(sorted(SCENARIOS))}")
    if fps <= 0 or view.width_px < 64 or view.height_px < 64:
        raise SimulationError("fps must be positive and the image at least 64x64 pixels")
    spec = SCENARIOS[scenario]
    merged = {**spec.defaults, **(params or {})}
    duration = float(duration_s) if duration_s is not None else spec.duration(merged)
    if duration <= 0:
        raise SimulationError("duration must be positive")
    frames = max(round(duration * fps), 1)
    entropy = (int(seed) % (2**63), zlib.crc32(f"aerial:{scenario}".encode()))
    rng_site, rng_plan, rng_look, rng_light, rng_tex, rng_shake, rng_noise = (
        np.random.default_rng(s) for s in np.random.SeedSequence(list(entropy)).spawn(7)
    )
    site = make_aerial_site(rng_site, view, road_angle_deg)
    plan = spec.build(Context(site, rng_plan, duration, merged))
    look = (variation or AERIAL_LOOK).resolve(rng_look)
    lighting = Lighting.from_variation(look, rng_light)
    margin = math.ceil(float(look.shake or 0.0)) + 2
    noise = NoiseBank(float(look.noise), (view.height_px, view.width_px), rng_noise) if look.noise else None
    renderer = Renderer(site, lighting, plan.zones, rain=float(look.rain or 0.0), noise=noise, margin=margin,
                        rng=rng_tex)
    offsets = shake_offsets(rng_shake, frames, float(look.shake or 0.0))
    return Simulation(scenario, int(seed), merged, duration, float(fps), frames, site, plan, look, lighting,
                      renderer, offsets, entropy)


class AerialResult(BaseModel):
    """What :func:`simulate_aerial` wrote."""

    out_dir: Path
    clip: Path
    truth: Path
    view: DroneView
    frames: int
    fps: float
    render_seconds: float = Field(description="Wall time spent rendering and writing.")


def simulate_aerial(
    view: DroneView,
    scenario: str,
    seed: int,
    out_dir: Path,
    *,
    duration_s: float | None = None,
    fps: float = 5.0,
    variation: Variation | None = None,
    params: dict[str, Any] | None = None,
    road_angle_deg: float | None = None,
) -> AerialResult:
    """Render an aerial clip with its truth into ``out_dir``; the same inputs give the same files."""
    from zhizhi.video.simulator.writer import scene_info, write_clip

    sim = build_aerial_simulation(view, scenario, seed, duration_s=duration_s, fps=fps, variation=variation,
                                  params=params, road_angle_deg=road_angle_deg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clip, truth_path = out_dir / "clip.mp4", out_dir / "truth.jsonl"
    started = time.perf_counter()
    write_clip(sim, clip, truth_path, fps, (view.width_px, view.height_px))
    elapsed = time.perf_counter() - started
    (out_dir / "scene.json").write_text(scene_info(sim).model_dump_json(indent=2), encoding="utf-8")
    (out_dir / "view.json").write_text(view.model_dump_json(indent=2), encoding="utf-8")
    return AerialResult(out_dir=out_dir, clip=clip, truth=truth_path, view=view, frames=sim.frames, fps=sim.fps,
                        render_seconds=round(elapsed, 3))
