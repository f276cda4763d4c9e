"""Detector backends: batches of camera frames in, per-camera tracked boxes out.

- ``ultralytics``: any weights ultralytics loads (.pt, .onnx, OpenVINO folder, TensorRT .engine),
  one batched ``predict`` per call, ByteTrack / BoT-SORT per camera.
- ``motion``: no weights; background subtraction + ByteTrack; finds moving objects only.

An ultralytics detector given a ``gate`` (:class:`MotionGateSettings`, enabled) runs behind the
motion gate (:class:`~video.detectors.gated.MotionGatedDetector`): only where something moved.
:func:`detector_for` builds the worker's detector from the console's detector settings.

>>> make_detector("motion").names
('moving_object',)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol

from zhizhi.video.detectors.base import DetectorError, TrackedBoxes, TrackingDetector
from zhizhi.video.detectors.gate_settings import MotionGateSettings
from zhizhi.video.detectors.gated import MotionGatedDetector
from zhizhi.video.detectors.motion import MotionDetector
from zhizhi.video.detectors.ultralytics_backend import UltralyticsDetector

__all__ = [
    "DetectorError",
    "MotionDetector",
    "MotionGateSettings",
    "MotionGatedDetector",
    "TrackedBoxes",
    "TrackingDetector",
    "UltralyticsDetector",
    "detector_for",
    "make_detector",
]


def make_detector(
    kind: Literal["ultralytics", "motion"], *, gate: MotionGateSettings | None = None, **options: Any
) -> TrackingDetector:
    """Build a backend by name; ``options`` go to its constructor (``weights=`` for ultralytics);
    an ultralytics one runs behind the motion gate when ``gate`` is given and enabled."""
    if kind == "motion":
        return MotionDetector(**options)
    if kind == "ultralytics":
        weights = options.pop("weights", None)
        if weights is None:
            raise DetectorError("the ultralytics detector needs weights=<path>")
        inner = UltralyticsDetector(weights, **options)
        return MotionGatedDetector(inner, gate) if gate is not None and gate.enabled else inner
    raise DetectorError(f"unknown detector kind {kind!r}; use 'ultralytics' or 'motion'")


class DetectorConfig(Protocol):
    """What :func:`detector_for` reads: the console's ``settings.detector``."""

    kind: Literal["ultralytics", "motion"]
    weights: Path
    gate: MotionGateSettings

    def ultralytics_options(self) -> dict[str, object]: ...


def detector_for(
    config: DetectorConfig, *, kind: str | None = None, weights: str | Path | None = None, gate: bool = True
) -> TrackingDetector:
    """The worker's detector as ``config`` (``settings.detector``) describes it: ``kind`` and
    ``weights`` override it; an ultralytics one runs behind ``config.gate`` unless ``gate=False``
    (today's full-frame pipeline). Serves ``zhizhi analyze``/``worker``, the console's registry
    worker and the cameras' own (site) detectors alike."""
    kind = kind or config.kind
    if kind == "motion":
        return make_detector("motion")
    if kind != "ultralytics":
        raise DetectorError(f"unknown detector kind {kind!r}; use 'ultralytics' or 'motion'")
    return make_detector("ultralytics", weights=weights or config.weights,
                         gate=config.gate if gate else None, **config.ultralytics_options())
