"""Raster tiles pasted into one BGRA canvas: what the basemap's mosaic and its GCJ-02 redrawing share.

>>> import cv2, numpy as np
>>> red = cv2.imencode(".png", np.full((TILE, TILE, 3), (0, 0, 255), np.uint8))[1].tobytes()
>>> canvas = paste_tiles(lambda z, x, y: red if (x, y) == (1, 0) else None, 1, 0, 1, 0, 0)
>>> canvas.shape, canvas[0, 0].tolist(), canvas[0, TILE].tolist()
((256, 512, 4), [0, 0, 0, 0], [0, 0, 255, 255])
>>> paste_tiles(lambda z, x, y: None, 1, 0, 1, 0, 0) is None
True
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

TILE = 256


def decode_tile(data: bytes) -> np.ndarray | None:
    """A tile's image as TILE x TILE BGRA; ``None`` when the bytes are no image."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        return None
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGRA)
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    if img.shape[:2] != (TILE, TILE):
        shrink = img.shape[0] > TILE
        img = cv2.resize(img, (TILE, TILE), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return img


def paste_tiles(
    fetch: Callable[[int, int, int], bytes | None], z: int, x0: int, x1: int, y0: int, y1: int
) -> np.ndarray | None:
    """The tiles ``fetch(z, x, y)`` gives for columns ``x0..x1`` and rows ``y0..y1`` (XYZ, both
    ends included) side by side in one BGRA canvas, transparent where a tile is missing or lies
    outside the world; ``None`` when none exists."""
    n = 1 << z
    canvas = np.zeros(((y1 - y0 + 1) * TILE, (x1 - x0 + 1) * TILE, 4), np.uint8)
    found = False
    for ty in range(y0, y1 + 1):
        for tx in range(x0, x1 + 1):
            data = fetch(z, tx, ty) if 0 <= tx < n and 0 <= ty < n else None
            img = decode_tile(data) if data else None
            if img is None:
                continue
            r, c = (ty - y0) * TILE, (tx - x0) * TILE
            canvas[r : r + TILE, c : c + TILE] = img
            found = True
    return canvas if found else None
