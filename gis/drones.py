"""A drone camera's ground geometry from its pose: what it sees and where its pixels land.

The camera is an ideal pinhole (no lens distortion, no roll: the gimbal keeps it level) at
``height_m`` above flat ground, its optical axis at azimuth ``yaw_deg`` (clockwise from
north) and elevation ``pitch_deg`` (-90 straight down, 0 the horizon). Work is in the drone's
local east/north/up frame in metres, ground at ``z = 0``; that plane is the tangent plane of
the drone's :class:`~gis.metric.MetricFrame` (``MetricFrame.around(lon, lat)``) and is taken to
WGS-84 by the geodesic forward problem (a millimetre apart at a few kilometres). The ground's
curvature (about 2 m of drop at 5 km) and terrain are ignored.

Pixels are continuous image coordinates: ``(0, 0)`` the top-left corner of the image,
``(width_px, height_px)`` the bottom-right one, the principal point in the middle.

>>> view = DroneView(lon=120.86, lat=32.01, height_m=100, yaw_deg=0, pitch_deg=-90,
...                  hfov_deg=60, width_px=1920, height_px=1080)
>>> lon, lat = pixel_to_lonlat(view, 960, 540)          # the image centre: under the drone
>>> round(float(lon), 6), round(float(lat), 6)
(120.86, 32.01)
>>> u, v = lonlat_to_pixel(view, lon, lat)
>>> round(float(u), 3), round(float(v), 3)
(960.0, 540.0)
>>> [round(s, 1) for s in ground_size_m(view)]          # 2 * 100 m * tan(30°) wide
[115.5, 65.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pyproj import Geod

Float = NDArray[np.float64]
_GEOD = Geod(ellps="WGS84")
_DISC_SEGMENTS = 64  # quarter-circle segments of the max-range disc (0.15 m error at 2 km)


class DroneView(BaseModel):
    """A drone camera's pose and optics: enough to draw its footprint and geolocate pixels.

    ``vfov_deg`` left out follows from ``hfov_deg`` and the image's aspect (square pixels).
    Build one from a telemetry pose with :meth:`from_pose`.

    >>> v = DroneView(lon=120.86, lat=32.01, height_m=120, yaw_deg=-90, pitch_deg=-45)
    >>> v.yaw_deg, round(v.vertical_fov_deg, 1)
    (270.0, 44.5)
    """

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    lon: float = Field(ge=-180.0, le=180.0)
    lat: float = Field(ge=-89.0, le=89.0)
    height_m: float = Field(gt=0.0, le=10_000.0, description="camera height above flat ground")
    yaw_deg: float = Field(0.0, description="camera azimuth, clockwise from north (wrapped)")
    pitch_deg: float = Field(-90.0, ge=-90.0, le=90.0, description="-90 down, 0 the horizon")
    hfov_deg: float = Field(72.0, gt=0.0, lt=180.0, description="horizontal field of view")
    vfov_deg: float | None = Field(None, gt=0.0, lt=180.0, description="vertical field of view")
    width_px: int = Field(1920, gt=0)
    height_px: int = Field(1080, gt=0)
    max_range_m: float = Field(
        2000.0, gt=0.0, description="ground distance from the drone beyond which nothing counts"
    )

    @field_validator("yaw_deg")
    @classmethod
    def _wrap_yaw(cls, value: float) -> float:
        return value % 360.0

    @classmethod
    def from_pose(cls, pose: Mapping[str, Any], **camera: Any) -> DroneView:
        """A view from a pose dict with telemetry's field names (``DroneState.model_dump()``):
        ``lon``, ``lat``, ``height_m``, ``gimbal_yaw_deg`` (else ``heading_deg``),
        ``gimbal_pitch_deg``; ``camera`` gives the optics (``hfov_deg``, ``width_px``, ...).

        >>> DroneView.from_pose({"lon": 120.86, "lat": 32.01, "height_m": 80,
        ...                      "gimbal_yaw_deg": 45, "gimbal_pitch_deg": -60}, hfov_deg=80).pitch_deg
        -60.0
        """
        yaw = pose.get("gimbal_yaw_deg", pose.get("yaw_deg", pose.get("heading_deg", 0.0)))
        pitch = pose.get("gimbal_pitch_deg", pose.get("pitch_deg", -90.0))
        return cls(
            lon=pose["lon"], lat=pose["lat"], height_m=pose["height_m"],
            yaw_deg=yaw, pitch_deg=pitch, **camera,
        )

    @property
    def vertical_fov_deg(self) -> float:
        """The vertical field of view, given or from the aspect with square pixels."""
        if self.vfov_deg is not None:
            return self.vfov_deg
        half = math.tan(math.radians(self.hfov_deg) / 2.0) * self.height_px / self.width_px
        return math.degrees(2.0 * math.atan(half))


def _columns(views: Sequence[DroneView]) -> dict[str, Float]:
    """The views' numbers as arrays, one entry per view."""
    cols = np.array(
        [
            (v.lon, v.lat, v.height_m, v.yaw_deg, v.pitch_deg, v.hfov_deg, v.vertical_fov_deg,
             v.width_px, v.height_px, v.max_range_m)
            for v in views
        ],
        dtype=np.float64,
    ).reshape(-1, 10)
    names = ("lon", "lat", "h", "yaw", "pitch", "hfov", "vfov", "w", "hpx", "range")
    return {n: cols[:, i] for i, n in enumerate(names)}


def _basis(c: dict[str, Float]) -> tuple[Float, Float, Float, Float, Float]:
    """Per view, the camera's forward, right and image-down unit axes and focal lengths (px).

    Forward is (sin yaw cos pitch, cos yaw cos pitch, sin pitch), right (cos yaw, -sin yaw, 0)
    and down is forward x right; at nadir the top of the image points along the yaw.
    """
    yaw, pitch = np.radians(c["yaw"]), np.radians(c["pitch"])
    fwd = np.stack(
        [np.sin(yaw) * np.cos(pitch), np.cos(yaw) * np.cos(pitch), np.sin(pitch)], axis=-1
    )
    right = np.stack([np.cos(yaw), -np.sin(yaw), np.zeros_like(yaw)], axis=-1)
    down = np.cross(fwd, right)
    fx = (c["w"] / 2.0) / np.tan(np.radians(c["hfov"]) / 2.0)
    fy = (c["hpx"] / 2.0) / np.tan(np.radians(c["vfov"]) / 2.0)
    return fwd, right, down, fx, fy


def _camera_matrix(c: dict[str, Float]) -> Float:
    """Per view, the 3x3 matrix taking ``(u, v, 1)`` to the pixel's ray in east/north/up."""
    fwd, right, down, fx, fy = _basis(c)
    col_u = right / fx[:, None]
    col_v = down / fy[:, None]
    col_1 = fwd - col_u * (c["w"] / 2.0)[:, None] - col_v * (c["hpx"] / 2.0)[:, None]
    return np.stack([col_u, col_v, col_1], axis=-1)


def _homographies(c: dict[str, Float]) -> Float:
    """Per view, the pixel -> ground (east, north metres from the drone) homography."""
    scale = np.zeros((len(c["h"]), 3, 3))
    scale[:, 0, 0] = scale[:, 1, 1] = -c["h"]
    scale[:, 2, 2] = 1.0
    return scale @ _camera_matrix(c)


def ground_homography(view: DroneView) -> Float:
    """The 3x3 homography from pixels ``(u, v, 1)`` to ground metres east/north of the drone.

    The metres are those of ``MetricFrame.around(view.lon, view.lat)``, so the matrix can
    stand in for a fixed camera's calibration. It is only meaningful for pixels below the
    horizon: their homogeneous ``w`` is negative (:func:`pixel_to_lonlat` checks it).

    >>> view = DroneView(lon=120.86, lat=32.01, height_m=50, yaw_deg=90, pitch_deg=-90)
    >>> x, y, w = ground_homography(view) @ [1920, 540, 1]  # right edge, middle row
    >>> round(float(x / w), 2), round(float(y / w), 2)      # yaw east: image right is south
    (0.0, -36.33)
    """
    return _homographies(_columns([view]))[0]


def pixel_to_metric(view: DroneView, u: ArrayLike, v: ArrayLike) -> tuple[Float, Float]:
    """Ground metres (east, north) from the drone of pixels; NaN at or above the horizon."""
    u_a, v_a = np.broadcast_arrays(np.asarray(u, np.float64), np.asarray(v, np.float64))
    pts = np.stack([u_a, v_a, np.ones_like(u_a)], axis=-1) @ ground_homography(view).T
    w = pts[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(w < 0, pts[..., 0] / w, np.nan)
        y = np.where(w < 0, pts[..., 1] / w, np.nan)
    return x, y


def pixel_to_lonlat(view: DroneView, u: ArrayLike, v: ArrayLike) -> tuple[Float, Float]:
    """WGS-84 ground position of pixels (any shape); NaN where the ray misses the ground."""
    x, y = pixel_to_metric(view, u, v)
    return _offset_to_lonlat(np.full(x.shape, view.lon), np.full(x.shape, view.lat), x, y)


def lonlat_to_pixel(view: DroneView, lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
    """Image position of WGS-84 ground points; NaN for points behind the camera.

    Points outside the field of view get pixels outside the image, not NaN.
    """
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    az, _, dist = _GEOD.inv(
        np.full(lon_a.size, view.lon), np.full(lon_a.size, view.lat), lon_a.ravel(), lat_a.ravel()
    )
    az_r = np.radians(np.asarray(az))
    c = _columns([view])
    fwd, right, down, fx, fy = (v[0] for v in _basis(c))
    q = np.stack(
        [np.asarray(dist) * np.sin(az_r), np.asarray(dist) * np.cos(az_r),
         np.full(lon_a.size, -view.height_m)],
        axis=-1,
    )
    depth = q @ fwd
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(depth > 0, view.width_px / 2.0 + fx * (q @ right) / depth, np.nan)
        v = np.where(depth > 0, view.height_px / 2.0 + fy * (q @ down) / depth, np.nan)
    return u.reshape(lon_a.shape), v.reshape(lon_a.shape)


def _offset_to_lonlat(lon0: Float, lat0: Float, x: Float, y: Float) -> tuple[Float, Float]:
    """Points ``x`` metres east and ``y`` north of ``lon0, lat0``, geodesically; NaN stays."""
    ok = np.isfinite(x) & np.isfinite(y)
    out_lon = np.full(np.shape(x), np.nan)
    out_lat = np.full(np.shape(x), np.nan)
    if ok.any():
        az = np.degrees(np.arctan2(x[ok], y[ok]))
        lon_o, lat_o, _ = _GEOD.fwd(lon0[ok], lat0[ok], az, np.hypot(x[ok], y[ok]))
        out_lon[ok], out_lat[ok] = lon_o, lat_o
    return out_lon, out_lat


def _half_planes(c: dict[str, Float]) -> tuple[Float, NDArray[np.bool_]]:
    """Each view's four image edges as ground half-planes ``a x + b y + d >= 0``.

    Each image edge and the camera centre span a plane; the frustum is the inside of the
    four, and each meets the ground in a line. Returns ``(n, 4, 3)`` normalised ``(a, b, d)``
    and, per view, whether some edge plane is level and leaves all the ground outside.
    """
    m = _camera_matrix(c)
    corners = np.array([(0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)], dtype=np.float64)
    size = np.stack([c["w"], c["hpx"], np.ones_like(c["w"])], axis=-1)
    rays = np.einsum("nij,nkj->nki", m, corners[None] * size[:, None, :])  # (n, 4, 3)
    normals = np.cross(rays, np.roll(rays, -1, axis=1))
    centre_ray = rays.mean(axis=1, keepdims=True)
    normals *= np.sign(np.sum(normals * centre_ray, axis=-1, keepdims=True))  # inwards
    # n . (P - C) >= 0 with P = (x, y, 0) and C = (0, 0, h)
    coef = np.stack([normals[..., 0], normals[..., 1], -normals[..., 2] * c["h"][:, None]], -1)
    horiz = np.hypot(coef[..., 0], coef[..., 1])
    level = horiz < 1e-12 * np.linalg.norm(normals, axis=-1)
    none_left = (level & (coef[..., 2] < 0)).any(axis=1)
    # A level plane that keeps everything: a line far beyond the range, facing the drone.
    coef = np.where(level[..., None], np.array([1.0, 0.0, 0.0]), coef / np.where(level, 1, horiz)[..., None])
    coef[..., 2] = np.where(level, 4.0 * c["range"][:, None], coef[..., 2])
    return coef, none_left


def _half_plane_boxes(coef: Float, reach: Float) -> NDArray[np.object_]:
    """Rectangles standing for half-planes inside a disc of radius ``reach`` at the origin.

    The offset is clamped to ``+-2 reach`` (a line farther away keeps or drops the whole disc
    either way), so a rectangle of half-length ``4 reach`` along the line and ``8 reach``
    deep covers the half-plane's part of the disc.
    """
    a, b = coef[..., 0], coef[..., 1]
    d = np.clip(coef[..., 2], -2.0 * reach[:, None], 2.0 * reach[:, None])
    p0 = np.stack([-a * d, -b * d], axis=-1)
    inward = np.stack([a, b], axis=-1)
    along = np.stack([-b, a], axis=-1)
    half, deep = (4.0 * reach)[:, None, None], (8.0 * reach)[:, None, None]
    ring = np.stack(
        [p0 + half * along, p0 - half * along, p0 - half * along + deep * inward,
         p0 + half * along + deep * inward],
        axis=-2,
    )
    return shapely.polygons(ring)


def _footprints_metric(c: dict[str, Float]) -> NDArray[np.object_]:
    """Ground footprints in each drone's own east/north metres (drone at the origin)."""
    n = len(c["h"])
    coef, none_left = _half_planes(c)
    boxes = _half_plane_boxes(coef, c["range"])
    shapes = shapely.buffer(shapely.points(np.zeros((n, 2))), c["range"], quad_segs=_DISC_SEGMENTS)
    for k in range(4):
        shapes = shapely.intersection(shapes, boxes[:, k])
    # Keep polygons only: a touching edge may leave a line or a point.
    polys = np.empty(n, dtype=object)
    for i, geom in enumerate(shapes):
        if none_left[i] or geom.is_empty or geom.area <= 0:
            polys[i] = shapely.Polygon()
        elif geom.geom_type == "Polygon":
            polys[i] = geom
        else:  # a collection: its polygon part (a convex intersection has one)
            parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"]
            polys[i] = max(parts, key=lambda p: p.area) if parts else shapely.Polygon()
    return polys


def footprints_metric(views: Sequence[DroneView]) -> NDArray[np.object_]:
    """Footprints in metres east/north of each drone (see :func:`footprints`)."""
    if len(views) == 0:
        return np.empty(0, dtype=object)
    return _footprints_metric(_columns(views))


def footprints(views: Sequence[DroneView]) -> NDArray[np.object_]:
    """The ground each view sees, as WGS-84 polygons, in one vectorised pass.

    The frustum of the four image edges is cut by the ground plane and by the disc of
    ``max_range_m`` around the drone: a quadrilateral when the whole image sees the ground
    within range, otherwise its near part closed by an arc of the disc (a view reaching the
    horizon), and an empty polygon when the camera sees no ground.

    >>> down = DroneView(lon=120.86, lat=32.01, height_m=100, pitch_deg=-90)
    >>> up = DroneView(lon=120.86, lat=32.01, height_m=100, pitch_deg=60, hfov_deg=40)
    >>> [(p.geom_type, len(p.exterior.coords) - 1 if not p.is_empty else 0)
    ...  for p in footprints([down, up])]
    [('Polygon', 4), ('Polygon', 0)]
    """
    if len(views) == 0:
        return np.empty(0, dtype=object)
    c = _columns(views)
    metric = _footprints_metric(c)
    coords, index = shapely.get_coordinates(metric, return_index=True)
    if len(coords) == 0:
        return metric
    lon, lat = _offset_to_lonlat(c["lon"][index], c["lat"][index], coords[:, 0], coords[:, 1])
    return shapely.set_coordinates(metric.copy(), np.column_stack([lon, lat]))


def footprint(view: DroneView) -> shapely.Polygon:
    """One view's ground footprint, WGS-84 (see :func:`footprints`)."""
    return footprints([view])[0]


def ground_size_m(view: DroneView) -> tuple[float, float]:
    """Width (east-west extent) and height (north-south) in metres of the footprint's box.

    For a nadir view with yaw 0 these are the across and along ground extents.
    """
    shape = footprints_metric([view])[0]
    if shape.is_empty:
        return 0.0, 0.0
    minx, miny, maxx, maxy = shape.bounds
    return float(maxx - minx), float(maxy - miny)
