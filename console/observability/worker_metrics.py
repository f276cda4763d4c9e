"""``/metrics`` of a ``zhizhi worker`` process (``settings.metrics.worker_port``), which has no
web server of its own: its cameras (states, frames analysed and dropped), the detector's step
latency, its bus and the process, on a small threaded WSGI server in a background thread.

Same names as a console's (docs/metrics.md): a console counts the frames that reached it, a
worker those it analysed (``zhizhi_camera_frames_analysed_total``, from :meth:`Worker.stats`),
and the detector histogram of a scale-out deployment comes from here. The token of
``settings.metrics`` guards it as it guards the consoles'.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, ProcessCollector, make_wsgi_app
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from zhizhi.console.observability.metrics import analysis_dropped, bus_families, detector_family_of, status_families
from zhizhi.console.observability.settings import MetricsSettings

log = logging.getLogger(__name__)


class WorkerCollector(Collector):
    """What a worker process counts, read when scraped; ``runtime`` has ``worker`` and ``bus``."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def describe(self) -> Iterable:
        return []

    def collect(self) -> Iterator:
        worker, bus = self.runtime.worker, self.runtime.bus
        workers = [worker] if worker is not None else []
        analysed = CounterMetricFamily("zhizhi_camera_frames_analysed", "Frames this worker analysed, by camera.",
                                       labels=["camera_id"])
        for w in workers:
            for camera_id, counts in sorted(w.stats()["per_camera"].items()):
                analysed.add_metric([camera_id], float(counts["analysed"]))
        yield analysed
        statuses = {cid: s for w in workers for cid, s in w.statuses().items()}
        yield from status_families(statuses, analysis_dropped(workers))
        yield detector_family_of(workers)
        if bus is not None:
            yield from bus_families(bus)


def worker_registry(runtime: Any) -> CollectorRegistry:
    """A registry of the worker's metrics and its process's."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(namespace="zhizhi", registry=registry)
    registry.register(WorkerCollector(runtime))
    return registry


def metrics_app(registry: CollectorRegistry, token: str | None) -> Callable:
    """The WSGI app: ``GET /metrics`` (bearer ``token`` when set, 401 otherwise), 404 elsewhere."""
    inner = make_wsgi_app(registry)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if token is not None:
            scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
                return [b"metrics need 'Authorization: Bearer <metrics token>'\n"]
        return inner(environ, start_response)

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics: " + format, *args)


class WorkerMetricsServer:
    """The worker's ``/metrics`` on ``host:port`` in a daemon thread; :meth:`stop` ends it."""

    def __init__(self, settings: MetricsSettings, runtime: Any, *, host: str | None = None,
                 port: int | None = None) -> None:
        token = settings.token.get_secret_value() if settings.token is not None else None
        self.registry = worker_registry(runtime)
        self._server = make_server(host or settings.worker_host, settings.worker_port if port is None else port,
                                   metrics_app(self.registry, token), server_class=_Server,
                                   handler_class=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="worker-metrics", daemon=True)
        self._thread.start()
        log.info("worker metrics on http://%s:%d/metrics", self._server.server_address[0], self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
