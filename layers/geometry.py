"""Array helpers shared by validation, clipping and the registry."""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

_COLLECTION = 7  # shapely.GeometryType.GEOMETRYCOLLECTION
_MULTI = {0: 4, 1: 5, 3: 6}  # Point/LineString/Polygon -> their Multi type ids
_SINGLE_OF = {4: 0, 5: 1, 6: 3, 2: 1}  # Multi* (and LinearRing) -> single type ids
_NAMES = {
    0: "Point",
    1: "LineString",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
}
_BUILDERS = {0: shapely.multipoints, 1: shapely.multilinestrings, 2: shapely.multipolygons}


def as_array(geoms: ArrayLike) -> NDArray[np.object_]:
    """Geometries as a 1-D object array (from a GeoSeries, list or array)."""
    values = getattr(geoms, "values", geoms)
    return np.asarray(values, dtype=object).reshape(-1)


def _flat_parts(geom: shapely.Geometry) -> NDArray[np.object_]:
    parts = shapely.get_parts(geom)
    while True:
        nested = np.isin(shapely.get_type_id(parts), [4, 5, 6, _COLLECTION])
        if not nested.any():
            return parts
        parts = np.concatenate([parts[~nested], shapely.get_parts(parts[nested])])


def _combine(parts: NDArray[np.object_], dim: int) -> shapely.Geometry:
    if len(parts) == 1:
        return parts[0]
    combined = _BUILDERS[dim](parts)
    if dim == 2 and not shapely.is_valid(combined):
        combined = shapely.union_all(parts)
    return combined


def keep_dimension(geoms: ArrayLike, dims: ArrayLike) -> NDArray[np.object_]:
    """Keep only the parts of each geometry whose dimension is ``dims`` (0, 1 or 2).

    ``make_valid`` and ``intersection`` may return a GeometryCollection mixing families (a
    repaired polygon with a dangling line, a road clipped to a point where it touches); this
    extracts the parts of the original family. ``None`` where nothing of that family remains.
    Only collections are handled part by part; everything else is decided on arrays.
    """
    geoms = as_array(geoms)
    dims = np.broadcast_to(np.asarray(dims), geoms.shape)
    out = geoms.copy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    type_ids = shapely.get_type_id(geoms)
    collection = present & (type_ids == _COLLECTION)
    simple = present & ~collection
    wrong = simple & (shapely.get_dimensions(geoms) != dims)
    out[wrong | ~present] = None
    for i in np.flatnonzero(collection):
        parts = _flat_parts(geoms[i])
        parts = parts[(shapely.get_dimensions(parts) == dims[i]) & ~shapely.is_empty(parts)]
        out[i] = _combine(parts, int(dims[i])) if len(parts) else None
    return out


def geometry_type_of(geoms: ArrayLike) -> str:
    """One name for a layer's geometries: ``Polygon``, ``MultiPolygon`` ... or ``Geometry`` if mixed.

    A single family in both single and multi forms is named by its multi form.
    """
    ids = set(np.unique(shapely.get_type_id(as_array(geoms))).tolist()) - {-1}
    if not ids:
        return "Geometry"
    if len(ids) == 1 and next(iter(ids)) in _NAMES:
        return _NAMES[next(iter(ids))]
    singles = {_SINGLE_OF.get(i, i) for i in ids}
    if len(singles) == 1 and next(iter(singles)) in _MULTI:
        return _NAMES[_MULTI[next(iter(singles))]]
    return "Geometry"
