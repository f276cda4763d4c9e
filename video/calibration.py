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

What a calibrated camera really sees, :func:`ground_footprint`, is the image (below its horizon)
mapped onto the ground and cut at the camera's range. A camera that has no surveyed points yet
gets a first guess, :func:`pinhole_calibration`, from its position, mounting height, heading,
tilt and horizontal field of view:

>>> guess = pinhole_calibration(121.0, 32.0, heading_deg=0, hfov_deg=60, image_size=(1280, 720),
...                             height_m=8, tilt_deg=15)
>>> x, y = guess.pixel_to_metric(639.5, 359.5)  # the image centre is on the optical axis ...
>>> round(float(x), 6) + 0.0, round(float(y), 3), round(8 / math.tan(math.radians(15)), 3)  # ... 29.9 m ahead
(0.0, 29.856, 29.856)
>>> area = ground_footprint(guess, (1280, 720), (121.0, 32.0), range_m=100)
>>> area.contains(shapely.Point(121.0, 32.0005)), area.contains(shapely.Point(121.0, 31.9995))
(True, False)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import NoReturn

import cv2
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from zhizhi.gis.metric import MetricFrame, geodesic_distance_m

Float = NDArray[np.float64]

#: A map point farther than this from its camera is a slip of the hand (or lon/lat swapped).
MAX_POINT_DISTANCE_M = 5000.0
#: The calibrated ground area is cut at the camera's range, and never reaches farther than this.
MAX_FOOTPRINT_M = 5000.0
#: A ground area smaller than this (square metres) is no field of view.
MIN_FOOTPRINT_M2 = 1.0
#: The first guess's assumptions when a camera's record does not say.
DEFAULT_HEIGHT_M = 8.0
DEFAULT_TILT_DEG = 15.0
#: With exactly four pairs, three points whose triangle is thinner than this share of its longest
#: side lie (nearly) on one line: the homography through them is ill-conditioned.
_THIN_TRIANGLE = 0.01


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
    _side: int = PrivateAttr(1)

    @model_validator(mode="after")
    def _prepare(self) -> Calibration:
        h = np.asarray(self.homography, dtype=np.float64)
        if h.shape != (3, 3) or not np.isfinite(h).all() or abs(np.linalg.det(h)) < 1e-12:
            raise CalibrationError("the homography must be a finite, invertible 3x3 matrix")
        self._frame = MetricFrame.around(*self.origin)
        self._h = h
        self._h_inv = np.linalg.inv(h)
        if self.pixels:  # the ground is the side of the horizon the fitted pixels lie on
            w = _w(h, np.asarray(self.pixels, dtype=np.float64))
            self._side = 1 if (w > 0).all() else -1 if (w < 0).all() else 0
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
        bad = ~((np.abs(ll[:, 0]) <= 180) & (np.abs(ll[:, 1]) <= 90))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise CalibrationError(
                f"lon/lat points out of range (point {i + 1}: {ll[i, 0]:g}, {ll[i, 1]:g}; need lon -180..180, "
                "lat -90..90): are they metres, or swapped?"
            )
        for name, pts in (("pixel", px), ("ground", ll)):
            if _collinear(pts):
                raise CalibrationError(f"the {name} points are (nearly) collinear: spread them out")
        if len(px) == 4:
            frame4 = MetricFrame.around(float(ll[:, 0].mean()), float(ll[:, 1].mean()))
            for name, pts in (("pixel", px), ("map", np.column_stack(frame4.to_metric(ll[:, 0], ll[:, 1])))):
                for triple in itertools.combinations(range(4), 3):
                    if _collinear(pts[list(triple)], _THIN_TRIANGLE):
                        a, b, c = (t + 1 for t in triple)
                        raise CalibrationError(
                            f"{name} points {a}, {b} and {c} lie (nearly) on one line: with 4 points no three "
                            "may; move one or add a fifth"
                        )
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

    @property
    def ground_side(self) -> int:
        """+1 or -1: the sign of the homography's third row on pixels that show the ground
        (those below the horizon); 0 when the fitted pixels lie on both sides of it."""
        return self._side

    def on_ground(self, u: ArrayLike, v: ArrayLike) -> NDArray[np.bool_]:
        """Whether image points lie on the ground side of the horizon (all of them when the fitted
        pixels straddle it: :attr:`ground_side` 0)."""
        pts = np.column_stack([np.ravel(u), np.ravel(v)]).astype(np.float64)
        if self._side == 0:
            return np.ones(len(pts), dtype=bool)
        return _w(self._h, pts) * self._side > 0

    def point_errors(self) -> tuple[Float, Float]:
        """Each fitted pair's reprojection error (pixels) and ground error (metres), in order."""
        px = np.asarray(self.pixels, dtype=np.float64).reshape(-1, 2)
        ll = np.asarray(self.lonlats, dtype=np.float64).reshape(-1, 2)
        if len(px) == 0:
            return np.zeros(0), np.zeros(0)
        ground = np.column_stack(self._frame.to_metric(ll[:, 0], ll[:, 1]))
        ground_err = np.hypot(*(_apply(self._h, px) - ground).T)
        pixel_err = np.hypot(*(_apply(self._h_inv, ground) - px).T)
        return pixel_err, ground_err

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


def pinhole_calibration(
    lon: float,
    lat: float,
    heading_deg: float,
    hfov_deg: float,
    image_size: tuple[int, int],
    height_m: float | None = None,
    tilt_deg: float | None = None,
) -> Calibration:
    """The first guess of a camera without surveyed points: a pinhole over flat ground.

    The camera stands ``height_m`` above the ground at ``lon, lat``, its optical axis along
    ``heading_deg`` (clockwise from north) and ``tilt_deg`` below the horizon, no roll, square
    pixels, the principal point at the image centre (pixel centres at integers, as OpenCV), the
    focal length from ``hfov_deg`` and the image width. Unknown height and tilt take
    :data:`DEFAULT_HEIGHT_M` and :data:`DEFAULT_TILT_DEG`. The homography maps pixels to metres of
    the :class:`MetricFrame` around the camera; it has no fitted pairs (errors 0).
    """
    width, height = _image_size(image_size)
    h = DEFAULT_HEIGHT_M if height_m is None else float(height_m)
    tilt = DEFAULT_TILT_DEG if tilt_deg is None else float(tilt_deg)
    if not (math.isfinite(h) and h > 0):
        raise CalibrationError(f"height_m must be a positive number of metres, got {height_m}")
    if not (math.isfinite(tilt) and 0 < tilt < 90):
        raise CalibrationError(f"tilt_deg must be between 0 and 90 degrees below the horizon, got {tilt_deg}")
    if not (math.isfinite(hfov_deg) and 0 < hfov_deg < 170):
        raise CalibrationError(
            f"a pinhole first guess needs hfov_deg between 0 and 170, got {hfov_deg:g} (a panoramic camera "
            "has no single homography: calibrate it from points)"
        )
    f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    k = np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
    az, p = math.radians(heading_deg), math.radians(tilt)
    forward = np.array([math.sin(az) * math.cos(p), math.cos(az) * math.cos(p), -math.sin(p)])
    right = np.array([math.cos(az), -math.sin(az), 0.0])
    down = np.cross(forward, right)
    rotation = np.vstack([right, down, forward])  # world (east, north, up) -> camera (right, down, forward)
    translation = -rotation @ np.array([0.0, 0.0, h])
    ground_to_pixel = k @ np.column_stack([rotation[:, 0], rotation[:, 1], translation])
    hom = np.linalg.inv(ground_to_pixel)  # third row = 1 / depth: positive on the ground side
    hom /= np.abs(hom).max()
    return Calibration(
        pixels=[], lonlats=[], origin=(float(lon), float(lat)), homography=hom.tolist(),
        reprojection_error_px=0.0, ground_error_m=0.0, image_size=(width, height),
    )


def check_near_camera(lonlats: ArrayLike, camera_lonlat: tuple[float, float],
                      max_distance_m: float = MAX_POINT_DISTANCE_M) -> None:
    """Refuse map points farther than ``max_distance_m`` from the camera, saying when the point
    would be near with its lon and lat swapped (:class:`CalibrationError` naming the point)."""
    ll = np.asarray(lonlats, dtype=np.float64).reshape(-1, 2)
    if len(ll) == 0:
        return
    lon0, lat0 = camera_lonlat
    dist = geodesic_distance_m(np.full(len(ll), lon0), np.full(len(ll), lat0), ll[:, 0], ll[:, 1])
    far = np.flatnonzero(~(dist <= max_distance_m))
    if len(far) == 0:
        return
    i = int(far[0])
    lon, lat = ll[i]
    if abs(lon) <= 90 and geodesic_distance_m(lon0, lat0, lat, lon) <= max_distance_m:
        raise CalibrationError(
            f"map point {i + 1} ({lon:g}, {lat:g}) is {dist[i] / 1000:,.0f} km from the camera, but near it with "
            "lon and lat swapped: send [lon, lat]"
        )
    raise CalibrationError(
        f"map point {i + 1} ({lon:g}, {lat:g}) is {dist[i]:,.0f} m from the camera (at {lon0:g}, {lat0:g}); "
        f"points must lie within {max_distance_m:,.0f} m of it"
    )


def ground_footprint(
    calibration: Calibration,
    image_size: tuple[int, int],
    camera_lonlat: tuple[float, float],
    range_m: float,
    *,
    max_distance_m: float = MAX_FOOTPRINT_M,
) -> shapely.Polygon:
    """The ground a calibrated camera really sees (WGS-84 polygon).

    The image rectangle, cut at the horizon (only the part below it shows the ground), mapped to
    the ground through the homography, within ``min(range_m, max_distance_m)`` of the camera.
    The cut happens in the image: a square of that radius around the camera pulls back through
    the homography to four half-planes of the image (on the ground side of the horizon), so no
    point near the horizon is ever mapped to the far distance; the square's part is then cut to
    the disc on the ground. :class:`CalibrationError` when no physical camera could have this
    homography (fitted pixels on both sides of its horizon: pairs crossed; the ground seen
    mirrored) or when the area is empty within reach.
    """
    width, height = _image_size(image_size)
    side = calibration.ground_side
    if side == 0:
        raise CalibrationError(
            "the pairs put some pixels beyond the horizon of the others: no camera sees the ground that way "
            "(is a pixel matched to the wrong map point?)"
        )
    h = calibration._h * side  # the same mapping, its third row now positive on the ground side
    if np.linalg.det(h) > 0:
        raise CalibrationError(
            "the pairs show the ground mirrored (left and right, or near and far, swapped): no camera sees it "
            "that way; check that each pixel is matched to its own map point"
        )
    reach = min(float(range_m), float(max_distance_m))
    if not (math.isfinite(reach) and reach > 0):
        raise CalibrationError(f"range_m must be a positive number of metres, got {range_m}")
    frame = calibration.frame
    cx, cy = (float(v) for v in frame.to_metric(*camera_lonlat))
    half = reach * 1.01
    # Half-planes a*u + b*v + c >= 0 of the image: the ground side (w > 0), then the square.
    planes = [h[2]]
    for axis, centre in ((0, cx), (1, cy)):
        planes.append(h[axis] - (centre - half) * h[2])  # x >= cx - half  (times w > 0)
        planes.append((centre + half) * h[2] - h[axis])  # x <= cx + half
    ring = np.array([[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]])
    for plane in planes:
        ring = _clip_half_plane(ring, plane)
        if len(ring) < 3:
            _no_ground_area(reach)
    ground = shapely.Polygon(_apply(h, ring))
    if not ground.is_valid:
        ground = shapely.make_valid(ground)
    seen = shapely.intersection(ground, shapely.Point(cx, cy).buffer(reach, quad_segs=32))
    seen = _largest_polygon(seen)
    if seen is None or seen.area < MIN_FOOTPRINT_M2:
        _no_ground_area(reach)
    return shapely.polygons(np.column_stack(frame.to_lonlat(*np.asarray(seen.exterior.coords).T)))


def _no_ground_area(reach: float) -> NoReturn:
    raise CalibrationError(
        f"the calibrated ground area is empty within {reach:,.0f} m of the camera: the image shows no ground "
        "there (horizon too low, or the points place the view beyond the camera's range_m)"
    )


def _largest_polygon(geometry: shapely.Geometry) -> shapely.Polygon | None:
    parts = [g for g in shapely.get_parts(geometry) if isinstance(g, shapely.Polygon) and not g.is_empty]
    return max(parts, key=lambda g: g.area) if parts else None


def _clip_half_plane(ring: Float, plane: Float) -> Float:
    """Sutherland-Hodgman: the convex ring's part where ``a*u + b*v + c >= 0``."""
    value = ring @ plane[:2] + plane[2]
    out: list[Float] = []
    n = len(ring)
    for i in range(n):
        j = (i + 1) % n
        if value[i] >= 0:
            out.append(ring[i])
        if (value[i] >= 0) != (value[j] >= 0):
            t = value[i] / (value[i] - value[j])
            out.append(ring[i] + t * (ring[j] - ring[i]))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def _image_size(image_size: Sequence[int]) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise CalibrationError(f"image_size must be [width, height] in pixels, got {image_size!r}") from None
    if not (16 <= width <= 16384 and 16 <= height <= 16384):
        raise CalibrationError(f"image_size must be 16..16384 pixels each way, got {width}x{height}")
    return width, height


def _w(h: Float, pts: Float) -> Float:
    """The homogeneous scale (third row) of a homography at (n, 2) points."""
    return pts @ h[2, :2] + h[2, 2]


def _apply(h: Float, pts: Float) -> Float:
    """Apply a homography to (n, 2) points."""
    homogeneous = np.column_stack([pts, np.ones(len(pts))]) @ h.T
    return homogeneous[:, :2] / homogeneous[:, 2:3]


def _collinear(pts: Float, tolerance: float = 1e-6) -> bool:
    """True when the points span (almost) no area: no homography can come from them."""
    centred = pts - pts.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    return bool(singular[-1] <= tolerance * max(singular[0], 1e-12))
