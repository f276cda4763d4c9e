"""Ordered start and reverse stop of a process's subsystems: the machinery of the runtimes.

A subclass names its steps in :attr:`Lifecycle.STEPS` and gives each a ``start_<step>`` and a
``stop_<step>`` method. :meth:`Lifecycle.start` runs the starts in order, logging each; a start
that fails stops the steps already started, itself included (each ``stop_*`` copes with a
half-done start), and re-raises. :meth:`Lifecycle.stop` runs the stops of the started steps in
reverse order, once; a stop that fails is logged and the others still run.

>>> class Two(Lifecycle):
...     STEPS = ("a", "b")
...     def start_a(self): pass
...     def stop_a(self): pass
...     def start_b(self): pass
...     def stop_b(self): pass
>>> with Two() as two:
...     two.adopt("c", lambda: None)
>>> two.history
[('start', 'a'), ('start', 'b'), ('start', 'c'), ('stop', 'c'), ('stop', 'b'), ('stop', 'a')]
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import ClassVar, Self

log = logging.getLogger(__name__)


class Lifecycle:
    """Steps started in order and stopped in reverse (see the module)."""

    #: The start order; :meth:`stop` goes backwards.
    STEPS: ClassVar[tuple[str, ...]] = ()
    #: What the log calls the whole ("console", "worker").
    WHAT: ClassVar[str] = "process"

    def __init__(self) -> None:
        #: ``("start" | "stop", step)`` in the order they ran.
        self.history: list[tuple[str, str]] = []
        self._started: list[tuple[str, Callable[[], None]]] = []
        self._phase = "new"  # new, running, stopped
        self._lock = threading.RLock()

    def start(self) -> Self:
        """Start every step in order (once); on a failure, stop what started and re-raise."""
        with self._lock:
            if self._phase == "running":
                return self
            if self._phase == "stopped":
                raise RuntimeError(f"a stopped {self.WHAT} runtime does not start again; make a new one")
            self._phase = "running"
            began = time.monotonic()
            for step in self.STEPS:
                self._record("start", step)
                self._started.append((step, getattr(self, f"stop_{step}")))
                try:
                    getattr(self, f"start_{step}")()
                except BaseException:
                    log.error("%s start-up failed at %s; stopping the %d step(s) started", self.WHAT, step,
                              len(self._started))
                    self.stop()
                    raise
            log.info("%s started in %.1f s", self.WHAT, time.monotonic() - began)
            return self

    def adopt(self, name: str, stop: Callable[[], None]) -> None:
        """Something started on top of the steps (a demo feed): stopped first by :meth:`stop`."""
        with self._lock:
            if self._phase != "running":
                raise RuntimeError(f"cannot adopt {name!r}: the {self.WHAT} runtime is {self._phase}")
            self._record("start", name)
            self._started.append((name, stop))

    def stop(self) -> None:
        """Stop the started steps in reverse order (idempotent; a failing stop is logged)."""
        with self._lock:
            if self._phase == "stopped":
                return
            self._phase = "stopped"
            while self._started:
                step, stop = self._started.pop()
                self._record("stop", step)
                try:
                    stop()
                except Exception:
                    log.exception("stopping %s failed; stopping the others", step)

    @property
    def running(self) -> bool:
        return self._phase == "running"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _record(self, action: str, step: str) -> None:
        self.history.append((action, step))
        log.info("%s %s: %s", self.WHAT, "starting" if action == "start" else "stopping", step)


__all__ = ["Lifecycle"]
