"""``zhizhi worker``'s runtime: bus, recorder, worker, leases, frames started in order, stopped in reverse."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.clip_support import write_crossing_clip
from zhizhi.console.settings import BusSettings, Settings
from zhizhi.console.worker_runtime import WorkerRuntime
from zhizhi.video.camera_config import CameraConfig, SourceConfig
from zhizhi.video.detectors import make_detector


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Two seconds at 10 fps, 320x180: a bright box crossing a grey road."""
    return write_crossing_clip(tmp_path_factory.mktemp("clip") / "road.mp4")


def _cameras(clip: Path) -> list[CameraConfig]:
    return [CameraConfig(id="c1", source=SourceConfig(url=str(clip), loop=True), analysis_fps=10.0)]


def _steps(runtime: WorkerRuntime, action: str) -> list[str]:
    return [step for done, step in runtime.history if done == action]


def test_in_process_the_worker_runs_every_camera_and_stops_in_reverse(clip, tmp_path):
    runtime = WorkerRuntime(Settings(data_dir=tmp_path), _cameras(clip), make_detector("motion")).start()
    assert _steps(runtime, "start") == list(WorkerRuntime.STEPS)
    assert runtime.worker.camera_ids == ["c1"] and not runtime.shared
    assert (runtime.recorder, runtime.leases, runtime.frames) == (None, None, None)
    stop = threading.Event()
    thread = threading.Thread(target=runtime.worker.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 20
    while runtime.worker.latest_jpeg("c1") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    runtime.stop()
    runtime.stop()
    assert _steps(runtime, "stop") == list(reversed(WorkerRuntime.STEPS))


def test_on_a_shared_bus_the_worker_holds_leases_and_hands_them_back(clip, tmp_path, redis_server):
    settings = Settings(data_dir=tmp_path, bus=BusSettings(url=redis_server.url, node="w-test", lease_ttl_s=3))
    with WorkerRuntime(settings, _cameras(clip), make_detector("motion")) as runtime:
        assert runtime.shared and None not in (runtime.recorder, runtime.leases, runtime.frames)
        deadline = time.monotonic() + 10
        while runtime.worker.camera_ids != ["c1"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runtime.worker.camera_ids == ["c1"]  # the only worker holds the only camera
    assert _steps(runtime, "stop") == list(reversed(WorkerRuntime.STEPS))
    assert not redis_server.client().exists("zhizhi:worker:w-test")  # released, not left to expire


def test_a_failing_step_stops_the_ones_started(clip, tmp_path, monkeypatch):
    def broken(self) -> None:
        raise RuntimeError("no leases")

    monkeypatch.setattr(WorkerRuntime, "start_leases", broken)
    runtime = WorkerRuntime(Settings(data_dir=tmp_path), _cameras(clip), make_detector("motion"))
    with pytest.raises(RuntimeError, match="no leases"):
        runtime.start()
    assert _steps(runtime, "stop") == ["leases", "worker", "recorder", "bus"]


def test_the_worker_command(clip, tmp_path, monkeypatch):
    from zhizhi.console.cli import app

    monkeypatch.chdir(tmp_path)
    cameras = tmp_path / "cameras.json"
    cameras.write_text(json.dumps({"cameras": [c.model_dump(mode="json") for c in _cameras(clip)]}))
    result = CliRunner().invoke(app, ["worker", "--cameras", str(cameras), "--detector", "motion",
                                      "--seconds", "3", "--jsonl"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["type"] == "summary"


# --- cameras from the camera registry ---------------------------------------------------------


def _registry(settings: Settings):
    from zhizhi.layers import make_engine
    from zhizhi.layers.camera_registry import CameraRegistry

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return CameraRegistry(make_engine(settings.resolved_database_url))


def _registry_camera(camera_id: str, clip: Path):
    from zhizhi.layers.camera_registry import CameraInput

    return CameraInput(id=camera_id, lon=120.9, lat=32.0, heading_deg=0, hfov_deg=60, range_m=100,
                       stream_main=str(clip), analysis_fps=10).record("320612001001001")


def _announce(runtime: WorkerRuntime, action: str, camera_id: str) -> None:
    from zhizhi.bus import Topic
    from zhizhi.bus.messages import CamerasChanged

    runtime.bus.publish(Topic.CAMERAS, CamerasChanged(action=action, ids=(camera_id,)))


def _wait(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_without_a_file_the_worker_runs_the_registrys_cameras_and_follows_them(clip, tmp_path):
    settings = Settings(data_dir=tmp_path)
    registry = _registry(settings)
    registry.add(_registry_camera("r1", clip))
    with WorkerRuntime(settings, None, make_detector("motion")) as runtime:
        assert _steps(runtime, "start") == list(WorkerRuntime.STEPS) and runtime.feed is not None
        assert runtime.worker.camera_ids == ["r1"]
        registry.add(_registry_camera("r2", clip))
        _announce(runtime, "added", "r2")
        assert _wait(lambda: runtime.worker.camera_ids == ["r1", "r2"])
        registry.replace(registry.get("r1").model_copy(update={"enabled": False}))
        _announce(runtime, "updated", "r1")
        assert _wait(lambda: runtime.worker.camera_ids == ["r2"])
    assert _steps(runtime, "stop") == list(reversed(WorkerRuntime.STEPS))


def test_registry_cameras_are_shared_by_lease_and_follow_the_registry(clip, tmp_path, redis_server):
    settings = Settings(data_dir=tmp_path, bus=BusSettings(url=redis_server.url, node="w-reg", lease_ttl_s=1.5))
    registry = _registry(settings)
    registry.add(_registry_camera("r1", clip))
    with WorkerRuntime(settings, None, make_detector("motion")) as runtime:
        assert _wait(lambda: runtime.worker.camera_ids == ["r1"])  # the only worker takes the only camera
        registry.add(_registry_camera("r2", clip))
        _announce(runtime, "added", "r2")
        assert _wait(lambda: runtime.worker.camera_ids == ["r1", "r2"])
        registry.delete("r1")
        _announce(runtime, "removed", "r1")
        assert _wait(lambda: runtime.worker.camera_ids == ["r2"])
        assert _wait(lambda: not redis_server.client().exists("zhizhi:lease:r1"))  # handed back
