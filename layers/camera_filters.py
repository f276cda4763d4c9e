"""A camera's object filters as its registry record stores them (``CameraRecord.filters``).

The one model of the filters: the worker's :class:`video.object_filters.ObjectFilters` extends
it with how they are applied (``video`` sits above ``layers`` and imports it). The worker's config
is made from the record (:func:`video.registry_feed.camera_config`). What the record adds:
a class must be one of the detector's classes (:data:`OBJECT_CLASSES`, as
``video.observation.CLASSES``) or ``"*"`` (every class without its own entry), so a typo is
refused when it is written, not silently never matched.

Per class, all optional: ``min_score``, ``threshold`` (the median score of a track's history it
needs to be shown), ``min_area``/``max_area`` (box pixels), ``min_ratio``/``max_ratio`` (box width
over height), ``min_size_m``/``max_size_m`` (ground width in metres: calibrated cameras only) and
``masks`` (pixel polygons where this class is not detected).

>>> f = CameraFilters.model_validate({"classes": {"person": {"max_area": 5000}, "*": {"min_score": 0.4}}})
>>> sorted(f.classes), f.classes["*"].min_score
(['*', 'person'], 0.4)
>>> CameraFilters.model_validate({"classes": {"tanker": {"min_score": 0.5}}})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for CameraFilters
classes
  Value error, unknown class 'tanker': a filter's class is one of car, bus, truck, hazmat_tanker, person, or * ...
"""

from __future__ import annotations

from collections.abc import Sequence

import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: The detector's classes (``video.observation.CLASSES``; a test holds them equal).
OBJECT_CLASSES: tuple[str, ...] = ("car", "bus", "truck", "hazmat_tanker", "person")
#: The key of the filter that holds for every class without its own.
ANY_CLASS = "*"

PixelPoint = tuple[float, float]


def check_pixel_polygons(masks: Sequence[Sequence[Sequence[float]]], what: str = "mask") -> None:
    """Refuse (``ValueError`` naming the polygon, counting from 0) a polygon a worker cannot use:
    fewer than 3 or more than 1000 points, a negative coordinate, edges that cross or no area."""
    for i, ring in enumerate(masks):
        if len(ring) < 3:
            raise ValueError(f"{what} {i} needs at least 3 points")
        if len(ring) > 1000:
            raise ValueError(f"{what} {i} has more than 1000 points")
        if any(x < 0 or y < 0 for x, y in ring):
            raise ValueError(f"{what} {i}: pixel coordinates must not be negative")
        polygon = shapely.Polygon(ring)  # a worker refuses any other (video.masks): check it here
        if not (polygon.area > 0 and polygon.is_valid):
            raise ValueError(f"{what} {i} is not a simple polygon enclosing an area (its edges cross, or it is flat)")


class CameraClassFilter(BaseModel):
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

    @field_validator("masks")
    @classmethod
    def _simple_masks(cls, masks: list[list[PixelPoint]]) -> list[list[PixelPoint]]:
        check_pixel_polygons(masks)
        return masks

    @model_validator(mode="after")
    def _ordered(self) -> CameraClassFilter:
        for low, high in (("min_area", "max_area"), ("min_ratio", "max_ratio"), ("min_size_m", "max_size_m")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{low} ({lo}) is larger than {high} ({hi})")
        return self


class CameraFilters(BaseModel):
    """A camera's filters by class name (``"*"``: every other class), its classes checked against
    :data:`OBJECT_CLASSES`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    classes: dict[str, CameraClassFilter] = Field(default_factory=dict, max_length=32)

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, classes: dict[str, CameraClassFilter]) -> dict[str, CameraClassFilter]:
        for name in classes:
            if name not in OBJECT_CLASSES and name != ANY_CLASS:
                raise ValueError(
                    f"unknown class {name!r}: a filter's class is one of {', '.join(OBJECT_CLASSES)}, "
                    f"or {ANY_CLASS} for every class without its own"
                )
        return classes

    def __bool__(self) -> bool:
        return bool(self.classes)


__all__ = ["ANY_CLASS", "OBJECT_CLASSES", "CameraClassFilter", "CameraFilters", "check_pixel_polygons"]
