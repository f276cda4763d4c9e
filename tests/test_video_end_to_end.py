"""The video path end to end: real footage, simulated scenes with truth, the worker, the CLI.

- the real highway clip through the motion backend: moving tracks with stable ids, no stop;
- a simulated hazmat-stop scene through the shipped detector: the tanker is found (recall
  against truth), geolocated within 3 m, its speed within 10 %, its stop seen as a stop;
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
import pytest

from gis.metric import geodesic_distance_m
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
    lines = _run_jsonl("analyze", str(HIGHWAY), "--camera-config", str(camera), "--detector", "motion", "--jsonl", tmp_path=tmp_path)
    summary = lines[-1]
    observations = [m for m in lines if m["type"] == "observation"]
    assert summary["type"] == "summary" and summary["frames"] == 161
    assert summary["observations"] == len(observations) > 100
    for key in ("camera_id", "ts", "track_id", "cls", "conf", "bbox", "lon", "lat", "speed_kmh", "heading_deg"):
        assert key in observations[0]
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


@pytest.fixture(scope="module")
def hazmat_stop(tmp_path_factory):
    """A simulated hazmat-stop scene analysed by the shipped detector through the CLI."""
    out = tmp_path_factory.mktemp("hazmat-stop")
    _run_jsonl("simulate", "--scenario", "hazmat-stop", "--seed", "4242", "--out", str(out), tmp_path=out)
    lines = _run_jsonl(
        "analyze", str(out / "clip.mp4"), "--camera-config", str(out / "camera.json"), "--jsonl", tmp_path=out
    )
    truth = [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]
    fps = json.loads((out / "camera.json").read_text()).get("analysis_fps")
    return out, lines, truth, fps


def _tanker_matches(lines, truth):
    """Per analysed frame with a clearly visible tanker in truth: the matching observation or None."""
    by_frame: dict[float, list[dict]] = defaultdict(list)
    for obs in lines:
        if obs["type"] == "observation":
            by_frame[round(obs["ts"], 3)].append(obs)
    analysed = sorted(by_frame) if by_frame else []
    matches = []
    for record in truth:
        ts = round(record["ts"], 3)
        if ts not in by_frame and analysed and not (analysed[0] <= ts <= analysed[-1]):
            continue
        for obj in record["objects"]:
            if obj["cls"] != "hazmat_tanker" or obj["visible"] < 0.9:
                continue
            _, y1, _, y2 = obj["bbox"]
            if (y2 - y1) < 24:  # too far away to ask for
                continue
            if ts not in by_frame and ts not in set(analysed):
                continue
            best = max(
                (o for o in by_frame[ts] if o["cls"] == "hazmat_tanker"),
                key=lambda o: _iou(o["bbox"], obj["bbox"]),
                default=None,
            )
            hit = best if best is not None and _iou(best["bbox"], obj["bbox"]) >= 0.5 else None
            matches.append((obj, hit))
    return matches


def test_shipped_detector_finds_the_tanker(hazmat_stop):
    _, lines, truth, _ = hazmat_stop
    matches = _tanker_matches(lines, truth)
    assert len(matches) >= 50, "the scene should show the tanker in many analysed frames"
    recall = sum(hit is not None for _, hit in matches) / len(matches)
    assert recall >= 0.9, f"tanker recall {recall:.2f}"


def test_tanker_geolocated_within_3_m_and_speed_within_10_percent(hazmat_stop):
    _, lines, truth, _ = hazmat_stop
    matches = [(obj, hit) for obj, hit in _tanker_matches(lines, truth) if hit is not None and hit["lon"] is not None]
    errors = geodesic_distance_m(
        [h["lon"] for _, h in matches], [h["lat"] for _, h in matches],
        [o["lon"] for o, _ in matches], [o["lat"] for o, _ in matches],
    )
    assert np.median(errors) <= 3.0 and np.percentile(errors, 90) <= 3.0, (np.median(errors), np.percentile(errors, 90))
    moving = [(o, h) for o, h in matches if o["speed_kmh"] > 20 and h["speed_kmh"] is not None]
    assert len(moving) >= 10
    speed_errors = np.array([abs(h["speed_kmh"] - o["speed_kmh"]) / o["speed_kmh"] for o, h in moving])
    assert np.median(speed_errors) <= 0.10 and np.percentile(speed_errors, 80) <= 0.10, speed_errors
    stopped = [h for o, h in matches if o["stopped"] and h["speed_kmh"] is not None]
    assert len(stopped) >= 20 and np.median([h["speed_kmh"] for h in stopped]) < 3.0


def test_worker_keeps_going_when_cameras_fail(tmp_path):
    import cv2

    from alerts.bus import InProcessBus, Topic
    from video.camera_config import CameraConfig, SourceConfig
    from video.detectors import make_detector
    from video.worker import Worker

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
    bus.subscribe(Topic.OBSERVATIONS, observations.append)
    bus.subscribe(Topic.CAMERA_STATUS, statuses.append)
    worker = Worker(cameras, make_detector("motion"), bus.publish, runner_options={"backoff_initial_s": 0.1, "backoff_max_s": 0.5})
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (observations and worker.latest_jpeg("good")):
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=10)
        worker.close()
    assert observations and all(o["camera_id"] == "good" for o in observations)
    assert worker.latest_jpeg("good").startswith(b"\xff\xd8")
    errors = {s["camera_id"]: s["error"] for s in statuses if s.get("error")}
    assert "not found" in errors["missing"]
    assert errors["corrupt"]
    assert worker.latest_jpeg("missing") is None
