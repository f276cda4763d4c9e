"""End-to-end alert latency: frame timestamp → alert on a district screen's websocket.

A deployment on this machine, built from :mod:`console.cluster`'s pieces: a private
``redis-server`` on a free loopback port, one console (``zhizhi serve``, SQLite in a fresh temp
data folder — one console needs no PostgreSQL; ``--database-url`` for one), and ``workers``
``zhizhi worker`` processes sharing ``streams`` simulated cameras by lease, analysing them with
the settings' detector (the shipped one) and publishing frame batches on the Redis bus; the
console holding the ``rule-models`` lease runs the warning model over them, stores the alerts
and pushes them to its screens.

The streams are the simulator's scenes with alerts, short so that they loop several times a
minute (:data:`SCENES`, cycled): a hazmat tanker stopping, a car driving the wrong way, a
speeding vehicle, a crowd gathering, a tanker entering a school zone. Each is rendered at a demo
camera's position (960x540, 5 fps, analysed at 5 fps, as the demo's) once and cached in
``var/bench-cache/alert-latency/`` (the same inputs give the same clip).

The bench process logs in as the demo's ``district`` user and reads ``/ws``; for every ``alert``
message (``new`` and ``updated``) it records **receipt wall time − the alert's ``last_ts``**:
``last_ts`` is the timestamp of the frame that produced the alert, and real-time file sources
stamp frames with the wall clock when they are read (:class:`video.runner.SourceRunner`), so this
is capture → screen, through detection, the bus, the rules, the store and the websocket (same
machine, same clock). The same-run baseline is the frame batches themselves: the bench also
subscribes to the ``frames`` topic on the bus and records receipt − the frame's ``ts``
(capture → analysed and on the bus), so ``new alert − frame`` is what the rules, the store and
the websocket add. An ``updated`` message mostly says that the condition ended, which the rule
decides ``end_after_s`` (5-6 s in the shipped model) after the last frame that met it, so its
latency includes that wait by design; the figures are given per event as well.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from zhizhi.bench.surge import free_port
from zhizhi.bench.workers import start_redis
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.console.cluster import stop_process

#: Every pass of a looping scene raises its own alert here, as before alerts were grouped by
#: place (issue 17): the bench measures how fast a new alert reaches the wall, and a loop every
#: half minute is its supply of new alerts (with grouping, a place's open alert absorbs them).
NO_GROUPING = {"ZHIZHI_ALERTS__POLICY__GROUPING": "{}", "ZHIZHI_ALERTS__POLICY__DEFAULT_GROUPING__RADIUS_M": "0"}

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "var" / "bench-cache" / "alert-latency"
PASSWORD = "Alert-latency-bench-7"
SCENES: tuple[tuple[str, dict], ...] = (
    ("hazmat-stop", {"approach_s": 4.0, "stop_s": 24.0}),
    ("wrong-way", {}),
    ("speeding", {}),
    ("crowd", {"arrive_within_s": 12.0}),
    ("hazmat-prohibited-zone", {"enter_ts": 4.0}),
    ("wrong-way", {"appear_ts": 6.0}),
    ("speeding", {"appear_ts": 8.0}),
    ("hazmat-stop", {"approach_s": 6.0, "stop_s": 22.0}),
)


@dataclass
class Latencies:
    """What the bench process received, with its latencies in seconds."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    alerts: list[tuple[str, str, str, float]] = field(default_factory=list)  # (id, event, rule, latency)
    frames: list[float] = field(default_factory=list)
    other_alert_events: int = 0
    snapshots: int = 0
    connects: int = 0
    last_seq: int | None = None  # the newest seq received, to resume from

    def on_frame(self, batch: ObservationBatch) -> None:
        now = time.time()
        with self.lock:
            self.frames.append(now - batch.ts)


def _listen(url: str, token: str, lat: Latencies, stop: threading.Event, ready: threading.Event) -> None:
    from zhizhi.bench.live_client import follow_live

    def on_text(text: str, arrived: float) -> None:
        message = json.loads(text)
        if isinstance(message.get("seq"), int):
            lat.last_seq = message["seq"]
        kind = message.get("type")
        if kind == "snapshot":
            lat.snapshots += 1
        elif kind == "alert":
            event = message.get("event")
            if event in ("new", "updated") and isinstance(message.get("last_ts"), (int, float)):
                with lat.lock:
                    lat.alerts.append((str(message.get("id")), event, str(message.get("rule")),
                                       arrived - float(message["last_ts"])))
            else:
                lat.other_alert_events += 1

    def connected() -> None:
        lat.connects += 1
        ready.set()

    follow_live(url, token, stop, on_text, lambda: lat.last_seq, on_connect=connected)


def _prepare(plan, streams: int) -> Path:
    """District, demo users and the cameras file (clips rendered into the shared cache)."""
    from zhizhi.console.cli_users import announce_demo_users
    from zhizhi.console.demo_video import DEMO_FPS, DEMO_SIZE, DemoScene
    from zhizhi.console.settings import BusSettings
    from zhizhi.console.state import open_console
    from zhizhi.gis.cameras import pick_cameras
    from zhizhi.video.camera_config import SourceConfig
    from zhizhi.video.simulator.build import build_simulation
    from zhizhi.video.simulator.writer import camera_config

    settings = plan.settings(bus=BusSettings())
    settings.warning.enabled = False
    settings.telemetry.enabled = False
    state = open_console(settings)
    scenes = []
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the users' announcement; stdout is the JSON's
            announce_demo_users(state)
        for i, (camera, (scenario, params)) in enumerate(
                zip(pick_cameras(state.cameras.cameras, streams), itertools.cycle(SCENES))):
            folder = CACHE / "clips" / f"{camera.id}-{scenario}-{i}"
            sim = build_simulation(scenario, 7 + i, fps=DEMO_FPS, width=DEMO_SIZE[0], height=DEMO_SIZE[1],
                                   params=params, lonlat=(camera.lon, camera.lat))
            config = camera_config(sim).model_copy(update={
                "id": camera.id, "name": f"{camera.name} (simulated {scenario})",
                "source": SourceConfig(url=str((folder / "clip.mp4").resolve()), kind="file", loop=True, realtime=True),
                "analysis_fps": 5.0,
            })
            scenes.append(DemoScene(config, scenario, params, folder, 7 + i))
    finally:
        state.close()
    for scene in scenes:
        scene.render()
    path = plan.data_dir / "cameras.json"
    path.write_text(json.dumps({"cameras": [s.config.model_dump(mode="json") for s in scenes]}), encoding="utf-8")
    return path


def _ms(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


def _summary(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), "p50_ms": _ms(values, 50), "p99_ms": _ms(values, 99),
            "max_ms": round(max(values) * 1000, 1) if values else None}


def run_alert_latency_bench(seconds: float = 120.0, streams: int = 8, workers: int = 2,
                            database_url: str | None = None, detector: str | None = None) -> dict[str, Any]:
    """Measure and return the figures (the ``zhizhi bench alert-latency --json`` contract)."""
    from zhizhi.bus import Topic
    from zhizhi.bus.redis_bus import RedisBus
    from zhizhi.console.cluster import ClusterPlan, children, wait_healthy
    from zhizhi.console.settings import DemoSettings

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="zhizhi-bench-alerts-") as tmp:
        data_dir = Path(tmp)
        redis_url, redis_process = start_redis()
        procs = []
        lat = Latencies()
        stop = threading.Event()
        bus = None
        try:
            port = free_port()
            plan = ClusterPlan(
                consoles=1, workers=workers, cameras=streams, redis_url=redis_url, data_dir=data_dir,
                database_url=database_url or f"sqlite:///{data_dir / 'zhizhi.db'}", base_port=port,
                detector=detector, password=PASSWORD,
                demo=DemoSettings(seed=11, grids=64, towns=3, villages_per_town=2, cameras=24),
                extra_env=NO_GROUPING,
            )
            cameras_file = _prepare(plan, streams)
            prepared = time.monotonic()
            procs = [child.start() for child in children(plan, cameras_file)]
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, procs[0])
            token = httpx.post(url + "/api/auth/login", json={"username": "district", "password": PASSWORD},
                               timeout=30).raise_for_status().json()["token"]
            bus = RedisBus(redis_url, node=f"bench-alerts-{os.getpid()}")
            bus.subscribe(Topic.FRAMES, lat.on_frame)
            ready = threading.Event()
            listener = threading.Thread(target=_listen, args=(url, token, lat, stop, ready), daemon=True)
            listener.start()
            ready.wait(30)
            measuring = time.monotonic()
            time.sleep(seconds)
            exit_codes = [c.process.poll() for c in procs]
        finally:
            stop.set()
            if bus is not None:
                bus.stop()
            for child in procs:
                child.stop()
            stop_process(redis_process)
    with lat.lock:
        alerts = list(lat.alerts)
        frames = list(lat.frames)
    values = [a[3] for a in alerts]
    per_event = {e: _summary([a[3] for a in alerts if a[1] == e]) for e in ("new", "updated")}
    rules: dict[str, int] = {}
    for a in alerts:
        rules[a[2]] = rules.get(a[2], 0) + 1
    result = {
        "streams": streams,
        "workers": workers,
        "seconds": seconds,
        "detector": detector or "settings (ultralytics, the shipped weights)",
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        **_summary(values),
        "alerts": len({a[0] for a in alerts}),
        "by_event": per_event,
        "by_rule": rules,
        "frames": _summary(frames),
        # A "new" alert is published on the frame that fires the rule; an "updated" one mostly
        # when the condition ends, the rule's end_after_s (5-6 s) after the last frame that met
        # it (its last_ts): compare new alerts with the frames.
        "new_minus_frame_p50_ms": (round(per_event["new"]["p50_ms"] - _ms(frames, 50), 1)
                                   if per_event["new"]["count"] and frames else None),
        "ratio_new_p50_vs_frames": (round(per_event["new"]["p50_ms"] / _ms(frames, 50), 2)
                                    if per_event["new"]["count"] and frames and _ms(frames, 50) else None),
        "ws_connects": lat.connects,
        "exit_codes": exit_codes,
        "prepare_s": round(prepared - started, 1),
        "startup_s": round(measuring - prepared, 1),
    }
    return result


