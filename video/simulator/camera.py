"""A pinhole camera above a flat ground: exact projection of world points in metres.

World coordinates are those of :meth:`gis.metric.MetricFrame.around` the camera's lon/lat:
``x`` east, ``y`` north, ``z`` up, the ground is ``z = 0`` and the camera stands at
``(0, 0, height_m)``. Pixel coordinates follow OpenCV: ``(u, v)`` with integer values at pixel
centres, ``v`` growing downwards.

>>> cam = PinholeCamera(height_m=8.0, heading_deg=0.0, pitch_deg=15.0, hfov_deg=60.0,
...                     width=1280, height=720)
>>> u, v, z = cam.project([[0.0, 8.0 / np.tan(np.radians(15.0)), 0.0]])
>>> round(float(u[0]), 3), round(float(v[0]), 3)
(639.5, 359.5)
>>> x, y = cam.ground_point(u, v)
>>> bool(abs(y[0] - 8.0 / np.tan(np.radians(15.0))) < 1e-9)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

Float = NDArray[np.float64]

#: Points closer than this in front of the camera (metres along the optical axis) are clipped.
NEAR_M = 0.5


@dataclass(frozen=True)
class PinholeCamera:
    """Pinhole camera without roll; ``offset`` shifts the image (camera shake) in pixels."""

    height_m: float
    heading_deg: float
    pitch_deg: float
    hfov_deg: float
    width: int
    height: int
    offset: tuple[float, float] = (0.0, 0.0)
    focal: float | None = None  # pixels; from ``hfov_deg`` and ``width`` when unset
    rotation: Float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        h, p = math.radians(self.heading_deg), math.radians(self.pitch_deg)
        forward = np.array([math.sin(h) * math.cos(p), math.cos(h) * math.cos(p), -math.sin(p)])
        right = np.array([math.cos(h), -math.sin(h), 0.0])
        down = -np.cross(right, forward)
        object.__setattr__(self, "rotation", np.vstack([right, down, forward]))

    @property
    def focal_px(self) -> float:
        """Focal length in pixels (square pixels)."""
        if self.focal is not None:
            return self.focal
        return (self.width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    @property
    def vfov_deg(self) -> float:
        return math.degrees(2.0 * math.atan(self.height / 2.0 / self.focal_px))

    @property
    def principal_point(self) -> tuple[float, float]:
        return ((self.width - 1) / 2.0 + self.offset[0], (self.height - 1) / 2.0 + self.offset[1])

    @property
    def position(self) -> Float:
        return np.array([0.0, 0.0, self.height_m])

    @property
    def intrinsics(self) -> list[list[float]]:
        """The 3x3 camera matrix K."""
        cx, cy = self.principal_point
        f = self.focal_px
        return [[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]]

    def shifted(self, dx: float, dy: float) -> PinholeCamera:
        """The same camera with the image moved by ``(dx, dy)`` pixels."""
        return replace(self, offset=(self.offset[0] + dx, self.offset[1] + dy))

    def padded(self, margin: int) -> PinholeCamera:
        """The same view on a canvas ``margin`` pixels larger on every side."""
        return replace(self, width=self.width + 2 * margin, height=self.height + 2 * margin, focal=self.focal_px)

    def to_camera(self, points: ArrayLike) -> Float:
        """World points (n, 3) to camera coordinates (right, down, forward), metres."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        return (pts - self.position) @ self.rotation.T

    def camera_to_pixels(self, cam: Float) -> tuple[Float, Float]:
        """Camera coordinates (n, 3) with positive depth to pixels."""
        cx, cy = self.principal_point
        f = self.focal_px
        return cx + f * cam[:, 0] / cam[:, 2], cy + f * cam[:, 1] / cam[:, 2]

    def project(self, points: ArrayLike) -> tuple[Float, Float, Float]:
        """Pixels ``(u, v)`` and depth ``z`` (metres along the axis) of world points.

        Points with ``z <= 0`` lie behind the camera; their pixels are meaningless.
        """
        cam = self.to_camera(points)
        z = cam[:, 2]
        safe = np.where(np.abs(z) < 1e-9, 1e-9, z)
        cx, cy = self.principal_point
        f = self.focal_px
        return cx + f * cam[:, 0] / safe, cy + f * cam[:, 1] / safe, z

    def ground_point(self, u: ArrayLike, v: ArrayLike) -> tuple[Float, Float]:
        """Where the rays through pixels meet the ground (NaN at or above the horizon)."""
        cx, cy = self.principal_point
        f = self.focal_px
        uu, vv = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
        rays = np.stack([(uu - cx) / f, (vv - cy) / f, np.ones_like(uu)], axis=-1) @ self.rotation
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(rays[..., 2] < -1e-9, -self.height_m / rays[..., 2], np.nan)
        return rays[..., 0] * t, rays[..., 1] * t

    def horizon_v(self) -> float:
        """Image row of the horizon (may lie outside the image)."""
        return self.principal_point[1] - self.focal_px * math.tan(math.radians(self.pitch_deg))


def clip_near(points_cam: Float, near: float = NEAR_M) -> Float:
    """Clip a polygon in camera coordinates (n, 3) against the plane ``z = near``."""
    out: list[Float] = []
    n = len(points_cam)
    for i in range(n):
        a, b = points_cam[i], points_cam[(i + 1) % n]
        a_in, b_in = a[2] > near, b[2] > near
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (near - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.asarray(out, dtype=np.float64).reshape(-1, 3)
