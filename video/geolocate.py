"""Geolocating tracked boxes: from a box's foot point to the object's ground position.

The bottom centre of a box is where the object's *nearest* edge meets the ground; its centre
lies further along the camera's line of sight by half the object's extent in that direction.
With a calibration (pixel -> ground homography) and the camera's position, the foot point is
projected to the ground and pushed away from the camera by half the class's typical footprint
depth seen from that angle (a 12 m tanker seen from behind: 6 m). Without the correction a
long vehicle would be placed metres short of where it is.

>>> float(depth_m("car", view_heading_deg=0.0, object_heading_deg=0.0))
4.5
>>> round(float(depth_m("bus", view_heading_deg=0.0, object_heading_deg=90.0)), 2)
2.5
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from zhizhi.video.calibration import Calibration

Float = NDArray[np.float64]

#: Typical footprint (length, width) in metres per class; unknown classes use a car's.
FOOTPRINT_M: dict[str, tuple[float, float]] = {
    "car": (4.5, 1.8),
    "bus": (12.0, 2.5),
    "truck": (9.0, 2.5),
    "hazmat_tanker": (12.0, 2.5),
    "person": (0.5, 0.5),
}
_DEFAULT_FOOTPRINT = FOOTPRINT_M["car"]


#: Boxes whose bottom is this close to the image's bottom edge are not geolocated.
BOTTOM_MARGIN_PX = 2.0


def depth_m(cls: str, view_heading_deg: ArrayLike, object_heading_deg: ArrayLike | None) -> Float:
    """Extent of an object's footprint along the line of sight (metres).

    With no object heading known yet, the object is assumed to move along the line of sight
    (the usual case for a camera looking down a road).
    """
    length, width = FOOTPRINT_M.get(cls, _DEFAULT_FOOTPRINT)
    view = np.asarray(view_heading_deg, dtype=float)
    obj = view if object_heading_deg is None else np.asarray(object_heading_deg, dtype=float)
    angle = np.radians(obj - view)
    return np.abs(length * np.cos(angle)) + np.abs(width * np.sin(angle))


class Geolocator:
    """Ground positions (frame metres and WGS-84) of boxes seen by one calibrated camera."""

    def __init__(self, calibration: Calibration, camera_lonlat: tuple[float, float] | None) -> None:
        self.calibration = calibration
        self.frame = calibration.frame
        self.camera_xy: tuple[float, float] | None = None
        if camera_lonlat is not None:
            x, y = self.frame.to_metric(*camera_lonlat)
            self.camera_xy = (float(x), float(y))

    def locate(
        self,
        xyxy: NDArray,
        classes: list[str],
        headings_deg: list[float | None] | None = None,
    ) -> tuple[Float, Float]:
        """Ground centre (x, y in frame metres) of each box; NaN where it cannot be found.

        Not found: behind the horizon, or a box cut by the bottom of the image (its bottom
        edge is the frame's, not the object's contact with the ground).
        """
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            return np.zeros(0), np.zeros(0)
        u = (boxes[:, 0] + boxes[:, 2]) / 2.0
        v = boxes[:, 3]
        x, y = self.calibration.pixel_to_metric(u, v)
        x, y = np.asarray(x, float).copy(), np.asarray(y, float).copy()
        size = self.calibration.image_size
        if size is not None:  # a box cut by the bottom edge does not show where it meets the ground
            cut = v >= size[1] - 1 - BOTTOM_MARGIN_PX
            x[cut], y[cut] = np.nan, np.nan
        if self.camera_xy is None:
            return x, y
        dx, dy = x - self.camera_xy[0], y - self.camera_xy[1]
        dist = np.hypot(dx, dy)
        view = np.degrees(np.arctan2(dx, dy)) % 360.0
        headings = headings_deg or [None] * len(boxes)
        half = np.array(
            [depth_m(c, vh, h) / 2.0 for c, vh, h in zip(classes, view, headings)], dtype=float
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(dist > 0, (dist + half) / dist, 1.0)
        return self.camera_xy[0] + dx * scale, self.camera_xy[1] + dy * scale

    def ground_extent(self, xyxy: NDArray) -> tuple[Float, Float, Float, Float]:
        """Each box's foot point on the ground (x, y, frame metres; no depth correction) and its
        size there: the bottom edge's ground width and the box's height at that scale (metres).
        NaN where the foot is not on the ground (behind the horizon, or the box cut by the image's
        bottom edge)."""
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        n = len(boxes)
        u = np.concatenate([boxes[:, 0], boxes[:, 2], (boxes[:, 0] + boxes[:, 2]) / 2.0])
        v = np.tile(boxes[:, 3], 3)
        gx, gy = (np.asarray(c, dtype=np.float64) for c in self.calibration.pixel_to_metric(u, v))
        width = np.hypot(gx[n : 2 * n] - gx[:n], gy[n : 2 * n] - gy[:n])
        with np.errstate(invalid="ignore", divide="ignore"):
            height = width / np.maximum(boxes[:, 2] - boxes[:, 0], 1.0) * (boxes[:, 3] - boxes[:, 1])
        # a drone's view gives NaN beyond its horizon instead of an on_ground test
        on_ground = getattr(self.calibration, "on_ground", None)
        lost = ~on_ground(u[2 * n :], v[2 * n :]) if on_ground is not None else np.zeros(n, dtype=bool)
        size = self.calibration.image_size
        if size is not None:
            lost |= boxes[:, 3] >= size[1] - 1 - BOTTOM_MARGIN_PX
        x, y = gx[2 * n :].copy(), gy[2 * n :].copy()
        for column in (x, y, width, height):
            column[lost] = np.nan
        return x, y, width, height

    def to_lonlat(self, x: ArrayLike, y: ArrayLike) -> tuple[Float, Float]:
        return self.frame.to_lonlat(x, y)
