"""Raster MBTiles files checked and read (gis/mbtiles.py)."""

from __future__ import annotations

import sqlite3

import pytest

from tests.basemap_support import write_mbtiles
from zhizhi.gis.mbtiles import MBTilesError, MBTilesWriter, TileReader, inspect_mbtiles, tile_bounds, tms_row

BOX = (120.9, 31.9, 121.3, 32.2)


def test_inspect_and_read_with_the_tms_flip(tmp_path):
    path = tmp_path / "b.mbtiles"
    tiles = write_mbtiles(path, BOX, (9, 10))
    info = inspect_mbtiles(path)
    assert (info.format, info.minzoom, info.maxzoom, info.tiles) == ("png", 9, 10, len(tiles))
    assert info.bounds == BOX and info.name == "test basemap" and info.attribution == "测试底图"
    reader = TileReader(path)
    try:
        for (z, x, y), data in tiles.items():
            assert reader.tile(z, x, y) == data
            assert tile_bounds(z, x, y)[0] <= BOX[2]
        (z, x, y) = next(iter(tiles))
        assert reader.tile(z, x, tms_row(z, y)) != tiles[(z, x, y)]  # rows are flipped
        assert reader.tile(3, 0, 0) is None and reader.tile(5, 40, 0) is None
    finally:
        reader.close()


def test_bounds_and_zooms_from_the_tiles_when_the_metadata_has_none(tmp_path):
    path = tmp_path / "b.mbtiles"
    write_mbtiles(path, BOX, (10, 11), metadata={"bounds": None, "minzoom": None, "maxzoom": None, "format": None})
    info = inspect_mbtiles(path)
    assert (info.format, info.minzoom, info.maxzoom) == ("png", 10, 11)
    w, s, e, n = info.bounds
    assert w <= BOX[0] and s <= BOX[1] and e >= BOX[2] and n >= BOX[3] and e - w < 1


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes(b"PK\x03\x04 not sqlite"), "not an SQLite database"),
    (lambda p: sqlite3.connect(p).execute("CREATE TABLE metadata (name TEXT, value TEXT)").connection.commit(),
     "no tiles table"),
    (lambda p: write_mbtiles(p, BOX, (9,), fmt="pbf"), "says vector tiles (pbf) but a tile is not a Mapbox Vector"),
    (lambda p: write_mbtiles(p, BOX, (9,), metadata={"format": "avif"}), "tile format 'avif' is not supported"),
    (lambda p: write_mbtiles(p, BOX, (9,), tiles=False), "holds no tiles"),
    (lambda p: write_mbtiles(p, BOX, (9,), metadata={"format": "jpg"}), "metadata says jpg but the tiles are png"),
    (lambda p: write_mbtiles(p, BOX, (9,), metadata={"bounds": "1,2,3"}), "is not 'west,south,east,north'"),
])
def test_broken_files_are_refused_naming_the_problem(tmp_path, make, message):
    path = tmp_path / "broken.mbtiles"
    make(path)
    with pytest.raises(MBTilesError, match="broken.mbtiles") as caught:
        inspect_mbtiles(path)
    assert message in str(caught.value)


def test_vector_tiles_are_described_as_pbf_and_written_back(tmp_path):
    from tests.basemap_support import mvt_tile, tile_range

    path = tmp_path / "v.mbtiles"
    cols, rows = tile_range(BOX, 12)
    tiles = {(12, x, y): mvt_tile(12, x, y) for x in cols for y in rows}
    meta = {"name": "vector", "format": "pbf", "bounds": ",".join(map(str, BOX)), "minzoom": 12, "maxzoom": 12}
    with MBTilesWriter(path, meta) as out:
        for (z, x, y), data in tiles.items():
            out.add(z, x, y, data)
    info = inspect_mbtiles(path)
    assert (info.format, info.tiles, info.minzoom, info.maxzoom, info.bounds) == ("pbf", len(tiles), 12, 12, BOX)
    reader = TileReader(path)
    try:
        assert all(reader.tile(*k) == v for k, v in tiles.items())
    finally:
        reader.close()


def test_a_missing_file(tmp_path):
    with pytest.raises(MBTilesError, match="no such file"):
        inspect_mbtiles(tmp_path / "none.mbtiles")
