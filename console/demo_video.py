"""The demo's live video: simulator-backed cameras (and a real clip) analysed in the console's process.

``zhizhi demo`` picks a few cameras of the demo district, renders a simulator scenario at each
one's position (cached under ``data_dir/demo-video``: rendered once, reused on every start),
and plays the clips in a loop as if they were live streams. One in-process worker runs them
through the shipped detector and publishes on the console's bus, so the warning model, the
alerts, the evidence and the wall see exactly what they would see with real cameras.

The first camera shows a hazardous-chemical tanker that pulls onto the shoulder and stays
there: the shipped model raises an ``abnormal_stop`` alert about half a minute into the clip.
Each loop is a new pass with new track ids, so a looped scenario raises a new alert each time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from console.state import ConsoleState, sector_geojson, start_warnings
from gis.cameras import Camera, CameraIndex
from video.camera_config import CameraConfig, SourceConfig

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
        from video.simulator import simulate

        if self.clip.is_file() and (self.folder / "camera.json").is_file():
            return
        log.info("rendering the demo scene %s at camera %s (once; cached in %s)", self.scenario, self.config.id,
                 self.folder)
        simulate(self.scenario, self.seed, self.folder, fps=DEMO_FPS, width=DEMO_SIZE[0], height=DEMO_SIZE[1],
                 params=self.params, lonlat=(self.config.lon, self.config.lat), camera_id=self.config.id)


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
    from video.simulator.build import build_simulation
    from video.simulator.writer import camera_config

    scenes = []
    for camera, (scenario, params) in zip(_pick_cameras(state.cameras.cameras, count), DEMO_SCENES):
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


def _pick_cameras(cameras: Sequence[Camera], count: int) -> list[Camera]:
    """The first ``count`` cameras by id that have a grid (deterministic for a district)."""
    return sorted((c for c in cameras if c.grid), key=lambda c: c.id)[:count]


def aim_cameras(state: ConsoleState, configs: Sequence[CameraConfig]) -> None:
    """Point the demo cameras' fields of view where their simulated views look (in memory)."""
    aims = {c.id: c for c in configs if c.heading_deg is not None}
    cameras = [
        c.model_copy(update={"heading_deg": aims[c.id].heading_deg, "hfov_deg": aims[c.id].hfov_deg or c.hfov_deg,
                             "range_m": min(aims[c.id].range_m or c.range_m, 250.0), "status": "online"})
        if c.id in aims else c
        for c in state.cameras.cameras
    ]
    state.cameras = CameraIndex(cameras)
    state.camera_sectors = sector_geojson(state.cameras)


def start_demo_video(state: ConsoleState, *, count: int = 4, seed: int = 7, video: Path | None = None) -> DemoVideo:
    """Plan the demo cameras, start the hazmat camera as soon as its clip exists, the rest after."""
    from models.warning.config import load_model

    scenes = plan_scenes(state, count, seed)
    configs = [scene.config for scene in scenes]
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
        state.warnings = start_warnings(state, load_model(state.settings.warning.model), configs)
    demo = DemoVideo(configs)
    if scenes:
        scenes[0].render()
        _run_worker(state, demo, [scenes[0].config])
    rest, extra = scenes[1:], configs[len(scenes):]
    if rest or extra:
        def later() -> None:
            for scene in rest:
                if demo.stop_event.is_set():
                    return
                scene.render()
            _run_worker(state, demo, [s.config for s in rest] + extra)

        thread = threading.Thread(target=later, name="demo-render", daemon=True)
        thread.start()
        demo.threads.append(thread)
    log.info("demo video: %d cameras (%s)", len(configs), ", ".join(c.id for c in configs))
    return demo


def _run_worker(state: ConsoleState, demo: DemoVideo, configs: list[CameraConfig]) -> None:
    from console.cli_video import build_detector
    from video.worker import Worker

    if demo.stop_event.is_set():
        return
    worker = Worker(configs, build_detector(state.settings), state.bus.publish, evidence=state.evidence_recorder())
    thread = threading.Thread(target=worker.run, args=(demo.stop_event,), name="demo-worker", daemon=True)
    thread.start()
    demo.workers.append(worker)
    demo.threads.append(thread)
    state.workers.append(worker)
