"""Production changes made by another process, noticed by polling the model store."""

from __future__ import annotations

import logging
import threading

from zhizhi.models.versions.content import KINDS
from zhizhi.models.versions.record import Listener, ModelVersion
from zhizhi.models.versions.store import ModelStore

log = logging.getLogger(__name__)


class ModelWatch:
    """Notices production changes another process made (``zhizhi models promote``) by polling.

    Every ``interval_s`` it reads each kind's production version; one that differs from the last
    seen is handed to ``on_change(version, "promote")``. Changes made through this process's
    store are noted as they happen (:meth:`ModelStore.on_promoted`), so they are not reported
    twice.
    """

    def __init__(self, store: ModelStore, on_change: Listener, *, interval_s: float = 5.0) -> None:
        self.store = store
        self.on_change = on_change
        self.interval_s = interval_s
        self._seen = {kind: self._label(store.production(kind)) for kind in KINDS}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        store.on_promoted(lambda version, _action: self._note(version))

    @staticmethod
    def _label(version: ModelVersion | None) -> str | None:
        return None if version is None else f"{version.label}:{version.checksum}"

    def _note(self, version: ModelVersion) -> None:
        if version.scope:  # a camera's own version: not the kind's district-wide production
            return
        with self._lock:
            self._seen[version.kind] = self._label(version)

    def check(self) -> list[ModelVersion]:
        """Report the kinds whose production changed since last seen; those versions.

        A change made through this process's store between the read and the report (a rollback
        at the console) was announced before this one: production is read once more after the
        report, and what is in production then is announced last, so the runners end on it.
        """
        changed = []
        for kind in KINDS:
            current = self.store.production(kind)
            with self._lock:
                if current is None or self._seen.get(kind) == self._label(current):
                    continue
                self._seen[kind] = self._label(current)
            changed.append(current)
            log.info("%s model %s went into production elsewhere", kind, current.label)
            self._report(current)
            latest = self.store.production(kind)
            if latest is not None and self._label(latest) != self._label(current):
                with self._lock:
                    self._seen[kind] = self._label(latest)
                log.info("%s model %s went into production meanwhile; announced again", kind, latest.label)
                self._report(latest)
        return changed

    def _report(self, version: ModelVersion) -> None:
        try:
            self.on_change(version, "promote")
        except Exception:
            log.exception("applying %s model %s failed", version.kind, version.label)

    def start(self) -> ModelWatch:
        """Poll in a daemon thread until :meth:`stop`."""
        if self._thread is None and self.interval_s > 0:
            self._thread = threading.Thread(target=self._loop, name="model-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:
                log.warning("reading the model store failed; trying again in %.0f s", self.interval_s, exc_info=True)
