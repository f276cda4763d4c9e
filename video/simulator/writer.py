"""``simulate()``: render a scenario to ``clip.mp4`` with ``truth.jsonl``, ``events.jsonl``,
``camera.json`` and ``scene.json``.

``events.jsonl`` holds the scenario's ground-truth events, one per line (see
:mod:`video.simulator.events`): what a backtest scores warning models against.

Truth semantics (one JSON object per frame, ``ts = frame / fps``, objects sorted by ``track_id``):

- ``bbox``: ``[x1, y1, x2, y2]`` pixels (OpenCV convention: integers at pixel centres, so the
  image spans ``0..width-1``), the extent of the object's projected 3D vertices
  (everything drawn of it, including parts hidden behind nearer objects), clipped to the image;
- ``visible``: the fraction of that unclipped extent inside the image;
- ``occluded``: the fraction of its silhouette (convex hull, inside the image) covered by nearer
  objects;
- ``lon``/``lat`` (WGS-84) and ``x_m``/``y_m`` (metres of ``MetricFrame.around(camera)``): the
  centre of the object's ground footprint; ``speed_kmh`` and ``heading_deg`` (compass) of its
  motion (its facing when stopped); ``stopped`` when slower than 0.36 km/h.

Objects farther than 250 m, behind the camera or outside the image (less than a pixel of their
box inside) are not recorded; everything recorded is drawn. Vehicles and people stand on a
dark contact shadow covering their footprint, so the bottom of a box is where the object meets
the ground.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel, Field

from zhizhi.video.camera_config import CameraConfig, LaneConfig, SourceConfig, ZoneConfig
from zhizhi.video.simulator.build import MAX_RANGE_M, Simulation, SimulationError, build_simulation
from zhizhi.video.simulator.events import truth_events
from zhizhi.video.simulator.variation import Variation

LonLat = tuple[float, float]


class LaneInfo(BaseModel):
    """One lane of the simulated road."""

    id: str = Field(description="F1.. lanes run towards +s (away along the camera's view), B1.. the other way.")
    direction: int = Field(description="+1 or -1 in road coordinates.")
    offset_m: float = Field(description="Lateral offset of the centre, positive to the left of +s.")
    heading_deg: float = Field(description="Compass direction of travel where the lane passes the camera.")
    line: list[LonLat] = Field(description="Lane centre, WGS-84, ordered in the direction of travel.")


class RoadInfo(BaseModel):
    """Road geometry in WGS-84 and its cross-section."""

    lanes_per_direction: int
    lane_width_m: float
    shoulder_width_m: float
    sidewalk_width_m: float
    curvature_per_m: float
    speed_limit_kmh: float
    centreline: list[LonLat]
    edges: list[list[LonLat]] = Field(description="Outer edges of the carriageway (right, left of +s).")
    shoulders: list[list[LonLat]] = Field(description="Hard-shoulder polygons (right, left of +s).")
    lanes: list[LaneInfo]


class CameraInfo(BaseModel):
    """The exact simulated camera."""

    lon: float
    lat: float
    height_m: float
    heading_deg: float
    pitch_deg: float
    hfov_deg: float
    vfov_deg: float
    intrinsics: list[list[float]]
    image_size: tuple[int, int]
    road_offset_m: float = Field(description="Lateral road coordinate of the camera pole.")


class ZoneInfo(BaseModel):
    name: str
    kind: str
    polygon: list[LonLat]


class SceneInfo(BaseModel):
    """``scene.json``: the simulator's own facts beside the camera config."""

    scenario: str
    seed: int
    fps: float
    frames: int
    duration_s: float
    params: dict[str, Any]
    facts: dict[str, Any]
    camera: CameraInfo
    road: RoadInfo
    zones: list[ZoneInfo]
    variation: Variation
    max_range_m: float


class SimulationResult(BaseModel):
    """What :func:`simulate` wrote."""

    scenario: str
    seed: int
    out_dir: Path
    clip: Path
    truth: Path
    events: Path | None = Field(None, description="events.jsonl: the ground-truth events.")
    camera_path: Path
    scene_path: Path
    frames: int
    fps: float
    duration_s: float
    width: int
    height: int
    camera: CameraConfig
    variation: Variation
    render_seconds: float = Field(description="Wall time spent rendering and writing.")

    @property
    def duration(self) -> float:
        return self.duration_s


def simulate(
    scenario: str,
    seed: int,
    out_dir: Path,
    *,
    duration_s: float | None = None,
    fps: float = 10.0,
    width: int = 1280,
    height: int = 720,
    variation: Variation | None = None,
    progress: bool = False,
    params: dict[str, Any] | None = None,
    lonlat: tuple[float, float] | None = None,
    camera_id: str | None = None,
) -> SimulationResult:
    """Render ``scenario`` with ``seed`` into ``out_dir``; the same inputs give the same outputs.

    ``lonlat`` places the camera (default: near the demo district's centre); ``camera_id``
    names it in ``camera.json`` (default ``SIM-<scenario>-<seed>``).
    """
    sim = build_simulation(scenario, seed, duration_s=duration_s, fps=fps, width=width, height=height,
                           variation=variation, params=params, lonlat=lonlat)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clip, truth_path = out_dir / "clip.mp4", out_dir / "truth.jsonl"
    started = time.perf_counter()
    frames: Iterable[int] = range(sim.frames)
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, desc=f"simulate {scenario}", unit="frame")
    write_clip(sim, clip, truth_path, fps, (width, height), frames)
    elapsed = time.perf_counter() - started
    _check_clip(clip, sim.frames)
    camera = camera_config(sim)
    if camera_id is not None:
        camera = camera.model_copy(update={"id": camera_id})
    camera_path, scene_path = out_dir / "camera.json", out_dir / "scene.json"
    camera_path.write_text(camera.model_dump_json(indent=2), encoding="utf-8")
    scene_path.write_text(scene_info(sim).model_dump_json(indent=2), encoding="utf-8")
    events_path = write_events(sim, out_dir / "events.jsonl")
    return SimulationResult(
        scenario=scenario, seed=seed, out_dir=out_dir, clip=clip, truth=truth_path, events=events_path,
        camera_path=camera_path,
        scene_path=scene_path, frames=sim.frames, fps=sim.fps, duration_s=sim.frames / sim.fps, width=width,
        height=height, camera=camera, variation=sim.variation, render_seconds=round(elapsed, 3),
    )


def write_events(sim: Simulation, path: Path) -> Path:
    """Write the simulation's ground-truth events as JSON lines (an empty file when none)."""
    lines = [e.model_dump_json() + "\n" for e in truth_events(sim)]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def write_clip(sim, clip: Path, truth_path: Path, fps: float, size: tuple[int, int],
               frames: Iterable[int] | None = None) -> None:
    """Render ``sim``'s frames into ``clip`` (mp4v) and their exact truth into ``truth_path``."""
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size)
    if not writer.isOpened():
        raise SimulationError(f"cannot write {clip} with the mp4v codec")
    poses = sim.poses(sim.times())
    try:
        with truth_path.open("w", encoding="utf-8") as truth:
            for i in frames if frames is not None else range(sim.frames):
                image, drawn = sim.render(i, poses[i])
                writer.write(image)
                truth.write(json.dumps(sim.truth(i, drawn), separators=(",", ":")) + "\n")
    finally:
        writer.release()


def _check_clip(clip: Path, frames: int) -> None:
    cap = cv2.VideoCapture(str(clip))
    try:
        ok, _ = cap.read()
        if not cap.isOpened() or not ok:
            raise SimulationError(f"{clip} was written but cannot be read back")
    finally:
        cap.release()


def camera_config(sim: Simulation) -> CameraConfig:
    """The worker's view of the simulated camera: source, rate, position, calibration."""
    cam = sim.site.camera
    return CameraConfig(
        id=f"SIM-{sim.scenario}-{sim.seed}"[:64],
        name=f"Simulated {sim.scenario} (seed {sim.seed})",
        source=SourceConfig(url="clip.mp4", kind="file"),
        analysis_fps=min(sim.fps, 60.0),
        lon=sim.site.lon,
        lat=sim.site.lat,
        heading_deg=round(cam.heading_deg % 360.0, 6),
        hfov_deg=round(cam.hfov_deg, 6),
        range_m=MAX_RANGE_M,
        calibration=sim.calibration(),
        speed_limit_kmh=sim.site.road.speed_limit_kmh,
        lanes=[LaneConfig(id=lane.id, line=lane.line, width_m=sim.site.road.lane_width_m,
                          speed_limit_kmh=sim.site.road.speed_limit_kmh) for lane in _lanes(sim)],
        zones=[ZoneConfig(**z.model_dump()) for z in _zones(sim)],
    )


#: Road coordinates (metres along the road) at which lines and strips are written.
_ROAD_S = np.linspace(-50.0, 400.0, 46)


def _lonlat_line(sim: Simulation, xy: np.ndarray) -> list[LonLat]:
    lon, lat = sim.site.frame.to_lonlat(xy[:, 0], xy[:, 1])
    return [(round(float(a), 7), round(float(b), 7)) for a, b in zip(lon, lat)]


def _lanes(sim: Simulation) -> list[LaneInfo]:
    road = sim.site.road
    s = _ROAD_S
    lanes = []
    for direction in (1, -1):
        for lane in range(road.lanes_per_direction):
            d = road.lane_offset(direction, lane)
            line = road.line(s if direction > 0 else s[::-1], d)
            heading = (np.degrees(float(road.tangent_rad(0.0))) + (0.0 if direction > 0 else 180.0)) % 360.0
            lanes.append(LaneInfo(id=f"{'F' if direction > 0 else 'B'}{lane + 1}", direction=direction, offset_m=d,
                                  heading_deg=round(heading, 4), line=_lonlat_line(sim, line)))
    return lanes


def _zones(sim: Simulation) -> list[ZoneInfo]:
    """The scenario's zones (not mere paint) in WGS-84."""
    return [ZoneInfo(name=z.name, kind=z.kind, polygon=_lonlat_line(sim, z.polygon))
            for z in sim.plan.zones if z.kind != "paint"]


def scene_info(sim: Simulation) -> SceneInfo:
    """``scene.json`` content."""
    site, road, cam = sim.site, sim.site.road, sim.site.camera
    s = _ROAD_S
    lanes = _lanes(sim)
    shoulders = [
        _lonlat_line(sim, road.strip(s, -road.carriageway_half_m, -road.shoulder_outer_m)[:, :2]),
        _lonlat_line(sim, road.strip(s, road.carriageway_half_m, road.shoulder_outer_m)[:, :2]),
    ]
    road_info = RoadInfo(
        lanes_per_direction=road.lanes_per_direction, lane_width_m=road.lane_width_m, shoulder_width_m=road.shoulder_m,
        sidewalk_width_m=road.sidewalk_m, curvature_per_m=road.curvature, speed_limit_kmh=road.speed_limit_kmh,
        centreline=_lonlat_line(sim, road.line(s, 0.0)),
        edges=[_lonlat_line(sim, road.line(s, -road.carriageway_half_m)),
               _lonlat_line(sim, road.line(s, road.carriageway_half_m))],
        shoulders=shoulders, lanes=lanes,
    )
    camera = CameraInfo(
        lon=site.lon, lat=site.lat, height_m=cam.height_m, heading_deg=cam.heading_deg % 360.0,
        pitch_deg=cam.pitch_deg, hfov_deg=cam.hfov_deg, vfov_deg=cam.vfov_deg, intrinsics=cam.intrinsics,
        image_size=(cam.width, cam.height), road_offset_m=site.camera_d,
    )
    zones = _zones(sim)
    return SceneInfo(
        scenario=sim.scenario, seed=sim.seed, fps=sim.fps, frames=sim.frames, duration_s=sim.frames / sim.fps,
        params=sim.params, facts=sim.plan.facts, camera=camera, road=road_info, zones=zones,
        variation=sim.variation, max_range_m=MAX_RANGE_M,
    )
