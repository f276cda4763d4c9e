"""YOLO detection (any ultralytics-loadable weights) + per-camera ByteTrack / BoT-SORT.

One ``model.predict`` call runs the whole batch (frames of several cameras), then each frame's
boxes go through its camera's tracker, so ids behave as ``model.track(persist=True)`` per camera.
``.pt`` weights run on the runtime chosen by :mod:`video.detectors.runtime` (OpenVINO on a CPU by
default, exported once and cached; PyTorch when the export cannot be made).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zhizhi.video.detectors.base import DetectorError, TrackedBoxes
from zhizhi.video.detectors.runtime import quiet_ultralytics, runtime_weights
from zhizhi.video.detectors.tracking import TRACK_MARGIN, Detections, TrackerPool
from zhizhi.video.masks import PixelPolygon

log = logging.getLogger(__name__)


class UltralyticsDetector:
    """Batched YOLO inference with per-camera tracking.

    ``runtime`` (``auto``, ``pytorch``, ``openvino``, ``onnx``; see :mod:`video.detectors.runtime`)
    picks what runs ``.pt`` weights, ``int8`` quantises the OpenVINO export, ``cache_dir`` holds the
    exports (default: beside the weights); :attr:`runtime` is the one in use.
    """

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
        runtime: str = "pytorch",
        int8: bool = False,
        cache_dir: str | Path | None = None,
    ) -> None:
        path = Path(weights).expanduser()
        if not path.exists():
            raise DetectorError(f"detector weights not found: {path}")
        from ultralytics.cfg import DEFAULT_CFG_DICT

        try:
            load, self.runtime = runtime_weights(path, runtime=runtime, device=device, imgsz=imgsz, int8=int8,
                                                 cache_dir=None if cache_dir is None else Path(cache_dir))
        except ValueError as exc:  # an unknown runtime name
            raise DetectorError(str(exc)) from exc
        try:
            self.model = _load(load, device=device, imgsz=imgsz, warm=self.runtime != "pytorch")
        except DetectorError as exc:
            if load == path:
                raise
            log.warning("detector: cannot run the %s export of %s (%s); running PyTorch", self.runtime, path.name, exc)
            self.model, self.runtime = _load(path), "pytorch"
        self.weights = path
        self.loaded = load if self.runtime != "pytorch" else path
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


def _load(path: Path, *, device: str = "cpu", imgsz: int = 640, warm: bool = False):
    """An ultralytics model of ``path`` (.pt, .onnx, .engine, *_openvino_model/ ...); ``warm``: run
    it once on a blank image, so an exported model that cannot run fails here, not mid-analysis."""
    from ultralytics import YOLO

    try:
        # task given so exported formats need no guess
        model = YOLO(str(path), task="detect")
        if warm:
            with quiet_ultralytics():
                model.predict(np.zeros((imgsz, imgsz, 3), np.uint8), imgsz=imgsz, device=device, verbose=False)
        return model
    except Exception as exc:  # ultralytics raises many types for unreadable weights
        raise DetectorError(f"cannot load detector weights {path}: {exc}") from exc


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
