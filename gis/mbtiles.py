"""Raster MBTiles files: checked before use, and read tile by tile from any thread.

An MBTiles file (https://github.com/mapbox/mbtiles-spec) is SQLite with a ``metadata`` table
(name/value) and a ``tiles`` table (``zoom_level``, ``tile_column``, ``tile_row``,
``tile_data``) whose rows count from the south (TMS): :func:`tms_row` turns an XYZ ``y``
into the stored row. :func:`inspect_mbtiles` checks a file and describes it (raster png, jpg or
webp tiles, or vector ``pbf`` tiles, which the console renders itself); :class:`MBTilesWriter`
writes one (the demo's rendered basemap).
"""

from __future__ import annotations

import math
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Self

#: Raster formats drawn by the map pages, with their media types.
RASTER_FORMATS = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpg"), (b"RIFF", "webp"))
#: Every tile format a basemap file may hold: the raster ones and vector tiles (``pbf``: Mapbox
#: Vector Tile), which the console draws itself (:mod:`zhizhi.gis.mvt_render`).
TILE_FORMATS = (*RASTER_FORMATS, "pbf")
#: Web-Mercator's latitude limit.
MAX_LAT = 85.0511287798


class TilesetError(ValueError):
    """A tileset file (MBTiles, PMTiles) that cannot be used as a basemap; the message names the problem."""


class MBTilesError(TilesetError):
    """An MBTiles file that cannot be used as a basemap; the message names the problem."""


@dataclass(frozen=True)
class MBTilesInfo:
    """What a checked MBTiles file holds (bounds in WGS-84 degrees: west, south, east, north)."""

    name: str
    format: str
    bounds: tuple[float, float, float, float]
    minzoom: int
    maxzoom: int
    tiles: int
    attribution: str

    def as_dict(self) -> dict:
        out = asdict(self)
        out["bounds"] = list(self.bounds)
        return out


def tms_row(z: int, y: int) -> int:
    """The stored (TMS, from the south) row of XYZ tile row ``y`` at zoom ``z``."""
    return (1 << z) - 1 - y


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """West, south, east, north (degrees) of XYZ tile ``z/x/y``."""
    n = 1 << z

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def _connect(path: Path) -> sqlite3.Connection:
    """A read-only connection (the file is never written)."""
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)


def _sniff(data: bytes) -> str | None:
    for magic, fmt in _MAGIC:
        if data.startswith(magic) and (fmt != "webp" or data[8:12] == b"WEBP"):
            return fmt
    return None


def check_vector_tile(data: bytes, where: str, error: type[TilesetError]) -> None:
    """Refuse (``error``, naming the file) a first tile that is no Mapbox Vector Tile."""
    from zhizhi.gis.mvt_render import decode

    try:
        decode(data)
    except ValueError as exc:
        raise error(f"{where}: says vector tiles (pbf) but a tile is {exc}") from None


def _bounds(text: str | None, where: str) -> tuple[float, float, float, float] | None:
    if not text:
        return None
    try:
        w, s, e, n = (float(v) for v in text.split(","))
    except ValueError:
        raise MBTilesError(f"{where}: metadata bounds {text[:80]!r} is not 'west,south,east,north'") from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise MBTilesError(f"{where}: metadata bounds {text[:80]!r} is not a box in degrees")
    return w, s, e, n


def inspect_mbtiles(path: Path) -> MBTilesInfo:
    """Check ``path`` as an MBTiles file and describe it (:class:`MBTilesError` naming the
    problem: not SQLite, no ``metadata``/``tiles`` table, an unknown tile format, tiles that are
    not what the metadata says, no tiles, bad metadata)."""
    path = Path(path)
    where = path.name
    if not path.is_file():
        raise MBTilesError(f"{path}: no such file")
    with path.open("rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise MBTilesError(f"{where}: not an MBTiles file (not an SQLite database)")
    con = _connect(path)
    try:
        try:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        except sqlite3.DatabaseError as exc:
            raise MBTilesError(f"{where}: not a readable SQLite database ({exc})") from None
        missing = [t for t in ("metadata", "tiles") if t not in names]
        if missing:
            raise MBTilesError(f"{where}: not an MBTiles file (no {' and no '.join(missing)} table)")
        try:
            meta = {str(k): str(v) for k, v in con.execute("SELECT name, value FROM metadata") if k is not None}
            count, zmin, zmax = con.execute(
                "SELECT count(*), min(zoom_level), max(zoom_level) FROM tiles").fetchone()
        except sqlite3.DatabaseError as exc:
            raise MBTilesError(f"{where}: not an MBTiles file ({exc})") from None
        fmt = meta.get("format", "").strip().lower()
        fmt = "jpg" if fmt == "jpeg" else fmt
        if fmt in ("mvt", "application/x-protobuf") or "json" in meta and not fmt:
            fmt = "pbf"  # vector tiles
        if not count:
            raise MBTilesError(f"{where}: the MBTiles file holds no tiles")
        first = con.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()[0]
        sniffed = _sniff(bytes(first or b""))
        if not fmt:
            fmt = sniffed or ""
        if fmt not in TILE_FORMATS:
            raise MBTilesError(f"{where}: tile format {fmt or 'unknown'!r} is not supported "
                               f"(raster {', '.join(RASTER_FORMATS)}, or vector pbf)")
        if fmt == "pbf":
            check_vector_tile(bytes(first or b""), where, MBTilesError)
        elif sniffed != fmt:
            raise MBTilesError(f"{where}: metadata says {fmt} but the tiles are {sniffed or 'not an image'}")
        minzoom = int(meta.get("minzoom") or zmin)
        maxzoom = int(meta.get("maxzoom") or zmax)
        if not 0 <= minzoom <= maxzoom <= 30:
            raise MBTilesError(f"{where}: zoom levels {minzoom}-{maxzoom} are not 0 <= min <= max <= 30")
        bounds = _bounds(meta.get("bounds"), where) or _tile_extent(con, zmax)
    finally:
        con.close()
    return MBTilesInfo(
        name=meta.get("name") or path.stem, format=fmt, bounds=bounds, minzoom=minzoom, maxzoom=maxzoom,
        tiles=int(count), attribution=meta.get("attribution", ""),
    )


def _tile_extent(con: sqlite3.Connection, z: int) -> tuple[float, float, float, float]:
    """The box covered by the tiles of zoom ``z`` (when the metadata gives no bounds)."""
    x0, x1, r0, r1 = con.execute(
        "SELECT min(tile_column), max(tile_column), min(tile_row), max(tile_row) FROM tiles WHERE zoom_level = ?",
        (z,)).fetchone()
    west, _, _, north = tile_bounds(z, x0, tms_row(z, r1))
    _, south, east, _ = tile_bounds(z, x1, tms_row(z, r0))
    return west, max(south, -MAX_LAT), east, min(north, MAX_LAT)


class TileReader:
    """Tiles of one MBTiles file by XYZ address, one read-only connection per thread (the
    console's sync routes run in a thread pool)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = _connect(self.path)
            with self._lock:
                self._all.append(con)
        return con

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The stored bytes of XYZ tile ``z/x/y``; ``None`` when the file has none there."""
        if not (0 <= z <= 30 and 0 <= x < (1 << z) and 0 <= y < (1 << z)):
            return None
        row = self._con().execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, tms_row(z, y))).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            for con in self._all:
                con.close()
            self._all.clear()
        self._local = threading.local()


class MBTilesWriter:
    """A new MBTiles file written in one transaction: ``add`` tiles by XYZ address, then ``close``.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.mbtiles"
    >>> png = b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8)
    >>> with MBTilesWriter(path, {"name": "t", "format": "png", "bounds": "120,31,121,32"}) as out:
    ...     out.add(9, 427, 210, png)
    >>> TileReader(path).tile(9, 427, 210) == png
    True
    """

    def __init__(self, path: Path, metadata: dict[str, str]) -> None:
        self.path = Path(path)
        self.path.unlink(missing_ok=True)
        self._con = sqlite3.connect(self.path)
        self._con.executescript(
            "CREATE TABLE metadata (name TEXT, value TEXT);"
            "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);"
            "CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);"
            "BEGIN;"
        )
        self._con.executemany("INSERT INTO metadata VALUES (?, ?)", [(k, str(v)) for k, v in metadata.items()])

    def add(self, z: int, x: int, y: int, data: bytes) -> None:
        """Store tile ``z/x/y`` (XYZ row; kept as the TMS row)."""
        self._con.execute("INSERT OR REPLACE INTO tiles VALUES (?, ?, ?, ?)", (z, x, tms_row(z, y), data))

    def close(self) -> None:
        """Commit and close the file."""
        if self._con is not None:
            self._con.commit()
            self._con.close()
            self._con = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
