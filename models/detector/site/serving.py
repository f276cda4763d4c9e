"""Which weights each camera runs: the model store's camera-scoped production detectors, followed.

:class:`SiteDetectorFeed` reads the store's production detector versions scoped to one camera
(:meth:`models.versions.store.ModelStore.scoped_productions`: a site adaptation promoted) and
hands each camera's weights to a :class:`video.detectors.per_camera.PerCameraDetector`; a
camera whose version was retired or rolled back goes back to the shared detector. It looks again
at once on a ``models`` bus message (a promotion or rollback in this or another console) and
every ``interval_s`` seconds (``zhizhi models promote`` in another process).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from zhizhi.bus import Topic
from zhizhi.models.config_file import ModelConfigError
from zhizhi.models.versions.content import DetectorManifest, check_weights
from zhizhi.models.versions.store import ModelStore
from zhizhi.video.detectors.per_camera import PerCameraDetector

log = logging.getLogger(__name__)

Subscribe = Callable[[str, Callable[[Any], None]], Any]


def camera_weights(store: ModelStore) -> dict[str, str]:
    """Each camera's own production detector weights (checked against their SHA-256), by camera id."""
    out = {}
    for camera_id, version in store.scoped_productions("detector").items():
        try:
            manifest = version.config()
            assert isinstance(manifest, DetectorManifest)
            out[camera_id] = str(check_weights(manifest, store.base_dir, version.label))
        except ModelConfigError as exc:
            log.error("camera %s: its production detector %s cannot be used: %s", camera_id, version.label, exc)
    return out


class SiteDetectorFeed:
    """Keeps ``detector``'s per-camera weights those of the store (see the module)."""

    def __init__(self, store: ModelStore, detector: PerCameraDetector, *, subscribe: Subscribe | None = None,
                 interval_s: float = 5.0) -> None:
        self.store = store
        self.detector = detector
        self.subscribe = subscribe
        self.interval_s = interval_s
        self.applied: dict[str, str] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscription = None
        self._lock = threading.Lock()

    def refresh(self) -> dict[str, str]:
        """Read the store once and apply what changed; the cameras' weights now."""
        with self._lock:
            wanted = camera_weights(self.store)
            for camera_id in sorted(set(self.applied) | set(wanted)):
                if self.applied.get(camera_id) != wanted.get(camera_id):
                    self.detector.set_weights(camera_id, wanted.get(camera_id))
            self.applied = {c: w for c, w in wanted.items() if self.detector.weights_of(c) == w}
            return dict(self.applied)

    def poke(self, *_: object) -> None:
        self._wake.set()

    def start(self) -> SiteDetectorFeed:
        self.refresh()
        if self.subscribe is not None:
            self._subscription = self.subscribe(Topic.MODELS, self.poke)
        self._thread = threading.Thread(target=self._loop, name="site-detectors", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.refresh()
            except Exception:
                log.warning("reading the cameras' own detectors failed; trying again in %.0f s", self.interval_s,
                            exc_info=True)


def serve_site_detectors(detector, store: ModelStore | None, settings, *, subscribe: Subscribe | None = None,
                         interval_s: float = 5.0) -> tuple[Any, SiteDetectorFeed | None]:
    """``detector`` wrapped so that cameras with a promoted site detector run it (an ultralytics
    detector, gated or not: a motion detector has no weights), and the feed that keeps it so
    (started). A camera's own detector is built as the shared one is (behind the same gate)."""
    from zhizhi.video.detectors import MotionGatedDetector, UltralyticsDetector, detector_for

    if store is None or not isinstance(detector, UltralyticsDetector | MotionGatedDetector):
        return detector, None
    gated = isinstance(detector, MotionGatedDetector)

    def make(weights: str) -> Any:
        return detector_for(settings.detector, kind="ultralytics", weights=weights, gate=gated)

    per_camera = PerCameraDetector(detector, make)
    return per_camera, SiteDetectorFeed(store, per_camera, subscribe=subscribe, interval_s=interval_s).start()
