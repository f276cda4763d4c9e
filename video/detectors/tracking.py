"""Per-camera multi-object tracking with ultralytics' own ByteTrack / BoT-SORT.

Each camera gets its own tracker instance, built from ultralytics' bundled
``cfg/trackers/<name>.yaml`` the same way ``model.track()`` builds it, and is fed the frame's
detections exactly as ``ultralytics/trackers/track.py`` does: ``tracker.update(dets, img)``
returns rows ``[x1, y1, x2, y2, track_id, conf, cls, det_idx]``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from zhizhi.video.detectors.base import DetectorError, TrackedBoxes
from zhizhi.video.masks import FrameMasks, PixelPolygon

# The console runs on closed networks: stop ultralytics' import-time DNS probe and any online
# checks or telemetry unless the operator opted in explicitly.
os.environ.setdefault("YOLO_OFFLINE", "1")

TRACKERS = ("bytetrack", "botsort")


class Detections:
    """Numpy detections with the interface ultralytics trackers read from ``Boxes``.

    ``BYTETracker.update`` needs ``conf``, ``cls``, ``xywh`` (and ``xyxy`` for BoT-SORT's camera
    motion compensation), ``len()`` and boolean-mask indexing.
    """

    def __init__(self, xyxy: ArrayLike, conf: ArrayLike, cls: ArrayLike) -> None:
        self.xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        self.conf = np.asarray(conf, dtype=np.float32).reshape(-1)
        self.cls = np.asarray(cls, dtype=np.float32).reshape(-1)
        if not len(self.xyxy) == len(self.conf) == len(self.cls):
            raise ValueError("xyxy, conf and cls must have the same number of rows")

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0))

    @property
    def xywh(self) -> np.ndarray:
        """Centre x, centre y, width, height."""
        wh = self.xyxy[:, 2:] - self.xyxy[:, :2]
        return np.concatenate([self.xyxy[:, :2] + wh / 2, wh], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: Any) -> Detections:
        return Detections(self.xyxy[index], self.conf[index], self.cls[index])


def tracker_config(tracker: str | Path) -> Any:
    """The tracker settings: a bundled name (``bytetrack``/``botsort``) or a local YAML file."""
    import ultralytics
    from ultralytics.utils import YAML, IterableSimpleNamespace

    name = str(tracker)
    if name.removesuffix(".yaml") in TRACKERS:
        path = (
            Path(ultralytics.__file__).parent
            / "cfg"
            / "trackers"
            / f"{name.removesuffix('.yaml')}.yaml"
        )
    else:
        path = Path(tracker)
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            raise DetectorError(
                f"unknown tracker {name!r}; use one of {TRACKERS} or a tracker YAML file"
            )
    cfg = IterableSimpleNamespace(**YAML.load(path))
    if cfg.tracker_type not in TRACKERS:
        raise DetectorError(f"tracker_type {cfg.tracker_type!r} in {path} is not one of {TRACKERS}")
    if getattr(cfg, "with_reid", False):
        raise DetectorError(
            "ReID (with_reid: True) is not supported: it needs extra downloaded models"
        )
    return cfg


class TrackerPool:
    """One ultralytics tracker per camera, created on first use.

    A camera's masks (:meth:`set_masks`) drop the detections whose foot point lies in them
    before the tracker sees them (:mod:`video.masks`).
    """

    def __init__(self, tracker: str | Path, names: tuple[str, ...], **overrides: Any) -> None:
        from ultralytics.trackers.bot_sort import BOTSORT
        from ultralytics.trackers.byte_tracker import BYTETracker

        self.cfg = tracker_config(tracker)
        for key, value in overrides.items():
            setattr(self.cfg, key, value)
        self._cls = {"bytetrack": BYTETracker, "botsort": BOTSORT}[self.cfg.tracker_type]
        self.names = names
        self._trackers: dict[str, Any] = {}
        self._masks: dict[str, FrameMasks] = {}

    def set_masks(self, camera_id: str, masks: Sequence[PixelPolygon]) -> None:
        """Ignore ``camera_id``'s detections whose foot point lies in one of ``masks`` (pixel
        polygons); an empty list lifts them. Kept across :meth:`reset` (a stream reconnect)."""
        prepared = FrameMasks(masks)
        if prepared:
            self._masks[camera_id] = prepared
        else:
            self._masks.pop(camera_id, None)

    def update(
        self, camera_id: str, dets: Detections, img: np.ndarray | None = None
    ) -> TrackedBoxes:
        """Feed one frame's detections to the camera's tracker; the confirmed tracks.

        Boxes are the tracker's (Kalman-filtered) boxes, clipped to ``img`` like ``model.track``'s.
        """
        tracker = self._trackers.get(camera_id)
        if tracker is None:
            tracker = self._trackers[camera_id] = self._cls(args=self.cfg)
        masks = self._masks.get(camera_id)
        if masks is not None and len(dets):
            dets = dets[masks.keep(dets.xyxy)]
        tracks = tracker.update(dets, img)
        if len(tracks) == 0:
            return TrackedBoxes.empty(self.names)
        xyxy = tracks[:, :4]
        if img is not None:
            h, w = img.shape[:2]
            xyxy = np.clip(xyxy, 0, [w, h, w, h])
        return TrackedBoxes(xyxy, tracks[:, 5], tracks[:, 6], tracks[:, 4], self.names)

    def reset(self, camera_id: str) -> None:
        """Forget a camera's tracks; its ids restart at 1."""
        self._trackers.pop(camera_id, None)

    def clear(self) -> None:
        """Forget every camera (its masks too)."""
        self._trackers.clear()
        self._masks.clear()

    def __contains__(self, camera_id: str) -> bool:
        return camera_id in self._trackers
