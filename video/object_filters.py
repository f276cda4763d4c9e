"""Object filters of one camera, per class (Frigate's ``objects.filters``, plus ground sizes).

A camera's record holds them (``filters``); the frame analyzer applies them to every detection
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
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from zhizhi.video.masks import FrameMasks, MaskError, mask_polygons

#: The key of the filter that holds for every class without its own.
ANY_CLASS = "*"


class ClassFilter(BaseModel):
    """The filter of one class (every field optional: None applies nothing)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    min_score: float | None = Field(None, ge=0, le=1, description="Smallest detection score kept.")
    threshold: float | None = Field(
        None, ge=0, le=1, description="Median score of the track's history it needs to be shown."
    )
    min_area: float | None = Field(None, ge=0, description="Smallest box area, pixels.")
    max_area: float | None = Field(None, gt=0, description="Largest box area, pixels.")
    min_ratio: float | None = Field(None, gt=0, description="Smallest box width / height.")
    max_ratio: float | None = Field(None, gt=0, description="Largest box width / height.")
    min_size_m: float | None = Field(None, ge=0, description="Smallest ground width, metres (calibrated cameras).")
    max_size_m: float | None = Field(None, gt=0, description="Largest ground width, metres (calibrated cameras).")
    masks: list[list[tuple[float, float]]] = Field(
        default_factory=list, max_length=64, description="Pixel polygons where this class is not detected."
    )

    _frame_masks: FrameMasks | None = PrivateAttr(None)

    @field_validator("masks")
    @classmethod
    def _simple_masks(cls, masks: list[list[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
        try:
            mask_polygons(masks)
        except MaskError as exc:
            raise ValueError(str(exc)) from None
        return masks

    @model_validator(mode="after")
    def _ordered(self) -> ClassFilter:
        for low, high in (("min_area", "max_area"), ("min_ratio", "max_ratio"), ("min_size_m", "max_size_m")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{low} ({lo}) is larger than {high} ({hi})")
        return self

    @property
    def frame_masks(self) -> FrameMasks:
        """The class's masks, prepared once."""
        if self._frame_masks is None:
            self._frame_masks = FrameMasks(self.masks)
        return self._frame_masks


class ObjectFilters(BaseModel):
    """A camera's filters by class name (``"*"``: every other class)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    classes: dict[str, ClassFilter] = Field(default_factory=dict, max_length=32)

    def __bool__(self) -> bool:
        return bool(self.classes)

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
