"""Vector tiles drawn as PNG in the basemap's style (gis/mvt_render.py)."""

from __future__ import annotations

import cv2
import mapbox_vector_tile
import numpy as np
import pytest

from tests.basemap_support import mvt_tile
from zhizhi.gis.basemap_render import DARK
from zhizhi.gis.fonts import cjk_font
from zhizhi.gis.mvt_render import render_mvt


def image(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def encode(layers: list[dict]) -> bytes:
    return mapbox_vector_tile.encode(layers, default_options={"y_coord_down": True})


def test_an_openmaptiles_tile_draws_water_roads_land_and_a_name():
    img = image(render_mvt(mvt_tile(14, 0, 0), 14, cjk_font()))
    assert img.shape == (256, 256, 3)
    assert img[128, 10].tolist() == list(DARK.roads["expressway"].colour)  # the motorway across the middle
    assert img[60, 60].tolist() == list(DARK.water)  # the lake in the north-west quarter
    assert img[220, 40].tolist() == list(DARK.land)  # plain land
    bare = image(render_mvt(mvt_tile(14, 0, 0), 14, None))
    name = np.abs(img[176:208, 160:224].astype(int) - bare[176:208, 160:224]).sum()
    assert name > 0 and np.array_equal(img[:150], bare[:150])  # the village's name, only there


@pytest.mark.parametrize(("layer", "props", "style"), [
    ("roads", {"kind": "highway"}, "expressway"),  # Protomaps
    ("road", {"class": "primary"}, "arterial"),  # Mapbox Streets
    ("transportation", {"class": "minor"}, "local"),  # OpenMapTiles
])
def test_road_classes_of_the_common_schemas(layer, props, style):
    tile = encode([{"name": layer, "features": [{"geometry": "LINESTRING (0 2048, 4096 2048)", "properties": props}]}])
    assert image(render_mvt(tile, 15))[128, 128].tolist() == list(DARK.roads[style].colour)


def test_footpaths_pois_and_unknown_layers_are_left_out():
    tile = encode([
        {"name": "transportation", "features": [{"geometry": "LINESTRING (0 2048, 4096 2048)",
                                                  "properties": {"class": "path"}}]},
        {"name": "poi", "features": [{"geometry": "POINT (2048 1024)", "properties": {"name": "加油站"}}]},
        {"name": "mystery", "features": [{"geometry": "POLYGON ((0 0, 4096 0, 4096 4096, 0 4096, 0 0))",
                                          "properties": {}}]},
    ])
    img = image(render_mvt(tile, 15, cjk_font()))
    assert (img.reshape(-1, 3) == DARK.land).all()


def test_a_name_that_would_be_cut_at_the_tile_edge_is_not_drawn():
    tile = encode([{"name": "place", "features": [{"geometry": "POINT (20 2048)",
                                                    "properties": {"class": "town", "name": "边缘镇"}}]}])
    img = image(render_mvt(tile, 12, cjk_font()))
    assert (img.reshape(-1, 3) == DARK.land).all()


def test_bytes_that_are_no_vector_tile_are_refused():
    with pytest.raises(ValueError, match="not a Mapbox Vector Tile"):
        render_mvt(b"\x08\x96\x01garbage", 12)
