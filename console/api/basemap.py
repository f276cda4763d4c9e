"""The offline basemap: its description and its tiles, served by the console itself.

Tiles are fetched by the map pages with the bearer header and shown from ``blob:`` URLs
(``console/static/map/basemap.js``), so no token or ticket goes into a tile URL. The routes are
sync: SQLite reads run in the thread pool, one connection per thread, never on the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Request, Response

from zhizhi.console.api.deps import RequestScope, State
from zhizhi.console.basemap import BasemapSource
from zhizhi.gis.mbtiles import RASTER_FORMATS

router = APIRouter(prefix="/api/basemap", tags=["basemap"])

#: Tiles change only with the file, and the file's id is in the URL (``?v=``): cache for a day.
CACHE_CONTROL = "private, max-age=86400"
EXTENSIONS = {"png": "png", "jpg": "jpg", "jpeg": "jpg", "webp": "webp"}


def basemap_source(request: Request, state: State) -> BasemapSource:
    """The app's basemap source (made on first use, from the data folder)."""
    source = getattr(request.app.state, "basemap", None)
    if source is None:
        source = request.app.state.basemap = BasemapSource(state.settings.data_dir)
    return source


@router.get("")
def basemap(request: Request, state: State, scope: RequestScope) -> dict:
    """The imported basemap (``{"basemap": {name, format, bounds, minzoom, maxzoom, tiles, gcj02,
    tile_url, ...}}``), or ``{"basemap": null}``. The same for every jurisdiction."""
    current = basemap_source(request, state).current()
    return {"basemap": current.description if current else None}


@router.get("/tiles/{z}/{x}/{y}.{ext}")
def tile(
    request: Request,
    state: State,
    scope: RequestScope,
    z: Annotated[int, Path(ge=0, le=30)],
    x: Annotated[int, Path(ge=0, le=2**30)],
    y: Annotated[int, Path(ge=0, le=2**30)],
    ext: Annotated[str, Path(max_length=5)],
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """One tile (XYZ, rows from the north) with ``Cache-Control`` and ``ETag``; 404 where the
    basemap has no tile, or when there is no basemap or the extension is not its format."""
    current = basemap_source(request, state).current()
    if current is None:
        raise HTTPException(404, "no basemap imported (zhizhi basemap import FILE)")
    fmt = current.manifest["format"]
    if EXTENSIONS.get(ext.lower()) != fmt:
        raise HTTPException(404, f"the basemap's tiles are .{fmt}")
    data = current.tile(z, x, y)
    if data is None:
        raise HTTPException(404, f"no tile {z}/{x}/{y} in the basemap")
    etag = f'"{current.manifest["id"]}-{z}-{x}-{y}"'
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag}
    if if_none_match and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=RASTER_FORMATS[fmt], headers=headers)
