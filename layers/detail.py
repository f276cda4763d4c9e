"""Map detail by zoom: geometry simplified and rounded to what a zoom level can show.

A map at zoom ``z`` shows ``256 * 2**z`` pixels round the world (Web Mercator). A layer asked for
at that zoom (``GET /api/layers/{name}/features?zoom=``) is drawn from geometries simplified with
shapely 2 (``preserve_topology``: every ring stays a valid ring) at a tolerance of
:data:`TOLERANCE_PX` of the zoom's metres per pixel, and whose coordinates are rounded to the
decimals that keep the rounding under a quarter of a pixel. Nothing an operator can see changes;
the bytes fall by a factor of 3 to 10 at a district's zoom.

The simplified, rounded GeoJSON geometries are cached per layer version and zoom
(:class:`DetailCache`): a layer replaced (a new ``updated_at``) is a new version and its old
entries are dropped. Features clipped to the reader's jurisdiction (an ancestor-level feature seen
by a town) are made per request, never cached: their geometry depends on the reader.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import shapely

from zhizhi.layers.registry import LayerRegistry, _clipped
from zhizhi.layers.scope import Scope

MIN_ZOOM, MAX_ZOOM = 0, 24
#: Simplification tolerance in pixels of the zoom asked for.
TOLERANCE_PX = 0.5
#: The equator's length in metres (Web Mercator's sphere) and the metres in a degree of latitude.
EQUATOR_M = 40_075_016.686
M_PER_DEG = 111_320.0
#: Never more decimals than this (about 1 cm), whatever the zoom.
MAX_DECIMALS = 7


def degrees_per_pixel(zoom: int) -> float:
    """Degrees of longitude one pixel spans at ``zoom``.

    >>> round(degrees_per_pixel(0), 4)
    1.4062
    """
    return 360.0 / (256.0 * 2.0**zoom)


def metres_per_pixel(zoom: int, lat: float) -> float:
    """Ground metres one pixel spans at ``zoom`` and latitude ``lat``.

    >>> round(metres_per_pixel(12, 0.0), 1)
    38.2
    """
    return EQUATOR_M * math.cos(math.radians(lat)) / (256.0 * 2.0**zoom)


def tolerance_deg(zoom: int, lat: float) -> float:
    """The simplification tolerance at ``zoom`` in degrees: :data:`TOLERANCE_PX` of a pixel's metres."""
    return TOLERANCE_PX * metres_per_pixel(zoom, lat) / M_PER_DEG


def decimals(zoom: int) -> int:
    """Decimals that keep rounding within a quarter of a pixel at ``zoom`` (``0.5 * 10**-d <= px / 4``).

    >>> [decimals(z) for z in (6, 12, 15, 18, 24)]
    [2, 4, 5, 6, 7]
    """
    return min(MAX_DECIMALS, max(0, math.ceil(-math.log10(degrees_per_pixel(zoom) / 2.0))))


def check_zoom(zoom: int) -> int:
    """``zoom`` when it is a whole zoom level the map can ask for; ``ValueError`` naming it otherwise."""
    if isinstance(zoom, bool) or not isinstance(zoom, int | np.integer) or not MIN_ZOOM <= zoom <= MAX_ZOOM:
        raise ValueError(f"zoom must be a whole number from {MIN_ZOOM} to {MAX_ZOOM}; got {zoom!r}")
    return int(zoom)


def at_zoom(geoms: np.ndarray, zoom: int, lat: float) -> list[str | None]:
    """``geoms`` (shapely, WGS-84) simplified and rounded for ``zoom`` near latitude ``lat``, as
    GeoJSON geometry texts (``None`` for a missing geometry)."""
    zoom = check_zoom(zoom)
    if not len(geoms):
        return []
    digits = decimals(zoom)
    simple = shapely.simplify(geoms, tolerance_deg(zoom, lat), preserve_topology=True)
    rounded = shapely.transform(simple, lambda xy: np.round(xy, digits))
    return list(shapely.to_geojson(rounded))


class DetailCache:
    """Simplified geometry texts by (source, version, zoom) → key → text, least recently used out
    past ``max_bytes`` of text.

    ``source`` names what is cached (a layer's name, ``"fov"``), ``version`` what it was made from
    (a layer's id and ``updated_at``); asking for a new version of a source drops the old one's
    entries. Thread-safe (the API's sync routes run in a thread pool).
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[Hashable, Hashable, int], dict[Hashable, str | None]] = OrderedDict()
        self._sizes: dict[tuple[Hashable, Hashable, int], int] = {}
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Characters of geometry text held."""
        with self._lock:
            return sum(self._sizes.values())

    def _drop(self, key: tuple[Hashable, Hashable, int]) -> None:
        del self._entries[key]
        del self._sizes[key]

    def texts(
        self,
        source: Hashable,
        version: Hashable,
        zoom: int,
        keys: Sequence[Hashable],
        make: Callable[[np.ndarray], list[str | None]],
    ) -> list[str | None]:
        """The cached texts of ``keys``; ``make(indexes)`` makes those not cached yet (the texts
        of ``keys[i]`` for each ``i`` in ``indexes``), and they are kept."""
        entry_key = (source, version, zoom)
        with self._lock:
            for stale in [k for k in self._entries if k[0] == source and k[1] != version]:
                self._drop(stale)
            entry = self._entries.setdefault(entry_key, {})
            self._sizes.setdefault(entry_key, 0)
            self._entries.move_to_end(entry_key)
            missing = np.array([i for i, k in enumerate(keys) if k not in entry], dtype=np.int64)
        if not len(missing):
            return [entry[k] for k in keys]
        made = make(missing)
        found = dict(entry)
        found.update(zip((keys[i] for i in missing), made))
        with self._lock:
            if entry_key in self._entries:  # not dropped meanwhile: keep what was made
                fresh = {keys[i]: t for i, t in zip(missing, made) if keys[i] not in entry}
                entry.update(fresh)
                self._sizes[entry_key] += sum(len(t) for t in fresh.values() if t)
                while sum(self._sizes.values()) > self.max_bytes and len(self._entries) > 1:
                    self._drop(next(iter(self._entries)))
        return [found[k] for k in keys]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._sizes.clear()


def latitude_of(bounds: Sequence[float | None] | None) -> float:
    """The middle latitude of ``(minx, miny, maxx, maxy)``, 0 when unknown."""
    if not bounds or bounds[1] is None or bounds[3] is None:
        return 0.0
    return (float(bounds[1]) + float(bounds[3])) / 2.0


def feature_text(fid: Any, properties: dict[str, Any], geometry: str | None) -> str:
    """One GeoJSON Feature as compact JSON text (``id`` omitted when ``fid`` is ``None``)."""
    props = json.dumps(properties, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    head = '{"type":"Feature",' + (f'"id":{json.dumps(fid)},' if fid is not None else "")
    return f'{head}"properties":{props},"geometry":{geometry if geometry is not None else "null"}}}'


def collection_bytes(features: Sequence[str]) -> bytes:
    """A FeatureCollection of feature texts as UTF-8 bytes."""
    return ('{"type":"FeatureCollection","features":[' + ",".join(features) + "]}").encode()


def layer_at_zoom(
    registry: LayerRegistry, cache: DetailCache, name: str, scope: Scope, zoom: int, bbox: Sequence[float] | None = None
) -> bytes:
    """Layer ``name``'s features that ``scope`` sees in ``bbox``, at ``zoom``'s detail, as a
    FeatureCollection (UTF-8 JSON bytes): what ``registry.feature_collection`` answers, with each
    geometry simplified and rounded by :func:`at_zoom` (``LayerError`` as it raises them)."""
    zoom = check_zoom(zoom)
    layer, fids, codes, props, geoms = registry._scoped(name, scope, bbox)
    lat = latitude_of((layer["minx"], layer["miny"], layer["maxx"], layer["maxy"]))
    clipped = _clipped(codes, scope)
    texts: list[str | None] = [None] * len(fids)
    whole = np.flatnonzero(~clipped)
    if len(whole):
        keys = fids[whole].tolist()
        made = cache.texts(name, (layer["id"], str(layer["updated_at"])), zoom, keys,
                           lambda missing: at_zoom(geoms[whole[missing]], zoom, lat))
        for i, text in zip(whole, made):
            texts[i] = text
    cut = np.flatnonzero(clipped)
    for i, text in zip(cut, at_zoom(geoms[cut], zoom, lat)):
        texts[i] = text
    return collection_bytes([
        feature_text(int(fid), {**p, "code": code}, text) for fid, code, p, text in zip(fids, codes, props, texts)
    ])
