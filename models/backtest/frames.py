"""Where a clip's observations come from: simulator truth, pre-computed tracks or the detector.

- ``--truth``: ``truth.jsonl`` as perfect observations (objects at least half in view), sampled
  at the camera's analysis rate; a clip without it uses its ``observations.jsonl``;
- otherwise ``observations.jsonl`` when the clip has one (``zhizhi analyze --jsonl`` lines;
  lines of other types are skipped), else the detector over the video, through the cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.models.backtest.cache import DetectorSpec, Frames, ObservationCache, cache_key
from zhizhi.models.backtest.dataset import BacktestError, Clip, json_object, validate
from zhizhi.video.observation import Observation


def clip_frames(
    clip: Clip, *, truth: bool, detector: DetectorSpec, cache: ObservationCache | None
) -> tuple[Frames, str]:
    """The clip's analysed frames and where they came from: truth, observations, cache or detector."""
    if truth and clip.truth is not None:
        from zhizhi.video.simulator.truth import read_truth_frames

        frames = read_truth_frames(clip.truth, clip.camera.id)
        return list(sample(frames, clip.camera.analysis_fps)), "truth"
    if clip.observations is not None:
        return read_observations(clip.observations, clip.camera.id), "observations"
    if clip.video is None:
        raise BacktestError(f"{clip.folder}: no video and no observations.jsonl")
    weights = detector.resolved_weights()
    if weights is not None and not weights.is_file():
        raise BacktestError(f"detector weights not found: {weights}")
    key = cache_key(clip.video, clip.camera, detector)
    if cache is not None and (hit := cache.get(key)) is not None:
        return hit, "cache"
    frames = detect(clip, detector)
    if cache is not None:
        cache.put(key, frames)
    return frames, "detector"


def sample(frames: Iterable[ObservationBatch], rate: float) -> Iterator[ObservationBatch]:
    """Frames at most ``rate`` per second (the first, then one per ``1 / rate`` seconds)."""
    next_ts: float | None = None
    for batch in frames:
        ts = batch.ts
        if next_ts is None or ts + 1e-6 >= next_ts:
            next_ts = (ts if next_ts is None else next_ts) + 1.0 / rate
            yield batch


def read_observations(path: Path, camera_id: str) -> Frames:
    """``observations.jsonl`` grouped into frames by ``ts`` (in time order), each line checked."""
    by_ts: dict[float, list[dict]] = {}
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            data = json_object(line, path, number)
            if data.pop("type", "observation") != "observation":
                continue  # alert and summary lines of ``zhizhi analyze --jsonl``
            data.setdefault("camera_id", camera_id)
            obs = validate(Observation, data, path, number)
            by_ts.setdefault(obs.ts, []).append(obs.model_dump())
    return [ObservationBatch.from_rows(camera_id, ts, rows) for ts, rows in sorted(by_ts.items())]


def build_detector(spec: DetectorSpec):
    """The detector a spec names; a :class:`BacktestError` when it cannot load."""
    from zhizhi.video.detectors import DetectorError, make_detector

    try:
        if spec.kind == "motion":
            return make_detector("motion")
        return make_detector("ultralytics", weights=spec.resolved_weights(), device=spec.device, imgsz=spec.imgsz,
                             conf=spec.conf, tracker=spec.tracker)
    except (DetectorError, FileNotFoundError) as exc:
        raise BacktestError(f"detector: {exc}") from None


def detect(clip: Clip, spec: DetectorSpec) -> Frames:
    """Run the detector over the clip's video (every analysed frame, also empty ones)."""
    from zhizhi.video.offline import analyze_file
    from zhizhi.video.sources import SourceError

    detector = build_detector(spec)
    try:
        return list(analyze_file(clip.video, clip.camera, detector))
    except SourceError as exc:
        raise BacktestError(f"{clip.video}: {exc}") from None
