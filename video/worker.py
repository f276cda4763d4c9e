"""The frame-analysis worker: its cameras' newest frames, analysed in batches, published.

Each camera's source runs in its own thread and keeps only its newest frame; the worker loop
takes, for every camera whose analysis time has come, that newest frame, runs one batched
detection over all of them, and publishes through ``publish(topic, message)`` (the bus) one
frame batch per analysed frame (:func:`frame_message`, also when it holds no objects: the
warning models need those to see a condition end), each observation on its own, and every
camera-status change. A slow detector therefore drops frames and never builds latency; a dead
camera only changes its own status. The latest annotated JPEG of each camera is kept for the
wall, and handed to an :class:`~video.evidence.EvidenceRecorder` when the worker has one.

A worker with drone cameras (``CameraConfig.drone``) geolocates their frames through the
drones' poses: given ``subscribe`` (the bus's), it listens to ``Topic.DRONES`` itself; any
other feed may call :meth:`Worker.on_drone`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from alerts.bus import Topic
from video.annotate import annotate, to_jpeg
from video.camera_config import CameraConfig
from video.detectors import TrackingDetector
from video.evidence import EvidenceRecorder
from video.observation import Observation
from video.pipeline import FrameAnalyzer
from video.runner import Sampler, SourceRunner
from video.status import CameraStatus

log = logging.getLogger(__name__)
Publish = Callable[[str, dict], None]
Subscribe = Callable[[str, Callable[[dict], None]], Any]  # returns something with cancel()


def frame_message(camera_id: str, ts: float, observations: Sequence[Observation]) -> dict:
    """The bus form of one analysed frame: ``{"type": "frame", "camera_id", "ts", "observations"}``."""
    return {
        "type": "frame",
        "camera_id": camera_id,
        "ts": ts,
        "observations": [obs.as_message() for obs in observations],
    }


class Worker:
    """Runs a set of cameras through one detector."""

    def __init__(
        self,
        cameras: Sequence[CameraConfig],
        detector: TrackingDetector,
        publish: Publish,
        *,
        jpeg_quality: int = 80,
        runner_options: dict | None = None,
        evidence: EvidenceRecorder | None = None,
        subscribe: Subscribe | None = None,
    ) -> None:
        self.cameras = list(cameras)
        self.publish = publish
        self.evidence = evidence
        self.jpeg_quality = jpeg_quality
        self.analyzer = FrameAnalyzer(detector, self.cameras)
        self.detector = detector
        self._lock = threading.Lock()
        self._jpeg: dict[str, bytes] = {}
        self._last_index: dict[str, int] = {}
        self._samplers = {c.id: Sampler(c.analysis_fps) for c in self.cameras}
        self._frames = 0
        self._observations = 0
        self._batches = 0
        self._started = time.monotonic()
        self._subscriptions = (
            [subscribe(Topic.DRONES, self.on_drone)] if subscribe is not None and self.analyzer.drones else []
        )
        self.runners = {
            c.id: SourceRunner(c, on_status=self._on_status, **(runner_options or {})) for c in self.cameras
        }
        for runner in self.runners.values():
            runner.start()

    def on_drone(self, message: dict) -> None:
        """A drone pose (``{"type": "drone", **DroneState}``) for geolocating drone cameras."""
        self.analyzer.poses.on_message(message)

    def _on_status(self, status: CameraStatus) -> None:
        self.publish(Topic.CAMERA_STATUS, {"type": "camera_status", **status.model_dump(mode="json")})

    def step(self) -> int:
        """Analyse the frames that are due now; return how many were analysed."""
        due = []
        for camera_id, runner in self.runners.items():
            frame = runner.latest(after_index=self._last_index.get(camera_id))
            if frame is None:
                continue
            if not self._samplers[camera_id].take(frame.ts):
                continue
            self._last_index[camera_id] = frame.index
            due.append(frame)
        if not due:
            return 0
        for frame, (_, observations) in zip(due, self.analyzer.analyze(due)):
            for obs in observations:
                self.publish(Topic.OBSERVATIONS, obs.as_message())
            jpeg = to_jpeg(annotate(frame.image, observations, label=frame.camera_id), self.jpeg_quality)
            with self._lock:
                self._jpeg[frame.camera_id] = jpeg
            if self.evidence is not None:  # buffered before the models see the frame it shows
                try:
                    self.evidence.add(frame.camera_id, frame.ts, jpeg)
                except Exception:  # evidence must never stop detection
                    log.exception("evidence buffer of %s failed", frame.camera_id)
            self.publish(Topic.FRAMES, frame_message(frame.camera_id, frame.ts, observations))
            self._observations += len(observations)
        self._frames += len(due)
        self._batches += 1
        return len(due)

    def run(self, stop: threading.Event, idle_sleep_s: float = 0.005) -> None:
        """Loop until ``stop`` is set."""
        while not stop.is_set():
            try:
                if self.step() == 0:
                    stop.wait(idle_sleep_s)
            except Exception:  # a failing batch must not end the worker
                log.exception("frame analysis failed; continuing")
                stop.wait(0.5)

    def latest_jpeg(self, camera_id: str) -> bytes | None:
        """The newest annotated frame of a camera (for the wall's video tiles)."""
        with self._lock:
            return self._jpeg.get(camera_id)

    def statuses(self) -> dict[str, CameraStatus]:
        return {camera_id: runner.status() for camera_id, runner in self.runners.items()}

    def stats(self) -> dict:
        elapsed = time.monotonic() - self._started
        stats = {
            "frames": self._frames,
            "observations": self._observations,
            "batches": self._batches,
            "seconds": round(elapsed, 2),
            "fps": round(self._frames / elapsed, 2) if elapsed > 0 else 0.0,
        }
        if self.analyzer.drones:  # frames of drone cameras located, and those without a pose
            stats["drones"] = {cid: d.stats() for cid, d in self.analyzer.drones.items()}
        return stats

    def close(self) -> None:
        for subscription in self._subscriptions:
            subscription.cancel()
        for runner in self.runners.values():
            runner.stop()
        self.detector.close()
