"""The console's offline basemap: an MBTiles file imported into the data folder.

``zhizhi basemap import FILE`` checks the file (:func:`zhizhi.gis.mbtiles.inspect_mbtiles`),
copies it to ``data_dir/basemap/<id>.mbtiles`` and writes ``data_dir/basemap/basemap.json``
(the manifest: name, format, bounds, zooms, tile count, ``gcj02``, the id). A running console
reads the manifest again when it changes (:class:`BasemapSource`), so an import reaches it
without a restart. The id is a digest of the file, so tile URLs (``?v=<id>``) and ETags change
with the file and browsers may cache tiles for long.

GCJ-02-shifted tiles (most Chinese web maps) would be drawn hundreds of metres off the
WGS-84 layers; they are refused until the console can reproject them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from zhizhi.gis.mbtiles import RASTER_FORMATS, MBTilesError, TileReader, inspect_mbtiles

MANIFEST = "basemap.json"
TILE_PATH = "/api/basemap/tiles/{z}/{x}/{y}."


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
    keys = ("id", "name", "kind", "format", "bounds", "minzoom", "maxzoom", "tiles", "gcj02", "attribution")
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
    if gcj02:
        raise MBTilesError(
            f"{file.name}: GCJ-02-shifted tiles are not supported yet (they would be drawn hundreds of metres "
            "off the WGS-84 layers); give tiles in WGS-84/CGCS2000 Web Mercator")
    folder = basemap_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    basemap_id = _digest(file)
    target = folder / f"{basemap_id}.mbtiles"
    if not target.is_file():
        partial = folder / f".{basemap_id}.partial"
        shutil.copyfile(file, partial)
        os.replace(partial, target)
    manifest = {
        **info.as_dict(), "id": basemap_id, "kind": "mbtiles", "name": name or info.name, "gcj02": gcj02,
        "file": target.name, "source": str(file.resolve()),
    }
    partial = folder / f".{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(partial, folder / MANIFEST)
    for old in folder.glob("*.mbtiles"):
        if old != target:
            old.unlink(missing_ok=True)  # a console still reading it keeps its open handle
    return describe(manifest)


@dataclass
class Basemap:
    """The basemap a console serves: its manifest and a reader of its tiles."""

    manifest: dict
    reader: TileReader

    @property
    def description(self) -> dict:
        return describe(self.manifest)

    @property
    def media_type(self) -> str:
        return RASTER_FORMATS[self.manifest["format"]]


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
