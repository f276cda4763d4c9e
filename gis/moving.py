"""A live spatial index of moving objects (vehicles, drones) for nearest / within queries.

Positions are stored in metres of one :class:`MetricFrame` (the district's), in an in-memory
``rtree`` index, so every distance is metres. Bad telemetry (NaN, out-of-range coordinates)
is refused with ``ValueError`` before anything changes: a failed update leaves the object
where it was. Every operation holds one lock, so feeds and queries may run on many threads.

>>> from zhizhi.gis.metric import MetricFrame
>>> index = MovingObjectIndex(MetricFrame.around(120.86, 32.01))
>>> index.upsert("苏F-12345", 120.860, 32.010, kind="hazmat")
>>> index.upsert("UAV-7", 120.870, 32.010)
>>> [(n.id, round(n.distance_m)) for n in index.nearest(120.861, 32.010, k=2)]
[('苏F-12345', 94), ('UAV-7', 850)]
>>> index.upsert("UAV-7", 120.861, 32.011)  # it flew: the old position is gone
>>> index.within_radius(120.861, 32.011, 10)[0].id
'UAV-7'
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict
from rtree.index import Index

from zhizhi.gis.metric import MetricFrame

Float = NDArray[np.float64]


class MovingObject(BaseModel):
    """An object's last known position (WGS-84) and attributes.

    >>> MovingObject(id="UAV-7", lon=120.86, lat=32.01, attrs={"battery": 0.8}).attrs
    {'battery': 0.8}
    """

    model_config = ConfigDict(frozen=True)

    id: str
    lon: float
    lat: float
    attrs: dict[str, Any] = {}


class Nearby(MovingObject):
    """An object found near a point, ``distance_m`` metres (in the frame) away.

    >>> Nearby(id="UAV-7", lon=120.86, lat=32.01, distance_m=12.5).distance_m
    12.5
    """

    distance_m: float


@dataclass
class _Entry:
    rid: int
    lon: float
    lat: float
    x: float
    y: float
    attrs: dict[str, Any] = field(default_factory=dict)


def _check_id(obj_id: object) -> str:
    if not isinstance(obj_id, str) or not obj_id:
        raise ValueError(f"object id must be a non-empty string, got {obj_id!r}")
    return obj_id


class MovingObjectIndex:
    """String-keyed moving objects in an rtree, positions in metres of ``frame``.

    >>> from zhizhi.gis.metric import MetricFrame
    >>> index = MovingObjectIndex(MetricFrame.around(120.86, 32.01))
    >>> index.upsert_many(["a", "b", "c"], [120.860, 120.861, 120.900], [32.01, 32.01, 32.01])
    >>> len(index), "b" in index, index.within_bbox(120.85, 32.0, 120.87, 32.02)
    (3, True, ['a', 'b'])
    >>> index.delete("b"); index.nearest(120.861, 32.01)[0].id
    'a'
    """

    def __init__(self, frame: MetricFrame) -> None:
        self.frame = frame
        self._tree = Index()
        self._entries: dict[str, _Entry] = {}
        self._names: dict[int, str] = {}
        self._next_rid = 0
        self._lock = threading.RLock()

    # --- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, obj_id: object) -> bool:
        return obj_id in self._entries

    def get(self, obj_id: str) -> MovingObject:
        """The object's last position and attributes (``KeyError`` if unknown)."""
        with self._lock:
            entry = self._entry(obj_id)
            return MovingObject(id=obj_id, lon=entry.lon, lat=entry.lat, attrs=dict(entry.attrs))

    def _entry(self, obj_id: str) -> _Entry:
        try:
            return self._entries[obj_id]
        except KeyError:
            raise KeyError(f"no moving object {obj_id!r} in the index") from None

    # --- writing -------------------------------------------------------------------------------

    def _project(self, lons: ArrayLike, lats: ArrayLike) -> tuple[Float, Float, Float, Float]:
        """Validate WGS-84 coordinates and project them; raise before any state changes."""
        try:
            lon = np.atleast_1d(np.asarray(lons, dtype=np.float64))
            lat = np.atleast_1d(np.asarray(lats, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"coordinates must be numbers: {exc}") from None
        if lon.shape != lat.shape or lon.ndim != 1:
            raise ValueError(f"lons and lats must be 1-D of one length: {lon.shape}, {lat.shape}")
        x, y = (np.atleast_1d(v) for v in self.frame.to_metric(lon, lat))
        ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
        ok &= np.isfinite(x) & np.isfinite(y)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise ValueError(
                f"bad position lon={lon[i]}, lat={lat[i]} (item {i}): need finite lon -180..180 "
                "and lat -90..90 within reach of the index's frame"
            )
        return lon, lat, x, y

    def _place(
        self, obj_id: str, lon: float, lat: float, x: float, y: float, attrs: Mapping
    ) -> None:
        """Insert or move one validated object; the caller holds the lock."""
        old = self._entries.get(obj_id)
        if old is None:
            rid = self._next_rid
            self._next_rid += 1
            self._tree.insert(rid, (x, y, x, y))
            self._names[rid] = obj_id
            self._entries[obj_id] = _Entry(rid, lon, lat, x, y, dict(attrs))
            return
        self._tree.delete(old.rid, (old.x, old.y, old.x, old.y))
        try:
            self._tree.insert(old.rid, (x, y, x, y))
        except Exception:
            self._tree.insert(old.rid, (old.x, old.y, old.x, old.y))
            raise
        old.lon, old.lat, old.x, old.y = lon, lat, x, y
        old.attrs.update(attrs)

    def upsert(self, obj_id: str, lon: float, lat: float, **attrs: Any) -> None:
        """Insert an object or move it; ``attrs`` are merged into its attributes."""
        _check_id(obj_id)
        lon_a, lat_a, x, y = self._project([lon], [lat])
        with self._lock:
            self._place(obj_id, float(lon_a[0]), float(lat_a[0]), float(x[0]), float(y[0]), attrs)

    def upsert_many(
        self,
        ids: Sequence[str],
        lons: ArrayLike,
        lats: ArrayLike,
        attrs: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Insert or move many objects at once, all or none (a bad one refuses the batch).

        A repeated id moves the object again: the last position in the batch wins.
        """
        ids = list(ids)
        for obj_id in ids:
            _check_id(obj_id)
        lon, lat, x, y = self._project(lons, lats)
        if len(ids) != len(lon) or (attrs is not None and len(attrs) != len(ids)):
            raise ValueError(
                f"ids ({len(ids)}), positions ({len(lon)}) and attrs must be of one length"
            )
        extra: Sequence[Mapping[str, Any]] = attrs if attrs is not None else [{}] * len(ids)
        with self._lock:
            for obj_id, *pos, more in zip(
                ids, lon.tolist(), lat.tolist(), x.tolist(), y.tolist(), extra
            ):
                self._place(obj_id, *pos, more)

    def delete(self, obj_id: str) -> None:
        """Remove an object (``KeyError`` if unknown)."""
        with self._lock:
            entry = self._entry(obj_id)
            self._tree.delete(entry.rid, (entry.x, entry.y, entry.x, entry.y))
            del self._entries[obj_id]
            del self._names[entry.rid]

    # --- queries -------------------------------------------------------------------------------

    def _ranked(
        self, rids: list[int], x: float, y: float, k: int | None, max_m: float | None
    ) -> list[Nearby]:
        """Exact frame distances for candidate rids, nearest first (ties by id); lock held."""
        if not rids:
            return []
        names = [self._names[r] for r in rids]
        entries = [self._entries[n] for n in names]
        xy = np.array([(e.x, e.y) for e in entries], dtype=np.float64)
        dist = np.hypot(xy[:, 0] - x, xy[:, 1] - y)
        order = np.lexsort((np.array(names), dist))
        if max_m is not None:
            order = order[dist[order] <= max_m]
        if k is not None:
            order = order[:k]
        return [
            Nearby(
                id=names[i],
                lon=entries[i].lon,
                lat=entries[i].lat,
                attrs=dict(entries[i].attrs),
                distance_m=float(dist[i]),
            )
            for i in order.tolist()
        ]

    def nearest(
        self, lon: float, lat: float, k: int = 1, max_distance_m: float | None = None
    ) -> list[Nearby]:
        """The ``k`` objects nearest the point (optionally no farther than ``max_distance_m``)."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if max_distance_m is not None and not max_distance_m >= 0:
            raise ValueError(f"max_distance_m must be non-negative, got {max_distance_m}")
        _, _, x, y = self._project([lon], [lat])
        px, py = float(x[0]), float(y[0])
        with self._lock:
            if max_distance_m is None:
                # rtree returns the k nearest and any tied with the k-th; rank them exactly.
                rids = list(self._tree.nearest((px, py, px, py), k))
            else:
                m = float(max_distance_m)
                rids = list(self._tree.intersection((px - m, py - m, px + m, py + m)))
            return self._ranked(rids, px, py, k, max_distance_m)

    def within_radius(self, lon: float, lat: float, radius_m: float) -> list[Nearby]:
        """Every object within ``radius_m`` metres of the point, nearest first."""
        if not radius_m >= 0:
            raise ValueError(f"radius_m must be non-negative, got {radius_m}")
        _, _, x, y = self._project([lon], [lat])
        px, py, r = float(x[0]), float(y[0]), float(radius_m)
        with self._lock:
            rids = list(self._tree.intersection((px - r, py - r, px + r, py + r)))
            return self._ranked(rids, px, py, None, r)

    def within_bbox(self, minlon: float, minlat: float, maxlon: float, maxlat: float) -> list[str]:
        """Ids of the objects inside a WGS-84 lon/lat box (edges included), sorted."""
        if not (minlon <= maxlon and minlat <= maxlat):
            raise ValueError(f"empty box: ({minlon}, {minlat}, {maxlon}, {maxlat})")
        # The box's edges bend in the frame: bound a densified outline, then filter exactly.
        t = np.linspace(0.0, 1.0, 17)
        ring_lon = np.concatenate(
            [
                minlon + (maxlon - minlon) * t,
                np.full(17, maxlon),
                maxlon - (maxlon - minlon) * t,
                np.full(17, minlon),
            ]
        )
        ring_lat = np.concatenate(
            [
                np.full(17, minlat),
                minlat + (maxlat - minlat) * t,
                np.full(17, maxlat),
                maxlat - (maxlat - minlat) * t,
            ]
        )
        _, _, x, y = self._project(ring_lon, ring_lat)
        pad = 1.0 + 1e-3 * max(np.ptp(x), np.ptp(y))
        bounds = (x.min() - pad, y.min() - pad, x.max() + pad, y.max() + pad)
        with self._lock:
            found = []
            for rid in self._tree.intersection(bounds):
                name = self._names[rid]
                e = self._entries[name]
                if minlon <= e.lon <= maxlon and minlat <= e.lat <= maxlat:
                    found.append(name)
        return sorted(found)
