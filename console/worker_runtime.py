"""The start-up and shutdown of a ``zhizhi worker`` process: the same ordered steps as a console's.

:class:`WorkerRuntime` starts, in order, the bus, the evidence recorder (on a shared bus), the
frame-analysis worker, the camera leases (on a shared bus), the camera registry's feed (when
the cameras come from the registry) and the frame publisher (on a shared bus), and stops them in
reverse (:class:`~zhizhi.console.lifecycle.Lifecycle`). On the in-process bus the worker runs
every camera of its file; on a Redis bus several workers share them by lease, write evidence
into the folder the consoles share and put their newest frames into Redis.

Without a file (``configs`` is ``None``) the cameras are the camera registry's enabled cameras
with a main stream, in the database of ``settings``; a camera added, changed, disabled or
removed there reaches the running worker (and its leases) without a restart
(:class:`~zhizhi.video.registry_feed.RegistryFeed`: the ``cameras`` topic, else polling).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from zhizhi.bus import Bus, Topic
from zhizhi.console.lifecycle import Lifecycle
from zhizhi.console.scaleout import is_shared, open_bus
from zhizhi.console.settings import Settings
from zhizhi.video.camera_config import CameraConfig

log = logging.getLogger("zhizhi.worker")

#: ``echo(topic, message)``: called with every message the worker publishes (``--jsonl``).
Echo = Callable[[str, Any], None]


class WorkerRuntime(Lifecycle):
    """Starts and stops what a worker process runs (see the module)."""

    WHAT = "worker"
    STEPS = ("bus", "recorder", "worker", "leases", "cameras", "frames", "recordings")

    def __init__(self, settings: Settings, configs: Sequence[CameraConfig] | None, detector, *,
                 echo: Echo | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.from_registry = configs is None
        self.configs = list(configs or [])
        self.by_id: dict[str, CameraConfig] = {c.id: c for c in self.configs}
        self.detector = detector
        self.echo = echo
        self.bus: Bus | None = None
        self.recorder = self.worker = self.leases = self.frames = self.feed = self.site_detectors = None
        self.recordings = None  # the cameras' recordings in segments (settings.recording)
        self._engine = None
        self._models_engine = None

    @property
    def shared(self) -> bool:
        return self.bus is not None and is_shared(self.bus)

    def publish(self, topic: str, message: Any) -> None:
        """The worker's messages onto the bus (and to ``echo``)."""
        assert self.bus is not None
        self.bus.publish(topic, message)
        if self.echo is not None:
            self.echo(topic, message)

    def start_bus(self) -> None:
        self.bus = open_bus(self.settings)

    def stop_bus(self) -> None:
        if self.bus is not None:
            self.bus.stop()

    def start_recorder(self) -> None:
        if self.shared:
            self.recorder = shared_evidence_recorder(self.settings, self.bus)

    def stop_recorder(self) -> None:
        """Finish the clips being written (after the worker's last frames)."""
        if self.recorder is not None:
            self.recorder.stop()

    def start_worker(self) -> None:
        from zhizhi.video.worker import Worker

        assert self.bus is not None
        self.detector = self.with_site_detectors(self.detector)
        self.worker = Worker([] if self.shared or self.from_registry else self.configs, self.detector, self.publish,
                             evidence=self.recorder, jpeg_quality=self.settings.worker.jpeg_quality,
                             subscribe=self.bus.subscribe)

    def stop_worker(self) -> None:
        if self.site_detectors is not None:
            self.site_detectors.stop()
        if self.worker is not None:
            self.worker.close()
        if self._models_engine is not None:
            self._models_engine.dispose()

    def with_site_detectors(self, detector):
        """``detector``, running the cameras' own promoted detectors (``zhizhi adapt``) for them, as
        the model store of the settings' database says (without a database: as it is)."""
        from zhizhi.console.state import MODEL_POLL_S
        from zhizhi.layers import make_engine
        from zhizhi.layers.db import DatabaseError
        from zhizhi.models.detector.site.serving import serve_site_detectors
        from zhizhi.models.versions.store import ModelStore

        url = self.settings.resolved_database_url
        if not self.from_registry and url.startswith("sqlite") and not _sqlite_file_exists(url):
            return detector  # a camera file and no database: nothing to follow (and none made)
        try:
            self._models_engine = make_engine(url)
            store = ModelStore(self._models_engine)
        except DatabaseError as exc:
            log.warning("the cameras' own detectors are not used: %s", exc)
            return detector
        detector, self.site_detectors = serve_site_detectors(detector, store, self.settings,
                                                             subscribe=self.bus.subscribe, interval_s=MODEL_POLL_S)
        return detector

    def start_leases(self) -> None:
        if self.shared:
            self.leases = worker_leases(self.settings, self.worker, lambda: self.by_id)

    def stop_leases(self) -> None:
        """Hand the cameras back at once (other workers take them within a renew period)."""
        if self.leases is not None:
            self.leases.stop(release=True)

    def start_cameras(self) -> None:
        """The registry's cameras, followed while the worker runs (without a camera file)."""
        if not self.from_registry:
            return
        from zhizhi.console.cameras import CAMERA_POLL_S
        from zhizhi.layers import make_engine
        from zhizhi.layers.camera_registry import CameraRegistry
        from zhizhi.video.registry_feed import RegistryFeed

        assert self.bus is not None
        self._engine = make_engine(self.settings.resolved_database_url)
        self.feed = RegistryFeed(CameraRegistry(self._engine), self.apply_cameras, subscribe=self.bus.subscribe,
                                 interval_s=CAMERA_POLL_S).start()

    def stop_cameras(self) -> None:
        if self.feed is not None:
            self.feed.stop()
        if self._engine is not None:
            self._engine.dispose()

    def apply_cameras(self, configs: list[CameraConfig]) -> None:
        """Run the registry's cameras: all of them, or on a shared bus those this worker's leases
        hold (a camera gone from the registry is handed back, a new one shared out)."""
        self.by_id = {c.id: c for c in configs}
        if self.leases is None:
            self.worker.set_cameras(configs)
            return
        self.leases.set_cameras(list(self.by_id))
        owned = self.leases.owned
        self.worker.set_cameras([self.by_id[i] for i in sorted(owned) if i in self.by_id])

    def start_frames(self) -> None:
        if self.shared:
            from zhizhi.video.shared_frames import FramePublisher, SharedFrames

            worker = self.worker
            self.frames = FramePublisher(SharedFrames(self.settings.bus.url, prefix=self.settings.bus.prefix),
                                         lambda: worker.camera_ids, worker.latest_jpeg).start()

    def stop_frames(self) -> None:
        if self.frames is not None:
            self.frames.stop()

    def start_recordings(self) -> None:
        from zhizhi.console.recording import recorder_from_settings

        self.recordings = recorder_from_settings(self.settings)
        if self.recordings is not None:
            worker = self.worker
            self.recordings.listen(self.bus.subscribe).follow(lambda: [worker])

    def stop_recordings(self) -> None:
        """Close the segments being written (each stays playable)."""
        if self.recordings is not None:
            self.recordings.stop()


def _sqlite_file_exists(url: str) -> bool:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    database = make_url(url).database
    return bool(database) and database != ":memory:" and Path(database).is_file()


def shared_evidence_recorder(settings: Settings, bus: Bus):
    """Evidence of a worker in its own process: snapshots, clips and tracks of its cameras' alerts are
    written to the evidence folder the consoles share (``alerts.evidence_dir``, by default
    ``data_dir/evidence``; a network folder across machines) and announced on the bus
    (``Topic.EVIDENCE``) for a console to attach to the alert."""
    from zhizhi.bus.messages import EvidenceAttached
    from zhizhi.video.evidence import EvidenceRecorder
    from zhizhi.video.evidence_store import EvidenceStore

    def announce(alert_id: str, *, snapshot: str | None = None, clip: str | None = None,
                 track: str | None = None, camera_id: str | None = None) -> None:
        bus.publish(Topic.EVIDENCE, EvidenceAttached(alert_id=alert_id, snapshot=snapshot, clip=clip, track=track,
                                                     camera_id=camera_id))

    store = EvidenceStore(settings.resolved_evidence_dir, settings.alerts.retention_days)
    return EvidenceRecorder(store, announce, **settings.worker.evidence_options).attach(bus)


def worker_leases(settings: Settings, runner,
                  configs: Sequence[CameraConfig] | Callable[[], Mapping[str, CameraConfig]]):
    """Camera leases of a worker on a shared bus: the worker runs the cameras it holds.

    ``configs``: the cameras, or a function giving the current ones by id (they change: the
    camera registry's)."""
    from zhizhi.video.leases import CameraLeases

    if callable(configs):
        current = configs
    else:
        fixed = {c.id: c for c in configs}

        def current() -> Mapping[str, CameraConfig]:
            return fixed

    def on_change(owned: set[str]) -> None:
        log.info("cameras of this worker: %s", ", ".join(sorted(owned)) or "none")
        by_id = current()
        runner.set_cameras([by_id[i] for i in sorted(owned) if i in by_id])

    return CameraLeases(settings.bus.url, settings.bus.resolved_node, list(current()),
                        ttl_s=settings.bus.lease_ttl_s, prefix=settings.bus.prefix, on_change=on_change).start()


__all__ = ["WorkerRuntime", "shared_evidence_recorder", "worker_leases"]
