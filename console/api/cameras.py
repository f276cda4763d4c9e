"""Cameras: which see a point, and their field-of-view cones for the map."""

from __future__ import annotations

import itertools
import json
from typing import Annotated

import numpy as np
import shapely
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from zhizhi.console.api.deps import RequestScope, State
from zhizhi.console.api.grids import CrsName, Lat, Lon
from zhizhi.console.api.layers import Zoom, detail_cache, parse_bbox
from zhizhi.console.cameras import DISABLED_STATUS
from zhizhi.gis.codes import is_within
from zhizhi.gis.crs import convert
from zhizhi.layers.detail import at_zoom, collection_bytes, feature_text, latitude_of

router = APIRouter(prefix="/api/cameras", tags=["cameras"])


class CoveringCamera(BaseModel):
    """A camera whose field of view contains the asked point."""

    id: str
    name: str
    distance_m: float
    bearing_deg: float
    heading_deg: float
    hfov_deg: float
    range_m: float
    lon: float
    lat: float
    grid: str | None
    status: str


def camera_visible(camera, scope) -> bool:
    """Whether ``scope`` sees ``camera``: its grid lies within the scope (also ``/ogc``'s rule)."""
    return camera.grid is not None and is_within(camera.grid, scope.code)


def _status(camera, states: dict[str, str]) -> str:
    """A camera's live state when its worker reported one (a disabled camera stays so)."""
    return camera.status if camera.status == DISABLED_STATUS else states.get(camera.id, camera.status)


@router.get("/covering", response_model=list[CoveringCamera])
def covering(
    state: State, scope: RequestScope, lon: Lon, lat: Lat, crs: CrsName = "wgs84"
) -> list[CoveringCamera]:
    """Cameras that see the point, nearest first (only those of the caller's jurisdiction)."""
    lon_w, lat_w = convert(lon, lat, crs)
    hits = state.cameras.covering(float(lon_w), float(lat_w))
    states = state.camera_states()
    return [
        CoveringCamera(
            id=h.id,
            name=h.name,
            distance_m=round(h.distance_m, 2),
            bearing_deg=round(h.bearing_deg, 2),
            heading_deg=h.camera.heading_deg,
            hfov_deg=h.camera.hfov_deg,
            range_m=h.camera.range_m,
            lon=h.camera.lon,
            lat=h.camera.lat,
            grid=h.camera.grid,
            status=_status(h.camera, states),
        )
        for h in hits
        if camera_visible(h.camera, scope)
    ]


_FOV_VERSIONS = itertools.count(1)


def _fov_geometries(request: Request, sectors: list[dict]) -> tuple[int, np.ndarray]:
    """The sectors as shapely geometries and a version number, made once per list of sectors
    (the console replaces the list when its cameras change)."""
    held = getattr(request.app.state, "fov_geometries", None)
    if held is None or held[0] is not sectors:
        geoms = shapely.from_geojson([json.dumps(s) for s in sectors]) if sectors else np.array([], dtype=object)
        held = request.app.state.fov_geometries = (sectors, next(_FOV_VERSIONS), geoms)
    return held[1], held[2]


@router.get("/fov")
def fov(
    state: State,
    scope: RequestScope,
    request: Request,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS-84): sectors meeting it")] = None,
    zoom: Zoom = None,
):
    """Field-of-view sectors of the caller's cameras as a GeoJSON FeatureCollection; with ``bbox``
    those meeting it, with ``zoom`` simplified and rounded for that zoom (as the layers)."""
    box = parse_bbox(bbox)
    states = state.camera_states()
    index, sectors = state.cameras, state.camera_sectors
    pairs = [(i, camera) for i, camera in enumerate(index.cameras[: len(sectors)]) if camera_visible(camera, scope)]
    if box is not None or zoom is not None:
        version, geoms = _fov_geometries(request, sectors)
        if box is not None and pairs:
            hits = shapely.intersects(geoms[[i for i, _ in pairs]], shapely.box(*box))
            pairs = [pair for pair, hit in zip(pairs, hits) if hit]
    if zoom is None:
        return {"type": "FeatureCollection", "features": [fov_feature(c, sectors[i], states) for i, c in pairs]}
    rows = np.array([i for i, _ in pairs], dtype=np.int64)
    lat = latitude_of(shapely.total_bounds(geoms).tolist()) if len(geoms) else 0.0
    texts = detail_cache(request).texts(
        "fov", version, zoom, rows.tolist(), lambda missing: at_zoom(geoms[rows[missing]], zoom, lat)
    )
    features = [feature_text(None, fov_feature(c, None, states)["properties"], t) for (_, c), t in zip(pairs, texts)]
    return Response(collection_bytes(features), media_type="application/json")


def fov_feature(camera, sector: dict | None, states: dict[str, str]) -> dict:
    """A camera's field-of-view sector as a GeoJSON Feature (``/api/cameras/fov``, ``/ogc``)."""
    return {
        "type": "Feature",
        "geometry": sector,
        "properties": {
            "id": camera.id,
            "name": camera.name,
            "status": _status(camera, states),
            "grid": camera.grid,
            "heading_deg": camera.heading_deg,
            "hfov_deg": camera.hfov_deg,
            "range_m": camera.range_m,
        },
    }
