"""A worker whose cameras change while it runs (camera leases).

- an empty worker idles, then runs the cameras it is given;
- ``set_cameras`` adds and removes cameras while ``run()`` loops in another thread: the removed
  camera's thread ends, its frames stop (and it is not reported offline: it was handed over),
  the added camera's frames appear, and everything of the removed camera is forgotten;
- a camera removed and added again runs again; add/remove one at a time; bad input refused;
- many quick changes while it runs raise nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Self

import numpy as np
import pytest

from tests.clip_support import write_crossing_clip
from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages import CameraStatus
from zhizhi.video.camera_config import CameraConfig, SourceConfig
from zhizhi.video.detectors import make_detector
from zhizhi.video.worker import Worker


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Three seconds at 10 fps, 320x180: a bright box crossing a grey road."""
    return write_crossing_clip(tmp_path_factory.mktemp("clip") / "road.mp4", frames=30, step=6)


def camera(camera_id: str, clip: Path, **extra) -> CameraConfig:
    options = {"analysis_fps": 10.0, **extra}
    return CameraConfig(id=camera_id, source=SourceConfig(url=str(clip), loop=True), **options)


class Recorder:
    """What the worker published, with the time each message arrived."""

    def __init__(self) -> None:
        self.bus = InProcessBus()
        self.lock = threading.Lock()
        self.frames: list[tuple[float, str]] = []
        self.statuses: list[tuple[float, CameraStatus]] = []
        self.bus.subscribe(Topic.FRAMES, self._frame)
        self.bus.subscribe(Topic.CAMERA_STATUS, self._status)

    def _frame(self, message: dict) -> None:
        with self.lock:
            self.frames.append((time.monotonic(), message.camera_id))

    def _status(self, message: CameraStatus) -> None:
        with self.lock:
            self.statuses.append((time.monotonic(), message))

    def frames_of(self, camera_id: str, since: float = 0.0) -> int:
        with self.lock:
            return sum(1 for t, c in self.frames if c == camera_id and t >= since)

    def statuses_of(self, camera_id: str, since: float = 0.0) -> list[CameraStatus]:
        with self.lock:
            return [m for t, m in self.statuses if m.camera_id == camera_id and t >= since]

    def wait_frames(self, camera_id: str, n: int = 3, since: float = 0.0, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.frames_of(camera_id, since) >= n:
                return True
            time.sleep(0.05)
        return False


class Running:
    """A worker looping in its own thread; failures of the loop are collected."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.stop = threading.Event()
        self.thread = threading.Thread(target=worker.run, args=(self.stop,), name="test-worker")

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.worker.close()
        assert not self.thread.is_alive()


def _worker(cameras, recorder: Recorder, **options) -> Worker:
    return Worker(cameras, make_detector("motion", warmup_frames=3), recorder.bus.publish, **options)


@pytest.fixture
def loop_failures(caplog):
    caplog.set_level(logging.ERROR, logger="video")
    yield caplog
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, [r.getMessage() for r in failures]


def test_empty_worker_idles_until_cameras_arrive(clip, loop_failures):
    recorder = Recorder()
    worker = _worker([], recorder)
    assert worker.camera_ids == [] and worker.cameras == [] and worker.statuses() == {}
    stats = worker.stats()
    assert stats["cameras"] == 0 and stats["analysed_min"] is None and stats["per_camera"] == {}
    with Running(worker):
        time.sleep(0.5)
        assert worker.stats()["frames"] == 0 and worker.step() == 0
        change = worker.set_cameras([camera("A", clip)])
        assert change.added == ["A"] and change.removed == []
        assert worker.camera_ids == ["A"]
        assert recorder.wait_frames("A", 5)
        assert worker.latest_jpeg("A").startswith(b"\xff\xd8")
        assert worker.stats()["per_camera"]["A"]["analysed"] >= 5


def test_cameras_change_while_the_worker_runs(clip, loop_failures):
    recorder = Recorder()
    worker = _worker([camera("A", clip), camera("B", clip)], recorder)
    with Running(worker):
        assert recorder.wait_frames("A") and recorder.wait_frames("B")
        old_a = worker.runners["A"]
        assert old_a.alive and "A" in worker.analyzer.cameras and "A" in worker.detector._cameras
        change = worker.set_cameras([camera("B", clip), camera("C", clip)])
        removed_at = time.monotonic()
        assert change.added == ["C"] and change.removed == ["A"]
        assert worker.camera_ids == ["B", "C"] and set(worker.statuses()) == {"B", "C"}
        assert not old_a.alive, "the removed camera's reading thread still runs"
        assert recorder.wait_frames("C", 5)
        b_before = recorder.frames_of("B")
        assert recorder.wait_frames("B", b_before + 3)  # B went on undisturbed
        time.sleep(0.5)
        assert recorder.frames_of("A", since=removed_at) == 0, "frames of a removed camera were published"
        assert recorder.statuses_of("A", since=removed_at) == [], "a handed-over camera was reported"
        # Everything of A is forgotten: JPEG, counters, geolocation and detector state.
        assert worker.latest_jpeg("A") is None
        assert set(worker.stats()["per_camera"]) == {"B", "C"}
        assert "A" not in worker.analyzer.cameras and "A" not in worker.detector._cameras
        assert "A" not in worker.detector.trackers
    assert [m.state for m in recorder.statuses_of("C")][-1] == "offline"  # close(): the worker ends
    assert recorder.statuses_of("A", since=removed_at) == []


def test_a_camera_can_come_back(clip, loop_failures):
    recorder = Recorder()
    worker = _worker([camera("A", clip)], recorder)
    with Running(worker):
        assert recorder.wait_frames("A")
        assert worker.add_camera(camera("A", clip)) is False  # the same config: nothing to do
        assert worker.remove_camera("A") is True and worker.remove_camera("A") is False
        assert worker.camera_ids == [] and worker.latest_jpeg("A") is None
        gone_at = time.monotonic()
        time.sleep(0.3)
        assert recorder.frames_of("A", since=gone_at) == 0
        back_at = time.monotonic()  # before: the new runner may report online before add_camera returns
        assert worker.add_camera(camera("A", clip)) is True
        assert recorder.wait_frames("A", 5, since=back_at), "a re-added camera was not analysed"
        assert worker.stats()["per_camera"]["A"]["analysed"] >= 5
        assert [m.state for m in recorder.statuses_of("A", since=back_at)][:1] == ["online"]
        # A changed config restarts the camera.
        old = worker.runners["A"]
        assert worker.add_camera(camera("A", clip, analysis_fps=5)) is True
        assert worker.runners["A"] is not old and not old.alive
        assert worker.cameras[0].analysis_fps == 5
        assert recorder.wait_frames("A", 3, since=time.monotonic())


def test_bad_camera_sets_are_refused(clip):
    recorder = Recorder()
    worker = _worker([camera("A", clip)], recorder)
    try:
        with pytest.raises(ValueError, match="duplicate"):
            worker.set_cameras([camera("B", clip), camera("B", clip)])
        assert worker.camera_ids == ["A"]
        with pytest.raises(ValueError):
            Worker([], make_detector("motion"), recorder.bus.publish, max_batch=0)
    finally:
        worker.close()
    with pytest.raises(RuntimeError, match="closed"):
        worker.set_cameras([camera("A", clip)])


def test_many_quick_changes_while_running(clip, loop_failures):
    recorder = Recorder()
    ids = [f"C{i}" for i in range(6)]
    worker = _worker([], recorder, max_batch=3)
    rng = np.random.default_rng(7)
    with Running(worker) as running:
        runners = []
        for _ in range(25):
            chosen = [cid for cid in ids if rng.random() < 0.5]
            worker.set_cameras([camera(cid, clip) for cid in chosen])
            assert sorted(worker.camera_ids) == chosen
            runners.extend(worker.runners.values())
            time.sleep(float(rng.uniform(0.0, 0.15)))
        worker.set_cameras([camera("C0", clip)])
        settled_at = time.monotonic()
        assert recorder.wait_frames("C0", 3, since=settled_at)
        time.sleep(0.3)
        assert {c for t, c in recorder.frames if t >= settled_at} == {"C0"}
        assert running.thread.is_alive()
    assert not any(r.alive for r in runners)


class _BusyDetector:
    """The motion detector behind 40 ms of BLAS work per frame, which releases the GIL as PyTorch's
    inference does: the worker loop is always busy and holds its lock through each step."""

    def __init__(self) -> None:
        self.inner = make_detector("motion")
        self.work = np.random.default_rng(0).random((300, 300))

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def update(self, pairs, **kw):
        deadline = time.monotonic() + 0.04 * len(pairs)
        while time.monotonic() < deadline:
            np.linalg.svd(self.work)
        return self.inner.update(pairs, **kw)


def test_a_busy_worker_lets_a_status_view_in_after_the_current_step(clip):
    """``stats()`` (``/metrics``, the status pages) waits for at most the step in progress, not for
    a run of steps the loop takes back to back (video/step_lock.py)."""
    cameras = [camera(f"CAM-B{i}", clip, analysis_fps=25.0) for i in range(4)]
    worker = Worker(cameras, _BusyDetector(), lambda topic, message: None, max_batch=4)
    stop = threading.Event()
    loop = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    loop.start()
    try:
        deadline = time.monotonic() + 20
        while worker._batches < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        steps_waited = []
        for _ in range(20):
            before = worker._batches  # read without the lock, as a caller would see time pass
            steps_waited.append(worker.stats()["batches"] - before)
            time.sleep(0.01)
    finally:
        stop.set()
        loop.join(timeout=10)
        worker.close()
    assert max(steps_waited) <= 1, steps_waited  # before: 2, 3 or more steps now and then
