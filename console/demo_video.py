"""The demo's live video: simulator-backed cameras (and a real clip) analysed in the console's process.

``zhizhi demo`` picks a few cameras of the demo district, renders a simulator scenario at each
one's position (cached under ``data_dir/demo-video``: rendered once, reused on every start),
and plays the clips in a loop as if they were live streams. One in-process worker runs them
through the shipped detector and publishes on the console's bus, so the warning model, the
alerts, the evidence and the wall see exactly what they would see with real cameras.

The first camera shows a hazardous-chemical tanker that pulls onto the shoulder and stays
there: the shipped model raises an ``abnormal_stop`` alert about half a minute into the clip.
Each loop is a new pass with new track ids, so a looped scenario raises a new alert each time.

When the demo fleet flies its patrol drone, the drone's camera is a tile too (``UAV-01``): an
aerial clip rendered from the drone's station (:func:`console.demo_fleet.drone_station`, 120 m
up, camera 55° down over a road) by :mod:`video.simulator.aerial`, analysed by a worker of its
own (background subtraction: :func:`drone_detector`), its detections geolocated through the
drone's telemetry on the bus.
"""

from __future__ import annotations

import itertools
import logging
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from zhizhi.console.demo_fleet import DRONE_ID, drone_station
from zhizhi.console.scaleout import attach_runner
from zhizhi.console.state import ConsoleState, start_model, start_warnings
from zhizhi.gis.cameras import pick_cameras
from zhizhi.gis.drones import DroneView
from zhizhi.layers.camera_registry import CameraRecord
from zhizhi.video.camera_config import CameraConfig, DroneCamera, SourceConfig

log = logging.getLogger(__name__)

#: (scenario, parameters) of the demo cameras, in order; the first is the one the demo is about.
DEMO_SCENES: tuple[tuple[str, dict], ...] = (
    ("hazmat-stop", {"approach_s": 6.0, "stop_s": 45.0}),
    ("wrong-way", {}),
    ("crowd", {}),
    ("normal", {}),
)
DEMO_SIZE = (960, 540)
DEMO_FPS = 5.0  # the rate the worker analyses at: rendering more frames would only cost start-up time
DRONE_CLIP_S = 60.0  # the aerial clip's length (looped)
DRONE_ANALYSIS_FPS = 5.0


@dataclass
class DemoScene:
    """One simulated demo camera: its config (known before rendering) and its clip."""

    config: CameraConfig
    scenario: str
    params: dict
    folder: Path
    seed: int

    @property
    def clip(self) -> Path:
        return self.folder / "clip.mp4"

    def render(self) -> None:
        """Render the clip unless it is cached (the same inputs always give the same clip)."""
        from zhizhi.video.simulator import simulate

        if self.clip.is_file() and (self.folder / "camera.json").is_file():
            return
        log.info("rendering the demo scene %s at camera %s (once; cached in %s)", self.scenario, self.config.id,
                 self.folder)
        simulate(self.scenario, self.seed, self.folder, fps=DEMO_FPS, width=DEMO_SIZE[0], height=DEMO_SIZE[1],
                 params=self.params, lonlat=(self.config.lon, self.config.lat), camera_id=self.config.id)


@dataclass
class DemoDrone:
    """The demo drone's camera: its config and its aerial clip, rendered from its station."""

    config: CameraConfig
    view: DroneView
    folder: Path
    seed: int

    @property
    def clip(self) -> Path:
        return self.folder / "clip.mp4"

    def render(self) -> None:
        """Render the aerial clip unless it is cached."""
        from zhizhi.video.simulator.aerial import simulate_aerial

        if self.clip.is_file() and (self.folder / "view.json").is_file():
            return
        log.info("rendering the demo drone's aerial clip (once; cached in %s)", self.folder)
        simulate_aerial(self.view, "normal", self.seed, self.folder, duration_s=DRONE_CLIP_S, fps=DEMO_FPS)


def plan_drone(state: ConsoleState, seed: int) -> DemoDrone:
    """The demo drone's camera tile: seen from its station, geolocated through its telemetry."""
    drones = state.settings.drones
    view = drone_station(state).model_copy(update={"width_px": DEMO_SIZE[0], "height_px": DEMO_SIZE[1]})
    key = zlib.crc32(view.model_dump_json().encode())
    folder = state.settings.data_dir / "demo-video" / f"{DRONE_ID}-aerial-{seed}-{key:08x}"
    config = CameraConfig(
        id=DRONE_ID, name=f"无人机 {DRONE_ID} (simulated aerial)",
        source=SourceConfig(url=str((folder / "clip.mp4").resolve()), kind="file", loop=True, realtime=True),
        analysis_fps=DRONE_ANALYSIS_FPS, detector="motion",
        drone=DroneCamera(drone_id=DRONE_ID, hfov_deg=drones.hfov_deg, max_range_m=drones.max_range_m),
    )
    return DemoDrone(config, view, folder, seed)


def _drone_flies(state: ConsoleState) -> bool:
    """Whether the demo fleet's drone reports its pose (it does not with ``--no-fleet``)."""
    return bool(state.fleet.drones(state.jurisdictions.district_code, ids={DRONE_ID}))


@dataclass
class DemoVideo:
    """The demo's workers and their threads."""

    cameras: list[CameraConfig]
    workers: list = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=10)
        for worker in self.workers:
            worker.close()


def plan_scenes(state: ConsoleState, count: int, seed: int) -> list[DemoScene]:
    """The demo cameras and their scenes; calibration, lanes and zones without rendering."""
    from zhizhi.video.simulator.build import build_simulation
    from zhizhi.video.simulator.writer import camera_config

    scenes = []
    for camera, (scenario, params) in zip(pick_cameras(state.cameras.cameras, count), itertools.cycle(DEMO_SCENES)):
        folder = state.settings.data_dir / "demo-video" / f"{camera.id}-{scenario}-{seed}"
        sim = build_simulation(scenario, seed, fps=DEMO_FPS, width=DEMO_SIZE[0], height=DEMO_SIZE[1],
                               params=params, lonlat=(camera.lon, camera.lat))
        config = camera_config(sim).model_copy(update={
            "id": camera.id,
            "name": f"{camera.name} (simulated {scenario})",
            "source": SourceConfig(url=str((folder / "clip.mp4").resolve()), kind="file", loop=True, realtime=True),
            "analysis_fps": 5.0,
        })
        scenes.append(DemoScene(config, scenario, params, folder, seed))
    return scenes


def aim_cameras(state: ConsoleState, configs: Sequence[CameraConfig]) -> None:
    """Point the demo cameras' fields of view where their simulated views look (their registry
    records: the map, the cameras page and every console see the same aim)."""
    registry = state.camera_registry
    changed = []
    for config in configs:
        record = registry.get(config.id) if registry is not None and config.heading_deg is not None else None
        if record is None:
            continue
        aimed = CameraRecord.model_validate({
            **record.model_dump(), "heading_deg": config.heading_deg, "hfov_deg": config.hfov_deg or record.hfov_deg,
            "range_m": min(config.range_m or record.range_m, 250.0)})
        if aimed.as_input() != record.as_input():
            changed.append(registry.replace(aimed).id)
    if changed:
        state.cameras_changed("updated", changed)


def start_demo_video(state: ConsoleState, *, count: int = 4, seed: int = 7, video: Path | None = None,
                     drone: bool = True) -> DemoVideo:
    """Plan the demo cameras, start the hazmat camera as soon as its clip exists, the rest after.

    With ``drone`` and simulated cameras (``count``), the demo drone's camera comes last, once
    the fleet reports the drone's pose.
    """
    from zhizhi.models.warning.config import load_model

    scenes = plan_scenes(state, count, seed)
    configs = [scene.config for scene in scenes]
    uav = plan_drone(state, seed) if drone and count > 0 else None
    if video is not None:
        configs.append(CameraConfig(
            id="REAL-CLIP", name=f"Recorded clip {Path(video).name}",
            source=SourceConfig(url=str(Path(video).resolve()), kind="file", loop=True, realtime=True),
            analysis_fps=5.0,
        ))
    aim_cameras(state, configs)
    if state.settings.warning.enabled:  # the model now knows the cameras' lanes and zones
        if state.warnings is not None:
            state.warnings.stop()
        model = start_model(state, "warning", load_model(state.settings.warning.model))  # the store's production
        state.warnings = start_warnings(state, model, configs)
        attach_runner(state, state.warnings)
    demo = DemoVideo(configs + ([uav.config] if uav is not None else []))
    if scenes:
        scenes[0].render()
        _run_worker(state, demo, [scenes[0].config])
    rest, extra = scenes[1:], configs[len(scenes):]
    if rest or extra or uav is not None:
        def later() -> None:
            for scene in rest:
                if demo.stop_event.is_set():
                    return
                scene.render()
            _run_worker(state, demo, [s.config for s in rest] + extra)
            if uav is not None and not demo.stop_event.is_set():
                if _drone_flies(state):
                    uav.render()
                    _run_worker(state, demo, [uav.config], drone_detector())
                else:
                    log.info("demo video: no pose from drone %s (no demo fleet): no drone tile", DRONE_ID)

        thread = threading.Thread(target=later, name="demo-render", daemon=True)
        thread.start()
        demo.threads.append(thread)
    log.info("demo video: %d cameras (%s)", len(demo.cameras), ", ".join(c.id for c in demo.cameras))
    return demo


def drone_detector():
    """The drone tile's detector: background subtraction sized for vehicles 15-30 px long.

    The hovering camera is steady, which is what background subtraction needs; the shipped
    detector was trained on roadside-pole views and finds few vehicles seen from 120 m.
    """
    from zhizhi.video.detectors import make_detector

    return make_detector("motion", min_area_px=60, work_width=DEMO_SIZE[0], merge_gap_px=2, warmup_frames=10)


def _run_worker(state: ConsoleState, demo: DemoVideo, configs: list[CameraConfig], detector=None) -> None:
    from zhizhi.console.cli_video import build_detector
    from zhizhi.video.worker import Worker

    if demo.stop_event.is_set() or not configs:
        return
    worker = Worker(configs, detector or build_detector(state.settings), state.bus.publish,
                    evidence=state.evidence_recorder(), subscribe=state.bus.subscribe)
    thread = threading.Thread(target=worker.run, args=(demo.stop_event,), name="demo-worker", daemon=True)
    thread.start()
    demo.workers.append(worker)
    demo.threads.append(thread)
    state.workers.append(worker)
