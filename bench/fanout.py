"""Websocket fan-out: N district screens on loopback, latency from an alert's creation to its receipt.

A console is started as a subprocess with :func:`bench.surge.start_server` (``zhizhi demo`` on a
free loopback port, a fresh data folder, no cameras, no demo fleet; the small 64-grid district by
default) and its district ``duty_officer`` logs in once. From this process, in one asyncio loop:

1. ``clients`` websocket clients connect to ``/ws`` with that one token (at most
   ``connect_concurrency`` handshakes at a time; permessage-deflate offered, as a browser does)
   and each waits for its first ``snapshot``;
2. ``messages`` people's events are posted (``POST /api/events``) at ``rate`` per second, each
   with a unique tag in its text; every one becomes an alert ``new`` published to every screen
   of the district;
   (before connecting, the bench waits until the demo has rendered its backtest dataset in a
   background thread, so that the figures are the steady console's; ``settle_s=0`` skips that);
3. every client notes the wall time at which each alert ``new`` arrives, until all have arrived
   or ``drain_s`` after the last POST.

Latency (``p50_ms``, ``p99_ms``, ``max_ms``) = arrival − the alert's ``created_ts`` (the server's
clock when it created the alert, just before the store write and the publish; same machine, same
clock), one sample per client and message. ``from_post_ms`` measures from the moment the POST was
sent instead, and ``spread_ms`` is, per message, first → last client arrival.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import shapely

from zhizhi.bench.surge import HOST, OFFICER, Server, login, start_server

_TAG = re.compile(r"FANOUT-[0-9a-f]+-\d{5}")
#: Seconds between two CPU samples of the server and the bench.
SAMPLE_S = 0.5
#: File descriptors kept free beyond one per client (the server's database, logs, pipes ...).
FD_MARGIN = 256


@dataclass(frozen=True)
class FanoutConfig:
    """How many screens, how many alerts and how fast."""

    clients: int = 1_000
    messages: int = 100
    rate: float = 5.0  # POST /api/events per second
    connect_concurrency: int = 50
    deflate: bool = True
    small_district: bool = True
    connect_timeout_s: float = 180.0
    drain_s: float = 30.0
    settle_s: float = 300.0  # wait (at most) for the demo's background rendering; 0: do not wait


@dataclass
class Receiver:
    """What one websocket client saw."""

    arrivals: dict[str, float] = field(default_factory=dict)  # tag -> arrival wall time
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    snapshots: int = 0
    messages: int = 0
    error: str | None = None


@dataclass
class Posts:
    """The events posted: when each was sent and the ``created_ts`` of its alert."""

    sent: dict[str, float] = field(default_factory=dict)  # tag -> POST sent (wall time)
    created: dict[str, float] = field(default_factory=dict)  # tag -> the alert's created_ts
    post_s: list[float] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)


@dataclass
class Samples:
    """The server's CPU% (100 = one core) and RSS, and this process's CPU%, every :data:`SAMPLE_S`."""

    cpu: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    phase: list[str] = field(default_factory=list)


def raise_fd_limit(clients: int) -> int:
    """Raise the soft open-file limit to fit ``clients`` sockets (the server inherits it).

    Returns the soft limit; :class:`RuntimeError` when the hard limit is too low.
    """
    need = clients + FD_MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        raise RuntimeError(f"{clients} clients need {need} open files, but the hard limit is {hard} "
                           f"(raise it, e.g. `ulimit -Hn {need}` as root, or use fewer --clients)")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    except (ValueError, OSError) as exc:
        raise RuntimeError(f"cannot raise the open-file limit from {soft} to {need}: {exc}") from exc
    return need


def run_fanout_bench(cfg: FanoutConfig | None = None) -> dict[str, Any]:
    """Start a console, fan ``cfg.messages`` alerts out to ``cfg.clients`` screens, return figures."""
    cfg = cfg or FanoutConfig()
    if cfg.clients < 1 or cfg.messages < 1 or cfg.rate <= 0:
        raise ValueError("clients and messages must be at least 1 and rate positive")
    fd_limit = raise_fd_limit(cfg.clients)
    load_start = round(os.getloadavg()[0], 2)  # the figures mean little on a busy machine: say how busy
    with tempfile.TemporaryDirectory(prefix="zhizhi-fanout-") as tmp:
        started = time.monotonic()
        server = start_server(Path(tmp), cfg.small_district)
        try:
            startup_s = time.monotonic() - started
            settled = wait_settled(server, cfg.settle_s) if cfg.settle_s > 0 else None
            settle_s = time.monotonic() - started - startup_s
            result = asyncio.run(_run(server, cfg))
        finally:
            server.stop()
    result["startup_s"] = round(startup_s, 1)
    result["settled"] = settled
    result["settle_s"] = round(settle_s, 1)
    result["fd_limit"] = fd_limit
    result["machine"]["load_avg_1m_start"] = load_start
    return result


_SETTLED = ("demo backtest dataset ready", "rendering the demo backtest dataset failed")


def wait_settled(server: Server, timeout_s: float) -> bool:
    """Wait until the demo has rendered its backtest dataset in the background (a thread that
    would otherwise hold the GIL against the event loop for a minute or more); whether it did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        log = server.log_path.read_text(errors="replace")
        if any(line in log for line in _SETTLED):
            return True
        if server.process.poll() is not None:
            raise RuntimeError(f"the console exited ({server.process.returncode}):\n{server.log_tail()}")
        time.sleep(0.5)
    return False


def _event_point(url: str, token: str) -> tuple[float, float]:
    """A point inside the district's first grid (so the duty officer may report it)."""
    r = httpx.get(url + "/api/layers/grids/features", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    r.raise_for_status()
    grid = shapely.from_geojson(json.dumps(r.json()["features"][0]["geometry"]))
    x, y = shapely.get_coordinates(shapely.point_on_surface(grid))[0]
    return float(x), float(y)


async def _listen(uri: str, headers: dict[str, str], rec: Receiver, cfg: FanoutConfig,
                  created: dict[str, float]) -> None:
    """Read one websocket until cancelled; note each alert ``new``'s arrival by its tag."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    try:
        async with connect(uri, max_size=None, open_timeout=60, ping_interval=None, additional_headers=headers,
                           compression="deflate" if cfg.deflate else None) as ws:
            async for text in ws:
                arrived = time.time()
                rec.messages += 1
                if isinstance(text, bytes):
                    text = text.decode()
                head = text[:40]
                if head.startswith('{"type":"snapshot"'):
                    rec.snapshots += 1
                    rec.ready.set()
                elif head.startswith('{"type":"alert","event":"new"'):
                    message = json.loads(text)
                    tag = _TAG.search(message.get("text") or "")
                    if tag:
                        rec.arrivals.setdefault(tag.group(0), arrived)
                        created.setdefault(tag.group(0), float(message["created_ts"]))
    except (OSError, TimeoutError, WebSocketException) as exc:
        rec.error = f"{type(exc).__name__}: {exc}"[:200]
        rec.ready.set()


async def _post_one(client: httpx.AsyncClient, body: dict, tag: str, posts: Posts) -> None:
    sent = time.time()
    try:
        r = await client.post("/api/events", json=body)
    except httpx.HTTPError as exc:
        posts.failed[type(exc).__name__] = posts.failed.get(type(exc).__name__, 0) + 1
        return
    if r.status_code == 201:
        posts.sent[tag] = sent
        posts.created[tag] = float(r.json()["created_ts"])
        posts.post_s.append(time.time() - sent)
    else:
        posts.failed[str(r.status_code)] = posts.failed.get(str(r.status_code), 0) + 1


async def _publish(url: str, token: str, cfg: FanoutConfig, point: tuple[float, float], posts: Posts) -> None:
    """``cfg.messages`` events at ``cfg.rate`` per second (each POST its own task)."""
    run = secrets.token_hex(3)
    interval = 1.0 / cfg.rate
    tasks = []
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60,
                                 limits=httpx.Limits(max_connections=16)) as client:
        due = time.monotonic()
        for k in range(cfg.messages):
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tag = f"FANOUT-{run}-{k:05d}"
            body = {"category": "flood", "lon": point[0], "lat": point[1], "reporter": f"fanout-{k % 97}",
                    "channel": "hotline", "text": f"扇出压测 {tag}: 路面积水"}
            tasks.append(asyncio.create_task(_post_one(client, body, tag, posts)))
            due += interval
        await asyncio.gather(*tasks)


def _sampler(pid: int, out: Samples, phase: list[str], stop: threading.Event) -> None:
    server, me = psutil.Process(pid), psutil.Process()
    server.cpu_percent(None)
    me.cpu_percent(None)
    while not stop.wait(SAMPLE_S):
        try:
            out.cpu.append(server.cpu_percent(None))
            out.rss_mb.append(server.memory_info().rss / 2**20)
        except psutil.Error:
            return
        out.client_cpu.append(me.cpu_percent(None))
        out.phase.append(phase[0])


async def _run(server: Server, cfg: FanoutConfig) -> dict[str, Any]:
    url = server.url
    token = login(url, OFFICER)
    point = _event_point(url, token)
    uri = f"ws://{HOST}:{server.port}/ws"
    headers = {"Authorization": f"Bearer {token}"}
    receivers = [Receiver() for _ in range(cfg.clients)]
    created: dict[str, float] = {}
    posts, samples, phase, stop = Posts(), Samples(), ["connect"], threading.Event()
    watch = threading.Thread(target=_sampler, args=(server.process.pid, samples, phase, stop), daemon=True)
    watch.start()
    gate = asyncio.Semaphore(cfg.connect_concurrency)

    async def opened(rec: Receiver) -> None:
        async with gate:  # hold a slot until the handshake and the snapshot are done
            task = asyncio.create_task(_listen(uri, headers, rec, cfg, created))
            tasks.append(task)
            await rec.ready.wait()

    tasks: list[asyncio.Task] = []
    t0 = time.monotonic()
    try:
        try:
            await asyncio.wait_for(asyncio.gather(*(opened(r) for r in receivers)), cfg.connect_timeout_s)
        except TimeoutError:
            pass
        connect_s = time.monotonic() - t0
        live = [r for r in receivers if r.snapshots and r.error is None]
        phase[0] = "publish"
        await _publish(url, token, cfg, point, posts)
        posted = set(posts.sent)
        deadline = time.monotonic() + cfg.drain_s
        while time.monotonic() < deadline and not all(posted <= r.arrivals.keys() for r in live):
            await asyncio.sleep(0.1)
        phase[0] = "drain"
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    watch.join(5)
    return _report(cfg, receivers, live, posts, created, samples, connect_s)


def _ms(values: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000.0, 1) if len(values) else None


def _report(cfg: FanoutConfig, receivers: list[Receiver], live: list[Receiver], posts: Posts,
            created: dict[str, float], samples: Samples, connect_s: float) -> dict[str, Any]:
    """The figures, as one JSON-able dict (``clients``, ``messages``, ``p50_ms``, ``p99_ms`` first)."""
    posted = sorted(posts.sent)
    from_created, from_post, spread = [], [], []
    for tag in posted:
        times = np.array([r.arrivals[tag] for r in live if tag in r.arrivals])
        if not len(times):
            continue
        from_created.append(times - posts.created[tag])
        from_post.append(times - posts.sent[tag])
        spread.append(times.max() - times.min())
    lat = np.concatenate(from_created) if from_created else np.zeros(0)
    lat_post = np.concatenate(from_post) if from_post else np.zeros(0)
    received = len(lat)
    expected = len(live) * len(posted)
    publish_cpu = [c for c, p in zip(samples.cpu, samples.phase) if p == "publish"]
    client_cpu = [c for c, p in zip(samples.client_cpu, samples.phase) if p == "publish"]
    errors: dict[str, int] = {}
    for r in receivers:
        if r.error:
            errors[r.error.split(":")[0]] = errors.get(r.error.split(":")[0], 0) + 1
    return {
        "clients": len(live),
        "messages": len(posted),
        "p50_ms": _ms(lat, 50),
        "p99_ms": _ms(lat, 99),
        "max_ms": round(float(lat.max()) * 1000.0, 1) if len(lat) else None,
        "latency_from": "created_ts",
        "p90_ms": _ms(lat, 90),
        "from_post_ms": {"p50": _ms(lat_post, 50), "p99": _ms(lat_post, 99),
                         "max": round(float(lat_post.max()) * 1000.0, 1) if len(lat_post) else None},
        "spread_ms": {"p50": _ms(np.array(spread), 50), "max": _ms(np.array(spread), 100)},
        "delivered": round(received / expected, 6) if expected else None,
        "received": received,
        "expected": expected,
        "lost": expected - received,
        "requested": {"clients": cfg.clients, "messages": cfg.messages, "rate_per_s": cfg.rate,
                      "deflate": cfg.deflate, "small_district": cfg.small_district},
        "connect_s": round(connect_s, 2),
        "connect_failed": cfg.clients - len(live),
        "connect_errors": errors,
        "resyncs": sum(max(0, r.snapshots - 1) for r in live),
        "post_failed": posts.failed,
        "post_ms": {"p50": _ms(np.array(posts.post_s), 50), "p99": _ms(np.array(posts.post_s), 99)},
        "server": {"cpu_pct_mean_publish": _mean(publish_cpu), "cpu_pct_max": max(samples.cpu, default=None),
                   # the server's CPU time per alert while publishing and delivering: the fan-out's cost,
                   # which unlike the latency hardly depends on what else the machine runs
                   "cpu_ms_per_message": (round(sum(publish_cpu) / 100 * SAMPLE_S * 1000 / len(posted), 1)
                                          if posted else None),
                   "rss_mb_max": round(max(samples.rss_mb, default=0.0), 1)},
        "client_cpu_pct_mean_publish": _mean(client_cpu),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_end": round(os.getloadavg()[0], 2)},
    }


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 1) if values else None


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The figures as readable lines (the CLI's output without ``--json``)."""
    s, p = result["server"], result["from_post_ms"]
    return [
        (f"clients             : {result['clients']} connected in {result['connect_s']} s "
        f"(failed {result['connect_failed']})"),
        (f"messages            : {result['messages']} alerts at {result['requested']['rate_per_s']}/s; delivered "
        f"{result['received']:,} of {result['expected']:,}, LOST {result['lost']}, resyncs {result['resyncs']}"),
        (f"created -> receipt  : p50 {result['p50_ms']} ms  p90 {result['p90_ms']} ms  p99 {result['p99_ms']} ms  "
        f"max {result['max_ms']} ms"),
        (f"POST sent -> receipt: p50 {p['p50']} ms  p99 {p['p99']} ms  max {p['max']} ms; first->last client "
        f"p50 {result['spread_ms']['p50']} ms"),
        (f"server              : CPU {s['cpu_pct_mean_publish']}% mean while publishing, {s['cpu_pct_max']}% max "
        f"(100 = one core), {s['cpu_ms_per_message']} ms per alert; RSS {s['rss_mb_max']} MB max; "
        f"bench client CPU {result['client_cpu_pct_mean_publish']}%"),
    ]
