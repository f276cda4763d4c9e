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

**Cameras that join.** The alert service folds another camera's warning of the same event
into the open alert (an ``updated`` event whose ``cameras`` grew). For each camera of an open
alert's ``cameras`` this recorder holds frames of and has no evidence of that alert yet — not
the alert's first camera (``camera_id``), whose evidence is the main one — it records the same
three files as for a new alert: the snapshot nearest that camera's latest sighting (its member's
``last_ts``, else the alert's), a clip and a track from that camera's buffers. They are the
alert's ``views`` (files named after the camera, :func:`video.evidence_store.filename`). Each
camera once per alert, at most ``max_views`` cameras per alert; a sighting older than the
camera's buffer (an old alert's later event, after a restart) gets none. A new alert whose
first camera is another worker's gets views of the cameras of its ``cameras`` this one holds,
never the main files (two workers writing them would overwrite each other).

Files go through an :class:`~video.evidence_store.EvidenceStore`; their paths are reported to
``on_evidence(alert_id, snapshot=..., clip=..., track=...)``, one keyword a call (the alert
service's ``attach_evidence`` in the console), with ``camera_id=`` the joining camera for a
view's files.

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
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from zhizhi.bus import Bus, Topic
from zhizhi.bus.messages.alerts import AlertEvent
from zhizhi.bus.messages.evidence import MAX_VIEWS
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.video.evidence_store import EvidenceStore

log = logging.getLogger(__name__)


class OnEvidence(Protocol):
    """Where the recorder reports the files it wrote (paths relative to the store's root)."""

    def __call__(
        self, alert_id: str, *, snapshot: str | None = None, clip: str | None = None, track: str | None = None,
        camera_id: str | None = None,
    ) -> object: ...


Frame = tuple[float, bytes]  # (frame time, annotated JPEG)
#: Alerts whose recorded cameras are remembered (a view is recorded once per alert and camera).
REMEMBERED_ALERTS = 4096


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
    view: bool = False  # of a camera that joined the alert (not its first camera)


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
    view: bool = False  # of a camera that joined the alert (not its first camera)


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

    Views: at most ``max_views`` cameras that joined an alert get their own snapshot, clip and
    track (within the same bounds as the first camera's).
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
        max_views: int = MAX_VIEWS,
    ) -> None:
        if pre_s < 0 or post_s < 0 or grace_s < 0:
            raise ValueError("pre_s, post_s and grace_s must not be negative")
        if max_frames < 1 or max_bytes < 1 or max_pending < 1 or not 0 < clip_fps <= 120:
            raise ValueError("max_frames, max_bytes, max_pending must be positive; clip_fps in (0, 120]")
        if track_pre_s < 0 or track_lead_s < 0 or track_max_s < 0:
            raise ValueError("track_pre_s, track_lead_s and track_max_s must not be negative")
        if max_track_batches < 1 or max_track_rows < 1 or max_tracks < 1:
            raise ValueError("max_track_batches, max_track_rows and max_tracks must be positive")
        if max_views < 0:
            raise ValueError("max_views must not be negative")
        self.store = store
        self.on_evidence = on_evidence
        self.pre_s, self.post_s, self.grace_s = pre_s, post_s, grace_s
        self.max_frames, self.max_bytes, self.max_pending = max_frames, max_bytes, max_pending
        self.clip_fps = clip_fps
        self.track_pre_s, self.track_lead_s, self.track_max_s = track_pre_s, track_lead_s, track_max_s
        self.max_track_batches, self.max_track_rows, self.max_tracks = max_track_batches, max_track_rows, max_tracks
        self.max_views = max_views
        self._lock = threading.Lock()
        self._rings: dict[str, FrameRing] = {}
        self._pending: list[_Capture] = []
        self._batch_rings: dict[str, BatchRing] = {}
        self._tracks: list[_Track] = []
        # alert id -> the cameras whose evidence of it was recorded here (True: a view), newest last
        self._recorded: OrderedDict[str, dict[str, bool]] = OrderedDict()
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

    def add(self, camera_id: str, ts: float, jpeg: bytes | None, batch: ObservationBatch | None = None) -> None:
        """A new analysed frame of a camera: its annotated picture (None: the worker kept no picture of
        this frame, a camera with nothing in view) and, when given, its observation batch (called by
        the worker for every analysed frame)."""
        with self._lock:
            if jpeg is not None:
                ring = self._rings.get(camera_id)
                if ring is None:
                    ring = self._rings[camera_id] = FrameRing(self.pre_s, self.max_frames, self.max_bytes)
                ring.add(ts, jpeg)
            for capture in list(self._pending):
                if capture.camera_id != camera_id or capture.done:
                    continue
                if ts > capture.end_ts:
                    self._finish(capture)
                elif jpeg is None:
                    continue
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
        """Bus handler of the alerts topic: start the evidence of a new alert of our cameras and of
        each camera of ours that joins an open alert, move the end of its tracks while it goes on,
        end them when it is closed or resolved."""
        with self._lock:
            if message.event == "new":
                camera_id = self._first_camera(message)
                if camera_id is not None:
                    self._record(message.id, camera_id, False, message.first_ts, message.first_ts, message.last_ts)
            else:
                self._follow(message)
            if message.status not in ("closed", "resolved"):
                self._record_views(message)

    def _first_camera(self, message: AlertEvent) -> str | None:
        """The camera whose files are a new alert's main evidence, if this recorder holds its
        frames: the alert's own camera, or (an alert without one) the first of its cameras."""
        if message.camera_id is not None:
            return message.camera_id if message.camera_id in self._rings else None
        return next((c for c in message.cameras if c in self._rings), None)

    def _record_views(self, message: AlertEvent) -> None:
        """Start the evidence of the alert's cameras that joined it, this recorder holds frames of
        and has not recorded for it yet (lock held)."""
        recorded = self._recorded.get(message.id, {})
        for camera_id in dict.fromkeys(message.cameras):
            if camera_id == message.camera_id or camera_id in recorded or camera_id not in self._rings:
                continue
            if sum(recorded.values()) >= self.max_views:
                self._counts["skipped_views"] += 1
                log.warning("evidence: alert %s has %d views already; %s gets none",
                            message.id, self.max_views, camera_id)
                self._remember(message.id, camera_id, False)  # said once
                recorded = self._recorded[message.id]
                continue
            first_ts, last_ts = _sighting(message, camera_id)
            frames = self._rings[camera_id].frames
            if not frames or last_ts < frames[0][0]:
                log.debug("evidence: %s saw alert %s at %.1f, before its buffered frames; no view",
                          camera_id, message.id, last_ts)
                continue
            log.info("evidence: %s joined alert %s; recording its view", camera_id, message.id)
            self._record(message.id, camera_id, True, last_ts, first_ts, last_ts)
            recorded = self._recorded[message.id]

    def _record(self, alert_id: str, camera_id: str, view: bool, target: float, first_ts: float,
                last_ts: float) -> None:
        """Start a camera's evidence of an alert (lock held): the snapshot nearest ``target`` at
        once, its clip and track once their ends have come in."""
        self._remember(alert_id, camera_id, view)
        ring = self._rings[camera_id]
        pre = list(ring.frames)
        anchor = ring.newest_ts if ring.newest_ts is not None else 0.0
        self._start_track(alert_id, camera_id, view, first_ts, last_ts, pre[0][0] if pre else anchor)
        self._submit(("snapshot", (alert_id, camera_id, view, pre, target)))
        if len(self._pending) >= self.max_pending:
            self._counts["skipped_clips"] += 1
            log.warning("evidence: %d clips already being collected; alert %s gets a snapshot only of %s",
                        len(self._pending), alert_id, camera_id)
            return
        capture = _Capture(alert_id, camera_id, anchor + self.post_s,
                           time.monotonic() + self.post_s + self.grace_s, pre, sum(len(j) for _, j in pre), view=view)
        self._pending.append(capture)
        if self.post_s == 0:
            self._finish(capture)

    def _remember(self, alert_id: str, camera_id: str, view: bool) -> None:
        """Note that a camera of an alert was dealt with here (lock held; the newest alerts kept)."""
        self._recorded.setdefault(alert_id, {})[camera_id] = view
        self._recorded.move_to_end(alert_id)
        while len(self._recorded) > REMEMBERED_ALERTS:
            self._recorded.popitem(last=False)

    def _start_track(self, alert_id: str, camera_id: str, view: bool, first_ts: float, last_ts: float,
                     clip_start: float) -> None:
        """Start collecting a camera's track of an alert from its buffered batches (lock held)."""
        ring = self._batch_rings.get(camera_id)
        if ring is None or ring.newest_ts is None:
            return  # the worker hands over no observations
        if len(self._tracks) >= self.max_tracks:
            self._counts["skipped_tracks"] += 1
            log.warning("evidence: %d tracks already being collected; alert %s gets none of %s",
                        len(self._tracks), alert_id, camera_id)
            return
        start = min(first_ts - self.track_lead_s, clip_start)
        now = ring.newest_ts
        limit = now + self.track_max_s
        end = min(limit, max(now, last_ts) + self.post_s)
        batches = [b for b in ring.batches if b.ts >= start]
        track = _Track(alert_id, camera_id, end, limit, time.monotonic() + (end - now) + self.grace_s,
                       batches, sum(len(b) for b in batches), view=view)
        self._tracks.append(track)
        if end <= now:
            self._finish_track(track)

    def _follow(self, message: AlertEvent) -> None:
        """A later change of an alert (lock held): a newer sighting moves its tracks' end on; a
        closed or resolved alert's tracks are written with what they have."""
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
        """Snapshots, clips and tracks written (``views``: the snapshots of joining cameras among
        them), errors, clips, tracks and views skipped, cameras and bytes buffered, clips and tracks
        being collected."""
        with self._lock:
            buffered = sum(r.bytes for r in self._rings.values())
            cameras, pending, tracking = len(self._rings), len(self._pending), len(self._tracks)
        keys = ("snapshots", "clips", "tracks", "views", "errors", "skipped_clips", "skipped_tracks", "skipped_views")
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

    def _snapshot(self, alert_id: str, camera_id: str, view: bool, frames: list[Frame], target: float) -> None:
        if not frames:
            return
        _, jpeg = min(frames, key=lambda f: abs(f[0] - target))
        path = self.store.save_snapshot(alert_id, jpeg, camera_id if view else None)
        self._counts["snapshots"] += 1
        self._counts["views"] += view
        log.info("evidence: snapshot of alert %s from %s written to %s", alert_id, camera_id, path)
        self._report(alert_id, camera_id if view else None, snapshot=path)

    def _clip(self, capture: _Capture) -> None:
        images = _decode(capture.frames)
        if not images:
            log.warning("evidence: no decodable frames for the clip of alert %s", capture.alert_id)
            return
        times = [ts for ts, _ in capture.frames]
        span = times[-1] - times[0]
        fps = (len(times) - 1) / span if len(times) > 1 and span > 0 else self.clip_fps
        camera = capture.camera_id if capture.view else None
        path = self.store.save_clip(capture.alert_id, images, float(np.clip(fps, 0.5, 60.0)), camera)
        self._counts["clips"] += 1
        log.info("evidence: clip of alert %s (%d frames of %s) written to %s", capture.alert_id, len(images),
                 capture.camera_id, path)
        self._report(capture.alert_id, camera, clip=path)

    def _track(self, track: _Track) -> None:
        rows = [row for batch in track.batches for row in batch.rows()]
        if not rows:
            log.info("evidence: no observations of %s for alert %s's track", track.camera_id, track.alert_id)
            return
        camera = track.camera_id if track.view else None
        path = self.store.save_track(track.alert_id, rows, camera)
        self._counts["tracks"] += 1
        log.info("evidence: track of alert %s (%d frames, %d observations of %s) written to %s", track.alert_id,
                 len(track.batches), len(rows), track.camera_id, path)
        self._report(track.alert_id, camera, track=path)

    def _report(self, alert_id: str, camera_id: str | None, **files: str) -> None:
        """Hand written files to ``on_evidence`` (``camera_id`` only for a view's files, so a
        callback of before views still takes the first camera's)."""
        try:
            if camera_id is None:
                self.on_evidence(alert_id, **files)
            else:
                self.on_evidence(alert_id, camera_id=camera_id, **files)
        except Exception:
            self._counts["errors"] += 1
            log.exception("reporting evidence %s of alert %s failed", sorted(files), alert_id)


def _sighting(message: AlertEvent, camera_id: str) -> tuple[float, float]:
    """When ``camera_id`` first and last saw the alert's condition: its members' times, or the
    alert's own when no member names the camera."""
    members = [m for m in message.members if m.get("camera_id") == camera_id]
    try:
        return (min(float(m["first_ts"]) for m in members), max(float(m["last_ts"]) for m in members))
    except (KeyError, TypeError, ValueError):  # no member of that camera, or one without times
        return message.first_ts, message.last_ts


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
