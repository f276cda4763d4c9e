"""The frame-analysis worker: its cameras' newest frames, analysed in batches, published.

Each camera's source runs in its own thread and keeps only its newest frame; the worker loop
takes, for every camera whose analysis time has come, that newest frame, runs one batched
detection over all of them, and publishes through ``publish(topic, message)`` (the bus) one
:class:`~zhizhi.bus.messages.frames.ObservationBatch` per analysed frame on ``Topic.FRAMES``
(also when it holds no objects: the warning models need those to see a condition end) — the
one message of that frame — and every camera-status change. A slow detector therefore drops
frames and never builds latency; a dead camera only changes its own status.

Pictures cost only where someone looks or something happens: the newest analysed frame of each
camera is kept, and annotated and encoded as JPEG when the wall asks for it
(:meth:`Worker.latest_jpeg`, once per frame however many screens ask). The evidence recorder
(:class:`~video.evidence.EvidenceRecorder`, when the worker has one) gets every frame's batch, and
its picture while the camera sees objects (and the frame after, which shows them gone); a camera
with nothing in view gives it a picture every ``idle_picture_s``. Encoding every frame of every
camera cost more than detecting on a quiet one (2.3 ms for a 1280x720 JPEG).

A worker with drone cameras (``CameraConfig.drone``) geolocates their frames through the
drones' poses: given ``subscribe`` (the bus's), it listens to ``Topic.DRONES`` itself; any
other feed may call :meth:`Worker.on_drone`.

Cameras change while it runs (camera leases: a worker gains cameras when another dies and loses
them when one joins): :meth:`Worker.set_cameras`, :meth:`Worker.add_camera` and
:meth:`Worker.remove_camera` start runners for new cameras and stop and forget removed ones
(sampler, pending frame, JPEG, counters, the analyzer's and detector's state of that camera).
They hold the same lock as :meth:`Worker.step`, so once they return no frame batch or status of
a removed camera is published by this worker. A removed camera is *not* reported
offline: it is handed over, not lost, and its new worker reports its status; only
:meth:`Worker.close` (the worker itself ending) reports its cameras offline. A worker may have
no cameras at all; it then idles until some arrive.

Bounded work under overload: the sampler of each camera marks a frame *due* at the camera's
analysis rate; a due frame waits in a one-frame slot per camera (so with the runner's own slot
at most two frames per camera are held, whatever the load). Each step analyses at most
``max_batch`` of the waiting cameras, those served longest ago first (round robin), so every
camera keeps being analysed, at a reduced rate when the worker is overloaded. A due frame that
a newer due frame replaces before it was analysed is *dropped*, never queued, and counted per
camera (:meth:`Worker.stats`).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from zhizhi.bus import Topic
from zhizhi.bus.messages.drones import DroneState
from zhizhi.video.annotate import annotate, to_jpeg
from zhizhi.video.camera_config import CameraConfig
from zhizhi.video.detectors import TrackingDetector
from zhizhi.video.evidence import EvidenceRecorder
from zhizhi.video.frames import Frame
from zhizhi.video.pipeline import FrameAnalyzer
from zhizhi.video.runner import Sampler, SourceRunner
from zhizhi.video.status import CameraStatus
from zhizhi.video.step_lock import StepLock
from zhizhi.video.timing import LatencyTally

log = logging.getLogger(__name__)
Publish = Callable[[str, Any], None]
Subscribe = Callable[[str, Callable[[dict], None]], Any]  # returns something with cancel()


class CameraChange(NamedTuple):
    """What :meth:`Worker.set_cameras` changed: ids started and ids stopped (a camera whose
    config changed is in both: it was restarted)."""

    added: list[str]
    removed: list[str]


class Worker:
    """Runs a changing set of cameras through one detector; see the module docs.

    ``max_batch``: the most frames analysed in one step (one detector call); ``stop_timeout_s``:
    how long removing cameras waits for their reading threads to end.
    """

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
        max_batch: int = 16,
        stop_timeout_s: float = 2.0,
        idle_picture_s: float = 1.0,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.publish = publish
        self.evidence = evidence
        self.jpeg_quality = jpeg_quality
        self.max_batch = max_batch
        self.stop_timeout_s = stop_timeout_s
        self.idle_picture_s = idle_picture_s
        self.runner_options = dict(runner_options or {})
        self.analyzer = FrameAnalyzer(detector, [])
        self.detector = detector
        self._subscribe = subscribe
        self._subscriptions: list[Any] = []
        # _cameras_lock: the camera set and everything per camera, held through a whole step; the
        # loop lets a waiting thread (a view, a camera change) in between steps (video/step_lock.py).
        # _status_lock: a status is checked against the camera set and published under it; it
        # is never taken while the cameras lock is held (a status handler may call back in).
        self._cameras_lock = StepLock()
        self._status_lock = threading.RLock()
        self._lock = threading.Lock()  # the newest frames and their JPEGs (read by the wall's threads)
        self._closed = False
        self._configs: dict[str, CameraConfig] = {}
        self.runners: dict[str, SourceRunner] = {}
        self._newest: dict[str, tuple[Frame, Any]] = {}  # the newest analysed frame and its batch
        self._jpeg: dict[str, tuple[int, bytes]] = {}  # the JPEG of a frame (by index), made on demand
        self._evidence_shown: dict[str, tuple[float, bool]] = {}  # last picture given: ts, had objects
        self._last_index: dict[str, int] = {}
        self._samplers: dict[str, Sampler] = {}
        self._pending: dict[str, Frame] = {}  # the newest due frame not analysed yet
        self._served: dict[str, int] = {}  # order of the camera's last analysis (-1: never)
        self._analysed: dict[str, int] = {}
        self._dropped: dict[str, int] = {}
        self._serial = itertools.count()
        self._frames = 0
        self._observations = 0
        self._batches = 0
        self._dropped_total = 0
        self._started = time.monotonic()
        #: how long each analysis step took (one detector call on its batch, tracking included)
        self.detect_latency = LatencyTally()
        self.set_cameras(cameras)

    # ----------------------------------------------------------------- cameras

    @property
    def camera_ids(self) -> list[str]:
        """The ids of the cameras this worker runs now, in the order they were added."""
        with self._cameras_lock:
            return list(self._configs)

    @property
    def cameras(self) -> list[CameraConfig]:
        """The configs of the cameras this worker runs now."""
        with self._cameras_lock:
            return list(self._configs.values())

    def config_of(self, camera_id: str) -> CameraConfig | None:
        """The configuration a camera of this worker runs with, if it runs here."""
        with self._cameras_lock:
            return self._configs.get(camera_id)

    def set_cameras(self, configs: Sequence[CameraConfig]) -> CameraChange:
        """Run exactly ``configs``: start new cameras, stop and forget the others (a camera whose
        config changed is restarted). Safe while :meth:`run` loops in another thread; waits up to
        ``stop_timeout_s`` for the removed cameras' threads to end."""
        configs = list(configs)
        ids = [c.id for c in configs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate camera ids: {sorted({i for i in ids if ids.count(i) > 1})}")
        wanted = dict(zip(ids, configs))
        with self._cameras_lock:
            self._check_open()
            removed = [cid for cid, c in self._configs.items() if wanted.get(cid) != c]
            stopped = [self._remove(cid) for cid in removed]
            added = [c.id for c in configs if c.id not in self._configs]
            for cid in added:
                self._add(wanted[cid])
            self._update_subscription()
        self._settle(stopped)
        return CameraChange(added, removed)

    def add_camera(self, config: CameraConfig) -> bool:
        """Start a camera (restarting it when its config changed); False when it already ran
        with this very config."""
        with self._cameras_lock:
            self._check_open()
            current = self._configs.get(config.id)
            if current == config:
                return False
            stopped = [self._remove(config.id)] if current is not None else []
            self._add(config)
            self._update_subscription()
        self._settle(stopped)
        return True

    def remove_camera(self, camera_id: str) -> bool:
        """Stop and forget a camera (not reported offline: see the module docs); False when this
        worker did not run it."""
        with self._cameras_lock:
            if camera_id not in self._configs:
                return False
            runner = self._remove(camera_id)
            self._update_subscription()
        self._settle([runner])
        return True

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the worker is closed")

    def _add(self, config: CameraConfig) -> None:
        cid = config.id
        runner = SourceRunner(config, **self.runner_options)
        runner.on_status = lambda status, runner=runner: self._on_status(runner, status)
        self._configs[cid] = config
        self._samplers[cid] = Sampler(config.analysis_fps)
        self._served[cid] = -1
        self._analysed[cid] = 0
        self._dropped[cid] = 0
        self.analyzer.add_camera(config)
        self.runners[cid] = runner
        runner.start()

    def _remove(self, camera_id: str) -> SourceRunner:
        """Forget a camera (under the cameras lock); its runner, asked to stop, is returned."""
        runner = self.runners.pop(camera_id)  # from now on its statuses are not published
        runner.stop(timeout=0)
        del self._configs[camera_id]
        for per_camera in (self._samplers, self._served, self._analysed, self._dropped):
            del per_camera[camera_id]
        self._pending.pop(camera_id, None)
        self._last_index.pop(camera_id, None)
        self._evidence_shown.pop(camera_id, None)
        with self._lock:
            self._jpeg.pop(camera_id, None)
            self._newest.pop(camera_id, None)
        self.analyzer.remove_camera(camera_id)
        return runner

    def _settle(self, stopped: Sequence[SourceRunner]) -> None:
        """After removing cameras (cameras lock released): wait for a status of theirs still
        being published, then for their threads."""
        if stopped:
            with self._status_lock:
                pass
            self._join(stopped)

    def _join(self, runners: Sequence[SourceRunner]) -> None:
        deadline = time.monotonic() + self.stop_timeout_s
        for runner in runners:
            if not runner.join(max(deadline - time.monotonic(), 0.0)):
                log.warning("camera %s: reading thread still running after removal", runner.camera_id)

    def _update_subscription(self) -> None:
        """Listen to drone poses while (and only while) a drone camera is run."""
        if self.analyzer.drones and not self._subscriptions and self._subscribe is not None:
            self._subscriptions.append(self._subscribe(Topic.DRONES, self.on_drone))
        elif not self.analyzer.drones and self._subscriptions:
            self._cancel_subscriptions()

    def _cancel_subscriptions(self) -> None:
        for subscription in self._subscriptions:
            try:
                subscription.cancel()
            except Exception:
                log.warning("cancelling a subscription failed", exc_info=True)
        self._subscriptions.clear()

    def on_drone(self, message: DroneState) -> None:
        """A drone pose (the ``drones`` topic's message) for geolocating drone cameras."""
        self.analyzer.poses.on_message(message)

    def _on_status(self, runner: SourceRunner, status: CameraStatus) -> None:
        with self._status_lock:
            if self.runners.get(runner.camera_id) is not runner:
                return  # a removed camera: handed over, its new worker reports it
            self.publish(Topic.CAMERA_STATUS, status)

    # -------------------------------------------------------------------- loop

    def _collect(self) -> None:
        """Offer every camera's newest frame to its sampler; a due frame waits in its slot."""
        for camera_id, runner in self.runners.items():
            frame = runner.latest(after_index=self._last_index.get(camera_id))
            if frame is None:
                continue
            self._last_index[camera_id] = frame.index
            if not self._samplers[camera_id].take(frame.ts):
                continue
            if camera_id in self._pending:  # the due frame before it was never analysed
                self._dropped[camera_id] += 1
                self._dropped_total += 1
            self._pending[camera_id] = frame

    def step(self) -> int:
        """Analyse up to ``max_batch`` due frames, the cameras served longest ago first; return
        how many were analysed."""
        with self._cameras_lock:
            self._collect()
            if not self._pending:
                return 0
            if len(self._pending) <= self.max_batch:
                chosen = list(self._pending)
            else:
                chosen = heapq.nsmallest(self.max_batch, self._pending, key=self._served.__getitem__)
            due = [self._pending.pop(camera_id) for camera_id in chosen]
            for camera_id in chosen:
                self._served[camera_id] = next(self._serial)
                self._analysed[camera_id] += 1
            self._analyse(due)
            return len(due)

    def _analyse(self, due: list[Frame]) -> None:
        started = time.perf_counter()
        batches = self.analyzer.analyze(due)
        self.detect_latency.observe(time.perf_counter() - started)
        for frame, batch in zip(due, batches):
            with self._lock:
                self._newest[frame.camera_id] = (frame, batch)
            if self.evidence is not None:  # buffered before the models see the frame it shows
                try:
                    self.evidence.add(frame.camera_id, frame.ts, self._evidence_picture(frame, batch), batch)
                except Exception:  # evidence must never stop detection
                    log.exception("evidence buffer of %s failed", frame.camera_id)
            self.publish(Topic.FRAMES, batch)
            self._observations += len(batch)
        self._frames += len(due)
        self._batches += 1

    def run(self, stop: threading.Event, idle_sleep_s: float = 0.005) -> None:
        """Loop until ``stop`` is set (idling while there is nothing due, or no camera)."""
        while not stop.is_set():
            try:
                if self.step() == 0:
                    stop.wait(idle_sleep_s)
                else:
                    self._cameras_lock.let_waiters_in()
            except Exception:  # a failing batch must not end the worker
                log.exception("frame analysis failed; continuing")
                stop.wait(0.5)

    # ------------------------------------------------------------------- views

    def _evidence_picture(self, frame: Frame, batch: Any) -> bytes | None:
        """The frame's JPEG for the evidence buffer, or None when the camera sees nothing and gave a
        picture less than ``idle_picture_s`` ago (see the module docs)."""
        seen = len(batch) > 0
        last = self._evidence_shown.get(frame.camera_id)
        if not seen and last is not None and not last[1] and frame.ts - last[0] < self.idle_picture_s:
            return None
        self._evidence_shown[frame.camera_id] = (frame.ts, seen)
        return self.latest_jpeg(frame.camera_id)

    def latest_jpeg(self, camera_id: str) -> bytes | None:
        """The newest analysed frame of a camera, annotated, as JPEG (for the wall's video tiles);
        encoded on the first call after each new frame."""
        with self._lock:
            newest = self._newest.get(camera_id)
            if newest is None:
                return None
            frame, batch = newest
            cached = self._jpeg.get(camera_id)
            if cached is not None and cached[0] == frame.index:
                return cached[1]
        jpeg = to_jpeg(annotate(frame.image, batch, label=camera_id), self.jpeg_quality)  # not under the lock
        with self._lock:
            cached = self._jpeg.get(camera_id)
            if camera_id in self._newest and (cached is None or cached[0] < frame.index):
                self._jpeg[camera_id] = (frame.index, jpeg)
        return jpeg

    def statuses(self) -> dict[str, CameraStatus]:
        with self._cameras_lock:
            runners = dict(self.runners)
        return {camera_id: runner.status() for camera_id, runner in runners.items()}

    def stats(self) -> dict:
        """Counters: ``frames`` analysed, ``dropped`` (due frames replaced before analysis, since
        the start, removed cameras included), ``analysed_min`` / ``analysed_max`` over the current
        cameras (None without cameras) and ``per_camera`` ``{id: {"analysed", "dropped"}}``."""
        with self._cameras_lock:
            elapsed = time.monotonic() - self._started
            stats = {
                "frames": self._frames,
                "observations": self._observations,
                "batches": self._batches,
                "seconds": round(elapsed, 2),
                "fps": round(self._frames / elapsed, 2) if elapsed > 0 else 0.0,
                "cameras": len(self._configs),
                "dropped": self._dropped_total,
                "analysed_min": min(self._analysed.values(), default=None),
                "analysed_max": max(self._analysed.values(), default=None),
                "per_camera": {
                    cid: {"analysed": self._analysed[cid], "dropped": self._dropped[cid]} for cid in self._configs
                },
            }
            if self.analyzer.drones:  # frames of drone cameras located, and those without a pose
                stats["drones"] = {cid: d.stats() for cid, d in self.analyzer.drones.items()}
            return stats

    def close(self) -> None:
        """Stop every camera (reported offline: this worker ends) and release the detector."""
        with self._cameras_lock:
            if self._closed:
                return
            self._closed = True
            self._cancel_subscriptions()
            runners = list(self.runners.values())
        for runner in runners:
            runner.stop(timeout=0)
        self._join(runners)
        self.detector.close()
