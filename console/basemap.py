"""The console's offline basemap: an MBTiles file imported into the data folder.

``zhizhi basemap import FILE`` checks the file (:func:`zhizhi.gis.mbtiles.inspect_mbtiles`),
copies it to ``data_dir/basemap/<id>.mbtiles`` and writes ``data_dir/basemap/basemap.json``
(the manifest: name, format, bounds, zooms, tile count, ``gcj02``, the id). A running console
reads the manifest again when it changes (:class:`BasemapSource`), so an import reaches it
without a restart. The id is a digest of the file, so tile URLs (``?v=<id>``) and ETags change
with the file and browsers may cache tiles for long.

GCJ-02-shifted tiles (most Chinese web maps; declared with ``--gcj02``) are redrawn in WGS-84
when served (:func:`zhizhi.gis.tile_shift.shifted_tile`, the newest tiles kept in memory), and
their bounds are given in WGS-84, so they sit under the WGS-84 layers where they belong.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from zhizhi.gis.crs import gcj02_to_wgs84
from zhizhi.gis.mbtiles import RASTER_FORMATS, MBTilesError, TileReader, inspect_mbtiles
from zhizhi.gis.tile_mosaic import mosaic
from zhizhi.gis.tile_shift import shifted_tile

MANIFEST = "basemap.json"
TILE_PATH = "/api/basemap/tiles/{z}/{x}/{y}."
#: Redrawn (GCJ-02 → WGS-84) tiles kept in memory per basemap.
SHIFTED_CACHE = 512


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
    keys = ("id", "name", "kind", "format", "bounds", "minzoom", "maxzoom", "tiles", "gcj02", "attribution",
            "source_bounds")
    out = {k: manifest[k] for k in keys if k in manifest}
    out["tile_url"] = f"{TILE_PATH}{manifest['format']}?v={manifest['id']}"
    return out


def import_basemap(data_dir: Path, file: Path, *, name: str | None = None, gcj02: bool = False) -> dict:
    """Check ``file`` and make it the console's basemap; its description. :class:`MBTilesError`
    names what is wrong (nothing changes then)."""
    file = Path(file)
    if file.suffix.lower() == ".pmtiles":
        raise MBTilesError(f"{file.name}: PMTiles is not supported yet; give an MBTiles file")
    info = inspect_mbtiles(file)
    folder = basemap_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    digest = _digest(file)
    basemap_id = f"{digest}g" if gcj02 else digest  # the same file served shifted has other tiles
    target = folder / f"{digest}.mbtiles"
    if not target.is_file():
        partial = folder / f".{digest}.partial"
        shutil.copyfile(file, partial)
        os.replace(partial, target)
    manifest = {
        **info.as_dict(), "id": basemap_id, "kind": "mbtiles", "name": name or info.name, "gcj02": gcj02,
        "file": target.name, "source": str(file.resolve()),
    }
    if gcj02:
        manifest["source_bounds"] = list(info.bounds)
        manifest["bounds"] = wgs84_bounds(info.bounds)
    partial = folder / f".{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(partial, folder / MANIFEST)
    for old in folder.glob("*.mbtiles"):
        if old != target:
            old.unlink(missing_ok=True)  # a console still reading it keeps its open handle
    return describe(manifest)


def wgs84_bounds(gcj: tuple[float, float, float, float]) -> list[float]:
    """The WGS-84 box around a GCJ-02 box."""
    w, s, e, n = gcj
    lon, lat = gcj02_to_wgs84([w, e, w, e], [s, s, n, n])
    return [float(min(lon)), float(min(lat)), float(max(lon)), float(max(lat))]


@dataclass
class Basemap:
    """The basemap a console serves: its manifest and a reader of its tiles."""

    manifest: dict
    reader: TileReader
    _shifted: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The served tile ``z/x/y`` (XYZ, WGS-84 Web Mercator); ``None`` where there is none."""
        if not self.manifest.get("gcj02"):
            return self.reader.tile(z, x, y)
        if not (0 <= z <= 30 and 0 <= x < (1 << z) and 0 <= y < (1 << z)):
            return None
        key = (z, x, y)
        with self._lock:
            if key in self._shifted:
                self._shifted.move_to_end(key)
                return self._shifted[key]
        data = shifted_tile(z, x, y, self.reader.tile, self.manifest["format"])
        with self._lock:
            self._shifted[key] = data
            while len(self._shifted) > SHIFTED_CACHE:
                self._shifted.popitem(last=False)
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
        return Basemap(data, TileReader(path)) if path.is_file() else None

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.reader.close()
            self._current, self._stamp = None, None
