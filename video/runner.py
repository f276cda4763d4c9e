"""Camera source runners: one thread per camera, newest frame only, reconnect with backoff.

A :class:`SourceRunner` reads its camera as fast as frames come and keeps only the newest one in
a single slot (a frame replaced before anyone took it counts as ``dropped``), so a slow analysis
never builds a backlog or latency. When opening or reading fails it retries with exponential
backoff (with a little jitter), reporting ``reconnecting`` and, after ``offline_after_s`` without
frames, ``offline``, and ``online`` again once frames flow. Everything a source raises stays in
its thread and shows up as the status ``error``; one camera never takes another down
(:class:`SourceGroup`). :class:`Sampler` picks frames at a camera's analysis rate.

>>> from zhizhi.video.camera_config import CameraConfig, SourceConfig
>>> runner = SourceRunner(CameraConfig(id="CAM-0001", source=SourceConfig(url="/no/clip.mp4")))
>>> runner.status().state
'starting'
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Self

import numpy as np

from zhizhi.video.camera_config import CameraConfig
from zhizhi.video.frames import Frame, as_bgr
from zhizhi.video.sources import FrameSource, SourceError, open_source
from zhizhi.video.status import CameraState, CameraStatus

log = logging.getLogger(__name__)

OnStatus = Callable[[CameraStatus], None]
SourceFactory = Callable[..., FrameSource]


class SourceRunner:
    """Runs one camera's source in a daemon thread; see the module docs.

    ``clock`` is the wall clock, read once to anchor frame timestamps (which then advance with
    ``time.monotonic()``, or for non-real-time files with the clip position). ``source_factory``
    defaults to :func:`video.sources.open_source` and gets the same arguments.
    """

    def __init__(
        self,
        config: CameraConfig,
        *,
        on_status: OnStatus | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,  # a camera back from a reboot is read again within 10 s
        offline_after_s: float = 10.0,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        fps_window_s: float = 3.0,
        jitter: float = 0.1,
        clock: Callable[[], float] = time.time,
        source_factory: SourceFactory = open_source,
    ) -> None:
        if backoff_initial_s <= 0 or backoff_max_s < backoff_initial_s:
            raise ValueError("need 0 < backoff_initial_s <= backoff_max_s")
        self.config = config
        self.camera_id = config.id
        self.on_status = on_status
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.offline_after_s = offline_after_s
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.fps_window_s = fps_window_s
        self.jitter = jitter
        self.source_factory = source_factory
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._source: FrameSource | None = None
        # Timestamps: wall-clock anchor plus monotonic time elapsed since it.
        self._mono0 = time.monotonic()
        self._epoch0 = clock()
        self._last_ts = float("-inf")
        # The slot and the status, guarded by _cond.
        self._slot: Frame | None = None
        self._slot_taken = True
        self._taken_index = -1
        self._arrivals: deque[float] = deque()
        self._state: CameraState = "starting"
        self._since = self._epoch0
        self._error: str | None = None
        self._frames = 0
        self._dropped = 0
        self._reconnects = 0
        self._last_frame_ts: float | None = None
        self._good_since = (
            time.monotonic()
        )  # last frame (or start): offline_after_s counts from here
        self._finished = False

    # ----------------------------------------------------------------- control

    def start(self) -> Self:
        """Start the reading thread (once)."""
        if self._thread is None:
            self._good_since = time.monotonic()
            self._thread = threading.Thread(
                target=self._run, name=f"source-{self.camera_id}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop reading and wait up to ``timeout`` s for the thread (0: do not wait).

        A thread blocked in a network read ends by itself within the read timeout.
        """
        self._stop.set()
        source = self._source
        interrupt = getattr(source, "interrupt", None)
        if interrupt is not None:
            try:
                interrupt()
            except Exception:
                log.debug("camera %s: interrupt failed", self.camera_id, exc_info=True)
        with self._cond:
            self._cond.notify_all()
        if timeout > 0:
            self.join(timeout)
        self._set_state("offline", self._error, force=True)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        return True

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --------------------------------------------------------------- consumers

    def latest(self, after_index: int | None = None) -> Frame | None:
        """The newest frame, or None when there is none newer than ``after_index`` (no wait).

        >>> from zhizhi.video.camera_config import CameraConfig, SourceConfig
        >>> SourceRunner(CameraConfig(id="c", source=SourceConfig(url="x.mp4"))).latest() is None
        True
        """
        with self._cond:
            return self._take(after_index)

    def wait_frame(
        self, timeout: float | None = None, after_index: int | None = None
    ) -> Frame | None:
        """Wait up to ``timeout`` s for a frame newer than ``after_index`` (default: newer than
        the last frame handed out); None on timeout or when the runner stopped."""
        with self._cond:
            threshold = self._taken_index if after_index is None else after_index
            self._cond.wait_for(
                lambda: (
                    (self._slot is not None and self._slot.index > threshold)
                    or self._stop.is_set()
                    or self._finished
                ),
                timeout,
            )
            return self._take(threshold)

    def _take(self, after_index: int | None) -> Frame | None:
        frame = self._slot
        if frame is None or (after_index is not None and frame.index <= after_index):
            return None
        self._slot_taken = True
        self._taken_index = max(self._taken_index, frame.index)
        return frame

    def status(self) -> CameraStatus:
        """The camera's current status."""
        with self._cond:
            return self._status()

    def _status(self) -> CameraStatus:
        now = time.monotonic()
        arrivals = self._arrivals
        while arrivals and now - arrivals[0] > self.fps_window_s:
            arrivals.popleft()
        fps = 0.0
        if len(arrivals) > 1 and arrivals[-1] > arrivals[0]:
            span = arrivals[-1] - arrivals[0]
            # Once frames are late by more than a mean interval, the rate decays towards 0.
            span = max(span, now - arrivals[0] - span / (len(arrivals) - 1))
            fps = (len(arrivals) - 1) / span
        return CameraStatus(
            camera_id=self.camera_id,
            state=self._state,
            fps=round(fps, 3),
            last_frame_ts=self._last_frame_ts,
            frames=self._frames,
            dropped=self._dropped,
            reconnects=self._reconnects,
            error=self._error,
            since=self._since,
        )

    @property
    def alive(self) -> bool:
        """Whether the reading thread runs."""
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ thread

    def _now(self) -> float:
        return self._epoch0 + (time.monotonic() - self._mono0)

    def _set_state(self, state: CameraState, error: str | None, *, force: bool = False) -> None:
        """Change state/error and tell ``on_status`` (ignored after stop unless ``force``)."""
        with self._cond:
            if self._stop.is_set() and not force:
                return
            if state == self._state and error == self._error:
                return
            if state != self._state:
                self._since = self._now()
            self._state, self._error = state, error
            status = self._status()
        self._notify(status)

    def _notify(self, status: CameraStatus) -> None:
        if self.on_status is None:
            return
        try:
            self.on_status(status)
        except Exception:
            log.exception("camera %s: on_status callback failed", self.camera_id)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a bug here must still end as a visible status
            log.exception("camera %s: source thread crashed", self.camera_id)
            self._set_state("offline", f"internal error: {type(exc).__name__}: {exc}", force=True)
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify_all()

    def _loop(self) -> None:
        delay = self.backoff_initial_s
        attempts = 0
        while not self._stop.is_set():
            if attempts:
                with self._cond:
                    self._reconnects += 1
            attempts += 1
            error, ended, delivered, started = self._session()
            if self._stop.is_set():
                return
            if ended:
                log.info("camera %s: %s", self.camera_id, error)
                self._set_state("offline", error)
                return
            if delivered and time.monotonic() - started >= delay:
                delay = self.backoff_initial_s  # it worked for a while: start the backoff over
            level = logging.WARNING if error != self._error else logging.DEBUG
            log.log(level, "camera %s: %s; retrying in %.1f s", self.camera_id, error, delay)
            self._failed(error)
            wait = delay * (1.0 + random.uniform(-self.jitter, self.jitter))
            self._backoff(time.monotonic() + wait, error)
            delay = min(delay * 2.0, self.backoff_max_s)

    def _session(self) -> tuple[str, bool, int, float]:
        """Open the source and read until it fails: (error, ended, frames delivered, start)."""
        started = time.monotonic()
        delivered = 0
        source = None
        error = None
        try:
            source = self.source_factory(
                self.config.source,
                self.camera_id,
                open_timeout_s=self.open_timeout_s,
                read_timeout_s=self.read_timeout_s,
                stop=self._stop,
            )
            self._source = source
            if self._stop.is_set():
                return "stopped", False, 0, started
            source.open()
            realtime = getattr(source, "realtime", True)
            while not self._stop.is_set():
                image = source.read()
                if image is None:
                    break
                self._deliver(image, None if realtime else source.fps)
                delivered += 1
        except SourceError as exc:
            error = str(exc) or "source error"
        except Exception as exc:
            log.exception("camera %s: source raised", self.camera_id)
            error = f"source error: {type(exc).__name__}: {exc}"
        finally:
            self._source = None
            if source is not None:
                try:
                    source.close()
                except Exception:
                    log.warning(
                        "camera %s: closing the source failed", self.camera_id, exc_info=True
                    )
        ended = error is None and bool(getattr(source, "ended", False))
        if error is None:
            error = getattr(source, "error", None) or ("end of file" if ended else "stream lost")
        return error, ended, delivered, started

    def _deliver(self, image: np.ndarray, position_fps: float | None) -> None:
        """Put a new frame in the slot (replacing, and maybe dropping, the previous one)."""
        image = as_bgr(image)
        now = time.monotonic()
        with self._cond:
            index = self._frames
            if position_fps:  # a file read as fast as it decodes: time it by its position
                ts = self._epoch0 + index / position_fps
            else:
                ts = self._epoch0 + (now - self._mono0)
            ts = max(ts, self._last_ts + 1e-6)
            self._last_ts = ts
            if self._slot is not None and not self._slot_taken:
                self._dropped += 1
            self._slot = Frame(self.camera_id, index, ts, image)
            self._slot_taken = False
            self._frames = index + 1
            self._last_frame_ts = ts
            self._arrivals.append(now)
            while now - self._arrivals[0] > self.fps_window_s:
                self._arrivals.popleft()
            self._good_since = now
            self._cond.notify_all()
            changed = self._state != "online"
        if changed:
            self._set_state("online", None)

    def _failed(self, error: str) -> None:
        down_for = time.monotonic() - self._good_since
        self._set_state("offline" if down_for >= self.offline_after_s else "reconnecting", error)

    def _backoff(self, until: float, error: str) -> None:
        """Sleep until ``until`` (monotonic), going offline at the deadline if it falls inside."""
        offline_at = self._good_since + self.offline_after_s
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= until:
                return
            if self._state != "offline" and now < offline_at < until:
                if self._stop.wait(offline_at - now):
                    return
                self._set_state("offline", error)
                continue
            self._stop.wait(until - now)


class SourceGroup:
    """A runner per camera; one camera's troubles never reach the others.

    Extra keyword arguments go to every :class:`SourceRunner`.
    """

    def __init__(
        self,
        configs: Iterable[CameraConfig],
        *,
        on_status: OnStatus | None = None,
        start: bool = True,
        **runner_options,
    ) -> None:
        configs = list(configs)
        ids = [c.id for c in configs]
        if len(set(ids)) != len(ids):
            raise ValueError(
                f"duplicate camera ids: {sorted({i for i in ids if ids.count(i) > 1})}"
            )
        self.runners = {
            c.id: SourceRunner(c, on_status=on_status, **runner_options) for c in configs
        }
        if start:
            self.start()

    def start(self) -> Self:
        for runner in self.runners.values():
            runner.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """Stop all runners together, waiting up to ``timeout`` s in all."""
        for runner in self.runners.values():
            runner.stop(timeout=0)
        deadline = time.monotonic() + timeout
        for runner in self.runners.values():
            runner.join(max(deadline - time.monotonic(), 0.0))

    def statuses(self) -> dict[str, CameraStatus]:
        return {camera_id: runner.status() for camera_id, runner in self.runners.items()}

    def latest_frames(self, after: dict[str, int] | None = None) -> dict[str, Frame]:
        """The newest frame of each camera that has one (newer than ``after[camera_id]``)."""
        frames = {}
        for camera_id, runner in self.runners.items():
            frame = runner.latest((after or {}).get(camera_id))
            if frame is not None:
                frames[camera_id] = frame
        return frames

    def __getitem__(self, camera_id: str) -> SourceRunner:
        return self.runners[camera_id]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Sampler:
    """Decides which frames to analyse: at most ``analysis_fps`` per second on average, taking
    the newest frame whenever one is due and never catching up on missed ones. A frame a little
    early (within 10 % of the interval and half the frame spacing) counts as due, so a camera
    running at the analysis rate with some jitter is not halved.

    >>> sampler = Sampler(5.0)  # frames at 25 fps, then a gap (a slow consumer), then 25 fps
    >>> stamps = [i * 0.04 for i in range(12)] + [1.5 + i * 0.04 for i in range(6)]
    >>> [round(ts, 2) for ts in stamps if sampler.take(ts)]
    [0.0, 0.2, 0.4, 1.5, 1.7]
    """

    def __init__(self, analysis_fps: float) -> None:
        if analysis_fps <= 0:
            raise ValueError("analysis_fps must be > 0")
        self.interval = 1.0 / analysis_fps
        self.reset()

    def take(self, ts: float) -> bool:
        """True when the frame at ``ts`` should be analysed (then it counts as taken)."""
        if self._seen is not None:
            if ts < self._seen - 1.0:  # the source's clock started over
                self.reset()
            elif ts > self._seen:
                gap = min(ts - self._seen, self.interval)
                self._spacing = (
                    gap if self._spacing is None else self._spacing + 0.2 * (gap - self._spacing)
                )
        self._seen = ts
        early = (
            0.1 * self.interval
            if self._spacing is None
            else min(0.1 * self.interval, 0.5 * self._spacing)
        )
        if self._due is not None and ts < self._due - early:
            return False
        due = (self._due if self._due is not None else ts) + self.interval
        self._due = due if due > ts else ts + self.interval  # behind: restart the grid, no burst
        return True

    def reset(self) -> None:
        """Forget the schedule (the next frame is taken)."""
        self._due: float | None = None
        self._seen: float | None = None  # ts of the previous frame offered
        self._spacing: float | None = None  # running estimate of the spacing of offered frames
