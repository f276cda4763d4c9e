"""A background thread that sends due reminders and supervision orders and purges old evidence.

The console starts one (``alerts.check_interval_s`` in the settings); it calls
:meth:`alerts.service.AlertService.check_deadlines` and :meth:`video.evidence_store.EvidenceStore.purge`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
PURGE_EVERY_S = 3600.0


class DeadlineWatch:
    """Calls ``check()`` every ``interval_s`` and ``purge()`` about once an hour, until stopped.

    Errors are logged and the loop goes on: one bad run must not end the watch.
    """

    def __init__(
        self,
        check: Callable[[], object],
        purge: Callable[[], object],
        interval_s: float,
        purge_every_s: float = PURGE_EVERY_S,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.check = check
        self.purge = purge
        self.interval_s = interval_s
        self.purge_every_s = purge_every_s
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="alert-deadlines", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        last_purge = float("-inf")
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:
                log.exception("alert deadline check failed")
            if time.monotonic() - last_purge >= self.purge_every_s:
                last_purge = time.monotonic()
                try:
                    self.purge()
                except Exception:
                    log.exception("evidence purge failed")
            self.runs += 1


__all__ = ["DeadlineWatch"]
