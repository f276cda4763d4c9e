"""One image of a basemap over a box: its tiles at the finest zoom that fits a pixel budget,
pasted side by side (Web Mercator, so the image stretches linearly between its bounds, as
Leaflet's image overlay draws it). For standalone pages such as the situation report."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from zhizhi.gis.mbtiles import tile_bounds
from zhizhi.gis.tile_canvas import TILE, paste_tiles


def _tiles_over(box: tuple[float, float, float, float], z: int) -> tuple[int, int, int, int]:
    """First and last XYZ column and row of zoom ``z`` over ``box`` (west, south, east, north)."""
    n = 1 << z
    w, s, e, north = box

    def col(lon: float) -> int:
        return min(n - 1, max(0, int((lon + 180) / 360 * n)))

    def row(lat: float) -> int:
        lat = max(-85.05, min(85.05, lat))
        return min(n - 1, max(0, int((1 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2 * n)))

    return col(w), col(e), row(north), row(s)


def mosaic(
    fetch: Callable[[int, int, int], bytes | None],
    box: tuple[float, float, float, float],
    zooms: tuple[int, int],
    max_px: int = 2048,
) -> tuple[bytes, tuple[float, float, float, float]] | None:
    """A PNG of the tiles ``fetch(z, x, y)`` gives over ``box`` at the finest zoom in ``zooms``
    (min, max) whose image fits ``max_px`` on each side, and its bounds (west, south, east,
    north); ``None`` when no tile there exists."""
    zmin, zmax = zooms
    z = zmin
    for candidate in range(zmax, zmin - 1, -1):
        x0, x1, y0, y1 = _tiles_over(box, candidate)
        if max(x1 - x0 + 1, y1 - y0 + 1) * TILE <= max_px:
            z = candidate
            break
    x0, x1, y0, y1 = _tiles_over(box, z)
    x1, y1 = min(x1, x0 + max_px // TILE - 1), min(y1, y0 + max_px // TILE - 1)
    canvas = paste_tiles(fetch, z, x0, x1, y0, y1)
    if canvas is None:
        return None
    west, _, _, north = tile_bounds(z, x0, y0)
    _, south, east, _ = tile_bounds(z, x1, y1)
    return cv2.imencode(".png", canvas)[1].tobytes(), (west, south, east, north)
