"""Recordings for the tests: a synthetic camera feeding frames, an H.264 clip, playability."""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from zhizhi.video.frames import Frame


class SyntheticCamera:
    """Frames at ``fps`` from a thread (a moving bar; on noise, which compresses badly, with
    ``noise``); clearing ``delivering`` drops the camera, setting it brings it back."""

    def __init__(self, camera_id: str = "CAM-REC", size: tuple[int, int] = (320, 240), fps: float = 15.0,
                 noise: bool = False) -> None:
        self.camera_id, self.size, self.fps, self.noise = camera_id, size, fps, noise
        self._random = np.random.default_rng(7)
        self.delivering = threading.Event()
        self.delivering.set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._taken = -1
        self._index = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SyntheticCamera:
        self._thread.start()
        return self

    def _run(self) -> None:
        w, h = self.size
        while not self._stop.is_set():
            if self.delivering.is_set():
                image = (self._random.integers(0, 255, (h, w, 3), np.uint8) if self.noise
                         else np.zeros((h, w, 3), np.uint8))
                x = (self._index * 7) % w
                image[:, x : x + 20] = (40, 200, 255)
                with self._lock:
                    self._frame = Frame(self.camera_id, self._index, time.time(), image)
                    self._index += 1
            self._stop.wait(1 / self.fps)

    def take(self) -> Frame | None:
        with self._lock:
            if self._frame is None or self._frame.index <= self._taken:
                return None
            self._taken = self._frame.index
            return self._frame

    def latest(self, after_index: int | None = None) -> Frame | None:
        """As a worker's camera runner: the newest frame if newer than ``after_index``."""
        with self._lock:
            frame = self._frame
        return frame if frame is not None and (after_index is None or frame.index > after_index) else None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def h264_clip(path: Path, seconds: float = 6.0, fps: int = 25, size: tuple[int, int] = (320, 240),
              gop: int = 25) -> Path:
    """An H.264 MP4 of ``seconds`` (a keyframe every ``gop`` frames)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
        for i in range(int(seconds * fps)):
            image = np.zeros((size[1], size[0], 3), np.uint8)
            image[:, (i * 5) % size[0] :][:, :16] = 255
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def decoded_frames(path: Path) -> tuple[str, int, float]:
    """The codec, the frames decoded and the duration (s) of a video file (raises if unplayable)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        n = sum(1 for _ in container.decode(stream))
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        return stream.codec_context.name, n, duration


def record_clip(root: Path, camera_id: str, t0: float, seconds: float = 4.0, segment_s: float = 1.0) -> list:
    """A camera's segments from ``t0`` (an H.264 clip of ``seconds`` copied, 1 s a segment by
    default, keyframes every second) in the recording folder ``root``; the segments."""
    from zhizhi.video.recording import SegmentStore
    from zhizhi.video.recording.recorder import StreamRecorder

    root.mkdir(parents=True, exist_ok=True)
    clip = h264_clip(root / f".clip-{camera_id}.mp4", seconds=seconds)
    store = SegmentStore(root)
    StreamRecorder(camera_id, str(clip), store, segment_s=segment_s, loop=False, realtime=False,
                   clock=lambda: t0).run()
    clip.unlink()
    return store.segments(camera_id)


def record_road(root: Path, camera_id: str, t0: float, seconds: float, segment_s: float = 10.0,
                fps: float = 5.0, zone: str = "Asia/Shanghai") -> list:
    """A camera's segments from ``t0`` to ``t0 + seconds``: a synthetic road view (the wall's
    tiles' picture) with the recorded time burnt in (in ``zone``), encoded to H.264 as the recorder does."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import cv2

    from tests.wall_support import road_jpeg
    from zhizhi.video.recording import SegmentStore
    from zhizhi.video.recording.writers import EncodingWriter

    store = SegmentStore(root)
    n = int(seconds * fps)
    per_segment = int(segment_s * fps)
    for first in range(0, n, per_segment):
        start = t0 + first / fps
        part = store.part_path(camera_id, start)
        writer = None
        for i in range(first, min(first + per_segment, n)):
            image = cv2.imdecode(np.frombuffer(road_jpeg(camera_id, camera_id, i), np.uint8), cv2.IMREAD_COLOR)
            image[38:66, :] = (30, 20, 20)
            stamp = datetime.fromtimestamp(t0 + i / fps, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")
            cv2.putText(image, f"REC {stamp}", (12, 58), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (80, 80, 255), 2)
            writer = writer or EncodingWriter(part, start, (image.shape[1], image.shape[0]), fps)
            writer.write(image, t0 + i / fps)
        store.finish(part, camera_id, start, writer.close())
    return store.segments(camera_id)
