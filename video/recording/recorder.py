"""Recording loops: a camera's frames encoded, or its H.264 stream copied, in segments.

:class:`FrameRecorder` takes a camera's newest frames (``take()``: a
:class:`~zhizhi.video.frames.Frame` newer than the last, or None) at ``fps`` and encodes them to
H.264 (simulated cameras, MJPEG, image folders). :class:`StreamRecorder` opens an RTSP/HTTP
stream or a file itself and copies its H.264 packets (no re-encode), cutting at the first
keyframe past ``segment_s``; a stream that is not H.264 raises :class:`NotH264` at open and the
camera is recorded from its frames instead.

A camera that drops (no frame for ``gap_s``, or a stream that fails) is logged, its segment is
closed at once (complete and playable) and a new one starts when frames return. Before each new
segment ``before_segment(reserve)`` runs (:func:`~.retention.enforce` with room for it).

In the ``events`` mode every camera is recorded but only what alerts show is kept: an alert on
the bus marks its cameras' segments from ``event_pre_s`` before its first sighting to
``event_post_s`` after its latest; unmarked segments go ``event_hold_s`` after they end.

:class:`Recorder` follows the cameras of workers (:class:`~zhizhi.video.worker.Worker`; those its
``mode`` records: ``all``, ``some`` = ``camera_ids``), starting and stopping a loop per camera.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any, Protocol

import av

from zhizhi.bus import Topic
from zhizhi.bus.messages.alerts import AlertEvent
from zhizhi.video.frames import Frame
from zhizhi.video.recording.retention import DiskBudget, enforce, prune_unmarked
from zhizhi.video.recording.segments import Segment, SegmentStore
from zhizhi.video.recording.writers import CopyWriter, EncodingWriter

log = logging.getLogger(__name__)
Take = Callable[[], Frame | None]
BeforeSegment = Callable[[int], None]
COPY_KINDS = ("rtsp", "http", "file")


class NotH264(RuntimeError):
    """The stream is not H.264: it cannot be copied into the segments."""


class _Loop:
    """A daemon thread running :meth:`run` until :meth:`stop`."""

    name = "recording"

    def __init__(self, camera_id: str, store: SegmentStore, *, segment_s: float,
                 before_segment: BeforeSegment | None) -> None:
        self.camera_id = camera_id
        self.store = store
        self.segment_s = segment_s
        self.before_segment = before_segment or (lambda reserve: None)
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.finished: list[Path] = []
        self.runner: Any = None  # the worker's runner of the camera (when a Recorder follows one)
        self.on_segment: Callable[[str, Segment], None] | None = None  # told of each finished segment
        self.last_size = 0  # bytes of the last finished segment: the room the next one needs

    def start(self):
        self.thread = threading.Thread(target=self._guarded, name=f"{self.name}-{self.camera_id}", daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def _guarded(self) -> None:
        try:
            self.run()
        except Exception:
            log.exception("recording of camera %s failed", self.camera_id)

    def run(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _prepare(self) -> None:
        try:
            self.before_segment(int(self.last_size * 1.5))
        except Exception:
            log.exception("recordings: retention before a segment of %s failed", self.camera_id)

    def _finish(self, writer: Any, part: Path, end: float) -> None:
        """Give a closed segment its name, or remove it when it holds nothing."""
        if end <= writer.start or not part.exists():
            part.unlink(missing_ok=True)
            return
        final = self.store.finish(part, self.camera_id, writer.start, end)
        self.last_size = final.stat().st_size
        self.finished.append(final)
        if self.on_segment is not None:
            self.on_segment(self.camera_id, Segment(self.camera_id, writer.start, end, final))


class FrameRecorder(_Loop):
    """A camera's frames (``take``) encoded in segments; see the module."""

    name = "record-frames"

    def __init__(self, camera_id: str, take: Take, store: SegmentStore, *, segment_s: float = 60.0,
                 fps: float = 10.0, gap_s: float = 3.0, before_segment: BeforeSegment | None = None,
                 clock: Callable[[], float] = time.time, preset: str = "veryfast") -> None:
        super().__init__(camera_id, store, segment_s=segment_s, before_segment=before_segment)
        self.take = take
        self.preset = preset
        self.fps = fps
        self.gap_s = gap_s
        self.clock = clock
        self.drops = 0

    def run(self) -> None:
        writer: EncodingWriter | None = None
        part: Path | None = None
        image = None
        seen = 0.0  # wall time of the newest frame taken
        period = 1.0 / self.fps
        while not self.stop_event.is_set():
            now = self.clock()
            frame = self.take()
            if frame is not None:
                image, seen = frame.image, now
            if writer is not None:
                size = (image.shape[1], image.shape[0]) if image is not None else writer.size
                if now - seen >= self.gap_s or size != writer.size or now - writer.start >= self.segment_s:
                    if now - seen >= self.gap_s:
                        self.drops += 1
                        log.warning("camera %s: no frames for %.0f s; its recording paused", self.camera_id,
                                    now - seen)
                        image = None
                    self._close(writer, part)
                    writer = part = None
            if writer is None and image is not None and now - seen < self.gap_s:
                self._prepare()
                part = self.store.part_path(self.camera_id, now)
                writer = EncodingWriter(part, now, (image.shape[1], image.shape[0]), self.fps, preset=self.preset)
            if writer is not None and image is not None:
                writer.write(image, now)
            self.stop_event.wait(max(0.0, period - (self.clock() - now)))
        if writer is not None:
            self._close(writer, part)

    def _close(self, writer: EncodingWriter, part: Path) -> None:
        try:
            end = writer.close() if writer.frames else writer.start
        except Exception:
            log.exception("camera %s: its segment could not be closed; dropped", self.camera_id)
            end = writer.start
        self._finish(writer, part, end)


class StreamRecorder(_Loop):
    """A camera's H.264 stream (``url``) copied in segments; see the module. A file is read at its
    own pace (as a camera would send it) and opened again at its end when ``loop``."""

    name = "record-stream"

    def __init__(self, camera_id: str, url: str, store: SegmentStore, *, segment_s: float = 60.0,
                 loop: bool = True, realtime: bool = True, before_segment: BeforeSegment | None = None,
                 open_timeout_s: float = 5.0, read_timeout_s: float = 5.0, retry_s: float = 2.0,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(camera_id, store, segment_s=segment_s, before_segment=before_segment)
        self.url = url
        self.loop = loop
        self.realtime = realtime
        self.timeouts = (open_timeout_s, read_timeout_s)
        self.retry_s = retry_s
        self.clock = clock
        self.drops = 0

    def probe(self) -> None:
        """Raise :class:`NotH264` when the stream's video is not H.264 (or it has none)."""
        with av.open(self.url, timeout=self.timeouts, options=self._options()) as container:
            streams = container.streams.video
            if not streams or streams[0].codec_context.name != "h264":
                raise NotH264(f"camera {self.camera_id}: the stream is not H.264")

    def _options(self) -> dict[str, str]:
        return {"rtsp_transport": "tcp"} if self.url.lower().startswith("rtsp://") else {}

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                ended = self._session()
            except NotH264:
                raise
            except (av.FFmpegError, OSError) as exc:  # the camera dropped: logged, retried
                self.drops += 1
                log.warning("camera %s: its stream failed (%s); recording again when it returns",
                            self.camera_id, exc)
                ended = False
            if ended and not self.loop:
                return
            if not ended:
                self.stop_event.wait(self.retry_s)

    def _session(self) -> bool:
        """Copy until the stream ends (True) or stop; a failure raises after closing the segment."""
        container = av.open(self.url, timeout=self.timeouts, options=self._options())
        writer: CopyWriter | None = None
        try:
            stream = container.streams.video[0]
            if stream.codec_context.name != "h264":
                raise NotH264(f"camera {self.camera_id}: the stream is not H.264")
            opened = self.clock()
            first_dts: int | None = None
            for packet in container.demux(stream):
                if self.stop_event.is_set():
                    return False
                if packet.dts is None or packet.size == 0:
                    continue
                if first_dts is None:
                    first_dts = packet.dts
                media_t = float((packet.dts - first_dts) * stream.time_base)
                if self.realtime:
                    delay = opened + media_t - self.clock()
                    if delay > 0 and self.stop_event.wait(delay):
                        return False
                shown = packet.pts if packet.pts is not None else packet.dts
                at = opened + float((shown - first_dts) * stream.time_base)
                if packet.is_keyframe and (writer is None or writer.duration >= self.segment_s):
                    if writer is not None:
                        self._close(writer)
                    self._prepare()
                    writer = CopyWriter(self.store.part_path(self.camera_id, at), at, stream)
                if writer is not None:
                    writer.write(packet)
            return True
        finally:
            if writer is not None:
                self._close(writer)
            container.close()

    def _close(self, writer: CopyWriter) -> None:
        try:
            end = writer.close()
        except Exception:
            log.exception("camera %s: its segment could not be closed; dropped", self.camera_id)
            end = writer.start
        self._finish(writer, writer.path, end)


class Cameras(Protocol):
    """What :class:`Recorder` reads of a worker."""

    runners: dict[str, Any]

    def config_of(self, camera_id: str) -> Any: ...


class Recorder:
    """Records the cameras of ``worker`` that ``mode`` selects (see the module); retention runs
    before every new segment, under one lock for the whole folder."""

    def __init__(self, root: Path, *, mode: str = "all", camera_ids: Collection[str] = (),
                 segment_s: float = 60.0, fps: float = 10.0, gap_s: float = 3.0,
                 retention_days: float = 7.0, budget: DiskBudget | None = None,
                 poll_s: float = 1.0, event_pre_s: float = 30.0, event_post_s: float = 30.0,
                 event_hold_s: float = 600.0, clock: Callable[[], float] = time.time,
                 preset: str = "veryfast") -> None:
        self.store = SegmentStore(root)
        self.mode = mode
        self.camera_ids = set(camera_ids)
        self.options = {"segment_s": segment_s}
        self.fps, self.gap_s, self.preset = fps, gap_s, preset
        self.retention_days = retention_days
        self.budget = budget or DiskBudget(0.5)
        self.poll_s = poll_s
        self.event_pre_s, self.event_post_s, self.event_hold_s = event_pre_s, event_post_s, event_hold_s
        self.clock = clock
        self.windows: dict[str, list[tuple[float, float]]] = {}  # events mode: what alerts asked to keep
        self._subscription: Any = None
        self.loops: dict[str, _Loop] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wants(self, camera_id: str) -> bool:
        return self.mode in ("all", "events") or (self.mode == "some" and camera_id in self.camera_ids)

    def before_segment(self, reserve: int) -> None:
        with self._lock:
            now = self.clock()
            if self.mode == "events":
                prune_unmarked(self.store, now=now, hold_s=self.event_hold_s)
            enforce(self.store, retention_days=self.retention_days, budget=self.budget, now=now, reserve=reserve)

    # ------------------------------------------------------------------ events mode

    def listen(self, subscribe: Callable[[str, Callable[[Any], None]], Any]) -> Recorder:
        """Events mode: keep what the alerts on the bus (``Topic.ALERTS``) show (else nothing)."""
        if self.mode == "events":
            self._subscription = subscribe(Topic.ALERTS, self.on_alert)
        return self

    def on_alert(self, event: AlertEvent | dict) -> None:
        """Keep each of the alert's cameras from ``event_pre_s`` before its first sighting to
        ``event_post_s`` after its latest (called again as the alert goes on)."""
        if isinstance(event, dict):
            event = AlertEvent.from_wire(event)
        cameras = {*event.cameras, *([event.camera_id] if event.camera_id else [])}
        for camera_id in cameras:
            self.mark(camera_id, event.first_ts - self.event_pre_s, event.last_ts + self.event_post_s)

    def mark(self, camera_id: str, start: float, end: float) -> None:
        """Keep ``camera_id``'s recording of ``[start, end]``: the segments there now, and those
        finished later that overlap it (until ``event_hold_s`` after its end)."""
        with self._lock:
            now = self.clock()
            kept = [w for w in self.windows.get(camera_id, []) if w[1] > now - self.event_hold_s]
            self.windows[camera_id] = [*kept, (start, end)]
            for segment in self.store.list(camera_id, start, end):
                self.store.keep(segment)

    def _segment_done(self, camera_id: str, segment: Segment) -> None:
        with self._lock:
            if any(segment.end > s and segment.start <= e for s, e in self.windows.get(camera_id, [])):
                self.store.keep(segment)

    def follow(self, workers: Callable[[], Iterable[Cameras]]) -> Recorder:
        """Keep recording exactly the selected cameras of the workers ``workers()`` gives (checked
        every ``poll_s``: workers and their cameras come and go)."""
        self._thread = threading.Thread(target=self._follow, args=(workers,), name="recorder", daemon=True)
        self._thread.start()
        return self

    def _follow(self, workers: Callable[[], Iterable[Cameras]]) -> None:
        while not self._stop.is_set():
            try:
                self.sync(list(workers()))
            except Exception:
                log.exception("recordings: following the workers' cameras failed")
            self._stop.wait(self.poll_s)

    def sync(self, workers: Iterable[Cameras]) -> None:
        """Start a loop for each selected camera of ``workers`` not recorded yet, stop those gone."""
        runners: dict[str, tuple[Any, Cameras]] = {}
        for worker in workers:
            for camera_id, runner in dict(worker.runners).items():
                runners.setdefault(camera_id, (runner, worker))
        for camera_id in [c for c in self.loops if c not in runners or not self.wants(c)]:
            self.loops.pop(camera_id).stop()
        for camera_id, (runner, worker) in runners.items():
            if camera_id in self.loops and getattr(self.loops[camera_id], "runner", runner) is not runner:
                self.loops.pop(camera_id).stop()  # the camera was restarted (its config changed)
            if camera_id not in self.loops and self.wants(camera_id):
                loop = self._loop_for(camera_id, runner, worker.config_of(camera_id))
                loop.runner = runner
                loop.on_segment = self._segment_done
                self.loops[camera_id] = loop.start()

    def _loop_for(self, camera_id: str, runner: Any, config: Any) -> _Loop:
        self.store.sweep_partial(camera_id)
        source = getattr(config, "source", None)
        if source is not None and source.resolved_kind in COPY_KINDS:
            # at the camera's own pace whatever the worker does: a recording is of wall-clock time
            stream = StreamRecorder(camera_id, source.url, self.store, loop=source.loop, realtime=True,
                                    before_segment=self.before_segment, **self.options)
            try:
                stream.probe()
                return stream
            except NotH264:
                log.info("camera %s: not H.264, its frames are encoded for the recording", camera_id)
            except (av.FFmpegError, OSError) as exc:
                log.info("camera %s: its stream cannot be probed (%s); its frames are recorded", camera_id, exc)
        last = [-1]

        def take() -> Frame | None:
            frame = runner.latest(after_index=last[0])
            if frame is not None:
                last[0] = frame.index
            return frame

        return FrameRecorder(camera_id, take, self.store, fps=self.fps, gap_s=self.gap_s, preset=self.preset,
                             before_segment=self.before_segment, **self.options)

    def stop(self) -> None:
        """Stop following and close every segment being written (each ends playable)."""
        self._stop.set()
        if self._subscription is not None:
            self._subscription.cancel()
        if self._thread is not None:
            self._thread.join(5)
        for loop in self.loops.values():
            loop.stop_event.set()
        for loop in self.loops.values():
            loop.stop()
        self.loops.clear()
