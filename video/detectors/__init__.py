"""Detector backends: batches of camera frames in, per-camera tracked boxes out.

- ``ultralytics``: any weights ultralytics loads (.pt, .onnx, OpenVINO folder, TensorRT .engine),
  one batched ``predict`` per call, ByteTrack / BoT-SORT per camera.
- ``motion``: no weights; background subtraction + ByteTrack; finds moving objects only.

>>> make_detector("motion").names
('moving_object',)
"""

from __future__ import annotations

from typing import Any, Literal

from zhizhi.video.detectors.base import DetectorError, TrackedBoxes, TrackingDetector
from zhizhi.video.detectors.motion import MotionDetector
from zhizhi.video.detectors.ultralytics_backend import UltralyticsDetector

__all__ = [
    "DetectorError",
    "MotionDetector",
    "TrackedBoxes",
    "TrackingDetector",
    "UltralyticsDetector",
    "make_detector",
]


def make_detector(kind: Literal["ultralytics", "motion"], **options: Any) -> TrackingDetector:
    """Build a backend by name; ``options`` go to its constructor (``weights=`` for ultralytics)."""
    if kind == "motion":
        return MotionDetector(**options)
    if kind == "ultralytics":
        weights = options.pop("weights", None)
        if weights is None:
            raise DetectorError("the ultralytics detector needs weights=<path>")
        return UltralyticsDetector(weights, **options)
    raise DetectorError(f"unknown detector kind {kind!r}; use 'ultralytics' or 'motion'")
