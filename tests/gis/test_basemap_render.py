"""The dark basemap drawn from the demo district's layers (gis/basemap_render.py), its water
(gis/district.py generate_water) and the Chinese font for its names (gis/fonts.py)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import shapely
from PIL import Image

from zhizhi.gis.basemap_render import (
    DARK,
    TILE,
    Scene,
    colour_table,
    leaflet_center,
    palette_png,
    render_pyramid,
    tile_range,
    world_px,
)
from zhizhi.gis.district import generate_water
from zhizhi.gis.fonts import cjk_font
from zhizhi.gis.metric import MetricFrame

ZOOMS = (9, 13)


@pytest.fixture(scope="module")
def water(district):
    avoid = np.concatenate([district.roads.geometry.values,
                            shapely.points([leaflet_center(g) for g in district.towns.geometry.values])])
    return generate_water(district.boundary.geometry, district.spec.seed, avoid)


@pytest.fixture(scope="module")
def scene(district, water):
    return Scene.build(district.boundary.geometry, water=water, towns=district.towns, villages=district.villages,
                       roads=district.roads)


def render(scene, font, zooms=ZOOMS):
    tiles: dict[tuple[int, int, int], bytes] = {}
    stats = render_pyramid(scene, zooms, lambda z, x, y, data: tiles.__setitem__((z, x, y), data), font=font)
    return tiles, stats


@pytest.fixture(scope="module")
def rendered(scene):
    font = cjk_font()
    assert font is not None, "no CJK font: the set-up installs fonts-noto-cjk (scripts/install_fonts.sh)"
    return render(scene, font)


def pixel(tiles, lon: float, lat: float, z: int) -> np.ndarray:
    """The BGR pixel of the rendered tiles at a place."""
    x, y = world_px(lon, lat, z)
    data = tiles[(z, int(x // TILE), int(y // TILE))]
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return img[int(y % TILE), int(x % TILE)]


def test_tiles_cover_the_district_at_every_zoom(rendered, district):
    tiles, stats = rendered
    box = shapely.bounds(district.boundary.geometry)
    for z in range(ZOOMS[0], ZOOMS[1] + 1):
        x0, x1, y0, y1 = tile_range(box, z)
        expected = {(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)}
        assert {k for k in tiles if k[0] == z} == expected
        assert stats.per_zoom[z] == len(expected)
    assert stats.tiles == len(tiles) and stats.bytes == sum(map(len, tiles.values()))
    sample = cv2.imdecode(np.frombuffer(tiles[max(tiles)], np.uint8), cv2.IMREAD_UNCHANGED)
    assert sample.shape == (TILE, TILE, 3)


def test_roads_water_land_and_outside_have_their_colours(rendered, district, water):
    tiles, _ = rendered
    z = ZOOMS[1]
    expressway = district.roads[district.roads["road_class"] == "expressway"].geometry.values[0]
    mid = shapely.line_interpolate_point(expressway, 0.5, normalized=True)
    assert pixel(tiles, mid.x, mid.y, z).tolist() == list(DARK.roads["expressway"].colour)
    lake = water[water["kind"] == "lake"].geometry.values[0]
    # Inside the lake, 300 m from its shore, away from its name (at its point on surface) and the roads.
    roads = shapely.union_all(district.roads.geometry.values)
    name_at = shapely.point_on_surface(lake)
    ring = shapely.get_coordinates(shapely.buffer(lake, -0.003).exterior)
    far = [shapely.Point(p) for p in ring if shapely.Point(p).distance(name_at) > 0.006]
    inner = max(far, key=lambda p: shapely.distance(p, roads))
    assert shapely.distance(inner, roads) > 0.001
    assert pixel(tiles, inner.x, inner.y, z).tolist() == list(DARK.water)
    w, _, _, n = shapely.bounds(district.boundary.geometry)
    assert pixel(tiles, w + 0.001, n - 0.001, z).tolist() == list(DARK.outside)  # a corner of the box
    # Land: a grid's anchor far from any road, edge or name is the land colour or a faint boundary.
    lands = [pixel(tiles, *g.centroid.coords[0], z).tolist() for g in district.grids.geometry.values[:40]]
    assert lands.count(list(DARK.land)) >= 10


def test_names_are_drawn_when_a_font_exists_and_left_out_when_none(scene, rendered, district):
    tiles, stats = rendered
    assert stats.names > 0 and stats.font is not None
    bare, bare_stats = render(scene, None, (12, 12))
    assert bare_stats.names == 0 and bare_stats.font is None and len(bare) == stats.per_zoom[12]
    # At a town's label point the named render has the label's bright text or its dark halo.
    differing = 0
    for name, geom in zip(district.towns["name"], district.towns.geometry.values):
        lon, lat = leaflet_center(geom)
        x, y = world_px(lon, lat, 12)
        key = (12, int(x // TILE), int(y // TILE))
        differing += tiles[key] != bare[key]
    assert differing == len(district.towns)
    text = np.asarray(DARK.towns.colour[::-1])  # BGR
    lon, lat = leaflet_center(district.towns.geometry.values[0])
    x, y = world_px(lon, lat, 12)
    tile = cv2.imdecode(np.frombuffer(tiles[(12, int(x // TILE), int(y // TILE))], np.uint8), cv2.IMREAD_COLOR)
    cx, cy = int(x % TILE), int(y % TILE)
    window = tile[max(cy - 10, 0) : cy + 10, max(cx - 30, 0) : cx + 30].reshape(-1, 3).astype(int)
    assert (np.abs(window - text).sum(axis=1) < 60).any()  # glyph pixels in the town's colour


def test_rendering_is_deterministic(scene, rendered):
    tiles, _ = rendered
    again, _ = render(scene, cjk_font(), (11, 11))
    assert again == {k: v for k, v in tiles.items() if k[0] == 11}


def test_tiles_are_palette_pngs_and_plain_ones_are_encoded_once(rendered):
    tiles, _ = rendered
    images = {k: Image.open(io.BytesIO(v)) for k, v in tiles.items()}
    assert {im.format for im in images.values()} == {"PNG"} and {im.mode for im in images.values()} == {"P"}
    full = [k for k, im in images.items() if len(im.getpalette()) == 3 * 256]
    assert full  # busy tiles (names, roads) use the whole palette
    plain = [v for k, v in tiles.items() if len(images[k].getpalette()) == 3]  # one colour: outside
    assert plain and len({id(v) for v in plain}) < len(plain) and max(map(len, plain)) < 200


def busy_image() -> np.ndarray:
    """Large areas of the style's colours, an anti-aliased road and river across them, and a
    patch of noise: far more than 256 colours, most of them on few pixels."""
    img = np.empty((TILE, TILE, 3), np.uint8)
    img[:] = DARK.outside
    img[:, 60:] = DARK.land
    cv2.circle(img, (170, 90), 60, DARK.water, -1, cv2.LINE_AA)
    cv2.line(img, (0, 250), (255, 20), DARK.roads["expressway"].colour, 7, cv2.LINE_AA)
    cv2.line(img, (0, 10), (255, 200), DARK.roads["local"].colour, 2, cv2.LINE_AA)
    img[200:240, 10:50] = np.random.default_rng(7).integers(0, 256, (40, 40, 3), np.uint8)
    return img


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_palette_png_keeps_the_frequent_colours_and_maps_the_rare_to_the_nearest():
    img = busy_image()
    data = palette_png(img)
    im = Image.open(io.BytesIO(data))
    assert im.mode == "P" and len(im.getpalette()) == 3 * 256
    back = decode(data)
    keys = img.reshape(-1, 3).astype(np.int64) @ [1, 256, 65536]
    colours, counts = np.unique(keys, return_counts=True)
    assert len(colours) > 1500
    frequent = np.isin(keys, colours[np.argsort(-counts, kind="stable")[:256]])
    flat, out = img.reshape(-1, 3), back.reshape(-1, 3)
    assert (out[frequent] == flat[frequent]).all()
    for colour in (DARK.outside, DARK.land, DARK.water, DARK.roads["expressway"].colour):
        area = (img == colour).all(axis=2)
        assert area.sum() > 500 and (back[area] == colour).all()  # big areas exact
    palette = np.asarray(im.getpalette(), int).reshape(-1, 3)[:, ::-1]  # BGR
    rare = flat[~frequent].astype(int)
    nearest = ((rare[:, None, :] - palette[None]) ** 2).sum(axis=2).min(axis=1)
    assert (((out[~frequent].astype(int) - rare) ** 2).sum(axis=1) == nearest).all()
    assert (~frequent).mean() < 0.05  # the noise patch and the edges' blends, nothing else


def test_palette_png_of_few_colours_is_lossless():
    img = np.full((TILE, TILE, 3), DARK.land, np.uint8)  # land, a lake and a road: their colours and blends
    cv2.circle(img, (170, 90), 60, DARK.water, -1, cv2.LINE_AA)
    cv2.line(img, (0, 250), (255, 20), DARK.roads["expressway"].colour, 7, cv2.LINE_AA)
    assert 16 < len(np.unique(img.reshape(-1, 3), axis=0)) <= 256
    data = palette_png(img)
    assert Image.open(io.BytesIO(data)).mode == "P" and (decode(data) == img).all()
    two = np.full((TILE, TILE, 3), DARK.outside, np.uint8)
    two[100:, 30:] = DARK.land
    data = palette_png(two)
    assert (decode(data) == two).all()
    assert Image.open(io.BytesIO(data)).tile[0].args == "P;1"  # one bit a pixel
    assert len(data) < len(cv2.imencode(".png", two)[1]) / 2


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8),
                                 np.zeros((8, 8, 3), np.float32), np.zeros((0, 8, 3), np.uint8)])
def test_palette_png_refuses_what_is_not_a_bgr_image(bad):
    with pytest.raises(ValueError, match="BGR uint8"):
        palette_png(bad)


def test_palette_png_refuses_a_table_that_is_not_a_colour_table():
    with pytest.raises(ValueError, match="colour_table"):
        palette_png(np.zeros((8, 8, 3), np.uint8), table=np.zeros(1 << 16, np.uint8))
    table = colour_table()  # one table for many tiles: what an earlier tile left in it does not matter
    busy = busy_image()
    assert palette_png(busy, table=table) == palette_png(busy)
    black = np.zeros((8, 8, 3), np.uint8)
    assert (decode(palette_png(black, table=table)) == black).all()


def test_water_is_deterministic_inside_and_scaled_to_the_district(district, water):
    assert water["kind"].tolist() == ["river", "canal", "lake"]
    assert generate_water(district.boundary.geometry, district.spec.seed).geometry.values[0].equals(
        water.geometry.values[0])  # the river does not depend on what the lake avoids
    frame = MetricFrame.for_geometry(district.boundary.geometry)
    inside = shapely.buffer(frame.geometry_to_metric(district.boundary.geometry), 1.0)
    assert shapely.within(frame.geometry_to_metric(water.geometry.values), inside).all()
    area_km2 = frame.area_m2(water.geometry.values) / 1e6
    district_km2 = float(frame.area_m2(district.boundary.geometry)) / 1e6
    assert 0.2 < area_km2.sum() / district_km2 * 100 < 3  # 0.2-3 % of the district is water
    towns = shapely.points([leaflet_center(g) for g in district.towns.geometry.values])
    assert not shapely.intersects(water.geometry.values[2], towns).any()  # no town centre in the lake
    other = generate_water(district.boundary.geometry, district.spec.seed + 1)
    assert not other.geometry.values[0].equals(water.geometry.values[0])


def test_the_font_draws_chinese():
    font = cjk_font()
    assert font is not None
    assert font.load(16).getmask("镇村").getbbox() is not None
    assert "SC" in " ".join(font.load(16).getname()) or "hei" in font.path.name.lower()
