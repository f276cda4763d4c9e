"""``/metrics`` and the request id on a real console under uvicorn on loopback: a camera analysed
by an in-process worker (a small clip, the motion detector), an alert through the real alert
service, telemetry posted by a gateway account, a screen on ``/ws`` — each moves its metric
between two scrapes. The token guards the scrape; the Grafana dashboard reads only metrics a
scrape has; every answer and its log lines carry one request id."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from tests.auth_support import PASSWORD, create_test_users, small_console_settings
from tests.browser import login_answer, serve
from tests.clip_support import write_crossing_clip
from tests.redis_support import wait_until
from zhizhi.models.warning.record import WarningEvent

CAMERA = "CAM-METRICS-1"
GATEWAY = "gateway-metrics"
DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "zhizhi-dashboard.json"

Samples = dict[tuple[str, frozenset], float]


@dataclass
class Live:
    base: str
    state: object
    settings: object
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_crossing_clip(tmp_path_factory.mktemp("clip") / "road.mp4", frames=30, step=6)


def _camera(clip: Path):
    from zhizhi.video.camera_config import CameraConfig, SourceConfig

    return CameraConfig(id=CAMERA, source=SourceConfig(url=str(clip), loop=True), analysis_fps=10.0)


@pytest.fixture(scope="module")
def live(tmp_path_factory, clip) -> Iterator[Live]:
    """A small console of its own with one file camera analysed in-process, served by uvicorn."""
    from zhizhi.console.app import create_app
    from zhizhi.console.state import open_console
    from zhizhi.video.detectors import make_detector
    from zhizhi.video.worker import Worker

    settings = small_console_settings(tmp_path_factory.mktemp("metrics"))
    state = open_console(settings)
    users = create_test_users(state)
    state.auth.add_user(GATEWAY, "admin", users.district_code, PASSWORD)
    worker = Worker([_camera(clip)], make_detector("motion", warmup_frames=3), state.bus.publish)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="metrics-worker", daemon=True)
    state.workers.append(worker)
    try:
        with serve(create_app(settings, state=state), log_level="info") as base:
            thread.start()
            tokens = {name: login_answer(base, name)["token"] for name in (users.district, GATEWAY)}
            yield Live(base, state, settings, tokens | {"district": tokens[users.district]})
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=10)
        worker.close()
        state.close()


def _parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _scrape(live: Live) -> Samples:
    answer = httpx.get(f"{live.base}/metrics", timeout=10, trust_env=False)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return _parse(answer.text)


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _raise_alert(state) -> None:
    grid = state.jurisdictions.grid_codes[0]
    lon, lat = state.jurisdictions.get(grid).anchor
    now = time.time()
    state.alerts.ingest(WarningEvent(rule="abnormal_stop", rule_id="metrics-stop", severity="orange", camera_id=CAMERA,
                                     track_id=7, cls="hazmat_tanker", lon=lon, lat=lat, first_ts=now - 30, last_ts=now))


def test_the_metrics_move_when_frames_alerts_telemetry_and_screens_flow(live):
    before = _scrape(live)
    assert all(name.startswith("zhizhi_") for name, _ in before), sorted({n for n, _ in before if "zhizhi_" not in n})

    # frames: analysed by the in-process worker, counted as their batches reach the console
    def analysed(samples: Samples) -> float:
        return _value(samples, "zhizhi_camera_frames_analysed_total", camera_id=CAMERA)

    assert wait_until(lambda: analysed(_scrape(live)) >= analysed(before) + 5, timeout=30)
    after = _scrape(live)
    assert _value(after, "zhizhi_camera_state", camera_id=CAMERA, state="online") == 1
    assert _value(after, "zhizhi_camera_state", camera_id=CAMERA, state="offline") == 0
    assert _value(after, "zhizhi_cameras", state="online") >= 1
    assert _value(after, "zhizhi_detector_batch_seconds_count") > _value(before, "zhizhi_detector_batch_seconds_count")
    assert _value(after, "zhizhi_camera_fps", camera_id=CAMERA) > 0
    dropped = frozenset({"camera_id": CAMERA, "stage": "analysis"}.items())
    assert ("zhizhi_camera_frames_dropped_total", dropped) in after

    # an alert opened: counted by rule, severity and source
    alerts = {"rule": "abnormal_stop", "severity": "orange", "source": "video"}
    _raise_alert(live.state)
    assert wait_until(lambda: _value(_scrape(live), "zhizhi_alerts_total", **alerts) == 1, timeout=5)

    # telemetry: one report accepted, one too old, one off the globe
    now = time.time()
    lon, lat = live.state.jurisdictions.get(live.state.jurisdictions.grid_codes[0]).anchor
    reports = [{"vehicle_id": "苏F-M1", "ts": now, "lon": lon, "lat": lat},
               {"vehicle_id": "苏F-M2", "ts": now - 10 * 86_400, "lon": lon, "lat": lat},
               {"vehicle_id": "苏F-M3", "ts": now, "lon": 999.0, "lat": lat}]
    answer = httpx.post(f"{live.base}/api/telemetry", json=reports, trust_env=False, timeout=10,
                        headers={"Authorization": f"Bearer {live.tokens[GATEWAY]}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1 and answer.json()["rejected"] == {"too_old": 1, "invalid": 1}
    sent = _scrape(live)
    for name, labels in (("zhizhi_telemetry_accepted_total", {"kind": "vehicle"}),
                         ("zhizhi_telemetry_refused_total", {"kind": "vehicle", "reason": "too_old"}),
                         ("zhizhi_telemetry_refused_total", {"kind": "vehicle", "reason": "invalid"})):
        assert _value(sent, name, **labels) == _value(before, name, **labels) + 1, (name, labels)
    assert _value(sent, "zhizhi_telemetry_refused_total", kind="vehicle", reason="jump") == 0
    garbled = httpx.post(f"{live.base}/api/telemetry", content=b"[{not json", trust_env=False, timeout=10,
                         headers={"Authorization": f"Bearer {live.tokens[GATEWAY]}",
                                  "Content-Type": "application/json"})
    assert garbled.status_code == 422
    whole = "zhizhi_telemetry_batches_refused_total"  # refused before the gate
    assert _value(_scrape(live), whole, reason="not_json") == _value(before, whole, reason="not_json") + 1

    # the database: the requests above ran statements on the console's engine
    assert _value(sent, "zhizhi_db_query_seconds_count", statement="select") > _value(
        before, "zhizhi_db_query_seconds_count", statement="select")

    # a screen on /ws: one client while it is open, none after
    assert _value(sent, "zhizhi_ws_clients") == 0
    ws_url = live.base.replace("http://", "ws://") + "/ws"
    with connect(ws_url, additional_headers={"Authorization": f"Bearer {live.tokens['district']}"},
                 open_timeout=10) as ws:
        assert re.fullmatch(r"[0-9a-f]{32}", ws.response.headers["X-Request-ID"])  # the handshake's id
        assert wait_until(lambda: _value(_scrape(live), "zhizhi_ws_clients") == 1, timeout=5)
        assert "zhizhi_ws_queue_depth_max" in {name for name, _ in _scrape(live)}
    assert wait_until(lambda: _value(_scrape(live), "zhizhi_ws_clients") == 0, timeout=5)


def test_a_metrics_token_guards_the_scrape_and_disabled_metrics_are_absent(live):
    from zhizhi.console.app import create_app
    from zhizhi.console.observability.settings import MetricsSettings

    guarded = live.settings.model_copy(update={"metrics": MetricsSettings(token="scrape-secret")})
    with TestClient(create_app(guarded, state=live.state)) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics").headers["www-authenticate"] == "Bearer"
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Basic scrape-secret"}).status_code == 401
        good = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert good.status_code == 200 and "zhizhi_ws_clients" in good.text
    off = live.settings.model_copy(update={"metrics": MetricsSettings(enabled=False)})
    with TestClient(create_app(off, state=live.state)) as client:
        assert client.get("/metrics").status_code == 404


def test_the_grafana_dashboard_reads_only_metrics_a_scrape_has(live):
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["__inputs"][0]["name"] == "DS_PROMETHEUS"
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    answer = httpx.get(f"{live.base}/metrics", timeout=10, trust_env=False)
    # every family the console declares, with samples or not yet (no forwarding target here)
    names = {name for name, _ in _parse(answer.text)} | set(re.findall(r"^# HELP (zhizhi_[a-z0-9_]+)", answer.text,
                                                                      re.MULTILINE))
    used = {m for expr in exprs for m in re.findall(r"\bzhizhi_[a-z0-9_]+", expr)}
    assert used and not used - names, sorted(used - names)
    for needed in ("zhizhi_cameras", "zhizhi_camera_frames_analysed_total", "zhizhi_camera_frames_dropped_total",
                   "zhizhi_detector_batch_seconds_bucket", "zhizhi_bus_lag_seconds_bucket", "zhizhi_alerts_total",
                   "zhizhi_ws_clients", "zhizhi_ws_queue_depth_max", "zhizhi_telemetry_refused_total",
                   "zhizhi_db_query_seconds_bucket"):
        assert needed in used, needed


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The console's and uvicorn's access log as JSON lines (configure_logging's handler)."""
    from zhizhi.console.observability.logs import JsonLineFormatter, RequestIdFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(RequestIdFilter())
    loggers = [logging.getLogger(name) for name in ("zhizhi", "uvicorn.access")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield stream
    for logger, level in zip(loggers, levels):
        logger.removeHandler(handler)
        logger.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_every_answer_and_its_log_lines_carry_one_request_id(live, json_log):
    from zhizhi.console.observability.logs import configure_logging, resolved_format
    from zhizhi.console.observability.settings import LogSettings

    login = {"username": GATEWAY, "password": PASSWORD}
    answer = httpx.post(f"{live.base}/api/auth/login", json=login, trust_env=False, timeout=30)
    request_id = answer.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert wait_until(lambda: any(line.get("logger") == "uvicorn.access" for line in _lines(json_log)), timeout=5)
    lines = [line for line in _lines(json_log) if line.get("request_id") == request_id]
    assert {line["logger"] for line in lines} >= {"zhizhi.console.auth.service", "uvicorn.access"}, _lines(json_log)
    logged_in = next(line for line in lines if "logged in" in line["message"])
    assert logged_in["level"] == "INFO" and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", logged_in["time"])

    # a proxy's id is kept (and logged); a hostile one is replaced by a fresh id
    traced = httpx.get(f"{live.base}/healthz", headers={"X-Request-ID": "lb-7f3a.42"}, trust_env=False)
    assert traced.headers["x-request-id"] == "lb-7f3a.42"
    assert wait_until(lambda: any(line.get("request_id") == "lb-7f3a.42" for line in _lines(json_log)), timeout=5)
    for hostile in ('x" forged="1', "a" * 65, "two words"):
        answer = httpx.get(f"{live.base}/healthz", headers={"X-Request-ID": hostile}, trust_env=False)
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"]), hostile
    refused = httpx.get(f"{live.base}/api/layers", headers={"X-Request-ID": "lb-refused"}, trust_env=False)
    assert refused.status_code == 401 and refused.headers["x-request-id"] == "lb-refused"

    # auto: text on a terminal, JSON lines elsewhere
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert resolved_format(LogSettings(), Terminal()) == "text"
    assert resolved_format(LogSettings(), io.StringIO()) == "json"
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        out = io.StringIO()
        assert configure_logging(LogSettings(), out) == "json"
        logging.getLogger("zhizhi.test").warning("tank %s", "满")
        line = json.loads(out.getvalue().splitlines()[-1])
        assert line["message"] == "tank 满" and line["level"] == "WARNING" and "request_id" not in line

        # on standard error as it is when a record is written: a command run in-process (a CLI
        # runner) swaps it and closes its copy; later records must not hit the closed file
        kept = logging.NullHandler()  # a test runner's capture, say: kept
        root.addHandler(kept)
        swapped, real = io.StringIO(), sys.stderr
        sys.stderr = swapped
        try:
            assert configure_logging(LogSettings(format="text")) == "text"
            logging.getLogger("zhizhi.test").warning("first")
        finally:
            sys.stderr = real
        swapped.close()
        errors = io.StringIO()
        sys.stderr = errors
        try:
            configure_logging(LogSettings(format="text"))  # again: its handler replaced, not doubled
            logging.getLogger("zhizhi.test").warning("second")
        finally:
            sys.stderr = real
        assert kept in root.handlers and out.getvalue().count("tank") == 1
        assert errors.getvalue().count("second") == 1 and "Logging error" not in errors.getvalue()
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def test_the_redis_bus_reports_each_deliverys_lag(redis_server):
    from prometheus_client import generate_latest

    from zhizhi.bus import Topic
    from zhizhi.bus.messages import CamerasChanged
    from zhizhi.bus.redis_bus import RedisBus
    from zhizhi.console.observability.metrics import ConsoleMetrics

    metrics = ConsoleMetrics()
    publisher = RedisBus(redis_server.url, node="metrics-pub")
    subscriber = RedisBus(redis_server.url, node="metrics-sub")
    try:
        got = []
        subscriber.subscribe(Topic.CAMERAS, got.append)
        stop = subscriber.observe_lag(metrics.on_lag)
        publisher.publish(Topic.CAMERAS, CamerasChanged(action="added", ids=("CAM-1",)))
        assert wait_until(lambda: got, timeout=5)
        samples = _parse(generate_latest(metrics.registry).decode())
        assert _value(samples, "zhizhi_bus_lag_seconds_count", topic="cameras") == 1
        assert 0 <= _value(samples, "zhizhi_bus_lag_seconds_sum", topic="cameras") < 2
        stop()
        publisher.publish(Topic.CAMERAS, CamerasChanged(action="added", ids=("CAM-2",)))
        assert wait_until(lambda: len(got) == 2, timeout=5)
        samples = _parse(generate_latest(metrics.registry).decode())
        assert _value(samples, "zhizhi_bus_lag_seconds_count", topic="cameras") == 1
    finally:
        publisher.stop()
        subscriber.stop()


def test_a_worker_process_serves_its_own_metrics(tmp_path, clip):
    """``zhizhi worker`` with ``metrics.worker_port``: its cameras, frames and detector latency."""
    from zhizhi.console.observability.settings import MetricsSettings
    from zhizhi.console.observability.worker_metrics import WorkerMetricsServer
    from zhizhi.console.settings import Settings
    from zhizhi.console.worker_runtime import WorkerRuntime
    from zhizhi.video.detectors import make_detector

    runtime = WorkerRuntime(Settings(data_dir=tmp_path), [_camera(clip)], make_detector("motion", warmup_frames=3))
    runtime.start()
    stop = threading.Event()
    thread = threading.Thread(target=runtime.worker.run, args=(stop,), name="metrics-worker-process", daemon=True)
    thread.start()
    server = WorkerMetricsServer(MetricsSettings(token="worker-secret"), runtime, host="127.0.0.1", port=0)
    base = f"http://127.0.0.1:{server.port}"
    auth = {"Authorization": "Bearer worker-secret"}
    try:
        assert httpx.get(f"{base}/metrics", trust_env=False).status_code == 401
        assert httpx.get(f"{base}/other", headers=auth, trust_env=False).status_code == 404

        def scrape() -> Samples:
            answer = httpx.get(f"{base}/metrics", headers=auth, trust_env=False, timeout=10)
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
            return _parse(answer.text)

        assert wait_until(lambda: _value(scrape(), "zhizhi_camera_frames_analysed_total", camera_id=CAMERA) >= 5,
                          timeout=30)
        samples = scrape()
        assert _value(samples, "zhizhi_detector_batch_seconds_count") >= 5
        assert _value(samples, "zhizhi_camera_state", camera_id=CAMERA, state="online") == 1
        assert _value(samples, "zhizhi_bus_messages_total", event="published") > 0
        assert all(name.startswith("zhizhi_") for name, _ in samples)
    finally:
        server.stop()
        stop.set()
        thread.join(timeout=10)
        runtime.stop()
