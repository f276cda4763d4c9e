"""The console's Prometheus metrics: one registry per app, counted where things happen or read
from what the components already count when ``/metrics`` is scraped.

Counted as they happen (a bus subscriber or a hook of this module):

- ``zhizhi_camera_frames_analysed_total{camera_id}``: frame batches (one per analysed frame) that
  reached this console on the ``frames`` topic — from in-process and ``zhizhi worker`` workers alike;
- ``zhizhi_alerts_total{rule,severity,source}``: alerts opened (``event == "new"`` on ``alerts``);
- ``zhizhi_bus_lag_seconds{topic}``: from a message's ``XADD`` on Redis to its delivery here (the
  in-process bus delivers in the publisher's thread: nothing to measure, the series stay at 0);
- ``zhizhi_db_query_seconds{statement}``: every statement on the console's engine (SQLAlchemy
  cursor events), by its first keyword.

Read at scrape time (:class:`ConsoleCollector`): camera states and counters, the analysis time of
in-process workers, websocket clients and their queues, the telemetry gate's and the MQTT link's
counters; and the process's CPU, memory and file descriptors (``zhizhi_process_*``).

Every name starts with ``zhizhi_`` (docs/metrics.md lists them). The registry is the app's own
(:class:`ConsoleMetrics`), never the library's global one: several consoles in one process (the
tests) each count their own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event

from zhizhi.bus import Topic
from zhizhi.bus.messages import AlertEvent
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.telemetry.errors import Reason
from zhizhi.video.status import CameraStatus
from zhizhi.video.timing import BOUNDS_S, TallySnapshot

if TYPE_CHECKING:
    from zhizhi.console.state import ConsoleState

log = logging.getLogger(__name__)

#: The states a camera can be in (:data:`zhizhi.bus.messages.camera_status.CameraState`), and
#: ``unknown``: in the camera registry, no status seen yet.
CAMERA_STATES = ("starting", "online", "reconnecting", "offline", "unknown")
#: Statement kinds of ``zhizhi_db_query_seconds`` (the first keyword; ``other`` for the rest).
STATEMENTS = ("select", "insert", "update", "delete", "other")
DB_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BUS_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


#: Why a whole telemetry POST is refused before its reports reach the gate (console/api/telemetry.py).
TELEMETRY_BATCH_REFUSALS = ("too_large", "too_many", "not_json", "not_a_list", "behind")


class ConsoleMetrics:
    """The metrics of one console app: its registry, the counters fed by hooks, and
    :meth:`bind` / :meth:`unbind` to a running :class:`~zhizhi.console.state.ConsoleState`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.frames = Counter(
            "zhizhi_camera_frames_analysed", "Frames analysed (one frames-topic batch each) that reached this "
            "console, by camera.", ["camera_id"], registry=self.registry)
        self.alerts = Counter(
            "zhizhi_alerts", "Alerts opened, by rule ('reported': a reported event), severity and source.",
            ["rule", "severity", "source"], registry=self.registry)
        self.bus_lag = Histogram(
            "zhizhi_bus_lag_seconds", "Seconds from a message's publication on the Redis bus to its delivery "
            "at this console, by topic (none on the in-process bus).", ["topic"], buckets=BUS_BUCKETS_S,
            registry=self.registry)
        self.telemetry_batches_refused = Counter(
            "zhizhi_telemetry_batches_refused", "Telemetry POSTs refused whole before the gate, by reason: "
            "too_large, too_many, not_json, not_a_list (4xx), behind (503: the trajectory rules lag).", ["reason"],
            registry=self.registry)
        for reason in TELEMETRY_BATCH_REFUSALS:
            self.telemetry_batches_refused.labels(reason)
        self.db = Histogram(
            "zhizhi_db_query_seconds", "Seconds per database statement of the console, by its first keyword.",
            ["statement"], buckets=DB_BUCKETS_S, registry=self.registry)
        for topic in Topic:
            self.bus_lag.labels(str(topic))
        for kind in STATEMENTS:
            self.db.labels(kind)
        self.state: ConsoleState | None = None  # set by bind: what the collector reads
        self._undo: list[Callable[[], None]] = []
        ProcessCollector(namespace="zhizhi", registry=self.registry)
        self.collector = ConsoleCollector(lambda: self.state)
        self.registry.register(self.collector)

    # --- hooks ----------------------------------------------------------------------------
    def bind(self, state: ConsoleState) -> None:
        """Count ``state``'s frames, alerts, bus lag and statements from now on."""
        self.unbind()
        self.state = state
        for topic, handler in ((Topic.FRAMES, self.on_frame), (Topic.ALERTS, self.on_alert)):
            self._undo.append(state.bus.subscribe(topic, handler).cancel)
        observe_lag = getattr(state.bus, "observe_lag", None)  # the Redis bus
        if observe_lag is not None:
            self._undo.append(observe_lag(self.on_lag))
        self._undo.append(time_statements(state.engine, self.db))

    def unbind(self) -> None:
        while self._undo:
            try:
                self._undo.pop()()
            except Exception:  # a bus already stopped: nothing left to cancel
                log.debug("metrics: unbinding failed", exc_info=True)
        self.state = None

    def on_frame(self, batch: ObservationBatch) -> None:
        self.frames.labels(batch.camera_id).inc()

    def on_alert(self, message: AlertEvent) -> None:
        if message.event == "new":
            # a reported event's category is free text: one label value for them all (bounded series)
            self.alerts.labels(message.rule or "reported", message.severity, message.source).inc()

    def on_lag(self, topic: str, lag_s: float) -> None:
        self.bus_lag.labels(topic).observe(lag_s)


def time_statements(engine: Any, histogram: Histogram) -> Callable[[], None]:
    """Time every statement on ``engine`` into ``histogram`` (by :func:`statement_kind`); returns
    the function that stops it. The start time sits on the connection, which runs one statement
    at a time (a statement that fails is not timed; the next one overwrites its start)."""
    key = f"zhizhi_metrics_started_{id(histogram)}"

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info[key] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany) -> None:
        started = conn.info.pop(key, None)
        if started is not None:
            histogram.labels(statement_kind(statement)).observe(time.perf_counter() - started)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)

    def stop() -> None:
        for name, fn in (("before_cursor_execute", before), ("after_cursor_execute", after)):
            if event.contains(engine, name, fn):
                event.remove(engine, name, fn)

    return stop


def statement_kind(statement: str) -> str:
    """``select``, ``insert``, ``update``, ``delete`` or ``other`` (a ``WITH`` ... counts as other).

    >>> statement_kind("  SELECT 1"), statement_kind("insert into t values (1)"), statement_kind("PRAGMA x")
    ('select', 'insert', 'other')
    """
    word = statement.lstrip()[:6].lower()
    return word if word in STATEMENTS else "other"


class ConsoleCollector(Collector):
    """What the console's components count, read when scraped (see the module)."""

    def __init__(self, state: Callable[[], ConsoleState | None]) -> None:
        self._state = state

    def describe(self) -> Iterable:
        return []  # families depend on the state; no name clashes to check at registration

    def collect(self) -> Iterator:
        state = self._state()
        if state is None:
            return
        yield InfoMetricFamily("zhizhi_console", "The console: its district and bus node.", value={
            "district": state.jurisdictions.district_code, "node": state.settings.bus.resolved_node})
        yield from camera_families(state)
        yield detector_family(state)
        yield from bus_families(state.bus)
        yield from websocket_families(state)
        yield from telemetry_families(state)
        yield from forward_families(state)


def in_process_workers(state: ConsoleState) -> list:
    """The frame-analysis workers running in this process (the demo's, the registry's cameras)."""
    found = [*state.workers]
    feed_worker = getattr(state.camera_feed, "worker", None)
    if feed_worker is not None:
        found.append(feed_worker)
    unique: dict[int, Any] = {id(w): w for w in found}
    return list(unique.values())


def camera_families(state: ConsoleState) -> Iterator:
    """Each camera's state, rate, dropped frames and reconnects, and the cameras by state, from
    the statuses the bus brought and this process's workers (whose live statuses win)."""
    statuses: dict[str, CameraStatus | dict] = {}
    if state.live is not None:
        for message in state.live.camera_statuses(state.jurisdictions.district_code):
            statuses[message["camera_id"]] = message
    workers = in_process_workers(state)
    for worker in workers:
        if hasattr(worker, "statuses"):
            statuses.update(worker.statuses())
    unseen = sum(1 for camera in state.cameras.cameras if camera.id not in statuses)
    yield from status_families(statuses, analysis_dropped(workers), unseen)


def analysis_dropped(workers: Iterable) -> dict[str, int]:
    """Due frames each camera's worker replaced before analysis (:meth:`Worker.stats`), by camera."""
    dropped: dict[str, int] = {}
    for worker in workers:
        if hasattr(worker, "stats") and hasattr(worker, "detect_latency"):
            for camera_id, counts in worker.stats()["per_camera"].items():
                dropped[camera_id] = counts["dropped"]
    return dropped


def status_families(statuses: dict[str, CameraStatus | dict], dropped_in_analysis: dict[str, int],
                    unseen: int = 0) -> Iterator:
    """The camera families of ``statuses`` (messages or their wire form, by camera id): 1 for each
    camera's current state, its rate, dropped frames and reconnects, and the cameras by state
    (``unseen``: registered cameras without a status, counted ``unknown``)."""
    per_state = GaugeMetricFamily("zhizhi_camera_state", "1 for the camera's current state (starting, online, "
                                  "reconnecting, offline), 0 for the others.", labels=["camera_id", "state"])
    fps = GaugeMetricFamily("zhizhi_camera_fps", "The camera source's measured frame rate.", labels=["camera_id"])
    dropped = CounterMetricFamily(
        "zhizhi_camera_frames_dropped", "Frames dropped: 'source' replaced in the reader's slot before the "
        "worker took them, 'analysis' replaced by a newer due frame before analysis (in-process workers).",
        labels=["camera_id", "stage"])
    reconnects = CounterMetricFamily("zhizhi_camera_reconnects", "Attempts to open a camera's source again.",
                                     labels=["camera_id"])
    by_state = dict.fromkeys(CAMERA_STATES, 0)
    for camera_id, status in sorted(statuses.items()):
        fields = status if isinstance(status, dict) else status.model_dump()
        current = fields.get("state", "unknown")
        by_state[current if current in by_state else "unknown"] += 1
        for name in CAMERA_STATES[:-1]:
            per_state.add_metric([camera_id, name], 1.0 if name == current else 0.0)
        fps.add_metric([camera_id], float(fields.get("fps") or 0.0))
        dropped.add_metric([camera_id, "source"], float(fields.get("dropped") or 0))
        reconnects.add_metric([camera_id], float(fields.get("reconnects") or 0))
    for camera_id, n in sorted(dropped_in_analysis.items()):
        dropped.add_metric([camera_id, "analysis"], float(n))
    by_state["unknown"] += unseen
    cameras = GaugeMetricFamily("zhizhi_cameras", "Cameras by state ('unknown': registered, no status seen).",
                                labels=["state"])
    for name, n in by_state.items():
        cameras.add_metric([name], float(n))
    yield from (cameras, per_state, fps, dropped, reconnects)


def detector_family(state: ConsoleState) -> HistogramMetricFamily:
    """The analysis time of each step of this process's workers (one detector call on a batch)."""
    return detector_family_of(in_process_workers(state))


def detector_family_of(workers: Iterable) -> HistogramMetricFamily:
    """The analysis steps of ``workers`` (their :attr:`Worker.detect_latency`), merged."""
    merged = TallySnapshot(BOUNDS_S, [0] * (len(BOUNDS_S) + 1), 0, 0.0)
    for worker in workers:
        tally = getattr(worker, "detect_latency", None)
        if tally is None:
            continue
        snap = tally.snapshot()
        merged = TallySnapshot(snap.bounds, [a + b for a, b in zip(merged.cumulative, snap.cumulative)],
                               merged.count + snap.count, merged.total_s + snap.total_s)
    buckets = [(str(bound), n) for bound, n in zip(merged.bounds, merged.cumulative)]
    buckets.append(("+Inf", merged.count))
    return HistogramMetricFamily(
        "zhizhi_detector_batch_seconds", "Seconds per analysis step of this process's workers: one detector "
        "call on up to max_batch frames, tracking and geolocation included.",
        buckets=buckets, sum_value=merged.total_s)


def bus_families(bus: Any) -> Iterator:
    """The Redis bus's counters (published, sent, delivered, failed, dropped, reconnects ...), its
    outbox and connection; the in-process bus: the messages published."""
    stats = bus.stats() if hasattr(bus, "stats") else {"published": getattr(bus, "published", 0)}
    counters = CounterMetricFamily("zhizhi_bus_messages", "The bus's counters: published, sent (to Redis), "
                                   "delivered, failed, dropped (outbox full), caught_up, decode_errors ...",
                                   labels=["event"])
    for name, value in sorted(stats.items()):
        if isinstance(value, int) and not isinstance(value, bool) and name != "outbox":
            counters.add_metric([name], float(value))
    yield counters
    yield GaugeMetricFamily("zhizhi_bus_outbox", "Messages waiting to be written to Redis.",
                            value=float(stats.get("outbox", 0)))
    yield GaugeMetricFamily("zhizhi_bus_connected", "1 while every connection of the Redis bus is up (1 in-process).",
                            value=1.0 if stats.get("connected", True) else 0.0)


def websocket_families(state: ConsoleState) -> Iterator:
    hub = state.hub
    depths = hub.queue_depths() if hub is not None else []
    yield GaugeMetricFamily("zhizhi_ws_clients", "Screens connected to /ws.", value=len(depths))
    yield GaugeMetricFamily("zhizhi_ws_queue_depth_max", "Messages waiting in the fullest client queue.",
                            value=max(depths, default=0))
    yield GaugeMetricFamily("zhizhi_ws_queued_messages", "Messages waiting in all client queues.", value=sum(depths))
    yield GaugeMetricFamily("zhizhi_ws_queue_capacity", "A client queue's size (a full one resyncs the client).",
                            value=hub.queue_size if hub is not None else 0)
    yield CounterMetricFamily("zhizhi_ws_messages", "Live messages published (the hub's seq).",
                              value=hub.seq if hub is not None else 0)
    yield CounterMetricFamily("zhizhi_ws_clients_dropped", "Clients dropped for a socket that stopped reading.",
                              value=hub.dropped if hub is not None else 0)


def telemetry_families(state: ConsoleState) -> Iterator:
    """The gate's counters (HTTP and MQTT reports alike), and the MQTT link's own."""
    counts = state.gate.counts()
    accepted = CounterMetricFamily("zhizhi_telemetry_accepted", "Reports accepted by the telemetry gate.",
                                   labels=["kind"])
    refused = CounterMetricFamily("zhizhi_telemetry_refused", "Reports refused by the telemetry gate, by reason.",
                                  labels=["kind", "reason"])
    for kind, prefix in (("vehicle", ""), ("drone", "drone_")):
        accepted.add_metric([kind], float(counts.get(f"{prefix}accepted", 0)))
        for reason in Reason:
            refused.add_metric([kind, reason.value], float(counts.get(f"{prefix}{reason.value}", 0)))
    yield accepted
    yield refused
    mqtt = CounterMetricFamily("zhizhi_telemetry_mqtt_events", "The MQTT link's counters: messages, malformed, "
                               "connects, disconnects, handler_errors ...", labels=["event"])
    if state.mqtt is not None:
        for name, n in sorted(state.mqtt.counts().items()):
            mqtt.add_metric([name], float(n))
    yield mqtt


#: What happens to a delivery to a webhook target (alerts/forward/deliver.py).
FORWARD_OUTCOMES = ("queued", "delivered", "retried", "dead", "resent")


def forward_families(state: ConsoleState) -> Iterator:
    """Alert forwarding: deliveries by target and outcome, and what waits in each target's queue."""
    deliveries = CounterMetricFamily("zhizhi_forward_deliveries", "Alert deliveries to webhook targets by "
                                     "outcome: queued, delivered, retried (an attempt failed), dead "
                                     "(dead-lettered), resent (a dead letter delivered).", labels=["target", "outcome"])
    pending = GaugeMetricFamily("zhizhi_forward_pending", "Deliveries waiting in a target's queue.", labels=["target"])
    forwarder = state.forwarder
    if forwarder is not None:
        counts = forwarder.counts()
        for target, waiting in sorted(forwarder.pending_by_target().items()):
            pending.add_metric([target], float(waiting))
            for outcome in FORWARD_OUTCOMES:
                deliveries.add_metric([target, outcome], float(counts.get((target, outcome), 0)))
    yield deliveries
    yield pending
