"""Map data that loads at once (issue 19): gzip-compressed answers, layers by view and zoom.

On the session console (the seed-7 demo district, logged in as the district duty officer):
a layer is gzip-encoded when the client asks and the same bytes once decoded; ``?zoom=`` gives
the same features with simplified, rounded geometry that stays within a pixel of the stored
one (cached, and redone when the layer changes); ``?bbox=`` still filters; a town still sees
only its own; a bad ``zoom`` or ``bbox`` is a 422 naming it; without the parameters the answer
is today's. The live MJPEG stream, images and static files: tests/console/test_compression.py.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from zhizhi.layers import Scope
from zhizhi.layers.detail import decimals, metres_per_pixel, tolerance_deg

LAYER_NAMES = ("towns", "villages", "grids", "roads", "zones", "cameras", "shelters")


def _geoms(fc: dict) -> np.ndarray:
    return shapely.from_geojson([json.dumps(f["geometry"]) for f in fc["features"]])


def _max_decimals(fc: dict) -> int:
    coords = shapely.get_coordinates(_geoms(fc)).ravel()
    return max(len(repr(float(c)).partition(".")[2]) for c in coords)


def test_a_layer_is_gzip_encoded_when_asked_and_identical_once_decoded(client):
    plain = client.get("/api/layers/grids/features", headers={"Accept-Encoding": "identity"})
    packed = client.get("/api/layers/grids/features", headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip" and "Accept-Encoding" in packed.headers["vary"]
    assert packed.content == plain.content  # httpx decoded it
    assert packed.num_bytes_downloaded < plain.num_bytes_downloaded / 4
    # the same for an answer at a zoom, and for the fields of view
    for path in ("/api/layers/grids/features?zoom=12", "/api/cameras/fov?zoom=12"):
        with client.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as response:
            raw = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip"
        assert json.loads(gzip.decompress(raw)) == client.get(path, headers={"Accept-Encoding": "identity"}).json()


def test_without_the_parameters_a_layer_is_as_stored(client, console_state):
    for name in ("grids", "roads", "cameras"):
        stored = console_state.registry.feature_collection(name, Scope.everything())
        assert client.get(f"/api/layers/{name}/features").json() == json.loads(json.dumps(stored)), name


@pytest.mark.parametrize("zoom", [9, 12, 16])
def test_a_zoom_gives_the_same_features_simplified_and_rounded(client, zoom):
    for name in LAYER_NAMES:
        whole = client.get(f"/api/layers/{name}/features").json()
        at = client.get(f"/api/layers/{name}/features", params={"zoom": zoom}).json()
        assert [f["id"] for f in at["features"]] == [f["id"] for f in whole["features"]], name
        assert [f["properties"] for f in at["features"]] == [f["properties"] for f in whole["features"]], name
        before, after = _geoms(whole), _geoms(at)
        assert shapely.is_valid(after).all(), name
        assert (shapely.get_type_id(after) == shapely.get_type_id(before)).all(), name
        assert shapely.get_num_coordinates(after).sum() <= shapely.get_num_coordinates(before).sum(), name
        assert _max_decimals(at) <= decimals(zoom), name
        # within the tolerance plus the rounding: well under a pixel of that zoom
        lat = float(np.mean(shapely.bounds(before)[:, [1, 3]]))
        limit = tolerance_deg(zoom, lat) + 10.0 ** -decimals(zoom)
        assert shapely.hausdorff_distance(before, after).max() <= limit, name
        assert limit * 111_320 < 1.5 * metres_per_pixel(zoom, lat)


def test_a_low_zoom_is_much_smaller(client):
    whole = client.get("/api/layers/grids/features", headers={"Accept-Encoding": "identity"})
    low = client.get("/api/layers/grids/features", params={"zoom": 11}, headers={"Accept-Encoding": "identity"})
    coords_whole = shapely.get_num_coordinates(_geoms(whole.json())).sum()
    coords_low = shapely.get_num_coordinates(_geoms(low.json())).sum()
    assert len(low.content) < 0.8 * len(whole.content) and coords_low < coords_whole


def test_bbox_and_zoom_select_what_bbox_alone_selects(client, console_state):
    town = console_state.jurisdictions.children(console_state.jurisdictions.district_code)[0]
    minx, miny, maxx, maxy = shapely.bounds(town.geometry)
    bbox = f"{minx},{miny},{(minx + maxx) / 2},{(miny + maxy) / 2}"
    for name in ("grids", "roads", "zones"):
        alone = client.get(f"/api/layers/{name}/features", params={"bbox": bbox}).json()["features"]
        every = client.get(f"/api/layers/{name}/features").json()["features"]
        both = client.get(f"/api/layers/{name}/features", params={"bbox": bbox, "zoom": 14}).json()["features"]
        assert [f["id"] for f in both] == [f["id"] for f in alone], name
        assert 0 < len(alone) < len(every), name
    fov_every = client.get("/api/cameras/fov").json()["features"]
    fov_box = client.get("/api/cameras/fov", params={"bbox": bbox}).json()["features"]
    fov_both = client.get("/api/cameras/fov", params={"bbox": bbox, "zoom": 14}).json()["features"]
    box = shapely.box(*map(float, bbox.split(",")))
    expected = [f["properties"]["id"] for f in fov_every if shapely.geometry.shape(f["geometry"]).intersects(box)]
    assert [f["properties"]["id"] for f in fov_box] == [f["properties"]["id"] for f in fov_both] == expected
    assert 0 < len(expected) < len(fov_every)


def test_fields_of_view_at_a_zoom(client):
    whole = client.get("/api/cameras/fov").json()
    at = client.get("/api/cameras/fov", params={"zoom": 12}).json()
    assert [f["properties"] for f in at["features"]] == [f["properties"] for f in whole["features"]]
    assert _max_decimals(at) <= decimals(12) and shapely.is_valid(_geoms(at)).all()
    assert shapely.get_num_coordinates(_geoms(at)).sum() < shapely.get_num_coordinates(_geoms(whole)).sum()


def test_a_town_sees_only_its_own_at_a_zoom(client, console_state, logins, test_users):
    towns = console_state.jurisdictions.children(console_state.jurisdictions.district_code)
    mine, other = towns[0], towns[1]
    headers = logins[test_users.operator_a]
    minx, miny, maxx, maxy = shapely.bounds(other.geometry)
    for params in ({"zoom": 12}, {"zoom": 15, "bbox": f"{minx},{miny},{maxx},{maxy}"}):
        for name in ("grids", "villages", "cameras", "zones", "roads"):
            fc = client.get(f"/api/layers/{name}/features", params=params, headers=headers).json()
            codes = [f["properties"]["code"] for f in fc["features"]]
            assert all(c.startswith(mine.code) or mine.code.startswith(c) for c in codes), (name, params)
        fov = client.get("/api/cameras/fov", params=params, headers=headers).json()["features"]
        assert all(f["properties"]["grid"].startswith(mine.code) for f in fov), params
    # district roads come clipped to the town, then simplified and rounded
    roads = client.get("/api/layers/roads/features", params={"zoom": 16}, headers=headers).json()["features"]
    assert roads
    town_area = shapely.buffer(mine.geometry, tolerance_deg(16, 32.0) + 10.0 ** -decimals(16))
    assert all(shapely.geometry.shape(f["geometry"]).within(town_area) for f in roads)


@pytest.mark.parametrize("zoom", ["-1", "25", "1.5", "x", ""])
def test_a_bad_zoom_is_a_422_naming_it(client, zoom):
    for path in ("/api/layers/grids/features", "/api/cameras/fov"):
        response = client.get(path, params={"zoom": zoom})
        assert response.status_code == 422, (path, zoom)
        assert response.json()["detail"][0]["loc"] == ["query", "zoom"], (path, zoom)


@pytest.mark.parametrize("bbox", ["1,2,3", "121,32,120,33", "a,b,c,d", "0,0,200,10"])
def test_a_bad_bbox_is_a_422_naming_it(client, bbox):
    for path in ("/api/layers/grids/features", "/api/cameras/fov"):
        response = client.get(path, params={"bbox": bbox, "zoom": 12})
        assert response.status_code == 422, (path, bbox)
        assert "bbox" in response.json()["detail"], (path, bbox)


def test_a_changed_layer_is_simplified_again(client, console_state):
    registry = console_state.registry
    district = console_state.jurisdictions.district_code
    lon, lat = console_state.jurisdictions.get(console_state.jurisdictions.grid_codes[5]).anchor

    def save(shift: float) -> None:
        ring = shapely.Point(lon + shift, lat).buffer(0.01, quad_segs=32)
        registry.save_layer("detail_probe", gpd.GeoDataFrame({"name": ["probe"]}, geometry=[ring], crs=4326),
                            kind="zone", owner_code=district)

    try:
        save(0.0)
        first = client.get("/api/layers/detail_probe/features", params={"zoom": 12}).json()["features"][0]
        assert client.get("/api/layers/detail_probe/features", params={"zoom": 12}).json()["features"][0] == first
        save(0.02)
        second = client.get("/api/layers/detail_probe/features", params={"zoom": 12}).json()["features"][0]
        moved = shapely.centroid(shapely.geometry.shape(second["geometry"])).x
        assert abs(moved - (lon + 0.02)) < 1e-3, "the old simplification was served"
    finally:
        registry.delete_layer("detail_probe")


def test_static_files_carry_validators_and_revalidate(client):
    for path in ("/static/map/page.js", "/static/vendor/leaflet/leaflet.js", "/static/map.css"):
        first = client.get(path)
        assert first.status_code == 200 and first.headers["cache-control"] == "no-cache", path
        etag = first.headers["etag"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag, path
        assert again.headers["cache-control"] == "no-cache", path
        since = client.get(path, headers={"If-Modified-Since": first.headers["last-modified"]})
        assert since.status_code == 304, path
    for path in ("/static/vendor/leaflet/leaflet.js", "/static/wall/map.html", "/static/map.css"):
        plain = client.get(path, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.headers["accept-ranges"] == "bytes", path
        for _ in range(2):  # compressed once, then from memory: the same bytes
            packed = client.get(path, headers={"Accept-Encoding": "gzip"})
            assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
            assert packed.content == plain.content and packed.num_bytes_downloaded < len(plain.content) / 2, path
            assert packed.headers["etag"] == plain.headers["etag"] and packed.headers["cache-control"] == "no-cache"
            assert int(packed.headers["content-length"]) == packed.num_bytes_downloaded, path
    sound = client.get("/static/wall/sounds/" + next(
        p.name for p in (Path(__file__).resolve().parents[2] / "console/static/wall/sounds").iterdir()),
        headers={"Accept-Encoding": "gzip"})
    assert sound.status_code == 200 and "content-encoding" not in sound.headers  # audio/wav


def test_the_wall_map_preloads_every_module_it_imports():
    """wall/map.html names every module of its scripts' import graph in a modulepreload link (the
    browser asks them at once instead of one import level after another), and nothing else."""
    import re

    static = Path(__file__).resolve().parents[2] / "console" / "static"
    html = (static / "wall" / "map.html").read_text(encoding="utf-8")
    imports = re.compile(r"""^\s*(?:import|export)\b[^;'"]*?\bfrom\s+["']([^"']+)["']""", re.MULTILINE)
    entries = [static / src.removeprefix("/static/") for src in
               re.findall(r'<script type="module" src="([^"]+)"', html)]
    graph, todo = set(), list(entries)
    while todo:
        module = todo.pop()
        if module in graph:
            continue
        graph.add(module)
        todo += [(module.parent / target).resolve() for target in imports.findall(module.read_text(encoding="utf-8"))]
    hrefs = re.findall(r'rel="modulepreload" href="([^"]+)"', html)
    preloaded = {static / href.removeprefix("/static/") for href in hrefs}
    assert preloaded == graph - set(entries)


def test_the_detail_cache_keeps_makes_once_and_forgets_old_versions():
    from zhizhi.layers.detail import DetailCache

    made: list[list[int]] = []

    def make(keys):
        def run(indexes):
            made.append([keys[i] for i in indexes])
            return [f"g{keys[i]}" * 10 for i in indexes]
        return run

    cache = DetailCache(max_bytes=1000)
    assert cache.texts("grids", 1, 12, [1, 2, 3], make([1, 2, 3])) == ["g1" * 10, "g2" * 10, "g3" * 10]
    assert cache.texts("grids", 1, 12, [3, 4], make([3, 4])) == ["g3" * 10, "g4" * 10]
    assert made == [[1, 2, 3], [4]]  # only what was missing
    cache.texts("grids", 2, 12, [1], make([1]))  # the layer changed: version 2
    assert made[-1] == [1] and cache.size == 20  # version 1's texts are gone
    for zoom in range(13, 20):  # 7 more zooms of 200 characters: the oldest go past 1,000
        cache.texts("roads", 1, zoom, list(range(10)), make(list(range(10))))
    assert cache.size <= 1000
    made.clear()
    cache.texts("roads", 1, 19, [0], make([0]))
    assert made == []  # the newest is kept
