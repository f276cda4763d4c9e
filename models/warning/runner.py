"""Running a warning engine live: frame batches from the bus in, warnings handed on.

The worker publishes one :data:`~zhizhi.bus.Topic.FRAMES` message per analysed frame, an
:class:`~zhizhi.bus.messages.frames.ObservationBatch` (also when it holds no objects, so that
conditions can end). A :class:`WarningRunner` subscribes to them and to camera status; its bus
handlers only put messages on a bounded queue — when the queue is full the oldest frame is
dropped (counted, logged), so a slow model never blocks the worker. One daemon thread owns the
engine: it takes each batch as the bus delivered it (typed: the Redis bus decoded it), runs
:meth:`~models.warning.engine.WarningEngine.process_frame`, and hands every
:class:`~models.warning.record.WarningEvent` to ``on_warning`` (the alert service's ``ingest``
in the console). A camera reported ``offline`` has its live warnings ended with
:meth:`~models.warning.engine.WarningEngine.flush`. Nothing a message or a consumer does can
end the thread.

:meth:`WarningRunner.swap_model` replaces the model while the runner runs (a promotion in the
model store): the swap is queued behind the frames already waiting, so frames published before
it are judged by the old model and later ones by the new; the old model's live warnings are
ended cleanly (``active=False``, handed on) — its timers mean nothing to the new rules — and
the new model starts with the same zones and lanes.

>>> from zhizhi.bus import InProcessBus, Topic
>>> from zhizhi.bus.messages.frames import ObservationBatch
>>> from zhizhi.models.warning.config import load_model
>>> from zhizhi.models.warning.engine import WarningEngine
>>> bus, seen = InProcessBus(), []
>>> runner = WarningRunner(WarningEngine(load_model()), seen.append).attach(bus).start()
>>> bus.publish(Topic.FRAMES, ObservationBatch.empty("CAM-1", 1.0))
>>> runner.wait_idle() and runner.stop()
True
>>> runner.stats()["frames"], seen
(1, [])
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from zhizhi.bus import Bus, Topic
from zhizhi.bus.messages.camera_status import CameraStatus
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.models.warning.config import WarningModelConfig
from zhizhi.models.warning.engine import WarningEngine
from zhizhi.models.warning.places import Places
from zhizhi.models.warning.record import WarningEvent

log = logging.getLogger(__name__)

OnWarning = Callable[[WarningEvent], object]
#: At most one log line per this many seconds about drops, and about malformed messages.
LOG_EVERY_S = 10.0
_FRAME, _OFFLINE, _SWAP = "frame", "offline", "swap"


class _Throttle:
    """``due()`` is true at most once per ``interval_s`` (for log lines about floods)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last = float("-inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.interval_s:
            return False
        self._last = now
        return True


class RunnerBase:
    """What every runner of the bus shares: its thread (start, stop after the queue, wait until
    idle), handing each warning to ``on_warning`` (a failing consumer is counted and logged,
    never fatal), and counting and logging (at most every :data:`LOG_EVERY_S`) malformed
    messages. Subclasses set ``_queue``, ``_cond``, ``_busy``, ``_stopping``,
    ``_subscriptions``, ``_thread``, ``_counts``, ``_malformed_log`` and ``on_warning``, and
    define ``_loop``."""

    what = "the warning model"
    thread_name = "warning-runner"
    on_warning: OnWarning
    _queue: deque
    _cond: threading.Condition
    _busy: bool
    _stopping: bool
    _subscriptions: list
    _thread: threading.Thread | None
    _counts: Counter[str]
    _malformed_log: _Throttle

    def _loop(self) -> None:
        raise NotImplementedError

    def inputs(self) -> list[tuple[str, Callable[[Any], None]]]:
        """The bus topics this runner reads and the handler of each."""
        raise NotImplementedError

    def attach(self, bus: Bus, *, group: str | None = None):
        """Read this runner's topics from ``bus``: every message (``subscribe``), or, with
        ``group``, this process's share of the topic's stream in that consumer group (several
        consoles on a Redis bus; :meth:`~zhizhi.bus.redis_bus.RedisBus.consume`)."""
        for topic, handler in self.inputs():
            if group is None:
                self._subscriptions.append(bus.subscribe(topic, handler))
            else:
                self._subscriptions.append(bus.consume(topic, group, handler))
        return self

    def detach(self) -> None:
        """Stop reading the bus (what is queued is still processed)."""
        for sub in self._subscriptions:
            sub.cancel()
        self._subscriptions.clear()

    def start(self):
        """Start the processing thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> bool:
        """Unsubscribe, process what is queued, end the thread; whether it ended in time.

        Live warnings are not ended: the console stopping is not the condition ending.
        """
        self.detach()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("%s did not finish its queue within %.1f s", self.what, timeout)
            return False
        return True

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued has been processed; whether that happened in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._cond.wait(left)
        return True

    def _deliver(self, warnings: list[WarningEvent]) -> None:
        for warning in warnings:
            self._counts["warnings"] += 1
            try:
                self.on_warning(warning)
            except Exception:
                self._counts["errors"] += 1
                log.exception("handing on warning %s failed; continuing", warning.key)

    def _malformed(self, message: Any, reason: object) -> None:
        self._counts["malformed"] += 1
        if self._malformed_log.due():
            text = str(reason).replace("\n", "; ")
            log.warning(
                "malformed message for %s skipped (%d so far): %.300s; message %.200r",
                self.what, self._counts["malformed"], text, message,
            )


class WarningRunner(RunnerBase):
    """Feeds one :class:`WarningEngine` from the bus in a thread of its own.

    ``stats()`` counts ``frames`` processed, ``warnings`` handed on, ``dropped`` frames (queue
    full), ``malformed`` messages, ``out_of_order`` frames (older than the camera's last one,
    skipped), ``flushed`` cameras (went offline), ``swaps`` (models replaced), ``errors`` (the
    engine or ``on_warning`` raised) and the current ``queued`` length.
    """

    def __init__(self, engine: WarningEngine, on_warning: OnWarning, *, queue_size: int = 1000) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self.engine = engine
        self.on_warning = on_warning
        self.queue_size = queue_size
        self._queue: deque[tuple[str, Any]] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._stopping = False
        self._subscriptions: list = []
        self._thread: threading.Thread | None = None
        self._last_ts: dict[str, float] = {}
        self._counts: Counter[str] = Counter()
        self._drop_log = _Throttle(LOG_EVERY_S)
        self._malformed_log = _Throttle(LOG_EVERY_S)

    # --- wiring -----------------------------------------------------------------------------
    def inputs(self) -> list[tuple[str, Callable[[Any], None]]]:
        """Frame batches and camera status."""
        return [(Topic.FRAMES, self.submit_frame), (Topic.CAMERA_STATUS, self.submit_status)]

    # --- bus handlers: enqueue only -----------------------------------------------------------
    def submit_frame(self, message: Any) -> None:
        """Queue a frame message; when the queue is full the oldest queued frame makes room."""
        self._put(_FRAME, message)

    def submit_status(self, message: CameraStatus) -> None:
        """Queue a camera status if it says the camera is offline (others need nothing)."""
        if message.state == "offline":
            self._put(_OFFLINE, message)

    def swap_model(self, model: WarningModelConfig) -> None:
        """Run ``model`` from the next queued frame on, over the same zones and lanes (see the
        module docstring); the engine is built here, so a model that cannot run raises now."""
        self.swap_engine(WarningEngine(model, _base_places(self.engine.places)))

    def swap_engine(self, engine: WarningEngine) -> None:
        """Replace the engine between two frames (queued behind what waits; never dropped)."""
        with self._cond:
            if self._stopping:
                return
            self._queue.append((_SWAP, engine))
            self._cond.notify_all()

    def _put(self, kind: str, message: Any) -> None:
        with self._cond:
            if self._stopping:
                return
            dropped = len(self._queue) >= self.queue_size and self._drop_oldest()
            self._queue.append((kind, message))
            self._cond.notify_all()
        if dropped and self._drop_log.due():
            log.warning(
                "warning model falls behind: queue full (%d), oldest frame dropped (%d dropped so far)",
                self.queue_size, self._counts["dropped"],
            )

    def _drop_oldest(self) -> bool:
        """Remove the oldest frame (a status message only if nothing else is queued)."""
        for i, (kind, _) in enumerate(self._queue):
            if kind == _FRAME:
                del self._queue[i]
                break
        else:
            i = next((i for i, (kind, _) in enumerate(self._queue) if kind != _SWAP), None)
            if i is None:
                return False
            del self._queue[i]
        self._counts["dropped"] += 1
        return True

    # --- the thread -----------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                kind, message = self._queue.popleft()
                self._busy = True
            try:
                if kind == _FRAME:
                    self._frame(message)
                elif kind == _SWAP:
                    self._swap(message)
                else:
                    self._offline(message)
            except Exception:  # pragma: no cover - each step guards itself; belt and braces
                self._counts["errors"] += 1
                log.exception("warning runner step failed; continuing")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _frame(self, batch: Any) -> None:
        if not isinstance(batch, ObservationBatch):
            self._malformed(batch, f"a frame message is an ObservationBatch, not {type(batch).__name__}")
            return
        last = self._last_ts.get(batch.camera_id)
        if last is not None and batch.ts < last:
            self._counts["out_of_order"] += 1
            log.debug("frame of %s at %.3f is older than %.3f: skipped", batch.camera_id, batch.ts, last)
            return
        self._last_ts[batch.camera_id] = batch.ts
        try:
            warnings = self.engine.process_frame(batch)
        except Exception:
            self._counts["errors"] += 1
            log.exception("warning model failed on a frame of %s at %.3f", batch.camera_id, batch.ts)
            return
        self._counts["frames"] += 1
        self._deliver(warnings)

    def _offline(self, message: CameraStatus) -> None:
        camera_id = message.camera_id
        try:
            warnings = self.engine.flush(camera_id)
        except Exception:
            self._counts["errors"] += 1
            log.exception("ending the warnings of offline camera %s failed", camera_id)
            return
        self._counts["flushed"] += 1
        if warnings:
            log.info("camera %s went offline: %d live warning(s) ended", camera_id, len(warnings))
        self._deliver(warnings)

    def _swap(self, engine: WarningEngine) -> None:
        old = self.engine
        if engine.model == old.model:  # the same promotion heard twice: nothing to change
            return
        try:
            ended = old.flush()
        except Exception:
            self._counts["errors"] += 1
            log.exception("ending the live warnings of model %s failed", old.model.label)
            ended = []
        self.engine = engine
        self._counts["swaps"] += 1
        log.info("warning model %s replaces %s; %d live warning(s) of the old one ended",
                 engine.model.label, old.model.label, len(ended))
        self._deliver(ended)

    @property
    def model_label(self) -> str:
        """``name@version`` of the model running now."""
        return self.engine.model.label

    def stats(self) -> dict[str, int]:
        """Counters (see the class docstring)."""
        with self._cond:
            queued = len(self._queue)
        keys = ("frames", "warnings", "dropped", "malformed", "out_of_order", "flushed", "swaps", "errors")
        return {k: self._counts[k] for k in keys} | {"queued": queued}


def _base_places(places: Places) -> Places:
    """An engine's places without the inline zones its own rules added (a new model adds its own)."""
    zones = [z for z in places.zones if not z.kind.startswith("inline:")]
    if len(zones) == len(places.zones):
        return places
    return Places(zones, places.lanes, frame=places.frame, default_limit_kmh=places.default_limit_kmh)


__all__ = ["OnWarning", "RunnerBase", "WarningRunner"]
