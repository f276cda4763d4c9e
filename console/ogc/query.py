"""The query of ``/ogc/collections/{id}/items``, checked: ``bbox`` (in ``bbox-crs``), ``limit``,
``offset``, ``crs`` and ``f``. Anything wrong is an :class:`OgcQueryError` whose message names the
parameter and what it must be (the router answers it 400); an unknown parameter is refused too
(OGC API - Features ``/req/core/query-param-unknown``), so a misspelt ``bbx=`` never returns the
whole layer silently.

>>> q = parse_items_query({"bbox": "120.9,31.9,121.1,32.1", "limit": "5"}, default_limit=100, max_limit=1000)
>>> q.bbox, q.limit, q.offset, q.crs.uri
((120.9, 31.9, 121.1, 32.1), 5, 0, 'http://www.opengis.net/def/crs/OGC/1.3/CRS84')
>>> parse_items_query({"limit": "50000"}, default_limit=100, max_limit=1000).limit  # clamped
1000
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from zhizhi.console.ogc.crs import CrsError, OgcCrs, parse_crs

#: The ``f`` values of a JSON answer (no HTML pages: GIS clients ask for JSON).
FORMATS = ("json", "geojson")
ITEMS_PARAMS = frozenset({"bbox", "bbox-crs", "limit", "offset", "crs", "f"})
FEATURE_PARAMS = frozenset({"crs", "f"})
PLAIN_PARAMS = frozenset({"f"})


class OgcQueryError(ValueError):
    """A query parameter that is wrong; the message says which and what it must be."""


@dataclass(frozen=True)
class ItemsQuery:
    """A checked items query; ``bbox`` is lon/lat (transformed from ``bbox-crs``)."""

    bbox: tuple[float, float, float, float] | None
    limit: int
    offset: int
    crs: OgcCrs


def check_params(params: Mapping[str, str], allowed: frozenset[str]) -> None:
    """:class:`OgcQueryError` for a parameter not in ``allowed`` or an ``f`` that is not JSON."""
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise OgcQueryError(f"unknown query parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    f = params.get("f")
    if f is not None and f.lower() not in FORMATS:
        raise OgcQueryError(f"f={f!r} is not served; f must be one of {', '.join(FORMATS)}")


def _whole(params: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise OgcQueryError(f"{name} must be a whole number >= {minimum}; got {text!r}") from None
    if value < minimum:
        raise OgcQueryError(f"{name} must be a whole number >= {minimum}; got {text!r}")
    return value


def parse_bbox(text: str, crs: OgcCrs) -> tuple[float, float, float, float]:
    """``bbox`` in ``crs``'s axis order (4 numbers, or 6 with heights) as lon/lat bounds."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (4, 6) or not all(map(math.isfinite, values)):
        raise OgcQueryError(f"bbox must be 4 numbers (or 6 with heights) separated by commas; got {text!r}")
    lows, highs = (values[:2], values[2:]) if len(values) == 4 else (values[:2], values[3:5])
    axes = ("lat", "lon") if crs.lat_first else ("lon", "lat")
    for axis, low, high in zip(axes, lows, highs, strict=True):
        if low > high:
            what = "a box across the antimeridian is not supported" if axis == "lon" else "min must be <= max"
            raise OgcQueryError(f"bbox {text!r}: {axis} {low} > {high}: {what}")
        limit = 90.0 if axis == "lat" else 180.0
        if not (-limit <= low and high <= limit):
            raise OgcQueryError(f"bbox {text!r}: {axis} outside ±{limit:g} (bbox-crs {crs.uri})")
    return crs.to_lonlat_box((lows[0], lows[1], highs[0], highs[1]))


def parse_items_query(params: Mapping[str, str], *, default_limit: int, max_limit: int) -> ItemsQuery:
    """The checked items query; ``limit`` above ``max_limit`` is served as ``max_limit``."""
    check_params(params, ITEMS_PARAMS)
    try:
        crs = parse_crs(params.get("crs"))
        bbox_crs = parse_crs(params.get("bbox-crs"))
    except CrsError as exc:
        raise OgcQueryError(str(exc)) from None
    if "bbox-crs" in params and "bbox" not in params:
        raise OgcQueryError("bbox-crs given without bbox")
    bbox = parse_bbox(params["bbox"], bbox_crs) if params.get("bbox") is not None else None
    limit = min(_whole(params, "limit", default_limit, 1), max_limit)
    offset = _whole(params, "offset", 0, 0)
    return ItemsQuery(bbox=bbox, limit=limit, offset=offset, crs=crs)


def parse_feature_crs(params: Mapping[str, str]) -> OgcCrs:
    """The ``crs`` of a single feature's query (``crs`` and ``f`` only)."""
    check_params(params, FEATURE_PARAMS)
    try:
        return parse_crs(params.get("crs"))
    except CrsError as exc:
        raise OgcQueryError(str(exc)) from None
