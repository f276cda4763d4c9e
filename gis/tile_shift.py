"""GCJ-02-shifted raster tiles redrawn in WGS-84 Web Mercator.

Chinese web basemaps are drawn in GCJ-02: a street lies hundreds of metres from its WGS-84
place. :func:`shifted_tile` makes the WGS-84 tile ``z/x/y`` from such a pyramid: every output
pixel's WGS-84 position is moved to GCJ-02 (:func:`zhizhi.gis.crs.wgs84_to_gcj02`), looked up
in the mosaic of the source tiles it falls in, and sampled bilinearly. The offset is smooth,
so the result is exact to well under a pixel.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from zhizhi.gis.crs import wgs84_to_gcj02
from zhizhi.gis.tile_canvas import TILE, paste_tiles

_ENCODE = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}


def _lonlat_of_pixels(z: int, x: int, y: int) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 lon/lat of the centres of tile ``z/x/y``'s pixels (256x256 each)."""
    world = TILE * float(1 << z)
    i = (np.arange(TILE) + 0.5)
    px, py = np.meshgrid(x * TILE + i, y * TILE + i)
    lon = px / world * 360.0 - 180.0
    lat = np.degrees(np.arctan(np.sinh(np.pi * (1.0 - 2.0 * py / world))))
    return lon, lat


def _pixels_of_lonlat(z: int, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global pixel coordinates (edges at integers) of lon/lat at zoom ``z``."""
    world = TILE * float(1 << z)
    px = (lon + 180.0) / 360.0 * world
    py = (1.0 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2.0 * world
    return px, py


def shifted_tile(
    z: int, x: int, y: int, fetch: Callable[[int, int, int], bytes | None], fmt: str
) -> bytes | None:
    """The WGS-84 tile ``z/x/y`` redrawn from the GCJ-02 tiles ``fetch(z, x, y)`` gives (XYZ),
    encoded as ``fmt``; ``None`` when none of the source tiles it needs exists."""
    lon, lat = _lonlat_of_pixels(z, x, y)
    glon, glat = wgs84_to_gcj02(lon.ravel(), lat.ravel())
    sx, sy = _pixels_of_lonlat(z, np.asarray(glon).reshape(lon.shape), np.asarray(glat).reshape(lat.shape))
    x0, x1 = int(np.floor(sx.min() - 0.5)) // TILE, int(np.floor(sx.max() + 0.5)) // TILE
    y0, y1 = int(np.floor(sy.min() - 0.5)) // TILE, int(np.floor(sy.max() + 0.5)) // TILE
    canvas = paste_tiles(fetch, z, x0, x1, y0, y1)
    if canvas is None:
        return None
    map_x = (sx - x0 * TILE - 0.5).astype(np.float32)
    map_y = (sy - y0 * TILE - 0.5).astype(np.float32)
    out = cv2.remap(canvas, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if fmt == "jpg":
        out = cv2.cvtColor(out, cv2.COLOR_BGRA2BGR)
    ok, encoded = cv2.imencode(_ENCODE[fmt], out)
    if not ok:
        raise ValueError(f"cannot encode a {fmt} tile")
    return encoded.tobytes()
