"""The features a caller sees of a layer, held briefly for paging.

A GIS client pages through a layer with ``offset``: GDAL asks for 10 features a page unless told
otherwise, so a district reading its 1,024 grids makes 103 requests. Each page is cut from the
layer registry's scoped read (``LayerRegistry.feature_collection``: the same features
``/api/layers`` gives the caller), which is read once and kept for ``ttl_s`` under the layer's
version (its ``updated_at``: a replaced layer is read afresh), the scope's code and the bbox.
Geometries are kept as shapely arrays (a few bytes a vertex, not Python lists).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from zhizhi.layers import LayerRegistry, Scope

Bbox = tuple[float, float, float, float]


@dataclass(frozen=True)
class ScopedFeatures:
    """Every feature of a layer one scope sees (in a bbox), in fid order."""

    ids: list[int]
    properties: list[dict[str, Any]]
    geometries: np.ndarray  # shapely, WGS-84 lon/lat

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, feature_id: str) -> int | None:
        """The position of the feature whose id reads ``feature_id``, or ``None``."""
        return next((i for i, fid in enumerate(self.ids) if str(fid) == feature_id), None)


def from_features(ids: list[Any], features: list[dict[str, Any]], bbox: Bbox | None = None) -> ScopedFeatures:
    """GeoJSON features (lon/lat) under ``ids``, those meeting ``bbox`` only when one is given."""
    geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in features]) if features else np.array([], object)
    keep = np.ones(len(features), bool) if bbox is None else shapely.intersects(geoms, shapely.box(*bbox))
    return ScopedFeatures([i for i, k in zip(ids, keep, strict=True) if k],
                          [f["properties"] for f, k in zip(features, keep, strict=True) if k], geoms[keep])


def read_scoped(registry: LayerRegistry, name: str, scope: Scope, bbox: Bbox | None) -> ScopedFeatures:
    """The registry's scoped read of layer ``name`` (``LayerError`` as it raises them)."""
    features = registry.feature_collection(name, scope, bbox=bbox)["features"]
    return from_features([f["id"] for f in features], features)


class FeatureSource:
    """:func:`read_scoped`, remembered ``ttl_s`` per (layer version, scope, bbox), at most
    ``max_entries`` reads (the oldest go first)."""

    def __init__(self, ttl_s: float = 30.0, max_entries: int = 8, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._lock = threading.Lock()
        self._held: OrderedDict[tuple, tuple[float, ScopedFeatures]] = OrderedDict()

    def features(self, registry: LayerRegistry, name: str, scope: Scope, bbox: Bbox | None) -> ScopedFeatures:
        """What ``scope`` sees of layer ``name`` in ``bbox`` (``LayerError`` ``not_found`` for a
        layer it may not see, checked on every call)."""
        version: dt.datetime | None = registry.get_layer(name, scope).updated_at
        key = (id(registry), name, version, scope.code, bbox)
        now = self.clock()
        with self._lock:
            held = self._held.get(key)
            if held is not None and held[0] > now:
                return held[1]
        found = read_scoped(registry, name, scope, bbox)
        if self.ttl_s > 0:
            with self._lock:
                self._held.pop(key, None)
                self._held[key] = (now + self.ttl_s, found)
                while len(self._held) > self.max_entries:
                    self._held.popitem(last=False)
        return found
