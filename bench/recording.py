"""Recording throughput: frames encoded to H.264 per second by one recorder, and a camera's H.264
stream copied into segments against decoding and re-encoding it (the same-run baseline).

Frames are synthetic road-like views (a gradient sky, a road, a moving box, sensor noise) at
each size; the copy and the re-encode work on one H.264 clip of ``seconds`` at 1280x720.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from zhizhi.video.recording import SegmentStore
from zhizhi.video.recording.recorder import StreamRecorder
from zhizhi.video.recording.writers import EncodingWriter, h264_encoder

SIZES = ((640, 360), (1280, 720), (1920, 1080))
FPS = 10


def road_frames(size: tuple[int, int], n: int = 30, seed: int = 3) -> list[np.ndarray]:
    """``n`` synthetic frames of ``size`` (width, height): a box crossing a road, with noise."""
    w, h = size
    rng = np.random.default_rng(seed)
    base = np.zeros((h, w, 3), np.uint8)
    base[: h // 2] = np.linspace(120, 40, h // 2, dtype=np.uint8)[:, None, None]
    base[h // 2 :] = (70, 72, 74)
    frames = []
    for i in range(n):
        image = base.copy()
        x = int((i / n) * (w - w // 6))
        cv2.rectangle(image, (x, int(h * 0.6)), (x + w // 6, int(h * 0.75)), (0, 110, 255), -1)
        image = cv2.add(image, rng.integers(0, 12, image.shape, np.uint8))
        frames.append(image)
    return frames


def encode_rate(folder: Path, size: tuple[int, int], seconds: float) -> float:
    """Frames per second the recorder's writer encodes at ``size``."""
    frames = road_frames(size)
    writer = EncodingWriter(folder / f"encode-{size[0]}.mp4", 0.0, size, FPS)
    n = int(seconds * FPS)
    start = time.perf_counter()
    for i in range(n):
        writer.write(frames[i % len(frames)], i / FPS)
    writer.close()
    return n / (time.perf_counter() - start)


def run_recording_bench(seconds: float = 10.0) -> dict:
    """Measure and return the figures (the ``zhizhi bench recording --json`` contract)."""
    result: dict = {"h264_encoder": h264_encoder()}
    with tempfile.TemporaryDirectory(prefix="zhizhi-bench-rec-") as tmp:
        folder = Path(tmp)
        for size in SIZES:
            rate = encode_rate(folder, size, seconds)
            result[f"encode_{size[0]}x{size[1]}_fps"] = round(rate, 1)
            result[f"cameras_at_{FPS}fps_{size[0]}x{size[1]}"] = round(rate / FPS, 1)
        # one H.264 clip, 1280x720: copied into segments, against decoded and encoded again
        clip = folder / "clip.mp4"
        frames = road_frames((1280, 720))
        writer = EncodingWriter(clip, 0.0, (1280, 720), 25)
        for i in range(int(seconds * 25)):
            writer.write(frames[i % len(frames)], i / 25)
        writer.close()
        store = SegmentStore(folder / "copied")
        start = time.perf_counter()
        StreamRecorder("BENCH", str(clip), store, segment_s=2.0, loop=False, realtime=False).run()
        copy_s = time.perf_counter() - start
        start = time.perf_counter()
        again = EncodingWriter(folder / "reencoded.mp4", 0.0, (1280, 720), 25)
        with av.open(str(clip)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                again.write(frame.to_ndarray(format="bgr24"), i / 25)
        again.close()
        reencode_s = time.perf_counter() - start
        result["clip_seconds"] = seconds
        result["copy_x_realtime"] = round(seconds / copy_s, 1)
        result["reencode_x_realtime"] = round(seconds / reencode_s, 2)
        result["copy_speedup_vs_reencode"] = round(reencode_s / copy_s, 1)
        result["copied_segments"] = len(store.segments("BENCH"))
    return result
