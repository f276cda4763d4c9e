"""Masks: areas of a camera's frame where detections are ignored (a flag pole, a billboard, a tree line).

A mask is a polygon in the pixels of the frames the worker analyses, drawn on the calibration
page. A detection counts where its object meets the ground, the bottom centre of its box (the
foot point, as zones do): a detection whose foot point lies in a mask (edges included) is
dropped before it reaches the tracker, so no track starts there and a track that passes behind a
mask coasts through it as it would behind an obstacle.

>>> masks = FrameMasks([[(0, 0), (100, 0), (100, 50), (0, 50)]])
>>> masks.keep([[10, 0, 30, 40], [10, 30, 30, 80]]).tolist()  # feet at (20, 40) and (20, 80)
[False, True]
>>> FrameMasks([]).keep([[10, 0, 30, 40]]).tolist()
[True]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

PixelPolygon = Sequence[Sequence[float]]


class MaskError(ValueError):
    """A mask polygon that cannot be used (the message names the mask, counting from 1)."""


def mask_polygons(masks: Sequence[PixelPolygon]) -> list[shapely.Polygon]:
    """The masks as shapely polygons, checked: at least 3 finite vertices, a simple ring
    (:class:`MaskError` naming the first bad one)."""
    out = []
    for i, ring in enumerate(masks, start=1):
        points = np.asarray(ring, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
            raise MaskError(f"mask {i} needs at least 3 [x, y] pixel vertices, got {len(points)}")
        if not np.isfinite(points).all():
            raise MaskError(f"mask {i} has a vertex that is not a finite number")
        polygon = shapely.Polygon(points)
        if polygon.area <= 0:
            raise MaskError(f"mask {i} encloses no area")
        if not polygon.is_valid:
            raise MaskError(f"mask {i} is not a simple polygon ({shapely.is_valid_reason(polygon)}): its edges cross")
        out.append(polygon)
    return out


class FrameMasks:
    """One camera's masks, prepared for vectorized point-in-polygon tests."""

    def __init__(self, masks: Sequence[PixelPolygon]) -> None:
        polygons = mask_polygons(masks)
        self.area: shapely.Geometry | None = shapely.union_all(polygons) if polygons else None
        if self.area is not None:
            shapely.prepare(self.area)

    def __bool__(self) -> bool:
        return self.area is not None

    def covers(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
        """Whether each pixel point lies in a mask (edges included)."""
        x = np.asarray(x, dtype=np.float64)
        if self.area is None:
            return np.zeros(x.shape, dtype=bool)
        return shapely.intersects_xy(self.area, x, np.asarray(y, dtype=np.float64))

    def keep(self, xyxy: ArrayLike) -> NDArray[np.bool_]:
        """Which boxes ``(n, 4)`` to keep: those whose foot point (bottom centre) is in no mask."""
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        return ~self.covers((boxes[:, 0] + boxes[:, 2]) / 2.0, boxes[:, 3])
