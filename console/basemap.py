"""The console's offline basemap: an MBTiles or PMTiles file imported into the data folder.

``zhizhi basemap import FILE`` checks the file (:func:`zhizhi.gis.mbtiles.inspect_mbtiles`,
:func:`zhizhi.gis.pmtiles_file.inspect_pmtiles`), copies it to ``data_dir/basemap/<id>.mbtiles``
(or ``.pmtiles``) and writes ``data_dir/basemap/basemap.json`` (the manifest: name, kind,
format, bounds, zooms, tile count, ``gcj02``, the id). With none imported, the demo renders one
from the console's own layers the same way (:mod:`zhizhi.console.demo_basemap`; its manifest
says ``rendered``), and an import replaces it. A running console reads the manifest again when
it changes (:class:`BasemapSource`), so an import reaches it without a restart. The id is a
digest of the file, so tile URLs (``?v=<id>``) and ETags change with the file and browsers may
cache tiles for long.

Vector tiles (``pbf``) are drawn as PNG when served (:func:`zhizhi.gis.mvt_render.render_mvt`),
so the pages take any basemap as raster tiles. GCJ-02-shifted tiles (most Chinese web maps;
declared with ``--gcj02``) are redrawn in WGS-84 when served
(:func:`zhizhi.gis.tile_shift.shifted_tile`), and their bounds are given in WGS-84, so they sit
under the WGS-84 layers where they belong. Drawn and redrawn tiles are kept in memory (the
newest :data:`TILE_CACHE`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from zhizhi.gis.crs import gcj02_to_wgs84
from zhizhi.gis.fonts import cjk_font
from zhizhi.gis.mbtiles import RASTER_FORMATS, MBTilesInfo, TileReader, inspect_mbtiles
from zhizhi.gis.mvt_render import render_mvt
from zhizhi.gis.pmtiles_file import PMTilesReader, inspect_pmtiles
from zhizhi.gis.tile_mosaic import mosaic
from zhizhi.gis.tile_shift import shifted_tile

log = logging.getLogger(__name__)

MANIFEST = "basemap.json"
TILE_PATH = "/api/basemap/tiles/{z}/{x}/{y}."
#: Drawn (vector) and redrawn (GCJ-02 → WGS-84) tiles kept in memory per basemap.
TILE_CACHE = 512


def basemap_dir(data_dir: Path) -> Path:
    """Where the imported basemap lives."""
    return Path(data_dir) / "basemap"


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=8)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe(manifest: dict) -> dict:
    """The public description of an imported basemap (``GET /api/basemap``, the CLI's summary)."""
    keys = ("id", "name", "kind", "format", "source_format", "bounds", "minzoom", "maxzoom", "tiles", "gcj02",
            "attribution", "source_bounds", "rendered")
    out = {k: manifest[k] for k in keys if k in manifest}
    out["tile_url"] = f"{TILE_PATH}{manifest['format']}?v={manifest['id']}"
    return out


def inspect_file(file: Path) -> tuple[str, MBTilesInfo]:
    """The kind (``mbtiles`` or ``pmtiles``, by the file's first bytes) and description of a
    basemap file; :class:`~zhizhi.gis.mbtiles.TilesetError` names what is wrong."""
    file = Path(file)
    head = file.open("rb").read(16) if file.is_file() else b""
    if head.startswith(b"PMTiles") or (file.suffix.lower() == ".pmtiles" and not head.startswith(b"SQLite")):
        return "pmtiles", inspect_pmtiles(file)
    return "mbtiles", inspect_mbtiles(file)


def import_basemap(data_dir: Path, file: Path, *, name: str | None = None, gcj02: bool = False) -> dict:
    """Check ``file`` (MBTiles or PMTiles) and make it the console's basemap; its description.
    :class:`~zhizhi.gis.mbtiles.TilesetError` names what is wrong (nothing changes then)."""
    file = Path(file)
    kind, info = inspect_file(file)
    return install(data_dir, file, kind, info, name=name, gcj02=gcj02, extra={"source": str(file.resolve())})


def install(data_dir: Path, file: Path, kind: str, info: MBTilesInfo, *, name: str | None = None,
            gcj02: bool = False, extra: dict | None = None, move: bool = False) -> dict:
    """Make the checked ``file`` the basemap of ``data_dir`` (copied, or moved with ``move``);
    its description. The manifest is replaced last, in one step, so a console reads either the
    old basemap or the new one; the old file goes."""
    folder = basemap_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    digest = _digest(file)
    basemap_id = f"{digest}g" if gcj02 else digest  # the same file served shifted has other tiles
    target = folder / f"{digest}.{kind}"
    if not target.is_file():
        if move:
            os.replace(file, target)
        else:
            partial = folder / f".{digest}.partial"
            shutil.copyfile(file, partial)
            os.replace(partial, target)
    elif move:
        Path(file).unlink(missing_ok=True)
    manifest = {
        **info.as_dict(), "id": basemap_id, "kind": kind, "name": name or info.name, "gcj02": gcj02,
        "file": target.name, **(extra or {}),
    }
    if info.format == "pbf":  # vector tiles: served drawn as PNG
        manifest["format"], manifest["source_format"] = "png", "pbf"
    if gcj02:
        manifest["source_bounds"] = list(info.bounds)
        manifest["bounds"] = wgs84_bounds(info.bounds)
    partial = folder / f".{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(partial, folder / MANIFEST)
    for old in (*folder.glob("*.mbtiles"), *folder.glob("*.pmtiles")):
        if old != target:
            old.unlink(missing_ok=True)  # a console still reading it keeps its open handle
    return describe(manifest)


def read_manifest(data_dir: Path) -> dict | None:
    """The manifest of ``data_dir``'s basemap, or ``None`` when there is none (or it is unreadable)."""
    try:
        data = json.loads((basemap_dir(data_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def wgs84_bounds(gcj: tuple[float, float, float, float]) -> list[float]:
    """The WGS-84 box around a GCJ-02 box."""
    w, s, e, n = gcj
    lon, lat = gcj02_to_wgs84([w, e, w, e], [s, s, n, n])
    return [float(min(lon)), float(min(lat)), float(max(lon)), float(max(lat))]


@dataclass
class Basemap:
    """The basemap a console serves: its manifest and a reader of its tiles.

    Tiles are served as stored, except vector tiles, drawn as PNG (:func:`render_mvt`), and
    GCJ-02-shifted ones, redrawn in WGS-84 (:func:`shifted_tile`); both kinds are computed on
    the first request and the newest :data:`TILE_CACHE` kept in memory.
    """

    manifest: dict
    reader: TileReader | PMTilesReader
    _made: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def vector(self) -> bool:
        return self.manifest.get("source_format") == "pbf"

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The served tile ``z/x/y`` (XYZ, WGS-84 Web Mercator); ``None`` where there is none."""
        gcj02 = bool(self.manifest.get("gcj02"))
        if not gcj02 and not self.vector:
            return self.reader.tile(z, x, y)
        if not (0 <= z <= 30 and 0 <= x < (1 << z) and 0 <= y < (1 << z)):
            return None
        if gcj02:
            source = self._drawn if self.vector else self.reader.tile
            return self._cached(("shifted", z, x, y), lambda: shifted_tile(z, x, y, source, self.manifest["format"]))
        return self._drawn(z, x, y)

    def _drawn(self, z: int, x: int, y: int) -> bytes | None:
        """Vector tile ``z/x/y`` drawn as PNG (``None`` where the file has none, or a tile that
        is no vector tile: logged)."""
        def draw() -> bytes | None:
            data = self.reader.tile(z, x, y)
            if data is None:
                return None
            try:
                return render_mvt(data, z, cjk_font())
            except ValueError as exc:
                log.warning("basemap %s: tile %d/%d/%d: %s", self.manifest.get("name"), z, x, y, exc)
                return None

        return self._cached(("drawn", z, x, y), draw)

    def _cached(self, key: tuple, make) -> bytes | None:
        with self._lock:
            if key in self._made:
                self._made.move_to_end(key)
                return self._made[key]
        data = make()
        with self._lock:
            self._made[key] = data
            while len(self._made) > TILE_CACHE:
                self._made.popitem(last=False)
        return data

    @property
    def description(self) -> dict:
        return describe(self.manifest)

    @property
    def media_type(self) -> str:
        return RASTER_FORMATS[self.manifest["format"]]


def report_image(basemap: Basemap, bounds: tuple[float, float, float, float], pad: float = 1.0,
                 max_px: int = 2048) -> tuple[bytes, tuple[float, float, float, float]] | None:
    """The basemap over ``bounds`` (west, south, east, north; widened by ``pad`` of its size, at
    least 0.02 degrees, on each side, room to pan) as one PNG and its bounds, for a standalone
    page such as the situation report."""
    w, s, e, n = bounds
    dx, dy = max((e - w) * pad, 0.02), max((n - s) * pad, 0.02)
    box = (max(w - dx, -180.0), max(s - dy, -85.0), min(e + dx, 180.0), min(n + dy, 85.0))
    return mosaic(basemap.tile, box, (basemap.manifest["minzoom"], basemap.manifest["maxzoom"]), max_px)


class BasemapSource:
    """The basemap of ``data_dir``, read again whenever its manifest changes (one ``stat`` a call)."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = basemap_dir(data_dir)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._current: Basemap | None = None

    def current(self) -> Basemap | None:
        """The imported basemap, or ``None``."""
        manifest = self.folder / MANIFEST
        try:
            st = manifest.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                # The old reader is dropped, not closed: a tile request may still be reading it.
                self._current = self._load(manifest) if stamp else None
                self._stamp = stamp
            return self._current

    def _load(self, manifest: Path) -> Basemap | None:
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            path = self.folder / data["file"]
        except (OSError, ValueError, KeyError):
            return None
        if not path.is_file():
            return None
        try:
            reader = PMTilesReader(path) if data.get("kind") == "pmtiles" else TileReader(path)
        except (OSError, ValueError):
            return None
        return Basemap(data, reader)

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.reader.close()
            self._current, self._stamp = None, None
