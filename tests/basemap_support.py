"""Small MBTiles files for the basemap tests: PNG tiles rendered with OpenCV over a box.

Each tile shows a dark land colour (the console's maps are dark), a frame and its own ``z/x/y``, so a test can tell
which tile it got (and that the TMS row was flipped) by comparing bytes with ``tiles``.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import cv2
import numpy as np


def tile_range(bounds: tuple[float, float, float, float], z: int) -> tuple[range, range]:
    """The XYZ columns and rows of zoom ``z`` that cover ``bounds`` (west, south, east, north)."""
    n = 1 << z

    def col(lon: float) -> int:
        return min(n - 1, int((lon + 180) / 360 * n))

    def row(lat: float) -> int:
        r = math.radians(lat)
        return min(n - 1, int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * n))

    w, s, e, north = bounds
    return range(col(w), col(e) + 1), range(row(north), row(s) + 1)


def render_tile(z: int, x: int, y: int, ext: str = "png") -> bytes:
    """A 256 px tile that names itself."""
    img = np.full((256, 256, 3), (52, 44, 36), np.uint8)  # dark slate land (BGR)
    if (x + y) % 2:
        img[:] = (58, 50, 41)
    cv2.rectangle(img, (0, 0), (255, 255), (92, 80, 68), 1)
    cv2.line(img, (0, 200), (255, 150 + 10 * (x % 5)), (120, 84, 40), 9, cv2.LINE_AA)  # a "river"
    cv2.putText(img, f"{z}/{x}/{y}", (12, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (150, 140, 128), 1, cv2.LINE_AA)
    return cv2.imencode(f".{ext}", img)[1].tobytes()


def write_mbtiles(
    path: Path,
    bounds: tuple[float, float, float, float],
    zooms: tuple[int, ...] = (9, 10, 11),
    *,
    fmt: str = "png",
    metadata: dict[str, str] | None = None,
    tiles: bool = True,
) -> dict[tuple[int, int, int], bytes]:
    """Write an MBTiles file over ``bounds``; its tiles by XYZ address (stored with TMS rows)."""
    made: dict[tuple[int, int, int], bytes] = {}
    con = sqlite3.connect(path)
    with con:
        con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        con.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, "
                    "tile_data BLOB)")
        meta = {"name": "test basemap", "format": fmt, "bounds": ",".join(map(str, bounds)),
                "minzoom": str(min(zooms)), "maxzoom": str(max(zooms)), "attribution": "测试底图"}
        meta.update(metadata or {})
        con.executemany("INSERT INTO metadata VALUES (?, ?)", [(k, v) for k, v in meta.items() if v is not None])
        if tiles:
            for z in zooms:
                cols, rows = tile_range(bounds, z)
                for x in cols:
                    for y in rows:
                        data = render_tile(z, x, y) if fmt in ("png", "jpg", "webp") else b"\x1a\x00pbf"
                        made[(z, x, y)] = data
                        con.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, (1 << z) - 1 - y, data))
    con.close()
    return made
