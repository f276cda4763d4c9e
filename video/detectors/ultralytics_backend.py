"""YOLO detection (any ultralytics-loadable weights) + per-camera ByteTrack / BoT-SORT.

One ``model.predict`` call runs the whole batch (frames of several cameras), then each frame's
boxes go through its camera's tracker, so ids behave as ``model.track(persist=True)`` per camera.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zhizhi.video.detectors.base import DetectorError, TrackedBoxes
from zhizhi.video.detectors.tracking import TRACK_MARGIN, Detections, TrackerPool
from zhizhi.video.masks import PixelPolygon


class UltralyticsDetector:
    """Batched YOLO inference with per-camera tracking."""

    def __init__(
        self,
        weights: str | Path,
        *,
        device: str = "cpu",
        imgsz: int = 640,
        conf: float = 0.25,
        iou: float = 0.5,
        tracker: str = "bytetrack",
        track_margin: float = TRACK_MARGIN,
        classes: list[str] | None = None,
        half: bool = False,
        agnostic_nms: bool = False,
    ) -> None:
        path = Path(weights).expanduser()
        if not path.exists():
            raise DetectorError(f"detector weights not found: {path}")
        from ultralytics import YOLO
        from ultralytics.cfg import DEFAULT_CFG_DICT

        try:
            # .pt, .onnx, .engine, *_openvino_model/ ...; task given so exported formats need no guess.
            self.model = YOLO(str(path), task="detect")
        except Exception as exc:  # ultralytics raises many types for unreadable weights
            raise DetectorError(f"cannot load detector weights {path}: {exc}") from exc
        self.weights = path
        self.names = _names(self.model.names)
        self.classes = _class_indices(classes, self.names)
        # ultralytics >= 8.4 replaced the deprecated ``half`` flag with ``quantize=16``
        precision = (
            {"quantize": 16 if half else None} if "quantize" in DEFAULT_CFG_DICT else {"half": half}
        )
        self.predict_args: dict[str, Any] = dict(
            device=device,
            imgsz=imgsz,
            conf=conf,
            iou=iou,
            classes=self.classes,
            # one box per object, of its most confident class: a tanker that is also a truck in
            # the same frame would otherwise start two tracks (the track's class is voted later)
            agnostic_nms=agnostic_nms,
            verbose=False,
            **precision,
        )
        self.trackers = TrackerPool(tracker, self.names, margin=track_margin)

    def detect(self, images: Sequence[np.ndarray], *, imgsz: int | None = None) -> list[Detections]:
        """Raw detections of each image, from ONE batched ``predict`` call (at ``imgsz`` if given)."""
        if not images:
            return []
        args = self.predict_args if imgsz is None else {**self.predict_args, "imgsz": imgsz}
        results = self.model.predict(list(images), stream=False, **args)
        out = []
        for r in results:
            b = r.boxes.cpu().numpy()
            out.append(Detections(b.xyxy, b.conf, b.cls))
        return out

    def track(
        self, camera_id: str, dets: Detections, img: np.ndarray | None = None
    ) -> TrackedBoxes:
        """The tracking step alone: feed given detections to ``camera_id``'s tracker."""
        return self.trackers.update(camera_id, dets, img)

    def update(self, frames: Sequence[tuple[str, np.ndarray]]) -> list[TrackedBoxes]:
        """Detect the whole batch at once, then track each frame with its camera's tracker."""
        dets = self.detect([img for _, img in frames])
        return [self.track(cam, d, img) for (cam, img), d in zip(frames, dets)]

    def set_masks(self, camera_id: str, masks: Sequence[PixelPolygon]) -> None:
        """Drop ``camera_id``'s detections whose foot point lies in a mask, before tracking."""
        self.trackers.set_masks(camera_id, masks)

    def reset(self, camera_id: str) -> None:
        """Forget one camera's tracks."""
        self.trackers.reset(camera_id)

    def close(self) -> None:
        """Drop tracker state (the model is freed with the object)."""
        self.trackers.clear()


def _names(names: dict[int, str] | Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, dict):
        return tuple(str(names[i]) for i in sorted(names))
    return tuple(str(n) for n in names)


def _class_indices(classes: list[str] | None, names: tuple[str, ...]) -> list[int] | None:
    if classes is None:
        return None
    unknown = [c for c in classes if c not in names]
    if unknown:
        raise DetectorError(f"classes {unknown} not in the model's classes {list(names)}")
    return [names.index(c) for c in classes]
