"""One detector for every camera, and a camera's own weights where it has some (a site adaptation).

:class:`PerCameraDetector` is a :class:`~video.detectors.base.TrackingDetector` around the
worker's detector: a camera given its own weights (:meth:`PerCameraDetector.set_weights`, by
the model store's camera-scoped production versions) is detected and tracked by a detector of
those weights, every other camera by the shared one. A batch is split by detector, each part run
in one call, the results put back in order. Masks follow a camera onto its new detector.

>>> from zhizhi.video.detectors.motion import MotionDetector
>>> per = PerCameraDetector(MotionDetector(), lambda weights: MotionDetector(min_area_px=10))
>>> per.set_weights("C1", "site-C1.pt"), per.weights_of("C1"), per.weights_of("C2")
(True, 'site-C1.pt', None)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from zhizhi.video.detectors.base import DetectorError, TrackedBoxes, TrackingDetector

log = logging.getLogger(__name__)

#: Builds a detector of the given weights (the shared detector's kind and options).
Factory = Callable[[str], TrackingDetector]


class PerCameraDetector:
    """The shared detector, and per-camera detectors of the cameras' own weights (see the module)."""

    def __init__(self, shared: TrackingDetector, make: Factory) -> None:
        self.shared = shared
        self.names = shared.names
        self._make = make
        self._own: dict[str, tuple[str, TrackingDetector]] = {}
        self._masks: dict[str, Sequence] = {}
        self._lock = threading.Lock()

    @property
    def moving_only(self) -> bool:
        return bool(getattr(self.shared, "moving_only", False))

    def weights_of(self, camera_id: str) -> str | None:
        """The camera's own weights, or None (it runs on the shared detector)."""
        own = self._own.get(camera_id)
        return own[0] if own else None

    def set_weights(self, camera_id: str, weights: str | Path | None) -> bool:
        """Run ``camera_id`` on ``weights`` (None: back on the shared detector); whether it changed.
        Weights that cannot load leave the camera as it was (logged)."""
        key = None if weights is None else str(weights)
        if key == self.weights_of(camera_id):
            return False
        built = None
        if key is not None:
            try:
                built = self._make(key)
            except (DetectorError, OSError) as exc:
                log.error("camera %s: its own detector %s cannot load; it keeps %s: %s", camera_id, key,
                          self.weights_of(camera_id) or "the shared one", exc)
                return False
            if tuple(built.names) != tuple(self.names):
                log.error("camera %s: its own detector %s has classes %s, not %s; not used", camera_id, key,
                          list(built.names), list(self.names))
                return False
        with self._lock:
            old = self._own.pop(camera_id, None)
            if built is not None:
                self._own[camera_id] = (key, built)
            target = built if built is not None else self.shared
        if old is not None:
            old[1].close()
        else:
            self.shared.reset(camera_id)
        masks = self._masks.get(camera_id)
        if masks and hasattr(target, "set_masks"):
            target.set_masks(camera_id, masks)
        log.info("camera %s runs detector %s", camera_id, key or "shared")
        return True

    def _of(self, camera_id: str) -> TrackingDetector:
        own = self._own.get(camera_id)
        return own[1] if own else self.shared

    #: :meth:`update` passes frame times on to the detectors that take them (the motion gate).
    takes_timestamps = True

    def update(
        self, frames: Sequence[tuple[str, np.ndarray]], timestamps: Sequence[float] | None = None
    ) -> list[TrackedBoxes]:
        """Each frame through its camera's detector; one call per detector, results in order."""
        with self._lock:
            groups: dict[int, tuple[TrackingDetector, list[int]]] = {}
            for i, (camera_id, _) in enumerate(frames):
                det = self._of(camera_id)
                groups.setdefault(id(det), (det, []))[1].append(i)
        out: list[TrackedBoxes | None] = [None] * len(frames)
        for det, indices in groups.values():
            part = [frames[i] for i in indices]
            if timestamps is not None and getattr(det, "takes_timestamps", False):
                results = det.update(part, timestamps=[timestamps[i] for i in indices])
            else:
                results = det.update(part)
            for i, boxes in zip(indices, results):
                out[i] = boxes
        return out  # type: ignore[return-value]

    def set_masks(self, camera_id: str, masks: Sequence) -> None:
        self._masks[camera_id] = masks
        target = self._of(camera_id)
        if hasattr(target, "set_masks"):
            target.set_masks(camera_id, masks)

    def reset(self, camera_id: str) -> None:
        self._of(camera_id).reset(camera_id)

    def close(self) -> None:
        with self._lock:
            own, self._own = list(self._own.values()), {}
        for _, det in own:
            det.close()
        self.shared.close()


__all__ = ["PerCameraDetector"]
