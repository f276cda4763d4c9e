"""Running the trajectory rules live: telemetry batches from the bus in, warnings handed on.

The console's telemetry gate publishes accepted fixes on :data:`~zhizhi.bus.Topic.TELEMETRY`
as one :class:`~zhizhi.bus.messages.telemetry.FixBatch` per accepted batch, validated once, at
the gate. A :class:`TrajectoryRunner` queues them as they are (bus handlers
only enqueue) and one thread owns the engine: it feeds each batch in order, calls
:meth:`tick` every ``tick_s`` seconds of wall time (signal loss needs the clock, not a fix) and
hands every :class:`~models.warning.record.WarningEvent` to ``on_warning``.

Fixes are never dropped: a track with a hole would stop for minutes and raise a false
abnormal stop. Instead the queue reports its ``backlog``, and the ingest refuses new batches
(HTTP 503, the gateway retries) while :meth:`full` — back-pressure, not loss.

:meth:`TrajectoryRunner.swap_model` replaces the rules while the runner runs (a promotion in
the model store): queued behind the batches already waiting, so earlier fixes meet the old
rules and later ones the new. The old engine's live warnings are ended cleanly
(``active=False``, handed on) and its debounce timers dropped; the new engine keeps the places,
the registry and each vehicle's last fix, so signal loss and derived speeds carry on.

>>> from zhizhi.bus import InProcessBus, Topic
>>> from zhizhi.bus.messages.telemetry import Fix, FixBatch
>>> class Echo:
...     def feed(self, fixes): return []
...     def tick(self, now): return []
>>> bus = InProcessBus()
>>> runner = TrajectoryRunner(Echo(), print, tick_s=60).attach(bus).start()
>>> bus.publish(Topic.TELEMETRY, FixBatch((Fix("苏F-1", 1e9, 120.9, 32.0),)))
>>> runner.wait_idle() and runner.stop()
True
>>> runner.stats()["fixes"], runner.stats()["batches"]
(1, 1)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from zhizhi.bus import Topic
from zhizhi.bus.messages.telemetry import Fix, FixBatch
from zhizhi.models.trajectory.config import TrajectoryModelConfig
from zhizhi.models.warning.record import WarningEvent
from zhizhi.models.warning.runner import LOG_EVERY_S, OnWarning, RunnerBase, _Throttle

log = logging.getLogger(__name__)


class Engine(Protocol):
    """What the runner drives (:class:`models.trajectory.engine.TrajectoryEngine`)."""

    def feed(self, fixes: Sequence[Fix]) -> list[WarningEvent]: ...

    def tick(self, now_ts: float) -> list[WarningEvent]: ...


class _Swap:
    """A queued engine replacement."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine


class TrajectoryRunner(RunnerBase):
    """Feeds one trajectory engine from the bus in a thread of its own.

    ``stats()`` counts ``batches`` and ``fixes`` processed, ``warnings`` handed on,
    ``ticks``, ``malformed`` messages, ``swaps`` (rules replaced), ``errors`` (the engine or
    ``on_warning`` raised) and the current ``backlog`` (fixes queued).
    """

    what = "the trajectory rules"
    thread_name = "trajectory-runner"

    def __init__(
        self,
        engine: Engine,
        on_warning: OnWarning,
        *,
        tick_s: float = 10.0,
        max_backlog: int = 200_000,
        clock: Callable[[], float] = time.time,
        observers: Sequence[Callable[[list[Fix]], object]] = (),
    ) -> None:
        self.engine = engine
        self.on_warning = on_warning
        self.tick_s = tick_s
        self.max_backlog = max_backlog
        self.clock = clock
        self.observers = list(observers)  # e.g. the video fusion's position history
        self._queue: deque[list[Fix] | _Swap] = deque()
        self._backlog = 0
        self._cond = threading.Condition()
        self._busy = False
        self._stopping = False
        self._subscriptions: list = []
        self._thread: threading.Thread | None = None
        self._counts: Counter[str] = Counter()
        self._malformed_log = _Throttle(LOG_EVERY_S)

    def inputs(self) -> list[tuple[str, Callable[[Any], None]]]:
        """Batches of accepted fixes."""
        return [(Topic.TELEMETRY, self.submit)]

    # --- bus handler: enqueue only ---------------------------------------------------------
    def submit(self, message: FixBatch) -> None:
        """Queue a batch of fixes as it is (anything else is counted and logged as malformed)."""
        if not isinstance(message, FixBatch):
            self._malformed(message, f"a telemetry message is a FixBatch, not {type(message).__name__}")
            return
        fixes = list(message.fixes)
        if not fixes:
            return
        with self._cond:
            if self._stopping:
                return
            self._queue.append(fixes)
            self._backlog += len(fixes)
            self._cond.notify_all()

    def swap_model(self, config: TrajectoryModelConfig) -> None:
        """Run ``config`` from the next queued batch on (see the module docstring); the engine is
        built here, over the running engine's places and registry lookup."""
        from zhizhi.models.trajectory.engine import TrajectoryEngine

        old = self.engine
        self.swap_engine(TrajectoryEngine(config, getattr(old, "places", None), getattr(old, "vehicles", None)))

    def swap_engine(self, engine: Engine) -> None:
        """Replace the engine between two batches (queued behind what waits)."""
        with self._cond:
            if self._stopping:
                return
            self._queue.append(_Swap(engine))
            self._cond.notify_all()

    @property
    def model_label(self) -> str | None:
        """``name@version`` of the rules running now (``None`` for an engine without a config)."""
        config = getattr(self.engine, "config", None)
        return config.label if config is not None else None

    @property
    def backlog(self) -> int:
        """Fixes queued and not yet fed."""
        return self._backlog

    def full(self, incoming: int = 0) -> bool:
        """Whether ``incoming`` more fixes would pass ``max_backlog`` (refuse the batch then)."""
        return self._backlog + incoming > self.max_backlog

    # --- the thread --------------------------------------------------------------------------
    def _loop(self) -> None:
        next_tick = time.monotonic() + self.tick_s
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    if not self._cond.wait(max(0.0, next_tick - time.monotonic())):
                        break  # time to tick
                batch = self._queue.popleft() if self._queue else None
                if batch is None and self._stopping:
                    return
                self._busy = True
            try:
                if isinstance(batch, _Swap):
                    self._swap(batch.engine)
                elif batch is not None:
                    self._feed(batch)
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.tick_s
                    self._tick()
            finally:
                with self._cond:
                    if isinstance(batch, list):
                        self._backlog -= len(batch)
                    self._busy = False
                    self._cond.notify_all()

    def _feed(self, fixes: list[Fix]) -> None:
        for observer in self.observers:
            try:
                observer(fixes)
            except Exception:
                self._counts["errors"] += 1
                log.exception("a telemetry observer failed; continuing")
        try:
            warnings = self.engine.feed(fixes)
        except Exception:
            self._counts["errors"] += 1
            log.exception("trajectory rules failed on a batch of %d fixes", len(fixes))
            return
        self._counts["batches"] += 1
        self._counts["fixes"] += len(fixes)
        self._deliver(warnings)

    def _swap(self, engine: Engine) -> None:
        old = self.engine
        if getattr(old, "config", None) is not None and getattr(engine, "config", None) == old.config:
            return  # the same promotion heard twice: nothing to change
        ended: list[WarningEvent] = []
        try:
            flush = getattr(old, "flush", None)
            ended = flush() if flush is not None else []
        except Exception:
            self._counts["errors"] += 1
            log.exception("ending the live warnings of the old trajectory rules failed")
        last, fresh = getattr(old, "_last", None), getattr(engine, "_last", None)
        if isinstance(last, dict) and isinstance(fresh, dict):
            fresh.update(last)  # each vehicle's last fix: signal loss and derived speeds go on
        self.engine = engine
        self._counts["swaps"] += 1
        log.info("trajectory rules %s replace %s; %d live warning(s) of the old ones ended",
                 self.model_label, getattr(getattr(old, "config", None), "label", "?"), len(ended))
        self._deliver(ended)

    def tick(self) -> None:
        """Run the clock-driven rules now (tests; the thread does it every ``tick_s``)."""
        with self._cond:
            self._busy = True
        try:
            self._tick()
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _tick(self) -> None:
        try:
            warnings = self.engine.tick(self.clock())
        except Exception:
            self._counts["errors"] += 1
            log.exception("trajectory rules failed on a tick")
            return
        self._counts["ticks"] += 1
        self._deliver(warnings)

    def stats(self) -> dict[str, int]:
        keys = ("batches", "fixes", "warnings", "ticks", "malformed", "swaps", "errors")
        return {k: self._counts[k] for k in keys} | {"backlog": self._backlog}


__all__ = ["Engine", "TrajectoryRunner"]
