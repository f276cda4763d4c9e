"""The detector cache: observations per analysed frame, stored per clip, weights and settings.

The key is the sha256 of the clip file's bytes, of the weights file's bytes and of the
detector settings (kind, image size, confidence, tracker) together with the camera config
(its calibration places the observations) and the analysis rate. Anything that changes the
observations changes the key; the device does not (CPU and GPU runs share entries). Entries
are gzipped JSON lines, one frame's batch in its wire form each
(:meth:`~zhizhi.bus.messages.frames.ObservationBatch.to_wire`), written atomically, so parallel
runs never see half an entry; an entry that does not read back (damaged, an older format) is
computed again.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.models.versions.content import file_sha256
from zhizhi.video.camera_config import CameraConfig

Frames = list[ObservationBatch]


class DetectorSpec(BaseModel):
    """Which detector produces observations from video (the console's detector settings)."""

    kind: Literal["ultralytics", "motion"] = "ultralytics"
    weights: Path | None = Field(None, description="Weights file; default: the shipped detector.")
    device: str = "cpu"
    imgsz: int = Field(416, ge=32, le=4096)
    conf: float = Field(0.3, gt=0, lt=1)
    tracker: Literal["bytetrack", "botsort"] = "bytetrack"

    def resolved_weights(self) -> Path | None:
        if self.kind == "motion":
            return None
        if self.weights is not None:
            return self.weights
        from zhizhi.models.detector import SHIPPED_WEIGHTS

        return SHIPPED_WEIGHTS


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/zhizhi/backtest`` (``~/.cache/zhizhi/backtest``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "zhizhi" / "backtest"


def cache_key(video: Path, camera: CameraConfig, spec: DetectorSpec, analysis_fps: float | None = None) -> str:
    """The cache key of a clip's observations under a detector."""
    weights = spec.resolved_weights()
    settings = {
        "kind": spec.kind,
        "imgsz": spec.imgsz,
        "conf": spec.conf,
        "tracker": spec.tracker,
        "analysis_fps": analysis_fps,
        "camera": camera.model_dump(mode="json", exclude={"name", "source"}),
    }
    parts = [
        file_sha256(video),
        file_sha256(weights) if weights is not None else "no-weights",
        hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest(),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


class ObservationCache:
    """Cached frames by key under a folder (``<dir>/<key[:2]>/<key>.jsonl.gz``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.jsonl.gz"

    def get(self, key: str) -> Frames | None:
        """The cached frames, or None when there is no (readable) entry."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with gzip.open(path, "rt", encoding="utf-8") as lines:
                return [ObservationBatch.from_wire(record) for record in map(json.loads, lines)]
        except (OSError, EOFError, ValueError, KeyError):
            return None  # a damaged entry is recomputed

    def put(self, key: str, frames: Frames) -> Path:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with gzip.open(tmp, "wt", encoding="utf-8") as out:
            for batch in frames:
                out.write(json.dumps(batch.to_wire(), separators=(",", ":")) + "\n")
        os.replace(tmp, path)
        return path
