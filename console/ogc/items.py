"""Features of a collection as OGC API - Features answers: one page of the caller's features
(``limit``/``offset``) with ``numberMatched``, ``numberReturned``, ``timeStamp`` and the links
``self``, ``next`` (only while features remain), ``prev`` and ``collection``; geometries in the
asked CRS's axis order (:mod:`console.ogc.crs`). Answers are made as JSON text (only the page's
geometries are written out).
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
from zhizhi.console.ogc.source import ScopedFeatures
from zhizhi.layers.detail import feature_text


def _texts(found: ScopedFeatures, start: int, stop: int, crs: OgcCrs) -> list[str]:
    geoms = crs.from_lonlat(found.geometries[start:stop])
    return [feature_text(fid, props, geometry) for fid, props, geometry in
            zip(found.ids[start:stop], found.properties[start:stop], shapely.to_geojson(geoms), strict=True)]


def _document(members: dict[str, Any], features: str) -> bytes:
    head = json.dumps(members, ensure_ascii=False, separators=(",", ":"))
    return (head[:-1] + f',"features":[{features}]}}').encode()


def items_page(
    found: ScopedFeatures, query: ItemsQuery, href: Callable[[int | None], str], collection_href: str
) -> bytes:
    """The page of ``found`` (every feature the caller sees in the bbox, in fid order) that
    ``query`` asks for, as GeoJSON bytes. ``href(offset)``: this request's URL at another offset
    (``None``: as asked)."""
    matched = len(found)
    start = min(query.offset, matched)
    stop = min(start + query.limit, matched)
    links = [link(href(None), "self", GEOJSON, "this page"), link(collection_href, "collection", JSON)]
    if stop < matched:
        links.append(link(href(stop), "next", GEOJSON, "next page"))
    if start > 0:
        links.append(link(href(max(0, start - query.limit)), "prev", GEOJSON, "previous page"))
    members = {
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": stop - start,
        "timeStamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "links": links,
    }
    return _document(members, ",".join(_texts(found, start, stop, query.crs)))


def feature_document(found: ScopedFeatures, at: int, crs: OgcCrs, href: str, collection_href: str) -> bytes:
    """Feature number ``at`` of ``found`` in ``crs``, with its ``self`` and ``collection`` links."""
    text = _texts(found, at, at + 1, crs)[0]
    links = json.dumps([link(href, "self", GEOJSON), link(collection_href, "collection", JSON)],
                       ensure_ascii=False, separators=(",", ":"))
    return (text[:-1] + f',"links":{links}}}').encode()
