"""Zones and roads for trajectory rules, asked about a whole batch of positions at once.

Zones (``zone_type``, ``id``, ``name``) and roads (``road_class``, ``id``, ``name``) from the
district layers go into one local metric frame with shapely STRtrees; a question about 10,000
fixes is one tree query.

>>> import geopandas as gpd
>>> zones = gpd.GeoDataFrame({"id": ["Z1"], "zone_type": ["school"], "name": ["小学"]},
...                          geometry=[shapely.box(121.0, 32.0, 121.001, 32.001)], crs="EPSG:4326")
>>> roads = gpd.GeoDataFrame({"id": ["R1"], "road_class": ["local"], "name": ["乡道"]},
...                          geometry=[shapely.LineString([(121.0, 31.99), (121.02, 31.99)])], crs="EPSG:4326")
>>> p = TrajectoryPlaces.from_layers(zones, roads)
>>> x, y = p.to_metric([121.0005, 121.01], [32.0005, 31.9901])
>>> p.zone_of(["school"], x, y).tolist(), p.road_of(x, y, 30.0)[0].tolist()
([0, -1], [-1, 0])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from zhizhi.gis.metric import MetricFrame
from zhizhi.models.warning.places import Places, Zone

Int = NDArray[np.int64]
Float = NDArray[np.float64]


class TrajectoryPlaces:
    """Zones (for entry, parking, upgrades) and classed roads (for limits) in one metric frame."""

    def __init__(
        self,
        zones: Sequence[Zone] = (),
        zone_ids: Sequence[str] = (),
        roads: Sequence[shapely.LineString] = (),
        road_classes: Sequence[str] = (),
        road_ids: Sequence[str] = (),
        frame: MetricFrame | None = None,
    ) -> None:
        geoms = [z.geometry for z in zones] + list(roads)
        if frame is None:
            frame = (
                MetricFrame.for_geometry(np.asarray(geoms, dtype=object))
                if geoms
                else MetricFrame(0.0, 0.0)
            )
        self.frame = frame
        self.zones = Places(zones, frame=frame)
        self.zone_ids = list(zone_ids) or [z.name for z in zones]
        self.road_classes = np.asarray(list(road_classes), dtype=object)
        self.road_ids = list(road_ids) or [f"road{i}" for i in range(len(roads))]
        road_arr = np.asarray(list(roads), dtype=object)
        self._roads_m = frame.geometry_to_metric(road_arr) if len(road_arr) else road_arr
        self._road_tree = shapely.STRtree(self._roads_m)
        self._selected: dict[tuple[str, ...], Int] = {}

    @classmethod
    def from_layers(
        cls, zones: gpd.GeoDataFrame | None = None, roads: gpd.GeoDataFrame | None = None
    ) -> TrajectoryPlaces:
        """From the district's ``zones`` and ``roads`` layers (WGS-84 GeoDataFrames); either may be None."""
        zone_list: list[Zone] = []
        zone_ids: list[str] = []
        if zones is not None and len(zones):
            zones = zones.to_crs("EPSG:4326") if zones.crs is not None else zones
            for i, (geom, row) in enumerate(zip(zones.geometry.values, zones.to_dict("records"))):
                zid = str(row.get("id", i))
                zone_list.append(
                    Zone(str(row.get("name") or zid), str(row.get("zone_type", "")), geom)
                )
                zone_ids.append(zid)
        lines: list[shapely.LineString] = []
        classes: list[str] = []
        road_ids: list[str] = []
        if roads is not None and len(roads):
            roads = roads.to_crs("EPSG:4326") if roads.crs is not None else roads
            cls_col = roads["road_class"] if "road_class" in roads else ["local"] * len(roads)
            ids = roads["id"] if "id" in roads else [f"road{i}" for i in range(len(roads))]
            for geom, rc, rid in zip(roads.geometry.values, cls_col, ids):
                lines.append(geom)
                classes.append(str(rc))
                road_ids.append(str(rid))
        return cls(zone_list, zone_ids, lines, classes, road_ids)

    def to_metric(self, lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
        return self.frame.to_metric(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))

    def to_lonlat(self, x: ArrayLike, y: ArrayLike) -> tuple[Float, Float]:
        return self.frame.to_lonlat(np.asarray(x, dtype=float), np.asarray(y, dtype=float))

    def selected(self, zone_types: Iterable[str]) -> Int:
        """Indices of the zones of these types (memoised)."""
        key = tuple(sorted(zone_types))
        if key not in self._selected:
            self._selected[key] = self.zones.select(kinds=key)
        return self._selected[key]

    def zone_of(
        self, zone_types: Iterable[str], x: ArrayLike, y: ArrayLike, within_m: float = 0.0
    ) -> Int:
        """Per point, the first zone of these types it is in (or within ``within_m`` of); -1 for none."""
        return self.zones.zone_of(self.selected(zone_types), x, y, within_m)

    def zone(self, index: int) -> tuple[str, str, str]:
        """(id, name, type) of a zone."""
        z = self.zones.zones[index]
        return self.zone_ids[index], z.name, z.kind

    def road_of(
        self,
        x: ArrayLike,
        y: ArrayLike,
        max_distance_m: float,
        limits: dict[str, float] | None = None,
        ambiguity_m: float = 0.0,
    ) -> tuple[Int, Float]:
        """Per point, the matched road (-1 for none within ``max_distance_m``) and its limit.

        With ``limits`` (km/h by road class), roads within ``ambiguity_m`` of the nearest one
        also match (a junction, a crossing) and the one with the highest limit is taken.
        """
        x, y = np.atleast_1d(np.asarray(x, dtype=float)), np.atleast_1d(np.asarray(y, dtype=float))
        road = np.full(len(x), -1, dtype=np.int64)
        limit = np.full(len(x), np.nan)
        if len(self._roads_m) == 0 or len(x) == 0:
            return road, limit
        points = shapely.points(x, y)
        p, r = self._road_tree.query(points, predicate="dwithin", distance=max_distance_m)
        road_limit = np.full(len(self.road_classes), np.nan)
        if limits:
            road_limit = np.array([limits.get(c, np.nan) for c in self.road_classes], dtype=float)
        if len(p):
            dist = shapely.distance(points[p], self._roads_m[r])
            nearest = np.full(len(x), np.inf)
            np.minimum.at(nearest, p, dist)
            keep = dist <= nearest[p] + ambiguity_m if limits else dist <= nearest[p]
            p, r = p[keep], r[keep]
        # per point: the highest limit among its matches (the lowest road index on ties)
        lim = np.nan_to_num(road_limit[r], nan=-1.0)
        order = np.lexsort((r, -lim, p))
        p, r = p[order], r[order]
        first = np.unique(p, return_index=True)[1]
        road[p[first]] = r[first]
        limit[p[first]] = road_limit[r[first]]
        return road, limit

    def road(self, index: int) -> tuple[str, str]:
        """(id, class) of a road."""
        return self.road_ids[index], str(self.road_classes[index])


__all__ = ["TrajectoryPlaces"]
