"""The console's REST contract on a real SQLite database, plus one real server on loopback.

`client` is logged in as the district duty officer; a town's view is its operator's login.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
import shapely

from zhizhi.bench.surge import free_port
from zhizhi.gis.crs import wgs84_to_gcj02

#: The session console's tests of this module run on SQLite and on PostgreSQL (tests/conftest.py).
CONSOLE_BACKENDS = ("sqlite", "postgresql")


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_demo_layers_are_installed(client):
    names = {layer["name"] for layer in client.get("/api/layers").json()}
    assert {"towns", "villages", "grids", "cameras", "roads", "zones", "shelters"} <= names
    grids = client.get("/api/layers/grids/features").json()
    assert grids["type"] == "FeatureCollection" and len(grids["features"]) == 1024
    assert all(f["properties"]["synthetic"] for f in grids["features"][:10])


def test_locate_contract(client, console_state):
    code = console_state.jurisdictions.grid_codes[321]
    lon, lat = console_state.jurisdictions.get(code).anchor
    body = client.get("/api/grids/locate", params={"lon": lon, "lat": lat}).json()
    assert body == {"grid": code, "village": code[:12], "town": code[:9], "district": code[:6],
                    "dedicated_grids": [], "micro_grid": None}
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    body = client.get("/api/grids/locate", params={"lon": float(g_lon), "lat": float(g_lat), "crs": "gcj02"})
    assert body.json()["grid"] == code


@pytest.mark.parametrize(
    "params, status, fragment",
    [
        ({"lon": 100.0, "lat": 30.0}, 404, "outside district"),
        ({"lon": 200.0, "lat": 30.0}, 422, "less than or equal to 180"),
        ({"lon": "abc", "lat": 30.0}, 422, "valid number"),
        ({"lon": 121.0}, 422, "Field required"),
        ({"lon": 121.0, "lat": 32.0, "crs": "utm"}, 422, "wgs84"),
    ],
)
def test_locate_bad_input(client, params, status, fragment):
    response = client.get("/api/grids/locate", params=params)
    assert response.status_code == status
    assert fragment in json.dumps(response.json())


def test_cameras_covering_nearest_first(client, console_state):
    camera = console_state.cameras.cameras[0]
    # A point 30 m along the camera's optical axis.
    from zhizhi.gis.metric import MetricFrame

    frame = MetricFrame.around(camera.lon, camera.lat)
    import math

    x = 30 * math.sin(math.radians(camera.heading_deg))
    y = 30 * math.cos(math.radians(camera.heading_deg))
    lon, lat = frame.to_lonlat(x, y)
    hits = client.get("/api/cameras/covering", params={"lon": float(lon), "lat": float(lat)}).json()
    assert camera.id in [h["id"] for h in hits]
    distances = [h["distance_m"] for h in hits]
    assert distances == sorted(distances)
    mine = next(h for h in hits if h["id"] == camera.id)
    assert abs(mine["distance_m"] - 30) < 0.5


def test_camera_fov_geojson(client):
    fc = client.get("/api/cameras/fov").json()
    assert len(fc["features"]) == 120
    assert all(f["geometry"]["type"] == "Polygon" for f in fc["features"])


def test_bbox_filter(client, console_state):
    town = console_state.jurisdictions.children(console_state.jurisdictions.district_code)[0]
    minx, miny, maxx, maxy = shapely.bounds(town.geometry)
    fc = client.get("/api/layers/grids/features", params={"bbox": f"{minx},{miny},{maxx},{maxy}"}).json()
    box = shapely.box(minx, miny, maxx, maxy)
    every = client.get("/api/layers/grids/features").json()["features"]
    expected = {
        f["properties"]["code"] for f in every if shapely.intersects(shapely.geometry.shape(f["geometry"]), box)
    }
    assert {f["properties"]["code"] for f in fc["features"]} == expected
    assert 0 < len(expected) < 1024


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "121,33,120,32", "-200,0,0,10"])
def test_bad_bbox(client, bbox):
    response = client.get("/api/layers/grids/features", params={"bbox": bbox})
    assert response.status_code == 422
    assert "bbox" in response.json()["detail"]


def test_unknown_layer_is_404(client):
    response = client.get("/api/layers/nope/features")
    assert response.status_code == 404


def test_search(client, console_state):
    town = console_state.jurisdictions.children(console_state.jurisdictions.district_code)[2]
    hits = client.get("/api/search", params={"q": town.name}).json()
    assert hits[0]["code"] == town.code and hits[0]["level"] == "town"
    grid_code = console_state.jurisdictions.grid_codes[7]
    assert client.get("/api/search", params={"q": grid_code}).json()[0]["code"] == grid_code


def test_config(client):
    body = client.get("/api/config").json()
    assert body["district"]["code"] == "320612" and body["synthetic"] is True
    assert body["map"]["tile_url"] is None
    assert len(body["district"]["bounds"]) == 4


# --- jurisdiction scoping on every read path -------------------------------------------------


def _two_towns(state):
    towns = state.jurisdictions.children(state.jurisdictions.district_code)
    return towns[0], towns[1]


def test_town_sees_only_its_own_features(client, console_state, logins, test_users):
    mine, other = _two_towns(console_state)
    headers = logins[test_users.operator_a]
    for layer in ("towns", "villages", "grids", "cameras", "zones", "shelters"):
        fc = client.get(f"/api/layers/{layer}/features", headers=headers).json()
        codes = [f["properties"]["code"] for f in fc["features"]]
        assert all(c.startswith(mine.code) or mine.code.startswith(c) for c in codes), layer
        assert not any(c.startswith(other.code) for c in codes), layer
    # A bbox over the other town returns nothing of the other town.
    minx, miny, maxx, maxy = shapely.bounds(other.geometry)
    fc = client.get(
        "/api/layers/grids/features", params={"bbox": f"{minx},{miny},{maxx},{maxy}"}, headers=headers
    ).json()
    assert not any(f["properties"]["code"].startswith(other.code) for f in fc["features"])
    # Roads are district-level: a town receives them clipped to its own area.
    roads = client.get("/api/layers/roads/features", headers=headers).json()["features"]
    assert roads
    town_area = shapely.buffer(mine.geometry, 1e-7)
    assert all(shapely.geometry.shape(f["geometry"]).within(town_area) for f in roads)


def test_layer_list_counts_only_what_the_town_sees(client, console_state, logins, test_users):
    mine, _ = _two_towns(console_state)
    listed = client.get("/api/layers", headers=logins[test_users.operator_a]).json()
    grids = next(layer for layer in listed if layer["name"] == "grids")
    own = [c for c in console_state.jurisdictions.grid_codes if c.startswith(mine.code)]
    assert grids["feature_count"] == len(own)
    town_box = shapely.bounds(mine.geometry)
    assert all(abs(a - b) < 1e-9 for a, b in zip(grids["bounds"], town_box))
    towns = next(layer for layer in listed if layer["name"] == "towns")
    assert towns["feature_count"] == 1


def test_town_cameras_and_locate_are_scoped(client, console_state, logins, test_users):
    mine, other = _two_towns(console_state)
    headers = logins[test_users.operator_a]
    fov = client.get("/api/cameras/fov", headers=headers).json()["features"]
    assert fov and all(f["properties"]["grid"].startswith(mine.code) for f in fov)
    theirs = next(c for c in console_state.cameras.cameras if c.grid.startswith(other.code))
    hits = client.get(
        "/api/cameras/covering", params={"lon": theirs.lon, "lat": theirs.lat}, headers=headers
    ).json()
    assert theirs.id not in [h["id"] for h in hits]
    lon, lat = other.anchor
    assert client.get("/api/grids/locate", params={"lon": lon, "lat": lat}, headers=headers).status_code == 404
    hits = client.get("/api/search", params={"q": other.name}, headers=headers).json()
    assert hits == []


def test_two_towns_are_the_test_users_towns(console_state, test_users):
    mine, other = _two_towns(console_state)
    assert (mine.code, other.code) == (test_users.town_a, test_users.town_b)


def test_no_token_no_api(client):
    response = client.get("/api/layers", headers={"Authorization": ""})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"


# --- a real server on loopback -----------------------------------------------------------------


def test_real_server_on_loopback(console_settings, console_state, client):
    import uvicorn

    from zhizhi.console.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(console_settings, state=console_state), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        lon, lat = console_state.jurisdictions.get(console_state.jurisdictions.grid_codes[0]).anchor
        assert httpx.get(f"{base}/api/grids/locate", params={"lon": lon, "lat": lat}).status_code == 401
        auth = {"Authorization": client.headers["Authorization"]}
        body = httpx.get(f"{base}/api/grids/locate", params={"lon": lon, "lat": lat}, headers=auth).json()
        assert body["grid"] == console_state.jurisdictions.grid_codes[0]
        assert httpx.get(f"{base}/").status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)
