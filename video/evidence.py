"""Evidence of alerts from a worker's own frames: a snapshot, a short clip and the observed tracks.

An :class:`EvidenceRecorder` keeps, per camera, the annotated JPEG frames of the last
``pre_s`` seconds (bounded by count and bytes as well). It listens to the alerts topic; when
an alert is ``new`` and names a camera it holds frames of, it writes at once a snapshot — the
buffered frame nearest the alert's ``first_ts`` — and, once ``post_s`` more seconds of frames
have come in (or, if the camera stops delivering, ``post_s + grace_s`` seconds of wall time
later), a clip of the buffered frames and those that followed.

Beside the frames it keeps each camera's observation batches (the frame's
:class:`~zhizhi.bus.messages.frames.ObservationBatch`, when the worker hands it over) of the
last ``track_pre_s`` seconds (bounded by batches and rows). A new alert's **track** is the
camera's observations from ``track_lead_s`` before the condition began (``first_ts``; at most as
far back as the buffer reaches, and never later than the clip's first frame) until ``post_s``
after the condition was last seen: the alert's updates move that end on while it lasts, its
being closed or resolved ends it, and ``track_max_s`` after the alert was raised is the most.
It is written as ``<alert>/observations.jsonl``, the file a backtest clip reads (``zhizhi
analyze --jsonl`` lines), so a closed alert can be replayed against a changed rule: the rule
must see the condition from its start, which is why the track reaches further back than the
clip and on past the moment the alert fired.

Files go through an :class:`~video.evidence_store.EvidenceStore`; their paths are reported to
``on_evidence(alert_id, snapshot=..., clip=..., track=...)``, one keyword a call (the alert
service's ``attach_evidence`` in the console).

The bus handler and :meth:`EvidenceRecorder.add` (called by the worker for every analysed
frame) only copy references under a lock; decoding, encoding and writing happen in the
recorder's own thread. A failure there is logged and counted: evidence never gets in the way
of detection.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from zhizhi.bus import Bus, Topic
from zhizhi.bus.messages.alerts import AlertEvent
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.video.evidence_store import EvidenceStore

log = logging.getLogger(__name__)


class OnEvidence(Protocol):
    """Where the recorder reports the files it wrote (paths relative to the store's root)."""

    def __call__(
        self, alert_id: str, *, snapshot: str | None = None, clip: str | None = None, track: str | None = None
    ) -> object: ...


Frame = tuple[float, bytes]  # (frame time, annotated JPEG)


class FrameRing:
    """The newest frames of one camera: at most ``max_age_s`` older than the newest one,
    ``max_frames`` frames and ``max_bytes`` bytes of JPEG."""

    def __init__(self, max_age_s: float, max_frames: int, max_bytes: int) -> None:
        self.max_age_s, self.max_frames, self.max_bytes = max_age_s, max_frames, max_bytes
        self.frames: deque[Frame] = deque()
        self.bytes = 0

    def add(self, ts: float, jpeg: bytes) -> None:
        self.frames.append((ts, jpeg))
        self.bytes += len(jpeg)
        while self.frames and (
            len(self.frames) > self.max_frames
            or self.bytes > self.max_bytes
            or self.frames[0][0] < ts - self.max_age_s
        ):
            self.bytes -= len(self.frames.popleft()[1])

    @property
    def newest_ts(self) -> float | None:
        return self.frames[-1][0] if self.frames else None


class BatchRing:
    """The newest observation batches of one camera that hold objects: none older than
    ``max_age_s`` before the newest frame, at most ``max_batches`` batches and ``max_rows`` rows."""

    def __init__(self, max_age_s: float, max_batches: int, max_rows: int) -> None:
        self.max_age_s, self.max_batches, self.max_rows = max_age_s, max_batches, max_rows
        self.batches: deque[ObservationBatch] = deque()
        self.rows = 0
        self.newest_ts: float | None = None

    def add(self, batch: ObservationBatch) -> None:
        self.newest_ts = batch.ts
        if not batch.is_empty():  # an observations file has no empty frames
            self.batches.append(batch)
            self.rows += len(batch)
        while self.batches and (
            len(self.batches) > self.max_batches
            or self.rows > self.max_rows
            or self.batches[0].ts < batch.ts - self.max_age_s
        ):
            self.rows -= len(self.batches.popleft())


@dataclass
class _Track:
    """The observations being collected for one alert."""

    alert_id: str
    camera_id: str
    end_ts: float  # frame time after which the track is complete (moved on by the alert's updates)
    limit_ts: float  # the furthest end_ts may move
    deadline: float  # monotonic time after which it is written with what it has
    batches: list[ObservationBatch] = field(default_factory=list)
    rows: int = 0
    done: bool = False


@dataclass
class _Capture:
    """A clip being collected for one alert."""

    alert_id: str
    camera_id: str
    end_ts: float  # frame time after which the clip is complete
    deadline: float  # monotonic time after which it is written with what it has
    frames: list[Frame] = field(default_factory=list)
    bytes: int = 0
    done: bool = False


class EvidenceRecorder:
    """Per-camera ring buffers of annotated frames, turned into evidence when alerts are new.

    ``max_frames`` and ``max_bytes`` bound each camera's buffer and each clip being collected;
    at most ``max_pending`` clips are collected at once (further alerts get a snapshot only).
    ``clip_fps`` is used when the frames' own times cannot tell the rate.

    Tracks: ``track_pre_s`` seconds of observation batches are kept per camera, bounded by
    ``max_track_batches`` and ``max_track_rows`` (the same bounds apply to each track being
    collected; beyond them a track keeps what it has); a track starts ``track_lead_s`` before the
    alert's ``first_ts`` and ends at most ``track_max_s`` after the alert was raised; at most
    ``max_tracks`` are collected at once.
    """

    def __init__(
        self,
        store: EvidenceStore,
        on_evidence: OnEvidence,
        *,
        pre_s: float = 10.0,
        post_s: float = 10.0,
        grace_s: float = 5.0,
        max_frames: int = 300,
        max_bytes: int = 32 * 1024 * 1024,
        max_pending: int = 8,
        clip_fps: float = 5.0,
        track_pre_s: float = 120.0,
        track_lead_s: float = 10.0,
        track_max_s: float = 600.0,
        max_track_batches: int = 3000,
        max_track_rows: int = 100_000,
        max_tracks: int = 32,
    ) -> None:
        if pre_s < 0 or post_s < 0 or grace_s < 0:
            raise ValueError("pre_s, post_s and grace_s must not be negative")
        if max_frames < 1 or max_bytes < 1 or max_pending < 1 or not 0 < clip_fps <= 120:
            raise ValueError("max_frames, max_bytes, max_pending must be positive; clip_fps in (0, 120]")
        if track_pre_s < 0 or track_lead_s < 0 or track_max_s < 0:
            raise ValueError("track_pre_s, track_lead_s and track_max_s must not be negative")
        if max_track_batches < 1 or max_track_rows < 1 or max_tracks < 1:
            raise ValueError("max_track_batches, max_track_rows and max_tracks must be positive")
        self.store = store
        self.on_evidence = on_evidence
        self.pre_s, self.post_s, self.grace_s = pre_s, post_s, grace_s
        self.max_frames, self.max_bytes, self.max_pending = max_frames, max_bytes, max_pending
        self.clip_fps = clip_fps
        self.track_pre_s, self.track_lead_s, self.track_max_s = track_pre_s, track_lead_s, track_max_s
        self.max_track_batches, self.max_track_rows, self.max_tracks = max_track_batches, max_track_rows, max_tracks
        self._lock = threading.Lock()
        self._rings: dict[str, FrameRing] = {}
        self._pending: list[_Capture] = []
        self._batch_rings: dict[str, BatchRing] = {}
        self._tracks: list[_Track] = []
        self._jobs: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._active = 0  # jobs queued or running
        self._idle = threading.Condition(self._lock)
        self._counts: Counter[str] = Counter()
        self._subscription = None
        self._thread = threading.Thread(target=self._loop, name="evidence-recorder", daemon=True)
        self._thread.start()

    # --- inputs (worker thread, bus thread): quick, never raise ----------------------------------
    def attach(self, bus: Bus) -> EvidenceRecorder:
        """Listen to the alerts topic of ``bus``."""
        self._subscription = bus.subscribe(Topic.ALERTS, self.on_alert)
        return self

    def add(self, camera_id: str, ts: float, jpeg: bytes, batch: ObservationBatch | None = None) -> None:
        """A new annotated frame of a camera and, when given, its observation batch (called by the
        worker for every analysed frame)."""
        with self._lock:
            ring = self._rings.get(camera_id)
            if ring is None:
                ring = self._rings[camera_id] = FrameRing(self.pre_s, self.max_frames, self.max_bytes)
            ring.add(ts, jpeg)
            for capture in list(self._pending):
                if capture.camera_id != camera_id or capture.done:
                    continue
                if ts > capture.end_ts:
                    self._finish(capture)
                elif len(capture.frames) < self.max_frames and capture.bytes + len(jpeg) <= self.max_bytes:
                    capture.frames.append((ts, jpeg))
                    capture.bytes += len(jpeg)
            if batch is not None:
                self._add_batch(camera_id, batch)

    def _add_batch(self, camera_id: str, batch: ObservationBatch) -> None:
        """Buffer a frame's observations and hand them to the tracks of its camera (lock held)."""
        ring = self._batch_rings.get(camera_id)
        if ring is None:
            ring = self._batch_rings[camera_id] = BatchRing(self.track_pre_s, self.max_track_batches,
                                                            self.max_track_rows)
        ring.add(batch)
        for track in list(self._tracks):
            if track.camera_id != camera_id or track.done:
                continue
            if batch.ts > track.end_ts:
                self._finish_track(track)
            elif batch.is_empty():
                continue
            elif len(track.batches) < self.max_track_batches and track.rows + len(batch) <= self.max_track_rows:
                track.batches.append(batch)
                track.rows += len(batch)

    def on_alert(self, message: AlertEvent) -> None:
        """Bus handler of the alerts topic: start the evidence of a new alert of our cameras, move
        the end of its track while it goes on, end the track when it is closed or resolved."""
        if message.event != "new":
            self._follow(message)
            return
        alert_id = message.id
        cameras = [message.camera_id, *message.cameras]
        with self._lock:
            camera_id = next((c for c in cameras if c is not None and c in self._rings), None)
            if camera_id is None:
                return
            ring = self._rings[camera_id]
            pre = list(ring.frames)
            anchor = ring.newest_ts if ring.newest_ts is not None else 0.0
            target = message.first_ts
            self._start_track(message, camera_id, pre[0][0] if pre else anchor)
            self._submit(("snapshot", (alert_id, camera_id, pre, target)))
            if len(self._pending) >= self.max_pending:
                self._counts["skipped_clips"] += 1
                log.warning("evidence: %d clips already being collected; alert %s gets a snapshot only",
                            len(self._pending), alert_id)
                return
            capture = _Capture(alert_id, camera_id, anchor + self.post_s,
                               time.monotonic() + self.post_s + self.grace_s, pre, sum(len(j) for _, j in pre))
            self._pending.append(capture)
            if self.post_s == 0:
                self._finish(capture)

    def _start_track(self, message: AlertEvent, camera_id: str, clip_start: float) -> None:
        """Start collecting the track of a new alert from the camera's buffered batches (lock held)."""
        ring = self._batch_rings.get(camera_id)
        if ring is None or ring.newest_ts is None:
            return  # the worker hands over no observations
        if len(self._tracks) >= self.max_tracks:
            self._counts["skipped_tracks"] += 1
            log.warning("evidence: %d tracks already being collected; alert %s gets none",
                        len(self._tracks), message.id)
            return
        start = min(message.first_ts - self.track_lead_s, clip_start)
        now = ring.newest_ts
        limit = now + self.track_max_s
        end = min(limit, max(now, message.last_ts) + self.post_s)
        batches = [b for b in ring.batches if b.ts >= start]
        track = _Track(message.id, camera_id, end, limit, time.monotonic() + (end - now) + self.grace_s,
                       batches, sum(len(b) for b in batches))
        self._tracks.append(track)
        if end <= now:
            self._finish_track(track)

    def _follow(self, message: AlertEvent) -> None:
        """A later change of an alert: a newer sighting moves its track's end on; a closed or
        resolved alert's track is written with what it has."""
        with self._lock:
            for track in list(self._tracks):
                if track.alert_id != message.id or track.done:
                    continue
                if message.status in ("closed", "resolved"):
                    self._finish_track(track)
                    continue
                end = min(track.limit_ts, message.last_ts + self.post_s)
                if end > track.end_ts:
                    ring = self._batch_rings.get(track.camera_id)
                    now = ring.newest_ts if ring is not None and ring.newest_ts is not None else message.last_ts
                    track.end_ts = end
                    track.deadline = max(track.deadline, time.monotonic() + (end - now) + self.grace_s)

    def _finish_track(self, track: _Track) -> None:
        """Hand a complete track to the thread (lock held)."""
        track.done = True
        self._tracks.remove(track)
        self._submit(("track", track))

    def _finish(self, capture: _Capture) -> None:
        """Hand a complete capture to the thread (lock held)."""
        capture.done = True
        self._pending.remove(capture)
        self._submit(("clip", capture))

    def _submit(self, job: tuple[str, Any] | None) -> None:
        """Queue a job for the thread (lock held)."""
        self._active += 1
        self._jobs.put(job)

    # --- control --------------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no job is queued or running (clips still collecting frames do not count)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop listening, write the clips being collected with what they have, end the thread."""
        if not self._thread.is_alive():
            return True
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        with self._lock:
            for capture in list(self._pending):
                self._finish(capture)
            for track in list(self._tracks):
                self._finish_track(track)
            self._submit(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def buffered(self, camera_id: str) -> tuple[int, int]:
        """Frames and JPEG bytes buffered for a camera."""
        with self._lock:
            ring = self._rings.get(camera_id)
            return (len(ring.frames), ring.bytes) if ring else (0, 0)

    def buffered_observations(self, camera_id: str) -> tuple[int, int]:
        """Observation batches (with objects) and rows buffered for a camera."""
        with self._lock:
            ring = self._batch_rings.get(camera_id)
            return (len(ring.batches), ring.rows) if ring else (0, 0)

    def stats(self) -> dict[str, int]:
        """Snapshots, clips and tracks written, errors, clips and tracks skipped, cameras and bytes
        buffered, clips and tracks being collected."""
        with self._lock:
            buffered = sum(r.bytes for r in self._rings.values())
            cameras, pending, tracking = len(self._rings), len(self._pending), len(self._tracks)
        keys = ("snapshots", "clips", "tracks", "errors", "skipped_clips", "skipped_tracks")
        return {k: self._counts[k] for k in keys} | {
            "cameras": cameras, "buffered_bytes": buffered, "collecting": pending, "collecting_tracks": tracking,
        }

    # --- the thread: files ------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=0.25)
            except queue.Empty:
                self._expire()
                continue
            try:
                if job is None:
                    return
                kind, args = job
                if kind == "snapshot":
                    self._snapshot(*args)
                elif kind == "track":
                    self._track(args)
                else:
                    self._clip(args)
            except Exception:
                self._counts["errors"] += 1
                log.exception("writing evidence failed; detection goes on")
            finally:
                with self._idle:
                    self._active -= 1
                    self._idle.notify_all()
            self._expire()

    def _expire(self) -> None:
        """Captures whose camera stopped delivering frames: write them with what they have."""
        now = time.monotonic()
        with self._lock:
            for capture in [c for c in self._pending if c.deadline < now]:
                log.info("evidence: no frames of %s for the end of alert %s's clip; writing what there is",
                         capture.camera_id, capture.alert_id)
                self._finish(capture)
            for track in [t for t in self._tracks if t.deadline < now]:
                log.info("evidence: no frames of %s for the end of alert %s's track; writing what there is",
                         track.camera_id, track.alert_id)
                self._finish_track(track)

    def _snapshot(self, alert_id: str, camera_id: str, frames: list[Frame], target: float) -> None:
        if not frames:
            return
        _, jpeg = min(frames, key=lambda f: abs(f[0] - target))
        path = self.store.save_snapshot(alert_id, jpeg)
        self._counts["snapshots"] += 1
        log.info("evidence: snapshot of alert %s from %s written to %s", alert_id, camera_id, path)
        self._report(alert_id, snapshot=path)

    def _clip(self, capture: _Capture) -> None:
        images = _decode(capture.frames)
        if not images:
            log.warning("evidence: no decodable frames for the clip of alert %s", capture.alert_id)
            return
        times = [ts for ts, _ in capture.frames]
        span = times[-1] - times[0]
        fps = (len(times) - 1) / span if len(times) > 1 and span > 0 else self.clip_fps
        path = self.store.save_clip(capture.alert_id, images, float(np.clip(fps, 0.5, 60.0)))
        self._counts["clips"] += 1
        log.info("evidence: clip of alert %s (%d frames) written to %s", capture.alert_id, len(images), path)
        self._report(capture.alert_id, clip=path)

    def _track(self, track: _Track) -> None:
        rows = [row for batch in track.batches for row in batch.rows()]
        if not rows:
            log.info("evidence: no observations of %s for alert %s's track", track.camera_id, track.alert_id)
            return
        path = self.store.save_track(track.alert_id, rows)
        self._counts["tracks"] += 1
        log.info("evidence: track of alert %s (%d frames, %d observations) written to %s", track.alert_id,
                 len(track.batches), len(rows), path)
        self._report(track.alert_id, track=path)

    def _report(self, alert_id: str, **files: str) -> None:
        try:
            self.on_evidence(alert_id, **files)
        except Exception:
            self._counts["errors"] += 1
            log.exception("reporting evidence %s of alert %s failed", sorted(files), alert_id)


def _decode(frames: list[Frame]) -> list[np.ndarray]:
    """BGR images of JPEG frames, all the size of the first one (undecodable frames skipped)."""
    images: list[np.ndarray] = []
    for _, jpeg in frames:
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            continue
        if images and image.shape != images[0].shape:
            image = cv2.resize(image, (images[0].shape[1], images[0].shape[0]))
        images.append(image)
    return images


__all__ = ["BatchRing", "EvidenceRecorder", "FrameRing", "OnEvidence"]
