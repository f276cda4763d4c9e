"""Assembling a simulation from ``(scenario, seed, options)``: site, actors, look, renderer.

All randomness flows from one :class:`numpy.random.SeedSequence` of the seed and the scenario
name, split into independent streams (site, scenario, look, textures, shake, noise, and one per
frame), so the same inputs always give the same clip and truth.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from zhizhi.video.calibration import Calibration
from zhizhi.video.simulator.draw import Image, Pose
from zhizhi.video.simulator.render import Drawn, Filters, Renderer
from zhizhi.video.simulator.scenarios import SCENARIOS, Context
from zhizhi.video.simulator.scene import ScenarioPlan, Site, make_site
from zhizhi.video.simulator.variation import Lighting, NoiseBank, Variation, shake_offsets

Float = NDArray[np.float64]

MAX_RANGE_M = 250.0
STRIDE_M = 1.5
STOPPED_MPS = 0.1


class SimulationError(RuntimeError):
    """A simulation that cannot be built or written."""


@dataclass
class Simulation:
    """Everything needed to render frames and their truth."""

    scenario: str
    seed: int
    params: dict[str, Any]
    duration_s: float
    fps: float
    frames: int
    site: Site
    plan: ScenarioPlan
    variation: Variation
    lighting: Lighting
    renderer: Renderer
    offsets: NDArray[np.int64]
    entropy: tuple[int, int]

    @property
    def camera(self):
        return self.site.camera

    def times(self) -> Float:
        return np.arange(self.frames, dtype=np.float64) / self.fps

    def frame_rng(self, index: int, stream: int = 0) -> np.random.Generator:
        return np.random.default_rng([*self.entropy, 1 + stream, index])

    def poses(self, times: Float, max_range_m: float = MAX_RANGE_M) -> list[list[Pose]]:
        """The poses of all actors near enough to be seen, per time."""
        times = np.asarray(times, dtype=np.float64)
        out: list[list[Pose]] = [[] for _ in times]
        for actor in self.plan.actors:
            k = actor.states(times)
            reach = max_range_m + actor.model.length_m
            near = np.hypot(k.x, k.y) <= reach
            for i in np.flatnonzero(near):
                phase = float(k.travelled[i]) * 2 * math.pi / STRIDE_M if actor.cls == "person" else 0.0
                out[i].append(Pose(actor.track_id, actor.cls, actor.model, float(k.x[i]), float(k.y[i]),
                                   float(k.yaw[i]), float(k.speed[i]), phase))
        return out

    def render(self, index: int, poses: list[Pose], filters: Filters | None = None) -> tuple[Image, list[Drawn]]:
        """Frame ``index`` (shake offset and weather of that frame) showing ``poses``."""
        offset = tuple(int(v) for v in self.offsets[index]) if index < len(self.offsets) else (0, 0)
        return self.renderer.render(poses, offset, self.frame_rng(index), filters or Filters(), MAX_RANGE_M)

    def truth(self, index: int, drawn: list[Drawn]) -> dict[str, Any]:
        """The ``truth.jsonl`` record of a frame."""
        objects = sorted(drawn, key=lambda d: d.pose.track_id)
        xs = np.array([d.pose.x for d in objects])
        ys = np.array([d.pose.y for d in objects])
        lons, lats = self.site.frame.to_lonlat(xs, ys) if objects else (np.zeros(0), np.zeros(0))
        records = []
        for d, lon, lat in zip(objects, np.atleast_1d(lons), np.atleast_1d(lats)):
            p = d.pose
            heading = round(math.degrees(p.yaw) % 360.0, 3)
            records.append({
                "track_id": p.track_id,
                "cls": p.cls,
                "bbox": [round(float(v), 2) for v in d.proj.bbox],
                "visible": math.ceil(d.proj.visible * 1e4 - 1e-9) / 1e4,  # never 0 for a drawn object
                "occluded": round(d.occluded, 3),
                "lon": round(float(lon), 7),
                "lat": round(float(lat), 7),
                "x_m": round(p.x, 4),
                "y_m": round(p.y, 4),
                "speed_kmh": round(p.speed * 3.6, 2),
                "heading_deg": 0.0 if heading >= 360.0 else heading,
                "length_m": round(p.model.length_m, 3),
                "width_m": round(p.model.width_m, 3),
                "stopped": bool(p.speed < STOPPED_MPS),
            })
        return {"frame": index, "ts": round(index / self.fps, 6), "objects": records}

    def calibration(self, points: int = 12) -> Calibration:
        """The ground homography fitted from exact projections of ground points."""
        cam = self.site.camera
        w, h = cam.width, cam.height
        top = max(cam.horizon_v() + 0.06 * h, 0.12 * h)
        rows = np.linspace(top, 0.96 * h, max(points // 3, 3))
        cols = np.array([0.06, 0.5, 0.94]) * w
        uu, vv = np.meshgrid(cols, rows)
        gx, gy = cam.ground_point(uu.ravel(), vv.ravel())
        u, v, _ = cam.project(np.column_stack([gx, gy, np.zeros_like(gx)]))
        lon, lat = self.site.frame.to_lonlat(gx, gy)
        return Calibration.fit(
            pixels=np.column_stack([u, v]), lonlats=np.column_stack([lon, lat]),
            origin=(self.site.lon, self.site.lat), image_size=(w, h),
        )


def _clear_props(site: Site, plan: ScenarioPlan) -> Site:
    """No tree or pole stands on a painted area (a square, a school-zone pavement)."""
    areas = [shapely.buffer(shapely.Polygon(z.polygon), 4.0) for z in plan.zones if z.paint is not None]
    if not areas:
        return site
    keep = tuple(p for p in site.props if not any(a.contains(shapely.Point(p.x, p.y)) for a in areas))
    return replace(site, props=keep)


def build_simulation(
    scenario: str,
    seed: int,
    *,
    duration_s: float | None = None,
    fps: float = 10.0,
    width: int = 1280,
    height: int = 720,
    variation: Variation | None = None,
    params: dict[str, Any] | None = None,
    odds: dict[str, float] | None = None,
    lonlat: tuple[float, float] | None = None,
) -> Simulation:
    """Build (but do not render) a simulation; ``odds`` tunes how often night/rain/... occur."""
    if scenario not in SCENARIOS:
        raise SimulationError(f"unknown scenario {scenario!r}; choose from {', '.join(sorted(SCENARIOS))}")
    if fps <= 0 or width < 64 or height < 64:
        raise SimulationError("fps must be positive and the image at least 64x64 pixels")
    spec = SCENARIOS[scenario]
    unknown = set(params or {}) - set(spec.defaults)
    if unknown:
        raise SimulationError(f"unknown parameters for {scenario}: {sorted(unknown)}; known: {sorted(spec.defaults)}")
    merged = {**spec.defaults, **(params or {})}
    duration = float(duration_s) if duration_s is not None else spec.duration(merged)
    if duration <= 0:
        raise SimulationError("duration must be positive")
    frames = max(round(duration * fps), 1)
    entropy = (int(seed) % (2**63), zlib.crc32(scenario.encode()))
    streams = np.random.SeedSequence(list(entropy)).spawn(7)
    rng_site, rng_plan, rng_look, rng_light, rng_tex, rng_shake, rng_noise = (
        np.random.default_rng(s) for s in streams
    )
    site = make_site(rng_site, width, height, lonlat)
    plan = spec.build(Context(site, rng_plan, duration, merged))
    site = _clear_props(site, plan)
    look = (variation or Variation()).resolve(rng_look, **(odds or {}))
    lighting = Lighting.from_variation(look, rng_light)
    shake = float(look.shake or 0.0)
    margin = math.ceil(shake) + 2
    noise = NoiseBank(float(look.noise or 0.0), (height, width), rng_noise) if look.noise else None
    renderer = Renderer(site, lighting, plan.zones, rain=float(look.rain or 0.0), noise=noise, margin=margin,
                        rng=rng_tex)
    offsets = shake_offsets(rng_shake, frames, shake)
    return Simulation(scenario, int(seed), merged, duration, float(fps), frames, site, plan, look, lighting,
                      renderer, offsets, entropy)
