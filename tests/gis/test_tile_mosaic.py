"""A basemap over a box as one image (gis/tile_mosaic.py)."""

from __future__ import annotations

import cv2
import numpy as np

from tests.basemap_support import tile_range, write_mbtiles
from zhizhi.gis.mbtiles import TileReader, tile_bounds
from zhizhi.gis.tile_mosaic import mosaic

BOX = (120.9, 31.9, 121.3, 32.2)


def test_the_finest_zoom_that_fits_pasted_in_place(tmp_path):
    path = tmp_path / "b.mbtiles"
    tiles = write_mbtiles(path, BOX, (9, 10, 11))
    reader = TileReader(path)
    try:
        png, bounds = mosaic(reader.tile, BOX, (9, 11), max_px=1024)
    finally:
        reader.close()
    cols, rows = tile_range(BOX, 11)
    assert len(cols) * 256 <= 1024 and len(rows) * 256 <= 1024  # zoom 11 fits
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img.shape == (len(rows) * 256, len(cols) * 256, 4)
    assert bounds[0] == tile_bounds(11, cols[0], rows[0])[0] and bounds[3] == tile_bounds(11, cols[0], rows[0])[3]
    assert bounds[2] == tile_bounds(11, cols[-1], rows[-1])[2] and bounds[1] == tile_bounds(11, cols[-1], rows[-1])[1]
    first = cv2.imdecode(np.frombuffer(tiles[(11, cols[0], rows[-1])], np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(img[-256:, :256, :3], first)  # the south-west tile in the lower left corner


def test_a_smaller_budget_takes_a_coarser_zoom_and_nothing_gives_none(tmp_path):
    path = tmp_path / "b.mbtiles"
    write_mbtiles(path, BOX, (9, 10, 11))
    reader = TileReader(path)
    try:
        png, _ = mosaic(reader.tile, BOX, (9, 11), max_px=512)
        assert cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED).shape[0] <= 512
        assert mosaic(reader.tile, (10.0, 10.0, 10.1, 10.1), (9, 11)) is None
    finally:
        reader.close()
