"""Recording a camera's stream for site adaptation: sampled frames over N minutes of stream time.

The stream is read through the project's frame sources (:func:`video.sources.open_source`: a
file, an image folder, RTSP/HTTP, MJPEG). A file is read as fast as it decodes, once (never
looped: a repeated frame would be both trained on and held out), and its time is the frame's
position; a live stream's time is the wall clock. Frames are kept at ``sample_fps`` and written
as JPEGs with their times in ``recording.json``. A stream that cannot be opened raises
:class:`RecordingError` before anything is written.

>>> plan_interval(10.0, 2.0), plan_interval(None, 2.0)
(5, None)
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
from pydantic import BaseModel, Field

from zhizhi.layers.camera_registry import mask_stream_url
from zhizhi.video.camera_config import SourceConfig
from zhizhi.video.sources import SourceError, open_source

#: JPEG quality of recorded frames (high: they are trained on).
JPEG_QUALITY = 92
#: A stream that gives no frame for this long is considered lost.
STALL_S = 10.0


class RecordingError(RuntimeError):
    """The camera's stream cannot be recorded (the message says why, its password hidden)."""


class RecordedFrame(BaseModel):
    """One kept frame: its file (relative to the recording folder) and stream time in seconds."""

    index: int
    t: float
    file: str


class Recording(BaseModel):
    """Frames of one camera, in stream-time order."""

    camera_id: str
    source: str = Field(description="The stream, its credentials masked.")
    folder: Path
    source_fps: float | None
    sample_fps: float
    requested_s: float
    seconds: float = Field(description="Stream time covered (less than requested when a file ended).")
    ended: str | None = Field(None, description="Why recording stopped before the time requested.")
    width: int
    height: int
    frames: list[RecordedFrame]
    wall_s: float

    def path(self, frame: RecordedFrame) -> Path:
        return self.folder / frame.file

    def save(self) -> Path:
        out = self.folder / "recording.json"
        out.write_text(self.model_dump_json(indent=1) + "\n", encoding="utf-8")
        return out


def plan_interval(source_fps: float | None, sample_fps: float) -> int | None:
    """Keep every n-th decoded frame of a source of known rate (None: keep by time)."""
    if not source_fps:
        return None
    return max(1, round(source_fps / sample_fps))


def record(
    url: str,
    camera_id: str,
    folder: Path,
    *,
    seconds: float,
    sample_fps: float = 2.0,
    stop: threading.Event | None = None,
    progress: Callable[[float, float], None] | None = None,
    open_timeout_s: float = 10.0,
) -> Recording:
    """Record ``seconds`` of stream time of ``url`` into ``folder`` (made only once the stream opened).

    ``progress(done_s, total_s)`` is called as stream time passes; ``stop`` ends early.
    """
    if seconds <= 0 or sample_fps <= 0:
        raise ValueError("seconds and sample_fps must be positive")
    config = SourceConfig(url=url)
    kind = config.resolved_kind
    if kind in ("file", "images"):
        config = config.model_copy(update={"loop": False, "realtime": False})
    shown = mask_stream_url(url) or url
    source = open_source(config, camera_id, open_timeout_s=open_timeout_s, read_timeout_s=STALL_S, stop=stop)
    try:
        source.open()
    except SourceError as exc:
        raise RecordingError(f"camera {camera_id}: {exc}") from None
    started = time.monotonic()
    by_position = not getattr(source, "realtime", True) or kind in ("file", "images")
    fps = source.fps
    every = plan_interval(fps, sample_fps) if by_position else None
    folder = Path(folder)
    frames_dir = folder / "frames"
    shutil.rmtree(frames_dir, ignore_errors=True)
    frames_dir.mkdir(parents=True, exist_ok=True)
    kept: list[RecordedFrame] = []
    n, t, next_t, ended, shape = 0, 0.0, 0.0, None, (0, 0)
    try:
        while True:
            if stop is not None and stop.is_set():
                ended = "stopped"
                break
            image = source.read()
            if image is None:
                ended = getattr(source, "error", None) or "the stream ended"
                break
            if by_position:
                t = n / fps if fps else n / sample_fps
            else:
                t = time.monotonic() - started
            if t >= seconds:
                break
            keep = (n % every == 0) if every else t >= next_t
            n += 1
            if not keep:
                continue
            next_t = t + 1.0 / sample_fps
            name = f"frames/{len(kept):05d}.jpg"
            cv2.imwrite(str(folder / name), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            shape = image.shape[:2]
            kept.append(RecordedFrame(index=len(kept), t=round(t, 3), file=name))
            if progress is not None:
                progress(t, seconds)
    finally:
        source.close()
    if not kept:
        shutil.rmtree(frames_dir, ignore_errors=True)
        raise RecordingError(f"camera {camera_id}: no frame recorded from {shown} ({ended or 'nothing decoded'})")
    covered = min(seconds, t if ended is None else kept[-1].t + 1.0 / sample_fps)
    recording = Recording(
        camera_id=camera_id, source=shown, folder=folder.resolve(), source_fps=fps, sample_fps=sample_fps,
        requested_s=seconds, seconds=round(covered, 2), ended=ended, width=shape[1], height=shape[0],
        frames=kept, wall_s=round(time.monotonic() - started, 2),
    )
    recording.save()
    return recording


def load_recording(folder: Path) -> Recording:
    """A recording written by :func:`record`."""
    data = json.loads((Path(folder) / "recording.json").read_text(encoding="utf-8"))
    return Recording.model_validate(data)
