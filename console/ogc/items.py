"""Features of a collection as OGC API - Features answers: one page of the caller's features
(``limit``/``offset``) with ``numberMatched``, ``numberReturned``, ``timeStamp`` and the links
``self``, ``next`` (only while features remain), ``prev`` and ``collection``; geometries in the
asked CRS's axis order (:mod:`console.ogc.crs`).

The features come from the layer registry's scoped read (``LayerRegistry.feature_collection``):
what a caller sees here is exactly what ``/api/layers/{name}/features`` gives it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import shapely

from zhizhi.console.ogc.collections import GEOJSON, JSON, link
from zhizhi.console.ogc.crs import OgcCrs
from zhizhi.console.ogc.query import ItemsQuery


def in_crs(features: list[dict[str, Any]], crs: OgcCrs) -> list[dict[str, Any]]:
    """``features`` (GeoJSON dicts in stored lon/lat) with their geometries in ``crs``."""
    if crs.is_storage or not features:
        return features
    geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in features])
    texts = shapely.to_geojson(crs.from_lonlat(geoms))
    return [{**f, "geometry": json.loads(t)} for f, t in zip(features, texts, strict=True)]


def items_page(
    features: list[dict[str, Any]],
    query: ItemsQuery,
    href: Callable[[int | None], str],
    collection_href: str,
) -> dict[str, Any]:
    """The page of ``features`` (every feature the caller sees in the bbox, in fid order) that
    ``query`` asks for. ``href(offset)``: this request's URL at another offset (``None``: as
    asked)."""
    matched = len(features)
    start = min(query.offset, matched)
    page = in_crs(features[start:start + query.limit], query.crs)
    links = [link(href(None), "self", GEOJSON, "this page"), link(collection_href, "collection", JSON)]
    if start + len(page) < matched:
        links.append(link(href(start + query.limit), "next", GEOJSON, "next page"))
    if start > 0:
        links.append(link(href(max(0, start - query.limit)), "prev", GEOJSON, "previous page"))
    return {
        "type": "FeatureCollection",
        "features": page,
        "numberMatched": matched,
        "numberReturned": len(page),
        "timeStamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "links": links,
    }


def feature_document(feature: dict[str, Any], crs: OgcCrs, href: str, collection_href: str) -> dict[str, Any]:
    """One feature in ``crs`` with its ``self`` and ``collection`` links."""
    return {**in_crs([feature], crs)[0],
            "links": [link(href, "self", GEOJSON), link(collection_href, "collection", JSON)]}
