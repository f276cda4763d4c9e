"""A running worker follows the camera registry: a camera added with a stream starts, a disabled
one stops, a changed one restarts, without restarting the worker.

Real parts: the registry on SQLite, the in-process bus carrying ``CamerasChanged``, the worker
with the motion detector reading a generated clip as each camera's stream.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.clip_support import write_crossing_clip
from tests.redis_support import wait_until
from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages import CamerasChanged
from zhizhi.layers import make_engine
from zhizhi.layers.camera_registry import CameraInput, CameraRegistry
from zhizhi.video.detectors import make_detector
from zhizhi.video.registry_feed import RegistryFeed, camera_config, worker_configs
from zhizhi.video.worker import Worker

GRID = "320612001001001"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Two seconds at 10 fps, 320x180: a bright box crossing a grey road."""
    return write_crossing_clip(tmp_path_factory.mktemp("clip") / "road.mp4")


def camera(camera_id: str, stream: str | None, **extra) -> CameraInput:
    return CameraInput(id=camera_id, lon=120.9 + len(camera_id) * 1e-4, lat=32.0, heading_deg=90, hfov_deg=60,
                       range_m=100, stream_main=stream, analysis_fps=10, **extra)


@pytest.fixture
def running(tmp_path):
    """A registry, a bus and a worker running in its thread, fed by the registry."""
    registry = CameraRegistry(make_engine(f"sqlite:///{tmp_path / 'cams.db'}"))
    bus = InProcessBus()
    frames: dict[str, int] = {}
    lock = threading.Lock()

    def on_frame(batch) -> None:
        with lock:
            frames[batch.camera_id] = frames.get(batch.camera_id, 0) + 1

    bus.subscribe(Topic.FRAMES, on_frame)
    worker = Worker([], make_detector("motion"), bus.publish, subscribe=bus.subscribe)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    # interval 0: no polling, so every change below reaches the worker through the bus message
    feed = RegistryFeed(registry, worker.set_cameras, subscribe=bus.subscribe, interval_s=0).start()

    def announce(action: str, *ids: str) -> None:
        bus.publish(Topic.CAMERAS, CamerasChanged(action=action, ids=ids))

    def seen(camera_id: str) -> int:
        with lock:
            return frames.get(camera_id, 0)

    yield registry, worker, announce, seen, feed
    feed.stop()
    stop.set()
    thread.join(5)
    worker.close()
    bus.stop()


def test_a_running_worker_picks_up_an_added_camera_and_drops_a_disabled_one(running, clip):
    registry, worker, announce, seen, feed = running
    registry.add(camera("REG-A", str(clip)).record(GRID))
    registry.add(camera("REG-NOSTREAM", None).record(GRID))  # not analysed: no stream
    announce("added", "REG-A", "REG-NOSTREAM")
    assert wait_until(lambda: seen("REG-A") >= 3, timeout=15)
    assert worker.camera_ids == ["REG-A"]

    registry.add(camera("REG-B", str(clip)).record(GRID))
    announce("added", "REG-B")
    assert wait_until(lambda: seen("REG-B") >= 3, timeout=15)
    runner_a = worker.runners["REG-A"]

    disabled = registry.get("REG-A").model_copy(update={"enabled": False})
    registry.replace(disabled)
    announce("updated", "REG-A")
    assert wait_until(lambda: worker.camera_ids == ["REG-B"], timeout=10)
    assert runner_a.join(5)  # its reading thread has ended
    count = seen("REG-A")
    after_b = seen("REG-B")
    assert wait_until(lambda: seen("REG-B") >= after_b + 3, timeout=15)
    assert seen("REG-A") == count  # no frame of the disabled camera any more

    # a changed analysis rate restarts just that camera; removing it stops it
    runner_b = worker.runners["REG-B"]
    registry.replace(registry.get("REG-B").model_copy(update={"analysis_fps": 4.0}))
    announce("updated", "REG-B")
    assert wait_until(lambda: worker.runners.get("REG-B") not in (None, runner_b), timeout=10)
    assert worker.cameras[0].analysis_fps == 4.0
    registry.delete("REG-B")
    announce("removed", "REG-B")
    assert wait_until(lambda: worker.camera_ids == [], timeout=10)
    assert feed.changes == 6  # one apply each: the start (no camera), +A, +B, -A, B changed, -B


def test_without_a_bus_message_the_poll_finds_the_change(tmp_path, clip):
    registry = CameraRegistry(make_engine(f"sqlite:///{tmp_path / 'cams.db'}"))
    applied: list[list[str]] = []
    feed = RegistryFeed(registry, lambda configs: applied.append([c.id for c in configs]), interval_s=0.05).start()
    try:
        registry.add(camera("REG-POLL", str(clip)).record(GRID))
        assert wait_until(lambda: applied[-1] == ["REG-POLL"], timeout=5)
        registry.delete("REG-POLL")
        assert wait_until(lambda: applied[-1] == [], timeout=5)
    finally:
        feed.stop()
    assert applied == [[], ["REG-POLL"], []]


def test_a_registry_camera_becomes_the_config_a_worker_runs(clip):
    zone = {"name": "校门", "kind": "school", "polygon": [[120.9, 32.0], [120.901, 32.0], [120.901, 32.001]]}
    record = camera("REG-CFG", str(clip), masks=[[[0, 0], [40, 0], [40, 30]]], zones=[zone]).record(GRID)
    config = camera_config(record)
    assert (config.id, config.analysis_fps, config.source.url, config.source.loop) == ("REG-CFG", 10, str(clip), True)
    assert config.masks == [[(0, 0), (40, 0), (40, 30)]] and config.zones[0].kind == "school"
    rtsp = camera_config(record.model_copy(update={"stream_main": "rtsp://u:p@10.0.0.1/ch1"}))
    assert rtsp.source.resolved_kind == "rtsp" and not rtsp.source.loop
    drone = camera_config(record.model_copy(update={"kind": "drone"}))
    assert drone.drone is not None and drone.drone.drone_id == "REG-CFG"
    assert worker_configs([record.model_copy(update={"enabled": False}), record]) == [config]
