"""Layers: list, features by bounding box, upload (import, needs ``layers.import``) and export.

An upload creates a layer owned by the caller's jurisdiction (or one below it), or replaces a
layer owned there; a layer owned above or beside the caller (the district's shelters, a
neighbouring town's layer) is never replaced: 403 (:meth:`layers.LayerRegistry.save_layer`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from zhizhi.console.api.deps import RequestScope, State, require
from zhizhi.console.auth import Permission
from zhizhi.gis.codes import is_within
from zhizhi.layers import LayerError, LayerInfo
from zhizhi.layers.detail import MAX_ZOOM, MIN_ZOOM, DetailCache, layer_at_zoom

router = APIRouter(prefix="/api/layers", tags=["layers"])

_STATUS = {"too_large": 413, "not_found": 404, "exists": 409, "forbidden": 403}
_CHUNK = 1024 * 1024
# Layers the console's own indexes are built from; replacing them needs a restart path that
# re-validates the hierarchy, so the upload endpoint refuses them.
_MANAGED = {"towns", "villages", "grids", "micro_grids"}
_EXPORT_TYPES = {
    "geojson": ("application/geo+json", "geojson"),
    "gpkg": ("application/geopackage+sqlite3", "gpkg"),
    "shp.zip": ("application/zip", "zip"),
}


def layer_error_response(exc: LayerError) -> JSONResponse:
    """A layer error as a precise 4xx: machine code, message and per-feature details."""
    return JSONResponse(
        status_code=_STATUS.get(exc.code, 422),
        content={"detail": exc.message, "code": exc.code, "errors": exc.details},
    )


def parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` -> a tuple, or HTTP 422 saying what is wrong."""
    if bbox is None:
        return None
    parts = bbox.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise HTTPException(422, f"bbox must be minlon,minlat,maxlon,maxlat; got {bbox!r}")
    minlon, minlat, maxlon, maxlat = values
    if not (-180 <= minlon <= maxlon <= 180 and -90 <= minlat <= maxlat <= 90):
        raise HTTPException(
            422, f"bbox {bbox!r} is not a WGS-84 box with min <= max inside ±180/±90"
        )
    return values  # type: ignore[return-value]


#: ``?zoom=``: the map's whole zoom level; the geometry comes simplified and rounded for it.
Zoom = Annotated[int | None, Query(
    ge=MIN_ZOOM, le=MAX_ZOOM,
    description="Map zoom level (whole, 0-24): geometry simplified and rounded to what it shows; "
                "absent: the stored geometry",
)]


def detail_cache(request: Request) -> DetailCache:
    """The app's cache of simplified geometry (one per app: made on first use)."""
    cache = getattr(request.app.state, "layer_detail", None)
    if cache is None:
        cache = request.app.state.layer_detail = DetailCache()
    return cache


@router.get("", response_model=list[LayerInfo])
def list_layers(state: State, scope: RequestScope) -> list[LayerInfo]:
    """Layers the caller's jurisdiction may see."""
    return state.registry.list_layers(scope)


@router.get("/{name}/features")
def features(
    state: State,
    scope: RequestScope,
    name: str,
    request: Request,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS-84)")] = None,
    zoom: Zoom = None,
):
    """The layer's features visible to the caller as a GeoJSON FeatureCollection: those meeting
    ``bbox``; with ``zoom``, each geometry simplified and rounded for that zoom
    (:mod:`layers.detail`, cached per layer and zoom)."""
    box = parse_bbox(bbox)
    try:
        if zoom is not None:
            body = layer_at_zoom(state.registry, detail_cache(request), name, scope, zoom, bbox=box)
            return Response(body, media_type="application/json")
        return state.registry.feature_collection(name, scope, bbox=box)
    except LayerError as exc:
        return layer_error_response(exc)


@router.get("/{name}/export")
def export(
    state: State,
    scope: RequestScope,
    name: str,
    format: Literal["geojson", "gpkg", "shp.zip"] = "geojson",
):
    """Download the visible part of a layer as GeoJSON, GeoPackage or zipped Shapefile."""
    try:
        data = state.registry.export(name, scope, format)
    except LayerError as exc:
        return layer_error_response(exc)
    media_type, ext = _EXPORT_TYPES[format]
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}.{ext}"'},
    )


def _save_upload(upload: UploadFile, limit: int, folder: Path) -> Path:
    """Copy the upload to ``folder`` under a safe name, refusing more than ``limit`` bytes."""
    suffix = "".join(Path(upload.filename or "upload").suffixes[-2:]).lower()
    target = folder / f"upload{suffix}"
    written = 0
    with target.open("wb") as out:
        while chunk := upload.file.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise LayerError(
                    "too_large", f"upload is larger than the limit of {limit:,} bytes"
                )
            out.write(chunk)
    return target


def _codes_within(state, geoms, owner: str) -> list[str | None]:
    """Each feature's smallest covering jurisdiction; ``invalid_argument`` naming the features
    that reach outside ``owner`` — by index only: naming their units would locate points in
    another jurisdiction for the uploader."""
    codes = state.jurisdictions.lowest_containing(geoms.values)
    outside = [i for i, c in enumerate(codes) if c is not None and not (is_within(c, owner) or is_within(owner, c))]
    if outside:
        raise LayerError(
            "invalid_argument",
            f"{len(outside)} feature(s) lie outside jurisdiction {owner}; first: feature {outside[0]}",
            [{"index": i, "reason": f"outside jurisdiction {owner}"} for i in outside],
        )
    return codes


@router.post(
    "",
    status_code=201,
    response_model=LayerInfo,
    dependencies=[Depends(require(Permission.LAYERS_IMPORT))],
)
def upload(
    request: Request,
    state: State,
    scope: RequestScope,
    file: Annotated[UploadFile, File(description="GeoJSON, GeoPackage or zipped Shapefile")],
    name: Annotated[str, Form(description="Layer name (a-z, 0-9, _ and -)")],
    jurisdiction: Annotated[str | None, Form(description="Owner code; default: caller's")] = None,
    crs: Annotated[str | None, Form(description="wgs84, gcj02, bd09 or an EPSG code")] = None,
    make_valid: Annotated[bool, Form(description="Repair invalid geometries")] = False,
    encoding: Annotated[
        str | None, Form(description="Shapefile text encoding, e.g. GBK; detected by default")
    ] = None,
    kind: Annotated[str, Form()] = "custom",
    title: Annotated[str | None, Form()] = None,
):
    """Import a layer file; a failed import leaves every stored layer as it was."""
    limits = state.settings.layers
    declared = int(request.headers.get("content-length") or 0)
    if declared > limits.max_upload_bytes + 64 * 1024:
        return layer_error_response(
            LayerError("too_large", f"upload is larger than the limit of {limits.max_upload_bytes:,} bytes")
        )
    owner = jurisdiction or scope.code
    if owner not in state.jurisdictions or not is_within(owner, scope.code):
        raise HTTPException(403, f"jurisdiction {owner!r} is not within yours ({scope.code})")
    if name in _MANAGED:
        return layer_error_response(
            LayerError("exists", f"layer {name!r} holds the jurisdiction hierarchy and cannot be replaced by upload")
        )
    folder = Path(tempfile.mkdtemp(prefix="zhizhi-upload-"))
    try:
        path = _save_upload(file, limits.max_upload_bytes, folder)
        return state.registry.import_file(
            path,
            name,
            owner_code=owner,
            declared_crs=crs,
            make_valid=make_valid,
            limits=limits,
            kind=kind,
            title=title,
            original_name=file.filename,
            encoding=encoding,
            assign_codes=lambda geoms: _codes_within(state, geoms, owner),
            writer=scope,
        )
    except LayerError as exc:
        return layer_error_response(exc)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
