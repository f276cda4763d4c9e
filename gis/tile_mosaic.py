"""One image of a basemap over a box: its tiles at the finest zoom that fits a pixel budget,
pasted side by side (Web Mercator, so the image stretches linearly between its bounds, as
Leaflet's image overlay draws it). For standalone pages such as the situation report."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from zhizhi.gis.mbtiles import tile_bounds
from zhizhi.gis.tile_shift import TILE


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
    canvas = np.zeros(((y1 - y0 + 1) * TILE, (x1 - x0 + 1) * TILE, 4), np.uint8)
    found = False
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            data = fetch(z, x, y)
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
            if img is None:
                continue
            if img.ndim == 2:
                img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGRA)
            elif img.shape[2] == 3:
                img = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
            if img.shape[:2] != (TILE, TILE):
                img = cv2.resize(img, (TILE, TILE), interpolation=cv2.INTER_AREA)
            canvas[(y - y0) * TILE:(y - y0 + 1) * TILE, (x - x0) * TILE:(x - x0 + 1) * TILE] = img
            found = True
    if not found:
        return None
    west, _, _, north = tile_bounds(z, x0, y0)
    _, south, east, _ = tile_bounds(z, x1, y1)
    return cv2.imencode(".png", canvas)[1].tobytes(), (west, south, east, north)
