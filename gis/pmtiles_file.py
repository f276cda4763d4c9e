"""PMTiles files (https://github.com/protomaps/PMTiles, version 3): checked before use, and
read tile by tile from any thread.

A PMTiles file is one archive: a 127-byte header (tile type, compression, zooms, bounds), a
root directory, JSON metadata, leaf directories and the tile data. Tiles are addressed by a
Hilbert tile id (:func:`pmtiles.tile.zxy_to_tileid`); rows count from the north (XYZ), so no
flip. :func:`inspect_pmtiles` checks a file as :func:`zhizhi.gis.mbtiles.inspect_mbtiles` does
an MBTiles one and describes it the same way; :class:`PMTilesReader` reads tiles from a
memory map, keeping the directories it has decoded.
"""

from __future__ import annotations

import gzip
import json
import mmap
import threading
from collections import OrderedDict
from pathlib import Path

from pmtiles.tile import (
    Compression,
    Entry,
    MagicNumberNotFound,
    SpecVersionUnsupported,
    TileType,
    deserialize_directory,
    deserialize_header,
    find_tile,
    tileid_to_zxy,
    zxy_to_tileid,
)

from zhizhi.gis.mbtiles import MAX_LAT, RASTER_FORMATS, MBTilesInfo, TilesetError, _sniff, check_vector_tile

MAGIC = b"PMTiles"
HEADER_BYTES = 127
#: Tile types by the name the basemap uses (``pbf``: vector tiles, Mapbox Vector Tile).
TILE_TYPES = {TileType.PNG: "png", TileType.JPEG: "jpg", TileType.WEBP: "webp", TileType.MVT: "pbf"}
#: Decoded directories kept per file.
DIRECTORY_CACHE = 64


class PMTilesError(TilesetError):
    """A PMTiles file that cannot be used as a basemap; the message names the problem."""


def _decompress(data: bytes, compression: Compression, what: str, where: str) -> bytes:
    if compression in (Compression.NONE, Compression.UNKNOWN):
        return data
    if compression == Compression.GZIP:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise PMTilesError(f"{where}: its {what} is not readable gzip ({exc})") from None
    raise PMTilesError(f"{where}: its {what} is {compression.name.lower()}-compressed; only gzip or none is "
                       "supported (convert with `pmtiles convert`)")


def _header(data: bytes, where: str) -> dict:
    if len(data) < HEADER_BYTES or not data.startswith(MAGIC):
        raise PMTilesError(f"{where}: not a PMTiles file (no PMTiles header)")
    try:
        return dict(deserialize_header(data[:HEADER_BYTES]))
    except SpecVersionUnsupported:
        raise PMTilesError(f"{where}: PMTiles version {data[7]} is not supported (version 3 only)") from None
    except (MagicNumberNotFound, ValueError) as exc:  # an unknown compression or tile type byte
        raise PMTilesError(f"{where}: not a readable PMTiles header ({exc})") from None


class PMTilesReader:
    """Tiles of one PMTiles file by XYZ address (the bytes as stored, decompressed), from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = self.path.open("rb")
        try:
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file
            self._file.close()
            raise PMTilesError(f"{self.path.name}: not a PMTiles file (empty)") from None
        self.header = _header(self._map[:HEADER_BYTES], self.path.name)
        self._dirs: OrderedDict[tuple[int, int], list[Entry]] = OrderedDict()
        self._lock = threading.Lock()

    def _bytes(self, offset: int, length: int, what: str) -> bytes:
        if offset < 0 or length < 0 or offset + length > len(self._map):
            raise PMTilesError(f"{self.path.name}: its {what} lies past the end of the file (truncated?)")
        return self._map[offset : offset + length]

    def _directory(self, offset: int, length: int) -> list[Entry]:
        key = (offset, length)
        with self._lock:
            if key in self._dirs:
                self._dirs.move_to_end(key)
                return self._dirs[key]
        raw = _decompress(self._bytes(offset, length, "directory"), self.header["internal_compression"],
                          "directory", self.path.name)
        try:  # the library's decoder takes gzip only: an uncompressed directory goes through it re-gzipped
            entries = deserialize_directory(gzip.compress(raw, compresslevel=1))
        except (EOFError, OSError, IndexError) as exc:
            raise PMTilesError(f"{self.path.name}: a directory is not readable ({exc})") from None
        with self._lock:
            self._dirs[key] = entries
            while len(self._dirs) > DIRECTORY_CACHE:
                self._dirs.popitem(last=False)
        return entries

    def metadata(self) -> dict:
        """The file's JSON metadata (``{}`` when it has none)."""
        h = self.header
        if not h["metadata_length"]:
            return {}
        raw = _decompress(self._bytes(h["metadata_offset"], h["metadata_length"], "metadata"),
                          h["internal_compression"], "metadata", self.path.name)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise PMTilesError(f"{self.path.name}: its metadata is not JSON ({exc})") from None
        return data if isinstance(data, dict) else {}

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The bytes of XYZ tile ``z/x/y`` (decompressed when the file compresses its tiles);
        ``None`` when the file has none there."""
        if not (0 <= z <= 30 and 0 <= x < (1 << z) and 0 <= y < (1 << z)):
            return None
        h = self.header
        tile_id = zxy_to_tileid(z, x, y)
        offset, length = h["root_offset"], h["root_length"]
        for _ in range(4):  # the root and at most three levels of leaves
            entry = find_tile(self._directory(offset, length), tile_id)
            if entry is None:
                return None
            if entry.run_length == 0:
                offset, length = h["leaf_directory_offset"] + entry.offset, entry.length
                continue
            if not entry.length:  # the format requires a length; none means no tile
                return None
            data = self._bytes(h["tile_data_offset"] + entry.offset, entry.length, "tile data")
            return _decompress(data, h["tile_compression"], "tile data", self.path.name)
        return None

    def first_tile(self) -> tuple[tuple[int, int, int] | None, int]:
        """Some stored tile's address, and how many tiles the file addresses (from its header,
        or counted through its directories when the header does not say)."""
        h = self.header
        first: tuple[int, int, int] | None = None
        count = 0
        stack = [(h["root_offset"], h["root_length"])]
        while stack:
            offset, length = stack.pop()
            for entry in self._directory(offset, length):
                if entry.run_length:
                    if entry.length:  # a length of 0: no tile
                        first = first or tileid_to_zxy(entry.tile_id)
                        count += entry.run_length
                else:
                    stack.append((h["leaf_directory_offset"] + entry.offset, entry.length))
            if first is not None and h["addressed_tiles_count"]:
                return first, int(h["addressed_tiles_count"])
        return first, count

    def close(self) -> None:
        try:
            self._map.close()
        finally:
            self._file.close()


def inspect_pmtiles(path: Path) -> MBTilesInfo:
    """Check ``path`` as a PMTiles file and describe it (:class:`PMTilesError` naming the
    problem: not PMTiles, another version, an unsupported tile type or compression, no tiles,
    a truncated file, tiles that are not what the header says)."""
    path = Path(path)
    where = path.name
    if not path.is_file():
        raise PMTilesError(f"{path}: no such file")
    with path.open("rb") as fh:
        _header(fh.read(HEADER_BYTES), where)
    reader = PMTilesReader(path)
    try:
        h = reader.header
        tile_type = h["tile_type"]
        if tile_type not in TILE_TYPES:
            raise PMTilesError(f"{where}: tile type {tile_type.name.lower()} is not supported "
                               f"(raster {', '.join(RASTER_FORMATS)}, or vector pbf)")
        fmt = TILE_TYPES[tile_type]
        size = path.stat().st_size
        for what, part in (("root directory", "root"), ("metadata", "metadata"),
                           ("leaf directories", "leaf_directory"), ("tile data", "tile_data")):
            if h[f"{part}_offset"] + h[f"{part}_length"] > size:
                raise PMTilesError(f"{where}: its {what} lies past the end of the file (truncated?)")
        for what, key in (("directories", "internal_compression"), ("tiles", "tile_compression")):
            if h[key] not in (Compression.NONE, Compression.UNKNOWN, Compression.GZIP):
                raise PMTilesError(f"{where}: its {what} are {h[key].name.lower()}-compressed; only gzip or none "
                                   "is supported (convert with `pmtiles convert`)")
        meta = reader.metadata()
        first, count = reader.first_tile()
        if first is None or not count:
            raise PMTilesError(f"{where}: the PMTiles file holds no tiles")
        data = reader.tile(*first) or b""
        if fmt == "pbf":
            check_vector_tile(data, where, PMTilesError)
        else:
            sniffed = _sniff(data)
            if sniffed != fmt:
                raise PMTilesError(f"{where}: the header says {fmt} but the tiles are {sniffed or 'not an image'}")
        minzoom, maxzoom = int(h["min_zoom"]), int(h["max_zoom"])
        if not 0 <= minzoom <= maxzoom <= 30:
            raise PMTilesError(f"{where}: zoom levels {minzoom}-{maxzoom} are not 0 <= min <= max <= 30")
        w, s, e, n = (h[k] / 1e7 for k in ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7"))
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise PMTilesError(f"{where}: header bounds {w},{s},{e},{n} are not a box in degrees")
    finally:
        reader.close()
    return MBTilesInfo(
        name=str(meta.get("name") or path.stem), format=fmt,
        bounds=(w, max(s, -MAX_LAT), e, min(n, MAX_LAT)), minzoom=minzoom, maxzoom=maxzoom,
        tiles=int(count), attribution=str(meta.get("attribution") or ""),
    )
