"""Frame-analysis throughput: a bare ultralytics ``model.track`` loop against the full pipeline.

Both read the same simulated, calibrated clip in the same run. The bare loop decodes with
OpenCV and calls ``model.track(persist=True)``; the pipeline decodes through our file source,
detects and tracks (batched backend), geolocates, computes speed and heading, and publishes
each frame's observation batch on the in-process bus. Then a worker runs 1, 2 and 4 looping streams of the
clip at once, each paced at the clip's own 10 fps like a live camera (one batched detection per
round), for a fixed time: total analysed frames/s (at most 10 per stream).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import cv2


def _bare_fps(clip: Path, weights: Path, imgsz: int, conf: float, frames: int) -> float:
    from ultralytics import YOLO

    model = YOLO(str(weights))
    capture = cv2.VideoCapture(str(clip))
    model.track(capture.read()[1], persist=True, imgsz=imgsz, conf=conf, tracker="bytetrack.yaml", verbose=False)
    done, started = 0, time.perf_counter()
    while done < frames:
        ok, image = capture.read()
        if not ok:
            break
        model.track(image, persist=True, imgsz=imgsz, conf=conf, tracker="bytetrack.yaml", verbose=False)
        done += 1
    capture.release()
    return done / (time.perf_counter() - started)


def _pipeline_fps(clip: Path, camera, detector_factory, frames: int) -> tuple[float, int]:
    from zhizhi.bus import InProcessBus, Topic
    from zhizhi.video.camera_config import SourceConfig
    from zhizhi.video.frames import Frame
    from zhizhi.video.pipeline import FrameAnalyzer
    from zhizhi.video.sources import open_source

    bus = InProcessBus()
    received = []
    bus.subscribe(Topic.FRAMES, received.append)
    analyzer = FrameAnalyzer(detector_factory(), [camera])
    source = open_source(SourceConfig(url=str(clip), kind="file", realtime=False), camera.id)
    source.open()
    analyzer.analyze([Frame(camera.id, 0, 0.0, source.read())])  # warm-up, like the bare loop
    done, started = 0, time.perf_counter()
    while done < frames:
        image = source.read()
        if image is None:
            break
        done += 1
        for batch in analyzer.analyze([Frame(camera.id, done, done / 10.0, image)]):
            bus.publish(Topic.FRAMES, batch)
    source.close()
    return done / (time.perf_counter() - started), sum(len(batch) for batch in received)


def _streams_fps(clip: Path, camera, detector_factory, streams: int, seconds: float) -> float:
    from zhizhi.video.camera_config import SourceConfig
    from zhizhi.video.worker import Worker

    cameras = [
        camera.model_copy(update={"id": f"{camera.id}-{i}", "analysis_fps": 60.0,
                                  "source": SourceConfig(url=str(clip), kind="file", loop=True, realtime=True)})
        for i in range(streams)
    ]
    worker = Worker(cameras, detector_factory(), lambda topic, message: None)
    stop = threading.Event()
    time.sleep(0.5)  # let the sources open
    warm = worker.stats()["frames"]
    threading.Timer(seconds, stop.set).start()
    started = time.perf_counter()
    worker.run(stop)
    elapsed = time.perf_counter() - started
    frames = worker.stats()["frames"] - warm
    worker.close()
    return frames / elapsed


def run_pipeline_bench(
    weights: Path | None = None, frames: int = 120, stream_seconds: float = 15.0, imgsz: int = 416, conf: float = 0.3
) -> dict:
    """Measure and return the figures (the ``zhizhi bench pipeline --json`` contract)."""
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "zhizhi-ultralytics"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from zhizhi.models.detector import SHIPPED_WEIGHTS
    from zhizhi.video.camera_config import load_camera_configs
    from zhizhi.video.detectors import make_detector
    from zhizhi.video.simulator import simulate

    weights = Path(weights or SHIPPED_WEIGHTS)
    with tempfile.TemporaryDirectory(prefix="zhizhi-bench-") as tmp:
        result = simulate("normal", 7, Path(tmp), duration_s=frames / 10.0 + 1.0, fps=10.0)
        clip = Path(tmp) / "clip.mp4"
        camera = load_camera_configs(Path(tmp) / "camera.json")[0]

        def factory():
            return make_detector("ultralytics", weights=weights, imgsz=imgsz, conf=conf)

        bare = _bare_fps(clip, weights, imgsz, conf, frames)
        pipeline, published = _pipeline_fps(clip, camera, factory, frames)
        streams = {str(n): round(_streams_fps(clip, camera, factory, n, stream_seconds), 2) for n in (1, 2, 4)}
    return {
        "clip_frames": result.frames,
        "frames": frames,
        "weights": weights.name,
        "imgsz": imgsz,
        "bare_fps": round(bare, 2),
        "pipeline_fps": round(pipeline, 2),
        "ratio": round(pipeline / bare, 3),
        "observations_published": published,
        "streams_total_fps": streams,
    }
