"""Object filters of one camera, per class (Frigate's ``objects.filters``, plus ground sizes).

A camera's record holds them (``filters``, :mod:`layers.camera_filters`, whose model these
extend with what the worker does with them); the frame analyzer applies them to every detection
before its track is believed (:mod:`video.track_verify`). Per class, all optional:

- ``min_score``: a detection below it is dropped;
- ``threshold``: a track is shown only once the median score of its history reaches it;
- ``min_area`` / ``max_area``: box area in pixels of the analysed frame;
- ``min_ratio`` / ``max_ratio``: box width over height;
- ``min_size_m`` / ``max_size_m``: the box's bottom edge on the ground, metres (calibrated cameras
  only; without a calibration these two are not applied);
- ``masks``: pixel polygons where this class is not detected (its foot point inside), beside the
  camera's own masks, which hold for every class.

``"*"`` holds for every class that has no entry of its own.

>>> f = ObjectFilters(classes={"person": ClassFilter(max_area=5000), "*": ClassFilter(min_score=0.4)})
>>> f.keep(["person", "person", "car", "car"], [0.9, 0.9, 0.3, 0.5],
...        [[0, 0, 50, 80], [0, 0, 100, 100], [0, 0, 10, 10], [0, 0, 10, 10]]).tolist()
[True, False, False, True]
>>> f.threshold("car") is None and f.threshold("person") is None
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import Field, PrivateAttr

from zhizhi.layers.camera_filters import ANY_CLASS, CameraClassFilter, CameraFilters
from zhizhi.video.masks import FrameMasks


class ClassFilter(CameraClassFilter):
    """The filter of one class (the registry's model, :class:`layers.camera_filters.CameraClassFilter`,
    with its masks prepared for the worker)."""

    _frame_masks: FrameMasks | None = PrivateAttr(None)

    @property
    def frame_masks(self) -> FrameMasks:
        """The class's masks, prepared once."""
        if self._frame_masks is None:
            self._frame_masks = FrameMasks(self.masks)
        return self._frame_masks


class ObjectFilters(CameraFilters):
    """A camera's filters by class name (``"*"``: every other class; an unknown class is refused)."""

    classes: dict[str, ClassFilter] = Field(default_factory=dict, max_length=32)

    def for_class(self, cls: str) -> ClassFilter | None:
        """The filter that holds for ``cls`` (its own, else ``"*"``, else None)."""
        return self.classes.get(cls) or self.classes.get(ANY_CLASS)

    def threshold(self, cls: str) -> float | None:
        """The median score a track of ``cls`` needs to be shown (None: none)."""
        rule = self.for_class(cls)
        return rule.threshold if rule is not None else None

    def keep(
        self,
        classes: Sequence[str],
        conf: ArrayLike,
        xyxy: ArrayLike,
        ground_width_m: ArrayLike | None = None,
    ) -> NDArray[np.bool_]:
        """Which detections pass their class's filter (``ground_width_m``: NaN or None where unknown)."""
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(conf, dtype=np.float64).reshape(-1)
        keep = np.ones(len(boxes), dtype=bool)
        if not self.classes or not len(boxes):
            return keep
        width = boxes[:, 2] - boxes[:, 0]
        height = boxes[:, 3] - boxes[:, 1]
        area = width * height
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(height > 0, width / height, np.inf)
        ground = (
            np.full(len(boxes), np.nan)
            if ground_width_m is None
            else np.asarray(ground_width_m, dtype=np.float64).reshape(-1)
        )
        names = np.asarray(list(classes), dtype=object)
        for cls in set(names.tolist()):
            rule = self.for_class(cls)
            if rule is None:
                continue
            rows = names == cls
            keep[rows] &= _passes(rule, scores[rows], area[rows], ratio[rows], ground[rows], boxes[rows])
        return keep


def _passes(
    rule: ClassFilter, score: NDArray, area: NDArray, ratio: NDArray, ground: NDArray, boxes: NDArray
) -> NDArray[np.bool_]:
    ok = np.ones(len(score), dtype=bool)
    for values, low, high in (
        (score, rule.min_score, None),
        (area, rule.min_area, rule.max_area),
        (ratio, rule.min_ratio, rule.max_ratio),
    ):
        if low is not None:
            ok &= values >= low
        if high is not None:
            ok &= values <= high
    known = np.isfinite(ground)  # ground sizes apply where the camera is calibrated
    if rule.min_size_m is not None:
        ok &= ~known | (ground >= rule.min_size_m)
    if rule.max_size_m is not None:
        ok &= ~known | (ground <= rule.max_size_m)
    if rule.masks:
        ok &= rule.frame_masks.keep(boxes)
    return ok
