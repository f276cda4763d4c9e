"""Per-camera image -> ground calibration: a homography from pixels to metres on the ground.

A fixed camera looking at a flat road maps image pixels to ground positions by a plane
homography. It is fitted from at least four pixel <-> lon/lat pairs (surveyed points, lane
marks seen on a map); the ground side is expressed in metres of a local
:class:`gis.metric.MetricFrame` centred at ``origin``. A track's foot point (bottom centre of
its box) is geolocated through it. The reprojection error (pixels) and the ground error (metres)
of the fitted pairs are reported so an operator sees how good a calibration is.

>>> cal = Calibration.fit(
...     pixels=[(0, 720), (1280, 720), (1280, 360), (0, 360)],
...     lonlats=[(121.0, 32.0), (121.0003, 32.0), (121.0003, 32.0009), (121.0, 32.0009)],
... )
>>> cal.reprojection_error_px < 1e-3
True
>>> lon, lat = cal.pixel_to_lonlat(640, 720)
>>> round(float(lon), 5), round(float(lat), 5)
(121.00015, 32.0)
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from zhizhi.gis.metric import MetricFrame

Float = NDArray[np.float64]


class CalibrationError(ValueError):
    """Calibration pairs that cannot define a ground homography."""


class Calibration(BaseModel):
    """Pixel <-> ground mapping of one fixed camera (stored with the camera)."""

    model_config = ConfigDict(frozen=True)

    pixels: list[tuple[float, float]] = Field(description="Image points (u, v) in pixels.")
    lonlats: list[tuple[float, float]] = Field(description="Their ground positions, WGS-84.")
    origin: tuple[float, float] = Field(description="Centre (lon, lat) of the metric frame.")
    homography: list[list[float]] = Field(description="3x3 pixel -> frame-metres homography.")
    reprojection_error_px: float = Field(ge=0, description="Mean pixel error of the pairs.")
    ground_error_m: float = Field(ge=0, description="Mean ground error of the pairs, metres.")
    image_size: tuple[int, int] | None = Field(None, description="(width, height) in pixels.")

    _frame: MetricFrame = PrivateAttr()
    _h: Float = PrivateAttr()
    _h_inv: Float = PrivateAttr()

    @model_validator(mode="after")
    def _prepare(self) -> Calibration:
        h = np.asarray(self.homography, dtype=np.float64)
        if h.shape != (3, 3) or not np.isfinite(h).all() or abs(np.linalg.det(h)) < 1e-12:
            raise CalibrationError("the homography must be a finite, invertible 3x3 matrix")
        self._frame = MetricFrame.around(*self.origin)
        self._h = h
        self._h_inv = np.linalg.inv(h)
        return self

    @classmethod
    def fit(
        cls,
        pixels: ArrayLike,
        lonlats: ArrayLike,
        origin: tuple[float, float] | None = None,
        image_size: tuple[int, int] | None = None,
    ) -> Calibration:
        """Fit from >= 4 pixel <-> lon/lat pairs (least squares over all of them)."""
        px = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        ll = np.asarray(lonlats, dtype=np.float64).reshape(-1, 2)
        if len(px) != len(ll):
            raise CalibrationError(f"{len(px)} pixel points but {len(ll)} lon/lat points")
        if len(px) < 4:
            raise CalibrationError(f"a ground homography needs at least 4 point pairs, got {len(px)}")
        if not (np.isfinite(px).all() and np.isfinite(ll).all()):
            raise CalibrationError("calibration points must be finite numbers")
        if not ((-180 <= ll[:, 0]).all() and (ll[:, 0] <= 180).all() and (np.abs(ll[:, 1]) <= 90).all()):
            raise CalibrationError("lon/lat points out of range: are they metres, or swapped?")
        for name, pts in (("pixel", px), ("ground", ll)):
            if _collinear(pts):
                raise CalibrationError(f"the {name} points are (nearly) collinear: spread them out")
        origin = origin or (float(ll[:, 0].mean()), float(ll[:, 1].mean()))
        frame = MetricFrame.around(*origin)
        gx, gy = frame.to_metric(ll[:, 0], ll[:, 1])
        ground = np.column_stack([gx, gy])
        h, _ = cv2.findHomography(px, ground, method=0)
        if h is None or not np.isfinite(h).all() or abs(np.linalg.det(h)) < 1e-12:
            raise CalibrationError("the points do not define a homography (degenerate layout)")
        projected = _apply(h, px)
        ground_err = float(np.mean(np.hypot(*(projected - ground).T)))
        back = _apply(np.linalg.inv(h), ground)
        pixel_err = float(np.mean(np.hypot(*(back - px).T)))
        return cls(
            pixels=[tuple(p) for p in px.tolist()],
            lonlats=[tuple(p) for p in ll.tolist()],
            origin=origin,
            homography=h.tolist(),
            reprojection_error_px=pixel_err,
            ground_error_m=ground_err,
            image_size=image_size,
        )

    @property
    def frame(self) -> MetricFrame:
        return self._frame

    def pixel_to_metric(self, u: ArrayLike, v: ArrayLike) -> tuple[Float, Float]:
        """Ground position in frame metres of image points."""
        pts = np.column_stack([np.ravel(u), np.ravel(v)]).astype(np.float64)
        out = _apply(self._h, pts)
        return out[:, 0].reshape(np.shape(u)), out[:, 1].reshape(np.shape(u))

    def pixel_to_lonlat(self, u: ArrayLike, v: ArrayLike) -> tuple[Float, Float]:
        """Ground position (WGS-84) of image points."""
        x, y = self.pixel_to_metric(u, v)
        return self._frame.to_lonlat(x, y)

    def lonlat_to_pixel(self, lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
        """Image position of ground points."""
        x, y = self._frame.to_metric(lon, lat)
        pts = np.column_stack([np.ravel(x), np.ravel(y)])
        out = _apply(self._h_inv, pts)
        return out[:, 0].reshape(np.shape(lon)), out[:, 1].reshape(np.shape(lon))


def _apply(h: Float, pts: Float) -> Float:
    """Apply a homography to (n, 2) points."""
    homogeneous = np.column_stack([pts, np.ones(len(pts))]) @ h.T
    return homogeneous[:, :2] / homogeneous[:, 2:3]


def _collinear(pts: Float) -> bool:
    """True when the points span (almost) no area: no homography can come from them."""
    centred = pts - pts.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    return bool(singular[-1] <= 1e-6 * max(singular[0], 1e-12))
