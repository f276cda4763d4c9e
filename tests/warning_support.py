"""Helpers of the live-warning tests: one shortened simulated hazmat stop, as bus frame batches.

The scene is rendered once per test session (about ten seconds) and shared by every module that
asks for it through :func:`hazmat_stop_scene`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from tests.alerts_support import T0
from zhizhi.bus.messages.camera_status import CameraStatus
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.video.simulator import simulate
from zhizhi.video.simulator.truth import read_truth_frames
from zhizhi.video.simulator.writer import SimulationResult

#: A tanker arrives after 6 s, stands 25 s on the shoulder (the shipped rule fires after 20 s).
SCENE_PARAMS = {"approach_s": 6.0, "stop_s": 25.0}


@cache
def _scene(base: Path) -> SimulationResult:
    return simulate(
        "hazmat-stop", 31, base / "hazmat-stop-short", params=SCENE_PARAMS,
        fps=5.0, width=480, height=270, duration_s=40.0,
    )


def hazmat_stop_scene(tmp_path_factory) -> SimulationResult:
    """The session's simulated hazmat stop (40 s at 5 fps, 480x270)."""
    return _scene(tmp_path_factory.getbasetemp())


def facts(scene: SimulationResult) -> dict:
    return json.loads(scene.scene_path.read_text(encoding="utf-8"))["facts"]


def moved(batch: ObservationBatch, offset: float) -> ObservationBatch:
    """The same rows at a frame time ``offset`` later."""
    return ObservationBatch(batch.camera_id, batch.ts + offset, batch.track_id, batch.cls, batch.conf, batch.xyxy,
                            batch.lon, batch.lat, batch.speed_kmh, batch.heading_deg)


def frame_messages(scene: SimulationResult, offset: float = T0) -> list[ObservationBatch]:
    """The scene's truth as the worker's frame messages, every frame, times moved by ``offset``."""
    return [moved(batch, offset) for batch in read_truth_frames(scene.truth, scene.camera.id)]


def offline_status(camera_id: str, ts: float = T0) -> CameraStatus:
    """A camera-status message as the worker publishes it when a camera goes offline."""
    return CameraStatus(camera_id=camera_id, state="offline", error="stream ended", since=ts)
