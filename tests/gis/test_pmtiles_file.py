"""PMTiles files checked and read (gis/pmtiles_file.py), against the same tiles as MBTiles."""

from __future__ import annotations

import numpy as np
import pytest
from pmtiles.tile import Compression

from tests.basemap_support import mvt_tile, render_tile, tile_range, write_mbtiles, write_pmtiles
from zhizhi.gis.mbtiles import inspect_mbtiles
from zhizhi.gis.pmtiles_file import PMTilesError, PMTilesReader, inspect_pmtiles

BOX = (120.9, 31.9, 121.3, 32.2)


def raster_tiles(zooms=(9, 10, 11)) -> dict[tuple[int, int, int], bytes]:
    tiles = {}
    for z in zooms:
        cols, rows = tile_range(BOX, z)
        tiles.update({(z, x, y): render_tile(z, x, y) for x in cols for y in rows})
    return tiles


def test_a_pmtiles_file_reads_as_its_mbtiles_twin(tmp_path):
    from pmtiles.convert import mbtiles_to_pmtiles

    mb = tmp_path / "b.mbtiles"
    tiles = write_mbtiles(mb, BOX, (9, 10, 11))
    pm = tmp_path / "b.pmtiles"
    mbtiles_to_pmtiles(str(mb), str(pm), None)  # the way a county converts its file
    info, twin = inspect_pmtiles(pm), inspect_mbtiles(mb)
    assert (info.format, info.minzoom, info.maxzoom, info.tiles, info.name) == (
        twin.format, twin.minzoom, twin.maxzoom, twin.tiles, twin.name)
    assert info.bounds == pytest.approx(twin.bounds, abs=1e-6)
    reader = PMTilesReader(pm)
    try:
        for (z, x, y), data in tiles.items():
            assert reader.tile(z, x, y) == data  # rows from the north: no flip
        z, x, y = next(iter(tiles))
        assert reader.tile(z, x, (1 << z) - 1 - y) is None
        assert reader.tile(3, 0, 0) is None and reader.tile(31, 0, 0) is None and reader.tile(5, 40, 0) is None
    finally:
        reader.close()


def test_leaf_directories_and_uncompressed_tiles(tmp_path):
    """A file big enough for leaf directories (the writer splits beyond 16 kB of root)."""
    rng = np.random.default_rng(1)
    cells = {(int(x), int(y)) for x, y in rng.integers(0, 1 << 14, size=(40_000, 2))}
    tiles = {(14, x, y): b"\x89PNG\r\n\x1a\n" + bytes(int(rng.integers(1, 40))) for x, y in cells}
    path = tmp_path / "big.pmtiles"
    write_pmtiles(path, tiles, BOX)
    reader = PMTilesReader(path)
    try:
        assert reader.header["leaf_directory_length"] > 0
        for key in list(tiles)[:200]:
            assert reader.tile(*key) == tiles[key]
    finally:
        reader.close()
    assert inspect_pmtiles(path).tiles == len(tiles)


def test_vector_pmtiles_are_described_as_pbf(tmp_path):
    path = tmp_path / "v.pmtiles"
    cols, rows = tile_range(BOX, 12)
    write_pmtiles(path, {(12, x, y): mvt_tile(12, x, y) for x in cols for y in rows}, BOX, tile_type="pbf")
    assert inspect_pmtiles(path).format == "pbf"


@pytest.mark.parametrize(("make", "message"), [
    ("html", "not a PMTiles file (no PMTiles header)"),
    ("empty", "not a PMTiles file (no PMTiles header)"),
    ("version2", "PMTiles version 2 is not supported (version 3 only)"),
    ("avif", "tile type avif is not supported (raster png, jpg, webp, or vector pbf)"),
    ("brotli", "its directories are brotli-compressed; only gzip or none is supported"),
    ("notiles", "the PMTiles file holds no tiles"),
    ("jpg-as-png", "the header says png but the tiles are jpg"),
    ("bad-vector", "says vector tiles (pbf) but a tile is not a Mapbox Vector Tile"),
    ("truncated", "lies past the end of the file (truncated?)"),
    ("bounds", "header bounds"),
])
def test_broken_files_are_refused_naming_the_problem(tmp_path, make, message):
    import cv2

    path = tmp_path / "bad.pmtiles"
    one = {(10, 857, 418): render_tile(10, 857, 418)}
    if make == "html":
        path.write_text("<html>" + "x" * 200 + "</html>")
    elif make == "empty":
        path.write_bytes(b"")
    elif make == "version2":
        write_pmtiles(path, one, BOX)
        data = bytearray(path.read_bytes())
        data[7] = 2
        path.write_bytes(bytes(data))
    elif make == "avif":
        write_pmtiles(path, one, BOX, tile_type="avif")
    elif make == "brotli":
        write_pmtiles(path, one, BOX)
        data = bytearray(path.read_bytes())
        data[97] = Compression.BROTLI.value  # internal compression (the writer always gzips)
        path.write_bytes(bytes(data))
    elif make == "notiles":
        write_pmtiles(path, {}, BOX)
    elif make == "jpg-as-png":
        jpg = cv2.imencode(".jpg", np.zeros((256, 256, 3), np.uint8))[1].tobytes()
        write_pmtiles(path, {(10, 857, 418): jpg}, BOX)
    elif make == "bad-vector":
        write_pmtiles(path, {(10, 857, 418): b"\x08\x96\x01garbage"}, BOX, tile_type="pbf")
    elif make == "truncated":
        write_pmtiles(path, one, BOX)
        path.write_bytes(path.read_bytes()[:-100])
    elif make == "bounds":
        write_pmtiles(path, one, (121.3, 31.9, 120.9, 32.2))
    with pytest.raises(PMTilesError) as err:
        inspect_pmtiles(path)
    assert message in str(err.value) and "bad.pmtiles" in str(err.value)
