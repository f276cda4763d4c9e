"""Small MBTiles files for the basemap tests: PNG tiles rendered with OpenCV over a box.

Each tile shows a dark land colour (the console's maps are dark), a frame and its own ``z/x/y``, so a test can tell
which tile it got (and that the TMS row was flipped) by comparing bytes with ``tiles``.
"""

from __future__ import annotations

import math
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

from tests.browser import log_in


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


def write_pmtiles(
    path: Path,
    tiles: dict[tuple[int, int, int], bytes],
    bounds: tuple[float, float, float, float],
    *,
    tile_type: str = "png",
    metadata: dict | None = None,
    header: dict | None = None,
) -> None:
    """Write ``tiles`` (by XYZ address) as a PMTiles v3 file with the ``pmtiles`` package's
    writer; ``header`` overrides header fields (to make broken files)."""
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    types = {"png": TileType.PNG, "jpg": TileType.JPEG, "webp": TileType.WEBP, "pbf": TileType.MVT,
             "avif": TileType.AVIF}
    zooms = [z for z, _, _ in tiles] or [0]
    w, s, e, n = bounds
    with path.open("wb") as fh:
        writer = Writer(fh)
        for tile_id, data in sorted((zxy_to_tileid(*k), v) for k, v in tiles.items()):
            writer.write_tile(tile_id, data)
        if not tiles:  # the writer needs one entry: a tile the tests never ask for
            writer.write_tile(0, b"")
        fields = {
            "tile_type": types[tile_type], "tile_compression": Compression.NONE,
            "min_lon_e7": int(w * 1e7), "min_lat_e7": int(s * 1e7), "max_lon_e7": int(e * 1e7),
            "max_lat_e7": int(n * 1e7), "center_zoom": min(zooms), "center_lon_e7": int((w + e) / 2 * 1e7),
            "center_lat_e7": int((s + n) / 2 * 1e7),
        }
        fields.update(header or {})
        writer.finalize(fields, {"name": "测试 PMTiles", "attribution": "测试底图", **(metadata or {})})


def mvt_tile(z: int, x: int, y: int, *, lake: bool = True) -> bytes:
    """A gzip-compressed OpenMapTiles-style vector tile: a motorway across the middle, a lake in
    the north-west quarter, a village name in the south-east quarter (tile pixels / 16)."""
    import gzip

    import mapbox_vector_tile

    layers = [
        {"name": "transportation", "features": [
            {"geometry": "LINESTRING (-64 2048, 4160 2048)", "properties": {"class": "motorway"}}]},
        {"name": "place", "features": [
            {"geometry": "POINT (3072 3072)",
             "properties": {"class": "village", "name:zh": "东湖村", "name": "Donghu"}}]},
    ]
    if lake:
        layers.append({"name": "water", "features": [
            {"geometry": "POLYGON ((256 256, 1792 256, 1792 1792, 256 1792, 256 256))",
             "properties": {"class": "lake"}}]})
    return gzip.compress(mapbox_vector_tile.encode(layers, default_options={"y_coord_down": True}), mtime=0)


#: How many basemap tiles a map page has loaded (a browser expression).
LOADED_TILES = "document.querySelectorAll('.zz-basemap img.leaflet-tile.leaflet-tile-loaded').length"


def open_logged_in(browser, base: str, username: str, url: str, viewport: dict):
    """A page of a new browser context logged in as ``username`` on ``url``; the page, the
    URLs it requested and its script errors (both lists grow as it runs)."""
    context = browser.new_context(viewport=viewport, device_scale_factor=1, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    log_in(context, base, username)
    requests: list[str] = []
    errors: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="domcontentloaded")
    return page, requests, errors


def assert_own_host(base: str, requests: list[str]) -> None:
    """Every request went to the console's host (or a blob:/data: URL), basemap tiles among them."""
    host = urlsplit(base).netloc
    elsewhere = [u for u in requests if urlsplit(u).scheme not in ("blob", "data") and urlsplit(u).netloc != host]
    assert not elsewhere, f"requests left the console's host: {elsewhere}"
    assert any("/api/basemap/tiles/" in u for u in requests)


def demo_settings(data_dir: Path, **extra):
    """Settings of a seed-7 demo console that renders its basemap (the tests' default is not to)."""
    from zhizhi.console.settings import DemoSettings, MapSettings, Settings

    return Settings(data_dir=data_dir, demo=DemoSettings(seed=7), map=MapSettings(), demo_basemap=True, **extra)


def demo_basemap_data(tmp_path_factory, target: Path) -> Path:
    """``target``: a copy of a data folder whose console rendered the demo basemap at its first
    start. The first call of a test session starts that console (about ten seconds of rendering);
    later calls copy the folder, and a console started on the copy finds its basemap up to date."""
    from zhizhi.console.runtime import Runtime

    made = tmp_path_factory.getbasetemp() / "demo-basemap-console"
    if not (made / ".complete").exists():
        shutil.rmtree(made, ignore_errors=True)
        with Runtime(demo_settings(made)):
            pass
        (made / ".complete").touch()
    shutil.copytree(made, target)
    return target
