"""Frame-analysis throughput with 1, 2 and 4 ``zhizhi worker`` processes sharing cameras by lease.

A private ``redis-server`` on a free loopback port (:func:`console.cluster.ensure_redis` starts
one when nothing answers there), one simulated clip (``normal`` traffic, 640x360, 25 fps, 20 s)
and a camera file with ``cameras`` cameras on that clip, each a looping real-time file analysed
at the clip's own 25 fps: 8 cameras ask for 200 frames/s, more than the detector can do on a
CPU, so the figure is the detector's throughput, not the sources'.

For each worker count the workers are started together (``ZHIZHI_BUS__URL``,
``ZHIZHI_BUS__NODE``, ``ZHIZHI_BUS__PREFIX`` — a fresh key prefix per run, so no lease of the
previous run is left —, ``ZHIZHI_WORKER__CAMERAS_FILE``, ``ZHIZHI_DETECTOR__KIND``), and the
bench process subscribes to the ``frames`` topic on the bus. The steady window opens once every
camera has delivered frame batches and each worker has published (leases settled, models
loaded) plus a second, and closes when the first camera stops delivering (the first worker to
reach its ``--seconds``); frames/s is the count of frame batches received in that window over
its length. The workers' own exit summaries are kept too.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zhizhi.bench.surge import free_port
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.console.cluster import stop_process, zhizhi_command

CLIP_SIZE = (640, 360)
CLIP_FPS = 25.0
CLIP_S = 20.0


def start_redis() -> tuple[str, subprocess.Popen]:
    """A private ``redis-server`` on a free loopback port: (url, process)."""
    from zhizhi.console.cluster import ensure_redis

    url = f"redis://127.0.0.1:{free_port()}/0"
    process = ensure_redis(url)
    if process is None:  # cannot happen on a port just found free, unless someone raced us
        raise RuntimeError(f"something already answers at {url}")
    return url, process


def render_clip(folder: Path, scenario: str = "normal", seed: int = 11) -> Path:
    """Render the bench clip into ``folder``; returns its ``camera.json``."""
    from zhizhi.video.simulator import simulate

    simulate(scenario, seed, folder, duration_s=CLIP_S, fps=CLIP_FPS, width=CLIP_SIZE[0], height=CLIP_SIZE[1])
    return folder / "camera.json"


def write_cameras(camera_json: Path, clip: Path, count: int, out: Path, analysis_fps: float = CLIP_FPS) -> Path:
    """``count`` cameras on one clip (looping, real time), as a worker's camera file."""
    from zhizhi.video.camera_config import SourceConfig, load_camera_configs

    base = load_camera_configs(camera_json)[0]
    cameras = [
        base.model_copy(update={
            "id": f"BENCH-{i + 1:03d}", "name": f"bench camera {i + 1}",
            "source": SourceConfig(url=str(clip.resolve()), kind="file", loop=True, realtime=True),
            "analysis_fps": analysis_fps,
        }).model_dump(mode="json")
        for i in range(count)
    ]
    out.write_text(json.dumps({"cameras": cameras}), encoding="utf-8")
    return out


@dataclass
class FrameCounter:
    """Arrival times of frame batches on the bus, per camera."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    arrivals: list[tuple[float, str]] = field(default_factory=list)
    first: dict[str, float] = field(default_factory=dict)

    def __call__(self, batch: ObservationBatch) -> None:
        now = time.monotonic()
        camera = batch.camera_id
        with self.lock:
            self.arrivals.append((now, camera))
            self.first.setdefault(camera, now)


def worker_env(url: str, prefix: str, node: str, cameras_file: Path, detector: str, data_dir: Path) -> dict[str, str]:
    return {
        "ZHIZHI_DATA_DIR": str(data_dir),
        "ZHIZHI_BUS__URL": url,
        "ZHIZHI_BUS__NODE": node,
        "ZHIZHI_BUS__PREFIX": prefix,
        "ZHIZHI_WORKER__CAMERAS_FILE": str(cameras_file.resolve()),
        "ZHIZHI_DETECTOR__KIND": detector,
    }


def _run_workers(url: str, count: int, seconds: float, cameras_file: Path, cameras: int, detector: str,
                 folder: Path) -> dict[str, Any]:
    from zhizhi.bus import Topic
    from zhizhi.bus.redis_bus import RedisBus

    prefix = f"bench-w{count}-{os.getpid()}"
    counter = FrameCounter()
    bus = RedisBus(url, node=f"bench-{os.getpid()}", prefix=prefix)
    bus.subscribe(Topic.FRAMES, counter)
    procs, logs = [], []
    started = time.monotonic()
    try:
        for i in range(count):
            node = f"bench-worker-{i + 1}"
            log_path = folder / f"workers{count}-{node}.log"
            logs.append(log_path)
            with log_path.open("w") as log:
                procs.append(subprocess.Popen(
                    [*zhizhi_command(), "worker", "--seconds", str(seconds)],
                    env={**os.environ, **worker_env(url, prefix, node, cameras_file, detector, folder)},
                    stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True))
        outputs = []
        for proc in procs:
            out, _ = proc.communicate(timeout=seconds + 120)
            outputs.append(out)
        ended = time.monotonic()
    finally:
        for proc in procs:
            stop_process(proc)
        bus.stop()
    summaries = []
    for out in outputs:
        lines = [line for line in out.splitlines() if line.startswith('{"type": "summary"')]
        summaries.append(json.loads(lines[-1]) if lines else None)
    with counter.lock:
        arrivals = list(counter.arrivals)
        first = dict(counter.first)
    # The window: every camera seen, then one more second; it ends when the first camera stops
    # delivering (the first worker to reach its --seconds, counted from its own start-up).
    last: dict[str, float] = {}
    for t, cam in arrivals:
        last[cam] = t
    if len(first) < cameras:
        opened = None
    else:
        opened = max(first.values()) + 1.0
    close = min(last.values(), default=started + seconds)
    if opened is not None and close - opened < 2.0:
        opened = None
    frames = sum(1 for t, _ in arrivals if opened is not None and opened <= t < close)
    window = (close - opened) if opened is not None else None
    per_camera = defaultdict(int)
    for t, cam in arrivals:
        if opened is not None and opened <= t < close:
            per_camera[cam] += 1
    return {
        "workers": count,
        "fps": round(frames / window, 2) if window else None,
        "frames_in_window": frames,
        "window_s": round(window, 2) if window else None,
        "settle_s": round(opened - started, 2) if opened is not None else None,
        "cameras_seen": len(first),
        "per_camera_min": min(per_camera.values(), default=0),
        "per_camera_max": max(per_camera.values(), default=0),
        "frames_total": len(arrivals),
        "worker_fps": [s.get("fps") if s else None for s in summaries],
        "worker_frames": [s.get("frames") if s else None for s in summaries],
        "exit_codes": [p.returncode for p in procs],
        "wall_s": round(ended - started, 2),
    }


def run_workers_bench(seconds: float = 45.0, cameras: int = 8, detector: str = "ultralytics",
                      counts: tuple[int, ...] = (1, 2, 4)) -> dict[str, Any]:
    """Measure and return the figures (the ``zhizhi bench workers --json`` contract)."""
    with tempfile.TemporaryDirectory(prefix="zhizhi-bench-workers-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        camera_json = render_clip(folder / "clip")
        render_s = time.perf_counter() - start
        cameras_file = write_cameras(camera_json, folder / "clip" / "clip.mp4", cameras, folder / "cameras.json")
        url, redis_process = start_redis()
        try:
            runs = [_run_workers(url, n, seconds, cameras_file, cameras, detector, folder) for n in counts]
        finally:
            stop_process(redis_process)
    base = runs[0]["fps"]
    for run in runs:
        run["ratio_vs_1"] = round(run["fps"] / base, 2) if base and run["fps"] else None
    return {
        "detector": detector,
        "cameras": cameras,
        "clip": {"size": list(CLIP_SIZE), "fps": CLIP_FPS, "seconds": CLIP_S},
        "demand_fps": round(cameras * CLIP_FPS, 1),
        "seconds": seconds,
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "render_s": round(render_s, 1),
        "runs": runs,
        "fps": {str(r["workers"]): r["fps"] for r in runs},
        "ratio_vs_1": {str(r["workers"]): r["ratio_vs_1"] for r in runs},
    }
