"""The video path end to end: real footage, simulated scenes with truth, the worker, the CLI.

- the real highway clip through the motion backend: moving tracks with stable ids, no stop;
- a worker with a good, a missing and a corrupt camera: the good one keeps publishing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from tests.conftest import SHARED

HIGHWAY = SHARED / "data" / "video" / "highway_720p_24fps.mp4"
ZHIZHI = str(Path(sys.executable).parent / "zhizhi")


def _run_jsonl(*args: str, tmp_path: Path) -> list[dict]:
    env = {**os.environ, "ZHIZHI_DATA_DIR": str(tmp_path), "YOLO_CONFIG_DIR": str(tmp_path / "yolo")}
    result = subprocess.run(
        [ZHIZHI, *args], capture_output=True, text=True, env=env, timeout=900, check=False, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def _iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_real_highway_clip_through_motion_backend(tmp_path):
    camera = tmp_path / "camera.json"
    camera.write_text(json.dumps({"id": "HWY-1", "source": {"url": str(HIGHWAY)}, "analysis_fps": 24}))
    lines = _run_jsonl(
        "analyze", str(HIGHWAY), "--camera-config", str(camera), "--detector", "motion", "--jsonl", tmp_path=tmp_path
    )
    summary = lines[-1]
    observations = [m for m in lines if m["type"] == "observation"]
    assert summary["type"] == "summary" and summary["frames"] == 161
    assert summary["observations"] == len(observations) > 100
    keys = ["type", "camera_id", "ts", "track_id", "cls", "conf", "bbox", "lon", "lat", "speed_kmh", "heading_deg"]
    assert all(list(o) == keys for o in observations)  # the line's contract, in this order
    tracks: dict[int, list[dict]] = defaultdict(list)
    for obs in observations:
        tracks[obs["track_id"]].append(obs)
    long_tracks = {t: obs for t, obs in tracks.items() if len(obs) >= 20}
    assert len(long_tracks) >= 3, {t: len(o) for t, o in tracks.items()}
    for obs in long_tracks.values():
        centres = np.array([((o["bbox"][0] + o["bbox"][2]) / 2, (o["bbox"][1] + o["bbox"][3]) / 2) for o in obs])
        travelled = np.hypot(*(centres[-1] - centres[0]))
        assert travelled > 40, f"a long track barely moved ({travelled:.0f} px): a stopped vehicle?"
        timestamps = [o["ts"] for o in obs]
        assert timestamps == sorted(timestamps)


def test_worker_keeps_going_when_cameras_fail(tmp_path):
    import cv2

    from zhizhi.bus import InProcessBus, Topic
    from zhizhi.video.camera_config import CameraConfig, SourceConfig
    from zhizhi.video.detectors import make_detector
    from zhizhi.video.worker import Worker

    good = tmp_path / "good.mp4"
    writer = cv2.VideoWriter(str(good), cv2.VideoWriter_fourcc(*"mp4v"), 20.0, (320, 240))
    for i in range(60):
        image = np.full((240, 320, 3), 90, np.uint8)
        cv2.rectangle(image, (10 + 4 * i, 100), (50 + 4 * i, 130), (240, 240, 240), -1)
        writer.write(image)
    writer.release()
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(4096))
    cameras = [
        CameraConfig(id="good", source=SourceConfig(url=str(good), loop=True), analysis_fps=20),
        CameraConfig(id="missing", source=SourceConfig(url=str(tmp_path / "nope.mp4"))),
        CameraConfig(id="corrupt", source=SourceConfig(url=str(corrupt))),
    ]
    bus = InProcessBus()
    observations, statuses = [], []
    bus.subscribe(Topic.FRAMES, lambda batch: observations.extend(batch.rows()))
    bus.subscribe(Topic.CAMERA_STATUS, statuses.append)
    worker = Worker(
        cameras, make_detector("motion"), bus.publish, runner_options={"backoff_initial_s": 0.1, "backoff_max_s": 0.5}
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        def failed(camera_id: str) -> bool:  # the broken cameras have told why, too
            return any(s.error for s in list(statuses) if s.camera_id == camera_id)

        while time.monotonic() < deadline and not (
            observations and worker.latest_jpeg("good") and failed("missing") and failed("corrupt")
        ):
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=10)
        worker.close()
    assert observations and all(o["camera_id"] == "good" for o in observations)
    assert worker.latest_jpeg("good").startswith(b"\xff\xd8")
    errors = {s.camera_id: s.error for s in statuses if s.error}
    assert "not found" in errors["missing"]
    assert errors["corrupt"]
    assert worker.latest_jpeg("missing") is None
