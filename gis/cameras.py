"""Camera fields of view: the sector a camera sees, and which cameras see a point.

A camera at ``lon, lat`` points its optical axis along ``heading_deg`` (clockwise from north)
and sees ``hfov_deg`` around it out to ``range_m``. Both halves of the job work in metres on
the WGS-84 ellipsoid: the sector's vertices come from the geodesic forward problem from the
camera (what a local metric frame centred on the camera gives, to a millimetre at 10 km),
and "does this camera see that point" is the geodesic inverse (distance and bearing), so the
drawn polygon and the test agree.

A calibrated camera carries a ``footprint``: the ground it really sees (the image below its
horizon mapped to the ground through its calibration, cut at its range: see
``video.calibration.ground_footprint``). Where a camera has one, it replaces the nominal sector
both in "does this camera see that point" and in the drawn field of view.

>>> cam = Camera(id="C1", name="东门", lon=120.86, lat=32.01, heading_deg=90, hfov_deg=60,
...              range_m=200)
>>> index = CameraIndex([cam])
>>> [hit.id for hit in index.covering(120.861, 32.01)]  # about 94 m east: on the axis
['C1']
>>> index.covering(120.86, 32.011)  # about 111 m north: beside the camera, not in view
[]
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pyproj import Geod

from zhizhi.gis.codes import validate_code
from zhizhi.gis.metric import MetricFrame

Float = NDArray[np.float64]
Int = NDArray[np.int64]
_GEOD = Geod(ellps="WGS84")
_APEX_M = 1e-6  # a point this close to the camera is at the apex: seen whatever the bearing
_ANGLE_EPS = 1e-9  # degrees of slack on the angular test, for rounding at the sector's edges


class Camera(BaseModel):
    """A camera (fixed, PTZ or a drone's) with its field of view, WGS-84.

    >>> Camera(id="C1", name="东门", lon=120.86, lat=32.01, heading_deg=350, hfov_deg=40,
    ...        range_m=150).kind
    'fixed'
    """

    model_config = ConfigDict(frozen=True, allow_inf_nan=False, arbitrary_types_allowed=True)

    id: str = Field(min_length=1)
    name: str = ""
    lon: float = Field(ge=-180.0, le=180.0)
    lat: float = Field(ge=-90.0, le=90.0)
    heading_deg: float = Field(ge=0.0, le=360.0, description="optical axis, clockwise from north")
    hfov_deg: float = Field(gt=0.0, le=360.0, description="horizontal field of view")
    range_m: float = Field(gt=0.0, description="how far it usefully sees, metres")
    grid: str | None = Field(None, description="jurisdiction code of the unit it belongs to")
    road_id: str | None = None
    kind: str = "fixed"
    status: str = "unknown"
    height_m: float | None = Field(None, gt=0.0, description="mounting height above the ground, metres")
    tilt_deg: float | None = Field(None, gt=0.0, lt=90.0, description="optical axis below the horizon, degrees")
    footprint: shapely.Geometry | None = Field(
        None, description="calibrated ground area it really sees (WGS-84 polygon); the sector when None"
    )

    @field_validator("grid", "road_id", mode="before")
    @classmethod
    def _missing_is_none(cls, value: object) -> object:
        """Tabular sources write a missing code as NaN or an empty string."""
        if value == "" or (isinstance(value, float) and math.isnan(value)):
            return None
        return value

    @field_validator("grid")
    @classmethod
    def _valid_code(cls, value: str | None) -> str | None:
        return None if value is None else validate_code(value)

    @field_validator("footprint")
    @classmethod
    def _area(cls, value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, (shapely.Polygon, shapely.MultiPolygon)) or value.is_empty:
            raise ValueError("footprint must be a non-empty (multi)polygon, WGS-84")
        if not value.is_valid:
            raise ValueError(f"footprint is not a valid polygon: {shapely.is_valid_reason(value)}")
        minx, miny, maxx, maxy = value.bounds
        if not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
            raise ValueError("footprint coordinates must be lon/lat, WGS-84")
        return value


class CameraHit(BaseModel):
    """A camera that sees (or is near) a point: how far away and in which direction it lies.

    >>> cam = Camera(id="C1", lon=120.86, lat=32.01, heading_deg=0, hfov_deg=90, range_m=100)
    >>> hit = CameraIndex([cam]).covering(120.86, 32.0105)[0]
    >>> round(hit.distance_m), round(hit.bearing_deg)
    (55, 0)
    """

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    distance_m: float = Field(description="geodesic distance from the camera to the point")
    bearing_deg: float = Field(description="bearing from the camera to the point, 0..360")
    camera: Camera


def _check_lonlat(lon: Float, lat: Float) -> None:
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"coordinates out of range: lon={lon.flat[i]}, lat={lat.flat[i]} "
            "(need finite lon -180..180, lat -90..90)"
        )


def _forward(lon: Float, lat: Float, az: Float, dist: Float) -> tuple[Float, Float]:
    """Geodesic forward problem, broadcast over any shapes."""
    lon, lat, az, dist = np.broadcast_arrays(lon, lat, az, dist)
    out_lon, out_lat, _ = _GEOD.fwd(lon.ravel(), lat.ravel(), az.ravel(), dist.ravel())
    return np.reshape(out_lon, lon.shape), np.reshape(out_lat, lon.shape)


def sector_polygons(
    lon: ArrayLike,
    lat: ArrayLike,
    heading_deg: ArrayLike,
    hfov_deg: ArrayLike,
    range_m: ArrayLike,
    *,
    segments: int = 32,
) -> NDArray[np.object_]:
    """Field-of-view polygons (WGS-84) for arrays of cameras, in one vectorized pass.

    Each is the apex at the camera plus ``segments + 1`` points on the arc of radius
    ``range_m`` from ``heading - hfov/2`` to ``heading + hfov/2``; ``hfov_deg`` 360 gives a
    ``segments``-gon circle. Rings are counter-clockwise (as GeoJSON wants).

    >>> polys = sector_polygons([120.86, 120.87], [32.01, 32.01], [90, 0], [60, 360], [200, 50])
    >>> [len(p.exterior.coords) for p in polys]  # apex + 33 arc points + closing, 32 + closing
    [35, 33]
    """
    arrays = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (lon, lat, heading_deg, hfov_deg, range_m))
    )
    shape = arrays[0].shape
    lon_a, lat_a, heading, hfov, rng = (a.ravel() for a in arrays)
    if segments < 3:
        raise ValueError(f"segments must be at least 3, got {segments}")
    _check_lonlat(lon_a, lat_a)
    if not (np.isfinite(heading).all() and ((hfov > 0) & (hfov <= 360)).all()):
        raise ValueError("heading_deg must be finite and hfov_deg in (0, 360]")
    if not ((rng > 0) & np.isfinite(rng)).all():
        raise ValueError("range_m must be positive and finite")
    out = np.empty(lon_a.shape, dtype=object)
    full = hfov >= 360.0
    if (~full).any():
        s = ~full
        # From the counter-clockwise end of the arc (heading + hfov/2) back to the other.
        az = (heading[s] + hfov[s] / 2.0)[:, None] - hfov[s][:, None] * (
            np.arange(segments + 1) / segments
        )
        arc_lon, arc_lat = _forward(lon_a[s, None], lat_a[s, None], az, rng[s, None])
        ring = np.stack(
            [
                np.concatenate([lon_a[s, None], arc_lon], axis=1),
                np.concatenate([lat_a[s, None], arc_lat], axis=1),
            ],
            axis=-1,
        )
        out[s] = shapely.polygons(ring)
    if full.any():
        az = heading[full][:, None] - 360.0 * (np.arange(segments) / segments)
        arc_lon, arc_lat = _forward(lon_a[full, None], lat_a[full, None], az, rng[full, None])
        out[full] = shapely.polygons(np.stack([arc_lon, arc_lat], axis=-1))
    return out.reshape(shape)


def fov_sector(
    lon: float,
    lat: float,
    heading_deg: float,
    hfov_deg: float,
    range_m: float,
    *,
    segments: int = 32,
) -> shapely.Polygon:
    """One camera's field of view as a WGS-84 polygon (see :func:`sector_polygons`).

    >>> sector = fov_sector(120.86, 32.01, 90, 60, 200)
    >>> sector.contains(shapely.Point(120.861, 32.01)), sector.contains(shapely.Point(120.86, 32.011))
    (True, False)
    """
    return sector_polygons(lon, lat, heading_deg, hfov_deg, range_m, segments=segments)[()]


def fov_sectors(cameras: Sequence[Camera], *, segments: int = 32) -> NDArray[np.object_]:
    """Field-of-view polygons of many cameras, in their order: each calibrated camera's
    footprint, the nominal sector of the others."""
    out = np.empty(len(cameras), dtype=object)
    nominal = np.array([c.footprint is None for c in cameras], dtype=bool)
    if nominal.any():
        cols = np.array(
            [(c.lon, c.lat, c.heading_deg, c.hfov_deg, c.range_m) for c, n in zip(cameras, nominal) if n],
            dtype=np.float64,
        )
        out[nominal] = sector_polygons(*cols.T, segments=segments)
    for i in np.flatnonzero(~nominal):
        out[i] = cameras[i].footprint
    return out


def pick_cameras(cameras: Sequence[Camera], count: int) -> list[Camera]:
    """The first ``count`` cameras by id that have a grid (the same ones every run in a district:
    the demo's and the benchmarks' simulated cameras).

    >>> cams = [Camera(id=i, lon=121.0, lat=32.0, heading_deg=0, hfov_deg=60, range_m=100, grid=g)
    ...         for i, g in (("C3", "320612001001001"), ("C1", None), ("C2", "320612001001002"))]
    >>> [c.id for c in pick_cameras(cams, 5)]
    ['C2', 'C3']
    """
    return sorted((c for c in cameras if c.grid), key=lambda c: c.id)[:count]


class CameraIndex:
    """Which cameras see a point (nearest first), for any number of points.

    Cameras are projected once into one :class:`MetricFrame`; an STRtree of their range boxes
    there picks the few candidates, which are then tested exactly on the ellipsoid (the nominal
    sector) or against the camera's calibrated footprint (point in polygon, edges included).

    >>> index = CameraIndex([
    ...     Camera(id="far", lon=120.8600, lat=32.01, heading_deg=90, hfov_deg=90, range_m=300),
    ...     Camera(id="near", lon=120.8615, lat=32.01, heading_deg=90, hfov_deg=90, range_m=300),
    ... ])
    >>> [(h.id, round(h.distance_m)) for h in index.covering(120.862, 32.01)]
    [('near', 47), ('far', 189)]
    >>> [h.id for h in index.near(120.8601, 32.01, radius_m=50)]  # any direction
    ['far']
    """

    def __init__(self, cameras: Sequence[Camera], frame: MetricFrame | None = None) -> None:
        self.cameras: tuple[Camera, ...] = tuple(cameras)
        self._by_id = {c.id: i for i, c in enumerate(self.cameras)}
        if len(self._by_id) != len(self.cameras):
            dups = sorted(i for i, n in Counter(c.id for c in self.cameras).items() if n > 1)
            raise ValueError(f"duplicate camera ids: {dups[:5]}")
        cols = np.array(
            [(c.lon, c.lat, c.heading_deg, c.hfov_deg, c.range_m) for c in self.cameras],
            dtype=np.float64,
        ).reshape(-1, 5)
        self.lon, self.lat, self.heading, self.hfov, self.range = (
            cols[:, i].copy() for i in range(5)
        )
        if frame is None:
            frame = (
                MetricFrame.for_geometry(shapely.multipoints(cols[:, :2]))
                if len(self.cameras)
                else MetricFrame.around(0.0, 0.0)
            )
        self.frame = frame
        self.x, self.y = (np.atleast_1d(v) for v in frame.to_metric(self.lon, self.lat))
        if not (np.isfinite(self.x).all() and np.isfinite(self.y).all()):
            raise ValueError("some cameras are too far from the index's frame to project")
        half = self._half_width_m(self.lon, self.lat, self.range)
        boxes = np.stack([self.x - half, self.y - half, self.x + half, self.y + half], axis=-1).reshape(-1, 4)
        self.footprints = np.array([c.footprint for c in self.cameras] or [], dtype=object).reshape(-1)
        self.calibrated = np.array([c.footprint is not None for c in self.cameras], dtype=bool).reshape(-1)
        if self.calibrated.any():
            boxes[self.calibrated] = self._footprint_boxes(self.footprints[self.calibrated], boxes[self.calibrated])
            shapely.prepare(self.footprints[self.calibrated])
        self._range_tree = shapely.STRtree(shapely.box(*boxes.T))
        self._point_tree = shapely.STRtree(shapely.points(self.x, self.y))

    def __len__(self) -> int:
        return len(self.cameras)

    def get(self, camera_id: str) -> Camera:
        """The camera with this id (``KeyError`` if none)."""
        if camera_id not in self._by_id:
            raise KeyError(f"no camera {camera_id!r} in the index")
        return self.cameras[self._by_id[camera_id]]

    def _half_width_m(self, lon: Float, lat: Float, dist: Float) -> Float:
        """Half-side of a frame box surely holding the ground circle of ``dist`` metres.

        The frame's scale drifts away from its centre; measure it where the circle is, with
        headroom, so the prefilter never drops a camera the exact test would keep.
        """
        x0, y0 = self.frame.to_metric(lon, lat)
        scale = np.ones(np.shape(x0))
        for az in (0.0, 90.0):
            e_lon, e_lat = _forward(lon, lat, az, np.maximum(dist, 1.0))
            ex, ey = self.frame.to_metric(e_lon, e_lat)
            scale = np.maximum(scale, np.hypot(ex - x0, ey - y0) / np.maximum(dist, 1.0))
        return dist * scale * 1.001 + 0.5

    def _footprint_boxes(self, footprints: NDArray[np.object_], boxes: Float) -> Float:
        """The frame boxes of the cameras' range grown to hold their footprints' corners (with
        a metre of headroom): a footprint drawn past the range must not escape the prefilter."""
        minx, miny, maxx, maxy = shapely.bounds(footprints).T
        xs, ys = self.frame.to_metric(
            np.stack([minx, maxx, minx, maxx], axis=-1), np.stack([miny, miny, maxy, maxy], axis=-1)
        )
        xs, ys = np.asarray(xs).reshape(-1, 4), np.asarray(ys).reshape(-1, 4)
        return np.column_stack([
            np.minimum(boxes[:, 0], xs.min(axis=1) - 1.0), np.minimum(boxes[:, 1], ys.min(axis=1) - 1.0),
            np.maximum(boxes[:, 2], xs.max(axis=1) + 1.0), np.maximum(boxes[:, 3], ys.max(axis=1) + 1.0),
        ])

    def _query_points(self, lons: ArrayLike, lats: ArrayLike) -> tuple[Float, Float, Float, Float]:
        lon_a = np.atleast_1d(np.asarray(lons, dtype=np.float64))
        lat_a = np.atleast_1d(np.asarray(lats, dtype=np.float64))
        if lon_a.shape != lat_a.shape or lon_a.ndim != 1:
            raise ValueError(
                f"lons and lats must be 1-D of one length: {lon_a.shape}, {lat_a.shape}"
            )
        _check_lonlat(lon_a, lat_a)
        x, y = (np.atleast_1d(v) for v in self.frame.to_metric(lon_a, lat_a))
        # A point the frame cannot project is far from every camera: it gets no candidates.
        bad = ~(np.isfinite(x) & np.isfinite(y))
        x[bad] = y[bad] = np.nan
        return lon_a, lat_a, x, y

    def _measure(self, pi: Int, ci: Int, lon: Float, lat: Float) -> tuple[Float, Float]:
        """Geodesic distance and bearing from camera ``ci`` to point ``pi``, pairwise."""
        az, _, dist = _GEOD.inv(self.lon[ci], self.lat[ci], lon[pi], lat[pi])
        bearing = np.mod(np.asarray(az, dtype=np.float64), 360.0)
        dist = np.asarray(dist, dtype=np.float64)
        at_apex = dist <= _APEX_M
        return dist, np.where(at_apex, self.heading[ci], bearing)

    def covering_pairs(self, lons: ArrayLike, lats: ArrayLike) -> tuple[Int, Int, Float, Float]:
        """Array form of :meth:`covering_many`: every (point, camera) where the camera sees it.

        Returns ``point_idx, camera_idx, distance_m, bearing_deg``, sorted by point, then
        distance (nearest first), then camera order.
        """
        lon, lat, x, y = self._query_points(lons, lats)
        pi, ci = self._range_tree.query(shapely.points(x, y))
        dist, bearing = self._measure(pi, ci, lon, lat)
        off_axis = np.abs(np.mod(bearing - self.heading[ci] + 180.0, 360.0) - 180.0)
        seen = (dist <= self.range[ci]) & (
            (dist <= _APEX_M) | (off_axis <= self.hfov[ci] / 2.0 + _ANGLE_EPS)
        )
        calibrated = self.calibrated[ci]
        if calibrated.any():  # what a calibrated camera really sees replaces its sector
            seen[calibrated] = shapely.intersects_xy(
                self.footprints[ci[calibrated]], lon[pi[calibrated]], lat[pi[calibrated]]
            )
        pi, ci, dist, bearing = pi[seen], ci[seen], dist[seen], bearing[seen]
        order = np.lexsort((ci, dist, pi))
        return pi[order], ci[order], dist[order], bearing[order]

    def _hits(self, n: int, pi: Int, ci: Int, dist: Float, bearing: Float) -> list[list[CameraHit]]:
        out: list[list[CameraHit]] = [[] for _ in range(n)]
        for p, c, d, b in zip(pi.tolist(), ci.tolist(), dist.tolist(), bearing.tolist()):
            cam = self.cameras[c]
            out[p].append(
                CameraHit(id=cam.id, name=cam.name, distance_m=d, bearing_deg=b, camera=cam)
            )
        return out

    def covering_many(self, lons: ArrayLike, lats: ArrayLike) -> list[list[CameraHit]]:
        """For each point, the cameras whose field of view contains it, nearest first."""
        pairs = self.covering_pairs(lons, lats)
        return self._hits(np.atleast_1d(np.asarray(lons)).shape[0], *pairs)

    def covering(self, lon: float, lat: float) -> list[CameraHit]:
        """The cameras whose field of view contains the point, nearest first.

        Seen means: geodesic distance ``<= range_m`` and bearing within ``hfov_deg / 2`` of
        the heading (across north too); a point at the camera itself counts.
        """
        return self.covering_many([lon], [lat])[0]

    def near(self, lon: float, lat: float, radius_m: float) -> list[CameraHit]:
        """Cameras within ``radius_m`` of the point whichever way they look, nearest first."""
        if not (np.isfinite(radius_m) and radius_m >= 0):
            raise ValueError(f"radius_m must be a non-negative number, got {radius_m}")
        lon_a, lat_a, x, y = self._query_points([lon], [lat])
        half = self._half_width_m(lon_a, lat_a, np.array([float(radius_m)]))
        _, ci = self._point_tree.query(shapely.box(x - half, y - half, x + half, y + half))
        pi = np.zeros_like(ci)
        dist, bearing = self._measure(pi, ci, lon_a, lat_a)
        keep = dist <= radius_m
        pi, ci, dist, bearing = pi[keep], ci[keep], dist[keep], bearing[keep]
        order = np.lexsort((ci, dist))
        return self._hits(1, pi[order], ci[order], dist[order], bearing[order])[0]
