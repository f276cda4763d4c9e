"""Typhoon-night surge: people's events and a flood of vehicle telemetry against a real console.

A console is started as a subprocess (``zhizhi demo`` on a free loopback port, a fresh data
folder, the demo district, no cameras, no demo fleet, telemetry rules on) with a ``gateway`` and
a district ``duty_officer`` created through ``zhizhi users add`` before it starts. From this
process, for ``duration_s``:

- telemetry: ``vehicles`` synthetic vehicles driving back and forth along the district's roads
  (clear of schools and residential cores, below every limit), each reporting once per
  ``vehicles / telemetry_rate`` seconds, posted in batches of ``batch`` by ``senders`` threads;
  ``ts`` is the wall time the report was generated. ``hazmat`` of them are registered hazmat
  vehicles that speed (110 km/h) for 75 s at a scheduled moment, so speeding alerts arise.
  A 503 is answered by sending the same batch again after ``Retry-After`` (counted);
- events: ``events_per_min`` people's reports (``POST /api/events``) at random points of random
  grids, each tagged in its text with a unique id;
- a websocket client logged in as the district duty officer records when every ``alert``
  ``new`` message arrives.

Figures: accepted telemetry per second, events posted and found on the websocket and through
``GET /api/alerts`` (lost = posted − found), event→alert latency (POST sent → websocket
arrival), telemetry-alert latency (websocket arrival − the alert's ``last_ts``), 503 retries,
gate rejections, the rules' backlog, and the server's CPU and memory.
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import shapely

from zhizhi.gis.metric import MetricFrame

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Surge-bench-pass-7"
GATEWAY, OFFICER = "surge-gateway", "surge-duty"
HOST = "127.0.0.1"
#: The demo district's adcode (the district's jurisdiction code).
DISTRICT = "320612"
SMALL_DISTRICT = {"ZHIZHI_DEMO__GRIDS": "64", "ZHIZHI_DEMO__TOWNS": "3", "ZHIZHI_DEMO__VILLAGES_PER_TOWN": "2"}
CATEGORIES = ("flood", "waterlogging", "tree_down", "power_outage", "traffic_accident", "fire",
              "road_damage", "building_damage", "trapped_people", "landslide")
CHANNELS = ("hotline", "grid_worker", "app", "iot")
NORMAL_KMH = (20.0, 36.0)  # below every road-class limit (local 40 km/h)
SPEEDING_KMH, SPEEDING_S, RULE_MIN_S = 110.0, 75.0, 30.0
PROHIBITED = ("residential_core", "school")
_SEQ = re.compile(r'"seq":(\d+)\}$')


@dataclass(frozen=True)
class SurgeConfig:
    """What to send and for how long."""

    duration_s: float = 600.0
    telemetry_rate: float = 10_000.0
    events_per_min: float = 150.0
    vehicles: int = 20_000
    batch: int = 1_000
    senders: int = 4
    hazmat: int = 40
    small_district: bool = False
    seed: int = 0


# --------------------------------------------------------------------------- the server


#: Where servers started for a run listen: below Linux's ephemeral range (32768-60999), so a port
#: found free is not handed to some outgoing connection (Redis, PostgreSQL, HTTP clients) in the
#: seconds before the server binds it.
LISTEN_PORTS = range(20000, 32000)


def free_ports(n: int = 1) -> int:
    """The first of ``n`` consecutive free TCP ports on loopback (in :data:`LISTEN_PORTS`)."""
    rng = random.Random()
    while True:
        base = rng.randrange(LISTEN_PORTS.start, LISTEN_PORTS.stop - n)
        if all(_bindable(base + i) for i in range(n)):
            return base


def free_port() -> int:
    """A free TCP port on loopback (in :data:`LISTEN_PORTS`)."""
    return free_ports(1)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def _server_env(data_dir: Path, small: bool) -> dict[str, str]:
    """A clean environment: no ``ZHIZHI_*`` of the caller, no ``./zhizhi.toml``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIZHI_")}
    env.update(ZHIZHI_CONFIG=str(data_dir / "absent.toml"), ZHIZHI_DATA_DIR=str(data_dir),
               ZHIZHI_DEMO_PASSWORD=PASSWORD, PYTHONUNBUFFERED="1")
    if small:
        env.update(SMALL_DISTRICT)
    return env


def _add_user(env: dict[str, str], name: str, role: str) -> None:
    """``zhizhi users add NAME --role ROLE --jurisdiction DISTRICT`` (password on stdin)."""
    cmd = [sys.executable, "-m", "zhizhi.console.cli", "users", "add", name, "--role", role,
           "--jurisdiction", DISTRICT, "--password-stdin"]
    subprocess.run(cmd, input=PASSWORD + "\n", text=True, env=env, cwd=ROOT, check=True,
                   capture_output=True, timeout=300)


@dataclass
class Server:
    """A console subprocess on a loopback port."""

    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGINT (uvicorn's graceful stop), then kill after 30 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_server(data_dir: Path, small: bool, timeout_s: float = 240.0) -> Server:
    """Create the users, start ``zhizhi demo`` and wait for ``/healthz``."""
    env = _server_env(data_dir, small)
    _add_user(env, GATEWAY, "gateway")
    _add_user(env, OFFICER, "duty_officer")
    port = free_port()
    log_path = data_dir / "server.log"
    cmd = [sys.executable, "-m", "zhizhi.console.cli", "demo", "--host", HOST, "--port", str(port),
           "--cameras", "0", "--no-fleet", "--no-open"]
    with log_path.open("w") as log:
        process = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    server = Server(process, port, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the console exited ({process.returncode}):\n{server.log_tail()}")
        try:
            if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"the console did not answer within {timeout_s:.0f} s:\n{server.log_tail()}")


def login(url: str, username: str) -> str:
    """A bearer token through ``POST /api/auth/login``."""
    r = httpx.post(url + "/api/auth/login", json={"username": username, "password": PASSWORD}, timeout=30)
    r.raise_for_status()
    return str(r.json()["token"])


# ----------------------------------------------------------------------------- the world


@dataclass
class World:
    """Drivable road pieces (metric) clear of prohibited zones, and points to report events at."""

    frame: MetricFrame
    pieces: np.ndarray  # shapely LineStrings in metres
    lengths: np.ndarray
    event_points: np.ndarray  # (n, 2) lon, lat inside the grids


def _features(client: httpx.Client, layer: str) -> list[dict]:
    r = client.get(f"/api/layers/{layer}/features")
    r.raise_for_status()
    return r.json()["features"]


def load_world(client: httpx.Client, rng: np.random.Generator, min_piece_m: float = 1500.0) -> World:
    """Roads, zones and grids read through the API (as the duty officer sees them)."""
    roads = shapely.from_geojson([json.dumps(f["geometry"]) for f in _features(client, "roads")])
    zones = [f for f in _features(client, "zones") if f["properties"].get("zone_type") in PROHIBITED]
    grids = shapely.from_geojson([json.dumps(f["geometry"]) for f in _features(client, "grids")])
    frame = MetricFrame.for_geometry(roads)
    lines = frame.geometry_to_metric(roads)
    banned = frame.geometry_to_metric(shapely.from_geojson([json.dumps(z["geometry"]) for z in zones]))
    clear = shapely.buffer(shapely.union_all(banned), 80.0) if len(banned) else shapely.Polygon()
    parts = shapely.get_parts(shapely.line_merge(shapely.difference(lines, clear)))
    parts = shapely.get_parts(parts)
    pieces = np.array([p for p in parts if p.geom_type == "LineString" and p.length >= min_piece_m], dtype=object)
    if not len(pieces):
        raise RuntimeError("no road piece long enough to drive on")
    # events: a random point in each of up to 2,000 grids (repeated as needed)
    points = shapely.get_coordinates(shapely.point_on_surface(grids))
    jitter = [shapely.get_coordinates(_random_point(g, rng)) for g in grids[rng.permutation(len(grids))[:2000]]]
    return World(frame, pieces, shapely.length(pieces), np.vstack([points, *jitter]))


def _random_point(polygon, rng: np.random.Generator, tries: int = 20):
    """A uniform point in ``polygon`` (its surface point after ``tries`` misses)."""
    minx, miny, maxx, maxy = polygon.bounds
    for _ in range(tries):
        p = shapely.Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if polygon.contains(p):
            return p
    return shapely.point_on_surface(polygon)


# ------------------------------------------------------------------------------ the fleet


class Fleet:
    """Vehicles shuttling along road pieces; positions computed in vectors at any wall time.

    The first ``hazmat`` vehicles are registered; each speeds at ``SPEEDING_KMH`` for
    ``SPEEDING_S`` from its trigger time, on a piece at least 3 km long (its approved route).
    """

    def __init__(self, world: World, n: int, hazmat: int, triggers: np.ndarray, rng: np.random.Generator) -> None:
        self.world, self.t0 = world, time.time()
        self.ids = [f"SURGE-HZ-{i:04d}" if i < hazmat else f"SURGE-V-{i:06d}" for i in range(n)]
        weights = world.lengths / world.lengths.sum()
        self.piece = rng.choice(len(world.pieces), size=n, p=weights)
        long_ones = np.flatnonzero(world.lengths >= 3000.0)
        if hazmat and len(long_ones):
            self.piece[:hazmat] = rng.choice(long_ones, size=hazmat)
        self.s0 = rng.uniform(0.0, 1.0, n) * world.lengths[self.piece]
        self.kmh = np.round(rng.uniform(*NORMAL_KMH, n), 1)
        self.after = np.full(n, np.inf)
        self.after[:hazmat] = triggers
        self.trigger = self.after.copy()
        self.noise = rng

    def start(self, t0: float) -> None:
        """Start the clock: motion and speeding triggers count from ``t0``."""
        self.t0, self.trigger = t0, t0 + self.after

    def positions(self, idx: np.ndarray, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """lon, lat and reported speed (km/h) of vehicles ``idx`` at wall time ``now``."""
        t = now - self.t0
        fast = np.clip(now - self.trigger[idx], 0.0, SPEEDING_S)
        dist = self.s0[idx] + self.kmh[idx] / 3.6 * t + (SPEEDING_KMH - self.kmh[idx]) / 3.6 * fast
        length = self.world.lengths[self.piece[idx]]
        fold = np.mod(dist, 2 * length)
        s = np.where(fold <= length, fold, 2 * length - fold)
        xy = shapely.get_coordinates(shapely.line_interpolate_point(self.world.pieces[self.piece[idx]], s))
        xy += self.noise.normal(0.0, 1.5, xy.shape)
        lon, lat = self.world.frame.to_lonlat(xy[:, 0], xy[:, 1])
        speeding = (now >= self.trigger[idx]) & (now < self.trigger[idx] + SPEEDING_S)
        return lon, lat, np.where(speeding, SPEEDING_KMH, self.kmh[idx])

    def batch_body(self, idx: np.ndarray, now: float) -> bytes:
        """One ``POST /api/telemetry`` body for vehicles ``idx`` reporting at ``now``."""
        lon, lat, kmh = self.positions(idx, now)
        ids = self.ids
        items = [{"vehicle_id": ids[i], "ts": now, "lon": round(x, 7), "lat": round(y, 7), "speed_kmh": v,
                  "crs": "wgs84"} for i, x, y, v in zip(idx.tolist(), lon.tolist(), lat.tolist(), kmh.tolist())]
        return json.dumps(items).encode()

    def registration(self, i: int) -> dict[str, Any]:
        """The ``POST /api/hazmat/vehicles`` body of hazmat vehicle ``i`` (route: its piece)."""
        route = self.world.frame.geometry_to_lonlat(self.world.pieces[self.piece[i]])
        return {"vehicle_id": self.ids[i], "plate": f"苏F·S{i:04d}", "company": "台风夜压测危运公司",
                "un_number": "1203", "hazard_class": "3", "corridor_m": 200.0, "permitted_hours": "00:00-24:00",
                "route": {"type": "LineString", "coordinates": np.round(shapely.get_coordinates(route), 7).tolist()}}


# -------------------------------------------------------------------------------- counters


@dataclass
class Telemetry:
    """What the telemetry senders did (updated under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    generated: int = 0
    sent: int = 0
    accepted: int = 0
    batches: int = 0
    retries_503: int = 0
    http_errors: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    post_s: list[float] = field(default_factory=list)
    per_second: Counter = field(default_factory=Counter)  # accepted by second since start
    first_ts: float = 0.0
    last_ts: float = 0.0

    def add(self, report: dict, n: int, elapsed: float, second: int) -> None:
        with self.lock:
            self.batches += 1
            self.sent += n
            self.accepted += int(report.get("accepted", 0))
            self.rejected.update(report.get("rejected") or {})
            self.post_s.append(elapsed)
            self.per_second[second] += int(report.get("accepted", 0))


@dataclass
class Events:
    """People's events: when each was sent, its alert id, and failures."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent_at: dict[str, float] = field(default_factory=dict)  # alert id -> send wall time
    tags: dict[str, str] = field(default_factory=dict)  # alert id -> tag in the text
    post_s: list[float] = field(default_factory=list)
    failed: Counter = field(default_factory=Counter)
    attempted: int = 0


@dataclass
class Arrivals:
    """What the websocket client saw."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    new: dict[str, tuple[float, dict]] = field(default_factory=dict)  # alert id -> (arrival, message)
    via_snapshot: dict[str, float] = field(default_factory=dict)
    messages: int = 0
    bytes: int = 0
    snapshots: int = 0
    reconnects: int = 0
    types: Counter = field(default_factory=Counter)
    last_seq: int | None = None


# ------------------------------------------------------------------------------- workers


def telemetry_producer(fleet: Fleet, cfg: SurgeConfig, out: queue.Queue, tel: Telemetry, end: float,
                       stop: threading.Event) -> None:
    """Generate batches on the target schedule (blocking while the senders are behind)."""
    interval = cfg.batch / cfg.telemetry_rate
    n, cursor, due = len(fleet.ids), 0, time.time()
    while not stop.is_set() and time.time() < end:
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        now = time.time()
        idx = (cursor + np.arange(cfg.batch)) % n
        cursor = (cursor + cfg.batch) % n
        body = fleet.batch_body(idx, now)
        with tel.lock:
            tel.generated += cfg.batch
        while not stop.is_set():
            try:
                out.put((body, cfg.batch), timeout=0.5)
                break
            except queue.Full:
                if time.time() >= end + 60:
                    return
        due = max(due + interval, time.time() - 1.0)  # catch up at most one second's worth


def telemetry_sender(url: str, token: str, jobs: queue.Queue, tel: Telemetry, t0: float) -> None:
    """POST batches; on 503 wait ``Retry-After`` and send the same batch again."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        while True:
            job = jobs.get()
            if job is None:
                return
            body, n = job
            for _attempt in range(1000):  # bounded: 1,000 503s for one batch ends the try
                started = time.time()
                try:
                    r = client.post("/api/telemetry", content=body)
                except httpx.HTTPError as exc:
                    with tel.lock:
                        tel.http_errors[type(exc).__name__] += 1
                    time.sleep(0.5)
                    continue
                if r.status_code == 503:
                    with tel.lock:
                        tel.retries_503 += 1
                    time.sleep(float(r.headers.get("retry-after", "1")))
                    continue
                if r.status_code != 200:
                    with tel.lock:
                        tel.http_errors[str(r.status_code)] += 1
                    break
                done = time.time()
                tel.add(r.json(), n, done - started, int(done - t0))
                break


def event_poster(url: str, token: str, cfg: SurgeConfig, world: World, ev: Events, end: float,
                 stop: threading.Event, rng: np.random.Generator) -> None:
    """Post people's events on schedule (a small pool, so a slow answer does not delay the next)."""
    from concurrent.futures import ThreadPoolExecutor

    run = secrets.token_hex(3)
    interval = 60.0 / cfg.events_per_min
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client, ThreadPoolExecutor(8) as pool:
        k, due = 0, time.time()
        while not stop.is_set() and due < end:
            time.sleep(max(0.0, due - time.time()))
            lon, lat = world.event_points[rng.integers(len(world.event_points))]
            tag = f"SURGE-{run}-{k:05d}"
            body = {"category": CATEGORIES[k % len(CATEGORIES)], "lon": float(lon), "lat": float(lat),
                    "text": f"台风夜群众报告 {tag}: 积水/倒树/停电，请处置", "reporter": f"caller-{k % 97}",
                    "channel": CHANNELS[k % len(CHANNELS)]}
            pool.submit(_post_event, client, body, tag, ev)
            k += 1
            due += interval


def _post_event(client: httpx.Client, body: dict, tag: str, ev: Events) -> None:
    with ev.lock:
        ev.attempted += 1
    sent = time.time()
    try:
        r = client.post("/api/events", json=body)
    except httpx.HTTPError as exc:
        with ev.lock:
            ev.failed[type(exc).__name__] += 1
        return
    with ev.lock:
        if r.status_code == 201:
            alert_id = r.json()["id"]
            ev.sent_at[alert_id], ev.tags[alert_id] = sent, tag
            ev.post_s.append(time.time() - sent)
        else:
            ev.failed[str(r.status_code)] += 1


def ws_listener(url: str, token: str, arr: Arrivals, stop: threading.Event, ready: threading.Event) -> None:
    """Read ``/ws`` as the duty officer; note the arrival of every alert ``new`` (resume on drops)."""
    from zhizhi.bench.live_client import follow_live

    def dropped() -> None:
        arr.reconnects += 1

    follow_live(url, token, stop, lambda text, arrived: _on_message(text, arrived, arr), lambda: arr.last_seq,
                on_connect=ready.set, on_drop=dropped)


def _on_message(text: str, arrived: float, arr: Arrivals) -> None:
    """Only alerts and snapshots are decoded; vehicles messages are counted by their head."""
    arr.messages += 1
    arr.bytes += len(text)
    seq = _SEQ.search(text[-24:])
    if seq:
        arr.last_seq = int(seq.group(1))
    head = text[:24]
    if head.startswith('{"type":"alert"'):
        message = json.loads(text)
        arr.types["alert:" + str(message.get("event"))] += 1
        if message.get("event") == "new":
            with arr.lock:
                arr.new.setdefault(message["id"], (arrived, message))
    elif head.startswith('{"type":"snapshot"'):
        message = json.loads(text)
        arr.snapshots += 1
        arr.types["snapshot"] += 1
        with arr.lock:
            for item in message.get("items", []):
                if item.get("type") == "alert" and item["id"] not in arr.new:
                    arr.via_snapshot.setdefault(item["id"], arrived)
    else:
        arr.types[head.split('"')[3] if head.count('"') >= 4 else "other"] += 1


@dataclass
class Samples:
    """Server CPU/RSS, the client's CPU and the rules' backlog over the run."""

    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    backlog: list[int] = field(default_factory=list)
    status: dict = field(default_factory=dict)


def sampler(pid: int, url: str, token: str, out: Samples, stop: threading.Event) -> None:
    """Every second: the server's CPU% (100 = one core) and RSS; every 5 s the rules' status."""
    server, me = psutil.Process(pid), psutil.Process()
    server.cpu_percent(None)
    me.cpu_percent(None)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        k = 0
        while not stop.wait(1.0):
            try:
                out.cpu.append(server.cpu_percent(None))
                out.rss.append(server.memory_info().rss / 2**20)
            except psutil.Error:
                return
            out.client_cpu.append(me.cpu_percent(None))
            k += 1
            if k % 5 == 0:
                _poll_status(client, out)


def _poll_status(client: httpx.Client, out: Samples) -> int | None:
    try:
        status = client.get("/api/telemetry/status").json()
    except (httpx.HTTPError, ValueError):
        return None
    out.status = status
    backlog = int((status.get("rules") or {}).get("backlog", 0))
    out.backlog.append(backlog)
    return backlog


# ------------------------------------------------------------------------------- the run


def _pct(values: list[float], qs: tuple[int, ...], scale: float = 1000.0) -> dict[str, float | None]:
    """Percentiles (``p50`` ...) and ``max`` of ``values`` times ``scale`` (ms by default)."""
    if not values:
        return {**{f"p{q}": None for q in qs}, "max": None}
    arr = np.asarray(values) * scale
    return {**{f"p{q}": round(float(np.percentile(arr, q)), 1) for q in qs}, "max": round(float(arr.max()), 1)}


def _wait_until(done: Callable[[], bool], timeout_s: float, step: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(step)
    return done()


def _api_alert_ids(client: httpx.Client) -> dict[str, dict]:
    """Every alert the duty officer sees through ``GET /api/alerts`` (paged)."""
    found: dict[str, dict] = {}
    for offset in range(0, 1_000_000, 1000):
        page = client.get("/api/alerts", params={"limit": 1000, "offset": offset}).json()
        found.update({a["id"]: a for a in page})
        if len(page) < 1000:
            break
    return found


def _triggers(cfg: SurgeConfig, rng: np.random.Generator) -> np.ndarray:
    """Seconds after the start at which each hazmat vehicle starts speeding (spread evenly)."""
    last = max(cfg.duration_s - RULE_MIN_S - 20.0, 1.0)
    return np.sort(rng.uniform(min(10.0, last), last, cfg.hazmat)) if cfg.hazmat else np.zeros(0)


def _register(client: httpx.Client, fleet: Fleet, hazmat: int) -> None:
    for i in range(hazmat):
        r = client.post("/api/hazmat/vehicles", json=fleet.registration(i))
        if r.status_code != 201:
            raise RuntimeError(f"registering {fleet.ids[i]}: {r.status_code} {r.text[:300]}")


def _progress(total: float, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=int(total), unit="s", disable=not enabled, file=sys.stderr, dynamic_ncols=True,
                desc="surge")


def run_surge_bench(cfg: SurgeConfig | None = None, *, progress: bool = True) -> dict[str, Any]:
    """Start a console, load it for ``cfg.duration_s``, return the figures (``--json``)."""
    cfg = cfg or SurgeConfig()
    with tempfile.TemporaryDirectory(prefix="zhizhi-surge-") as tmp:
        started = time.monotonic()
        server = start_server(Path(tmp), cfg.small_district)
        try:
            return _run(server, cfg, startup_s=time.monotonic() - started, progress=progress)
        finally:
            server.stop()


def _run(server: Server, cfg: SurgeConfig, *, startup_s: float, progress: bool) -> dict[str, Any]:
    rng = np.random.default_rng(cfg.seed)
    url = server.url
    officer, gateway = login(url, OFFICER), login(url, GATEWAY)
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {officer}"}, timeout=60)
    world = load_world(client, rng)
    fleet = Fleet(world, cfg.vehicles, min(cfg.hazmat, cfg.vehicles), _triggers(cfg, rng), rng)
    _register(client, fleet, min(cfg.hazmat, cfg.vehicles))

    tel, ev, arr, samples = Telemetry(), Events(), Arrivals(), Samples()
    stop, ready = threading.Event(), threading.Event()
    ws = threading.Thread(target=ws_listener, args=(url, officer, arr, stop, ready), daemon=True)
    ws.start()
    ready.wait(30)
    start = time.time()
    fleet.start(start)
    end = start + cfg.duration_s
    jobs: queue.Queue = queue.Queue(maxsize=max(2, 2 * cfg.senders))
    threads = [threading.Thread(target=telemetry_sender, args=(url, gateway, jobs, tel, start), daemon=True)
               for _ in range(cfg.senders)]
    producer = threading.Thread(target=telemetry_producer, args=(fleet, cfg, jobs, tel, end, stop), daemon=True)
    poster = threading.Thread(target=event_poster, args=(url, officer, cfg, world, ev, end, stop,
                                                         np.random.default_rng(cfg.seed + 1)), daemon=True)
    watch = threading.Thread(target=sampler, args=(server.process.pid, url, officer, samples, stop), daemon=True)
    for t in (*threads, producer, poster, watch):
        t.start()
    _show_progress(cfg, tel, ev, arr, samples, start, end, progress)

    producer.join(120)
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join(120)
    send_end = time.time()
    poster.join(120)
    _wait_until(lambda: (_poll_status(client, samples) or 0) == 0, 120, step=1.0)
    expected = [fleet.ids[i] for i in range(min(cfg.hazmat, cfg.vehicles))
                if fleet.trigger[i] + RULE_MIN_S + 5.0 <= send_end]
    _wait_until(lambda: set(ev.sent_at) <= set(arr.new) | set(arr.via_snapshot)
                and set(expected) <= _telemetry_vehicles(arr), 60)
    api = _api_alert_ids(client)
    _poll_status(client, samples)
    stop.set()
    for t in (ws, watch):
        t.join(10)
    client.close()
    return _report(cfg, tel, ev, arr, samples, api, expected, start, send_end, startup_s, world)


def _telemetry_vehicles(arr: Arrivals) -> set[str]:
    with arr.lock:
        return {m.get("details", {}).get("vehicle_id") for _, m in arr.new.values() if m.get("source") == "telemetry"}


def _show_progress(cfg: SurgeConfig, tel: Telemetry, ev: Events, arr: Arrivals, samples: Samples,
                   start: float, end: float, enabled: bool) -> None:
    """A tqdm bar over the run's seconds, with the last second's rate and the counts."""
    bar = _progress(cfg.duration_s, enabled)
    last_accepted, shown = 0, 0
    while time.time() < end:
        time.sleep(min(1.0, max(0.0, end - time.time())))
        now = int(time.time() - start)
        with tel.lock:
            accepted = tel.accepted
        bar.update(max(0, min(now, int(cfg.duration_s)) - shown))
        shown = max(shown, min(now, int(cfg.duration_s)))
        bar.set_postfix(tel_s=accepted - last_accepted, retries=tel.retries_503, events=len(ev.sent_at),
                        alerts=len(arr.new), cpu=samples.cpu[-1] if samples.cpu else 0, refresh=False)
        last_accepted = accepted
    bar.close()


def _report(cfg: SurgeConfig, tel: Telemetry, ev: Events, arr: Arrivals, samples: Samples,
            api: dict[str, dict], expected: list[str], start: float, send_end: float,
            startup_s: float, world: World) -> dict[str, Any]:
    """The figures, as one JSON-able dict."""
    posted = set(ev.sent_at)
    on_ws = posted & set(arr.new)
    snap = (posted - on_ws) & set(arr.via_snapshot)
    lost = posted - on_ws - snap
    in_api = {a for a in posted if a in api and ev.tags[a] in api[a].get("text", "")}
    event_latency = [arr.new[a][0] - ev.sent_at[a] for a in on_ws]
    tel_alerts = {a: m for a, (t, m) in arr.new.items() if m.get("source") == "telemetry"}
    tel_latency = [arr.new[a][0] - float(m["last_ts"]) for a, m in tel_alerts.items()]
    hazmat_ids = {f"SURGE-HZ-{i:04d}" for i in range(cfg.hazmat)}
    seen_vehicles = {m.get("details", {}).get("vehicle_id") for m in tel_alerts.values()}
    window = send_end - start
    per_second = np.array([tel.per_second.get(s, 0) for s in range(int(cfg.duration_s))], dtype=float)
    rate = float(per_second.sum()) / max(int(cfg.duration_s), 1)  # accepted during the load
    tens = (
        per_second[: len(per_second) // 10 * 10].reshape(-1, 10).mean(axis=1) if len(per_second) >= 10 else per_second
    )
    generated_rate = tel.generated / cfg.duration_s
    return {
        "duration_s": cfg.duration_s,
        "target": {"telemetry_per_s": cfg.telemetry_rate, "events_per_min": cfg.events_per_min,
                   "vehicles": cfg.vehicles, "batch": cfg.batch, "senders": cfg.senders, "hazmat": cfg.hazmat},
        "district": {"code": DISTRICT, "small": cfg.small_district, "road_pieces": len(world.pieces)},
        "startup_s": round(startup_s, 1),
        "telemetry": {
            "generated": tel.generated, "sent": tel.sent, "accepted": tel.accepted,
            "accepted_per_s": round(rate, 1),
            "accepted_per_s_incl_drain": round(tel.accepted / window, 1) if window > 0 else None,
            "generated_per_s": round(generated_rate, 1),
            "accepted_per_s_10s_windows": {"min": round(float(tens.min()), 1) if len(tens) else None,
                                           "p50": round(float(np.median(tens)), 1) if len(tens) else None},
            "target_held": bool(rate >= 0.98 * cfg.telemetry_rate and generated_rate >= 0.98 * cfg.telemetry_rate),
            "send_window_s": round(window, 1), "batches": tel.batches, "retries_503": tel.retries_503,
            "http_errors": dict(tel.http_errors), "gate_rejections": dict(tel.rejected),
            "gate_rejected_total": sum(tel.rejected.values()),
            "post_ms": _pct(tel.post_s, (50, 99)),
            "rules_backlog_max": max(samples.backlog, default=0),
            "server_status": samples.status,
        },
        "events": {
            "attempted": ev.attempted, "posted": len(posted), "failed": dict(ev.failed),
            "alert_on_ws": len(on_ws), "alert_only_in_snapshot": len(snap), "in_api": len(in_api),
            "lost": len(lost) + sum(ev.failed.values()),
            "latency_ms": _pct(event_latency, (50, 95, 99)), "post_ms": _pct(ev.post_s, (50, 99)),
        },
        "telemetry_alerts": {
            "expected": len(expected), "seen": len(seen_vehicles & hazmat_ids),
            "missing": sorted(set(expected) - seen_vehicles),
            "unexpected": len(seen_vehicles - hazmat_ids),
            "in_api": sum(1 for a in api.values() if a.get("source") == "telemetry"),
            "latency_ms": _pct(tel_latency, (50, 99)),
        },
        "ws": {"messages": arr.messages, "mbytes": round(arr.bytes / 2**20, 1), "snapshots": arr.snapshots,
               "reconnects": arr.reconnects, "types": dict(arr.types)},
        "server": {"cpu_pct_mean": _mean(samples.cpu), "cpu_pct_max": max(samples.cpu, default=None),
                   "rss_mb_max": round(max(samples.rss, default=0.0), 1),
                   "rss_mb_end": round(samples.rss[-1], 1) if samples.rss else None},
        "client_cpu_pct_mean": _mean(samples.client_cpu),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_end": round(os.getloadavg()[0], 2)},
    }


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 1) if values else None


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The figures as readable lines (the CLI's output without ``--json``)."""
    t, e, a, s = result["telemetry"], result["events"], result["telemetry_alerts"], result["server"]
    tgt = result["target"]
    return [
        (f"telemetry accepted  : {t['accepted_per_s']:,.0f}/s of {tgt['telemetry_per_s']:,.0f}/s target "
        f"({'held' if t['target_held'] else 'NOT held'}); {t['accepted']:,} accepted of {t['generated']:,} generated"),
        (f"  10-s windows      : min {t['accepted_per_s_10s_windows']['min']}/s, "
        f"median {t['accepted_per_s_10s_windows']['p50']}/s; incl. the drain after the load "
        f"{t['accepted_per_s_incl_drain']}/s"),
        (f"  503 retries       : {t['retries_503']}   gate rejections: {t['gate_rejections'] or 0}"
        f"   http errors: {t['http_errors'] or 0}   rules backlog max: {t['rules_backlog_max']:,}"),
        f"  POST ms p50/p99   : {t['post_ms']['p50']} / {t['post_ms']['p99']}",
        (f"events posted       : {e['posted']} (failed {e['failed'] or 0}); alert on websocket {e['alert_on_ws']}, "
        f"only in a snapshot {e['alert_only_in_snapshot']}, in /api/alerts {e['in_api']}; LOST {e['lost']}"),
        (f"  event->alert ms   : p50 {e['latency_ms']['p50']}  p95 {e['latency_ms']['p95']}  "
        f"p99 {e['latency_ms']['p99']}  max {e['latency_ms']['max']}"),
        (f"telemetry alerts    : {a['seen']} of {a['expected']} expected (unexpected {a['unexpected']}); "
        f"latency ms p50 {a['latency_ms']['p50']}  p99 {a['latency_ms']['p99']}  max {a['latency_ms']['max']}"),
        (f"server              : CPU {s['cpu_pct_mean']}% mean, {s['cpu_pct_max']}% max (100 = one core); "
        f"RSS {s['rss_mb_max']} MB max; bench client CPU {result['client_cpu_pct_mean']}%"),
        (f"websocket           : {result['ws']['messages']:,} messages, {result['ws']['mbytes']} MB, "
        f"{result['ws']['snapshots']} snapshots, {result['ws']['reconnects']} reconnects"),
    ]
