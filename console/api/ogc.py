"""OGC API - Features at ``/ogc``: the layers for QGIS and GDAL's ``OAPIF`` driver, each
caller seeing what ``/api/layers`` shows it (its jurisdiction's features, ancestor-level ones
clipped). Auth: ``Authorization: Bearer TOKEN`` or HTTP Basic with a console user
(:func:`~console.api.deps.gis_principal`). The documents are made in :mod:`console.ogc`; this
router only reads the query, the layers and the caller's scope."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from zhizhi.console.api.cameras import camera_visible, fov_feature
from zhizhi.console.api.deps import GisScope, State
from zhizhi.console.ogc import collections as docs
from zhizhi.console.ogc.crs import content_crs
from zhizhi.console.ogc.fov import FOV, fov_info
from zhizhi.console.ogc.items import feature_document, items_page
from zhizhi.console.ogc.query import PLAIN_PARAMS, OgcQueryError, check_params, parse_feature_crs, parse_items_query
from zhizhi.console.ogc.source import FeatureSource, ScopedFeatures, from_features
from zhizhi.layers import LayerError


def _enabled(state: State) -> None:
    if not state.settings.ogc.enabled:
        raise HTTPException(404, "OGC API - Features is turned off (settings.ogc.enabled)")


router = APIRouter(prefix="/ogc", tags=["ogc"], dependencies=[Depends(_enabled)])

F = Annotated[str | None, Query(description="Answer format: json (the only one served)")]
Crs = Annotated[str | None, Query(description="CRS of the answer's coordinates, in its axis order: "
                                              "CRS84 (lon/lat, default), EPSG:4490 (CGCS2000, lat/lon), EPSG:4326")]


def _base(request: Request) -> str:
    return str(request.url_for("ogc_landing")).rstrip("/")


def _checked(request: Request, allowed=PLAIN_PARAMS) -> None:
    try:
        check_params(request.query_params, allowed)
    except OgcQueryError as exc:
        raise HTTPException(400, str(exc)) from None


def _geojson(body: bytes, crs) -> Response:
    return Response(body, media_type="application/geo+json", headers={"Content-Crs": content_crs(crs)})


def _features(request: Request, state, name: str, scope, bbox=None) -> ScopedFeatures:
    """Every feature of layer ``name`` the caller sees (in ``bbox``), in fid order (held briefly
    for the next pages: :class:`~console.ogc.source.FeatureSource`); 404 for a layer it may not
    see (the same answer as a missing one)."""
    if name == FOV:
        return _fov(state, scope, bbox)
    source = getattr(request.app.state, "ogc_features", None)
    if source is None:
        source = request.app.state.ogc_features = FeatureSource(state.settings.ogc.page_cache_s)
    try:
        return source.features(state.registry, name, scope, bbox)
    except LayerError as exc:
        raise HTTPException(404 if exc.code == "not_found" else 400, exc.message) from None


def _fov(state, scope, bbox=None) -> ScopedFeatures:
    """The fields of view of the cameras the caller sees (``/api/cameras/fov``'s rule), by camera id."""
    states, sectors = state.camera_states(), state.camera_sectors
    seen = [(c, sectors[i]) for i, c in enumerate(state.cameras.cameras[: len(sectors)]) if camera_visible(c, scope)]
    return from_features([c.id for c, _ in seen], [fov_feature(c, sector, states) for c, sector in seen], bbox)


def _layers(state, scope) -> list:
    """The collections: the layers the caller may see, and the cameras' fields of view."""
    return [*state.registry.list_layers(scope), fov_info(_fov(state, scope), state.jurisdictions.district_code)]


@router.get("", name="ogc_landing")
def landing(request: Request, scope: GisScope, f: F = None) -> dict[str, Any]:
    """The landing page: links to the API definition, the conformance classes and the collections."""
    _checked(request)
    return docs.landing(_base(request), str(request.url_for("openapi")))


@router.get("/conformance")
def conformance(request: Request, scope: GisScope, f: F = None) -> dict[str, Any]:
    """The conformance classes: Part 1 core, GeoJSON, OpenAPI 3.0; Part 2 CRS by reference."""
    _checked(request)
    return docs.conformance()


@router.get("/collections")
def collections(request: Request, state: State, scope: GisScope, f: F = None) -> dict[str, Any]:
    """The layers the caller may see, each with the extent of what it sees."""
    _checked(request)
    return docs.collections(_base(request), _layers(state, scope))


@router.get("/collections/{collection_id}")
def collection(request: Request, state: State, scope: GisScope, collection_id: str, f: F = None) -> dict[str, Any]:
    _checked(request)
    if collection_id == FOV:
        return docs.collection(_base(request), fov_info(_fov(state, scope), state.jurisdictions.district_code))
    try:
        layer = state.registry.get_layer(collection_id, scope)
    except LayerError as exc:
        raise HTTPException(404, exc.message) from None
    return docs.collection(_base(request), layer)


@router.get("/collections/{collection_id}/items")
def items(
    request: Request,
    state: State,
    scope: GisScope,
    collection_id: str,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs's axis order")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="CRS of bbox (default CRS84)")] = None,
    limit: Annotated[str | None, Query(description="Features in the page (whole, >= 1; default and most: "
                                                   "settings.ogc)")] = None,
    offset: Annotated[str | None, Query(description="Features skipped (whole, >= 0): the next link's")] = None,
    crs: Crs = None,
    f: F = None,
):
    """A page of the caller's features (GeoJSON), with ``numberMatched`` and ``next`` while more remain."""
    settings = state.settings.ogc
    try:
        query = parse_items_query(request.query_params, default_limit=settings.default_limit,
                                  max_limit=settings.max_limit)
    except OgcQueryError as exc:
        raise HTTPException(400, str(exc)) from None
    found = _features(request, state, collection_id, scope, query.bbox)

    def href(at: int | None) -> str:
        url = request.url if at is None else request.url.include_query_params(offset=at, limit=query.limit)
        return str(url)

    body = items_page(found, query, href, f"{_base(request)}/collections/{collection_id}")
    return _geojson(body, query.crs)


@router.get("/collections/{collection_id}/items/{feature_id}")
def feature(request: Request, state: State, scope: GisScope, collection_id: str, feature_id: str,
            crs: Crs = None, f: F = None):
    """One feature the caller sees; 404 for one it does not (as for one that does not exist)."""
    try:
        out_crs = parse_feature_crs(request.query_params)
    except OgcQueryError as exc:
        raise HTTPException(400, str(exc)) from None
    found = _features(request, state, collection_id, scope)
    at = found.index_of(feature_id)
    if at is None:
        raise HTTPException(404, f"no feature {feature_id!r} in collection {collection_id!r}")
    collection_href = f"{_base(request)}/collections/{collection_id}"
    return _geojson(feature_document(found, at, out_crs, str(request.url), collection_href), out_crs)
