"""The documents of ``/ogc`` that describe rather than serve features: the landing page, the
conformance classes and the collections (one per layer the caller may see, its extent being
what the caller sees of it)."""

from __future__ import annotations

from typing import Any

from zhizhi.console.ogc.crs import STORAGE, SUPPORTED
from zhizhi.layers import LayerInfo

JSON = "application/json"
GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
)
TITLE = "智治 zhizhi console layers"


def link(href: str, rel: str, type_: str = JSON, title: str | None = None) -> dict[str, str]:
    """One link object of an OGC API document."""
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def landing(base: str, openapi: str) -> dict[str, Any]:
    """The landing page at ``base`` (``…/ogc``); ``openapi``: the OpenAPI document's URL."""
    return {
        "title": TITLE,
        "description": "The console's map layers as OGC API - Features, scoped to the caller's jurisdiction.",
        "links": [
            link(base, "self", title="this document"),
            link(openapi, "service-desc", OPENAPI, "the API definition"),
            link(f"{base}/conformance", "conformance", title="conformance classes"),
            link(f"{base}/collections", "data", title="the layers"),
        ],
    }


def conformance() -> dict[str, Any]:
    return {"conformsTo": list(CONFORMANCE)}


def collection(base: str, layer: LayerInfo) -> dict[str, Any]:
    """A layer as a collection: the extent is the caller's (``LayerInfo`` read by scope)."""
    href = f"{base}/collections/{layer.name}"
    extent: dict[str, Any] = {}
    if layer.bounds is not None:
        extent["spatial"] = {"bbox": [list(layer.bounds)], "crs": STORAGE}
    return {
        "id": layer.name,
        "title": layer.title,
        "description": f"{layer.kind} layer of {layer.owner_code}, {layer.geometry_type}, "
                       f"{layer.feature_count} feature(s) visible to you",
        "itemType": "feature",
        "extent": extent,
        "crs": list(SUPPORTED),
        "storageCrs": STORAGE,
        "links": [
            link(href, "self"),
            link(f"{href}/items", "items", GEOJSON, f"features of {layer.name}"),
        ],
    }


def collections(base: str, layers: list[LayerInfo]) -> dict[str, Any]:
    return {
        "links": [link(f"{base}/collections", "self")],
        "crs": list(SUPPORTED),
        "collections": [collection(base, layer) for layer in layers],
    }
