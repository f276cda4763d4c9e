"""The places rules reason about: zones (schools, parking, no-stopping areas ...) and lanes.

A :class:`Places` holds them in one local metric frame with an STRtree, so a rule asks for a
whole frame's objects at once: which are inside zones of a kind, which are within 200 m of a
school, which lane each one is in and which way that lane runs, what the speed limit is there.

Zones come from the district's ``zones`` layer and from camera configs (zones an analyst drew,
lanes and the road's limit); an inline polygon of a rule becomes a zone of its own.

>>> p = Places([Zone("park", "hazmat_parking", shapely.box(121.0, 32.0, 121.001, 32.001))])
>>> x, y = p.to_metric([121.0005, 121.01], [32.0005, 32.0])
>>> p.inside(p.select(kinds=["hazmat_parking"]), x, y).tolist()
[True, False]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from zhizhi.gis.metric import MetricFrame

Int = NDArray[np.int64]
Bool = NDArray[np.bool_]
Float = NDArray[np.float64]


@dataclass(frozen=True)
class Zone:
    """A named area of a kind, WGS-84; an optional speed limit applies inside it."""

    name: str
    kind: str
    geometry: shapely.Geometry
    speed_limit_kmh: float | None = None


@dataclass(frozen=True)
class Lane:
    """A traffic lane: its centre line in the direction of travel, its width and limit."""

    id: str
    line: shapely.LineString
    width_m: float
    speed_limit_kmh: float | None = None


class Places:
    """Zones and lanes in a local metric frame, answering vectorised questions about points."""

    def __init__(
        self,
        zones: Sequence[Zone] = (),
        lanes: Sequence[Lane] = (),
        *,
        frame: MetricFrame | None = None,
        default_limit_kmh: float | None = None,
    ) -> None:
        self.zones = list(zones)
        self.lanes = list(lanes)
        self.default_limit_kmh = default_limit_kmh
        if frame is None:
            geoms = [z.geometry for z in self.zones] + [lane.line for lane in self.lanes]
            frame = MetricFrame.for_geometry(shapely.GeometryCollection(geoms)) if geoms else MetricFrame(0.0, 0.0)
        self.frame = frame
        zone_geoms = np.array([z.geometry for z in self.zones], dtype=object)
        self._zone_m = frame.geometry_to_metric(zone_geoms) if len(zone_geoms) else zone_geoms
        self._zone_tree = shapely.STRtree(self._zone_m)
        self._zone_limit = np.array(
            [np.nan if z.speed_limit_kmh is None else z.speed_limit_kmh for z in self.zones], dtype=float
        )
        lane_geoms = np.array([lane.line for lane in self.lanes], dtype=object)
        self._lane_m = frame.geometry_to_metric(lane_geoms) if len(lane_geoms) else lane_geoms
        self._lane_tree = shapely.STRtree(self._lane_m)
        self._lane_half = np.array([lane.width_m / 2 for lane in self.lanes], dtype=float)
        self._lane_limit = np.array(
            [np.nan if lane.speed_limit_kmh is None else lane.speed_limit_kmh for lane in self.lanes], dtype=float
        )

    def to_metric(self, lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
        return self.frame.to_metric(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))

    def to_lonlat(self, x: ArrayLike, y: ArrayLike) -> tuple[Float, Float]:
        return self.frame.to_lonlat(np.asarray(x, dtype=float), np.asarray(y, dtype=float))

    def extended(self, zones: Sequence[Zone]) -> Places:
        """These places plus more zones (e.g. rules' inline polygons), in the same frame."""
        return Places([*self.zones, *zones], self.lanes, frame=self.frame, default_limit_kmh=self.default_limit_kmh)

    # --- zones -----------------------------------------------------------------------------
    def select(self, kinds: Iterable[str] = (), names: Iterable[str] = ()) -> Int:
        """Indices of the zones of these kinds or names."""
        kinds, names = set(kinds), set(names)
        return np.array(
            [i for i, z in enumerate(self.zones) if z.kind in kinds or z.name in names], dtype=np.int64
        )

    def zone_of(self, selected: Int, x: ArrayLike, y: ArrayLike, within_m: float = 0.0) -> Int:
        """Per point, the first selected zone it is in (or within ``within_m`` of); -1 for none."""
        x, y = np.atleast_1d(np.asarray(x, dtype=float)), np.atleast_1d(np.asarray(y, dtype=float))
        out = np.full(len(x), -1, dtype=np.int64)
        if len(selected) == 0 or len(x) == 0:
            return out
        points = shapely.points(x, y)
        if within_m > 0:
            pairs = self._zone_tree.query(points, predicate="dwithin", distance=within_m)
        else:
            pairs = self._zone_tree.query(points, predicate="intersects")
        keep = np.isin(pairs[1], selected)
        point_idx, zone_idx = pairs[0][keep], pairs[1][keep]
        order = np.lexsort((zone_idx, point_idx))  # the lowest zone index wins, deterministically
        point_idx, zone_idx = point_idx[order], zone_idx[order]
        first = np.unique(point_idx, return_index=True)[1]
        out[point_idx[first]] = zone_idx[first]
        return out

    def inside(self, selected: Int, x: ArrayLike, y: ArrayLike, within_m: float = 0.0) -> Bool:
        """Per point: inside (or within ``within_m`` of) any selected zone."""
        return self.zone_of(selected, x, y, within_m) >= 0

    # --- lanes and limits ------------------------------------------------------------------
    def lane_of(self, x: ArrayLike, y: ArrayLike, core: float = 1.0) -> Int:
        """Per point, the lane whose centre is nearest, if within ``core`` x half its width; -1 otherwise."""
        x, y = np.atleast_1d(np.asarray(x, dtype=float)), np.atleast_1d(np.asarray(y, dtype=float))
        out = np.full(len(x), -1, dtype=np.int64)
        if not self.lanes or len(x) == 0:
            return out
        points = shapely.points(x, y)
        idx_p, idx_l = self._lane_tree.query_nearest(points, all_matches=False)
        dist = shapely.distance(points[idx_p], self._lane_m[idx_l])
        ok = dist <= core * self._lane_half[idx_l]
        out[idx_p[ok]] = idx_l[ok]
        return out

    def lane_heading(self, lanes: Int, x: ArrayLike, y: ArrayLike) -> Float:
        """Compass direction of travel of each given lane at the nearest point of its centre line."""
        x, y = np.atleast_1d(np.asarray(x, dtype=float)), np.atleast_1d(np.asarray(y, dtype=float))
        out = np.full(len(x), np.nan)
        for i in np.flatnonzero(lanes >= 0):
            line = self._lane_m[lanes[i]]
            s = line.project(shapely.Point(x[i], y[i]))
            a = line.interpolate(max(s - 1.0, 0.0))
            b = line.interpolate(min(s + 1.0, line.length))
            out[i] = round(float(np.degrees(np.arctan2(b.x - a.x, b.y - a.y))), 6) % 360.0
        return out

    def speed_limit(self, x: ArrayLike, y: ArrayLike) -> Float:
        """Per point: the lowest limit of the zones it is in, else its lane's, else the default."""
        x, y = np.atleast_1d(np.asarray(x, dtype=float)), np.atleast_1d(np.asarray(y, dtype=float))
        out = np.full(len(x), np.nan if self.default_limit_kmh is None else self.default_limit_kmh)
        if len(x) == 0:
            return out
        if self.lanes:
            lanes = self.lane_of(x, y)
            lane_limit = np.full(len(x), np.nan)
            lane_limit[lanes >= 0] = self._lane_limit[lanes[lanes >= 0]]
            out = np.where(np.isfinite(lane_limit), lane_limit, out)
        limited = np.flatnonzero(np.isfinite(self._zone_limit))
        if len(limited):
            pairs = self._zone_tree.query(shapely.points(x, y), predicate="intersects")
            keep = np.isin(pairs[1], limited)
            for p, z in zip(pairs[0][keep], pairs[1][keep]):
                out[p] = np.fmin(out[p], self._zone_limit[z]) if np.isfinite(out[p]) else self._zone_limit[z]
        return out
