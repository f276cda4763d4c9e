"""Analysing a recorded clip frame by frame (``zhizhi analyze``): no real-time pacing, no drops.

Frames are timed by their position in the clip (``start_ts + index / fps``) and sampled at the
camera's analysis rate, so the same clip always gives the same observations.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.video.camera_config import CameraConfig, SourceConfig
from zhizhi.video.detectors import TrackingDetector
from zhizhi.video.frames import Frame
from zhizhi.video.pipeline import FrameAnalyzer, TrackHook
from zhizhi.video.sources import open_source


@dataclass
class Summary:
    """What an analysis run saw (the final ``{"type": "summary"}`` line)."""

    frames: int = 0
    analysed: int = 0
    observations: int = 0
    tracks: set[int] = field(default_factory=set)
    seconds: float = 0.0
    clip_fps: float | None = None

    def as_message(self) -> dict:
        return {
            "type": "summary",
            "frames": self.frames,
            "analysed_frames": self.analysed,
            "observations": self.observations,
            "tracks": len(self.tracks),
            "seconds": round(self.seconds, 3),
            "fps": round(self.analysed / self.seconds, 2) if self.seconds > 0 else None,
            "clip_fps": self.clip_fps,
        }


def analyze_file(
    video: Path,
    camera: CameraConfig,
    detector: TrackingDetector,
    *,
    analysis_fps: float | None = None,
    start_ts: float = 0.0,
    summary: Summary | None = None,
    on_tracks: TrackHook | None = None,
) -> Iterator[ObservationBatch]:
    """Yield the batch of every analysed frame of a clip (also frames with no objects);
    ``on_tracks`` sees every tracked box, shown or not yet (:class:`~video.pipeline.FrameAnalyzer`)."""
    summary = summary if summary is not None else Summary()
    source = open_source(SourceConfig(url=str(video), kind="file", realtime=False), camera.id)
    source.open()
    analyzer = FrameAnalyzer(detector, [camera], on_tracks=on_tracks)
    clip_fps = source.fps or 25.0
    summary.clip_fps = clip_fps
    rate = analysis_fps or camera.analysis_fps
    step = max(clip_fps / rate, 1.0)
    next_pick = 0.0
    started = time.perf_counter()
    try:
        index = 0
        while (image := source.read()) is not None:
            summary.frames += 1
            if index + 1e-9 >= next_pick:
                next_pick += step
                frame = Frame(camera_id=camera.id, index=index, ts=start_ts + index / clip_fps, image=image)
                for batch in analyzer.analyze([frame]):
                    summary.analysed += 1
                    summary.observations += len(batch)
                    summary.tracks.update(batch.track_id.tolist())
                    yield batch
            index += 1
    finally:
        source.close()
        summary.seconds = time.perf_counter() - started
