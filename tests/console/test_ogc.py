"""OGC API - Features at /ogc, driven by the real client: GDAL's OAPIF driver (``ogrinfo`` and
``ogr2ogr`` of Debian's gdal-bin, installed by scripts/install_gdal.sh) against a live console on
loopback (uvicorn, real SQLite, the test users). A town operator reads only its town's features,
the district all; bearer tokens and HTTP Basic both work; bad queries are a precise 400."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from types import SimpleNamespace

import geopandas as gpd
import httpx
import pytest
import shapely

from tests.auth_support import PASSWORD, bearer, create_test_users, login, small_console_settings
from tests.browser import serve
from zhizhi.console.app import create_app
from zhizhi.console.ogc.crs import CGCS2000, CRS84
from zhizhi.layers import Scope

PRIVATE_B = "ogc-town-b-private"


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A small console served on loopback, the test users, town B's private layer, and an
    httpx client; ``heads[name]``: a user's bearer header."""
    settings = small_console_settings(tmp_path_factory.mktemp("ogc"))
    app = create_app(settings.model_copy(update={"demo": settings.demo.model_copy(update={"cameras": 24})}))
    with serve(app) as base, httpx.Client(base_url=base, trust_env=False, timeout=60) as client:
        state = app.state.console
        users = create_test_users(state)
        anchor = state.jurisdictions.get(next(g for g in state.jurisdictions.grid_codes
                                              if g.startswith(users.town_b))).anchor
        state.registry.save_layer(PRIVATE_B, gpd.GeoDataFrame({"name": ["b"]}, geometry=[shapely.Point(anchor)],
                                                               crs="EPSG:4326"),
                                  kind="custom", owner_code=users.town_b, visibility="private")
        heads = {name: bearer(login(client, name)) for name in (users.district, users.operator_a, users.operator_b)}
        yield SimpleNamespace(base=base, client=client, state=state, users=users, heads=heads)


def gdal(live, *args: str, token: dict[str, str] | None = None, userpwd: str | None = None,
         check: bool = True) -> subprocess.CompletedProcess:
    """Run a GDAL program with a bearer header (GDAL_HTTP_HEADERS) or Basic auth
    (GDAL_HTTP_AUTH/GDAL_HTTP_USERPWD); no proxy."""
    assert shutil.which(args[0]), f"{args[0]} missing: run scripts/install_gdal.sh"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    if token is not None:
        env["GDAL_HTTP_HEADERS"] = f"Authorization: {token['Authorization']}"
    if userpwd is not None:
        env |= {"GDAL_HTTP_AUTH": "BASIC", "GDAL_HTTP_USERPWD": userpwd}
    done = subprocess.run(args, check=False, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def read_with_gdal(live, layer: str, **auth) -> list[dict]:
    """Every feature of ``layer`` as GDAL reads it, paging by 7 (the server's next links)."""
    done = gdal(live, "ogr2ogr", "-f", "GeoJSON", "/vsistdout/", f"OAPIF:{live.base}/ogc", layer,
                "-oo", "PAGE_SIZE=7", "-preserve_fid", **auth)
    return json.loads(done.stdout)["features"]


def api_features(live, layer: str, user: str) -> list[dict]:
    answer = live.client.get(f"/api/layers/{layer}/features", headers=live.heads[user])
    assert answer.status_code == 200, answer.text
    return answer.json()["features"]


def test_ogrinfo_lists_the_collections_each_user_may_see(live):
    u = live.users
    for user, auth in [(u.operator_a, {"token": live.heads[u.operator_a]}),
                       (u.district, {"userpwd": f"{u.district}:{PASSWORD}"}),
                       (u.operator_b, {"userpwd": f"{u.operator_b}:{PASSWORD}"})]:
        listed = gdal(live, "ogrinfo", "-ro", "-so", "-q", f"OAPIF:{live.base}/ogc", **auth).stdout
        names = {line.split(": ", 1)[1].split(" ")[0] for line in listed.splitlines() if ": " in line}
        api = {layer["name"] for layer in live.client.get("/api/layers", headers=live.heads[user]).json()}
        assert names == api | {"camera_fov"}, user
        assert (PRIVATE_B in names) == (user != u.operator_a)
    summary = gdal(live, "ogrinfo", "-ro", "-so", f"OAPIF:{live.base}/ogc", "towns",
                   token=live.heads[u.operator_a]).stdout
    assert "Feature Count: 1" in summary and "Geometry: Polygon" in summary


def test_gdal_reads_only_the_towns_features_and_the_district_all(live):
    u = live.users
    for layer in ("grids", "villages", "towns"):
        town = read_with_gdal(live, layer, token=live.heads[u.operator_a])
        assert sorted(f["id"] for f in town) == sorted(f["id"] for f in api_features(live, layer, u.operator_a))
        assert town and all(f["properties"]["code"].startswith(u.town_a) for f in town), layer
    grids = read_with_gdal(live, "grids", userpwd=f"{u.district}:{PASSWORD}")
    assert len(grids) == len(live.state.jurisdictions.grid_codes) == 64
    assert {f["properties"]["code"][:9] for f in grids} >= {u.town_a, u.town_b}
    fov = read_with_gdal(live, "camera_fov", token=live.heads[u.operator_a])
    own = live.client.get("/api/cameras/fov", headers=live.heads[u.operator_a]).json()["features"]
    assert fov and sorted(f["properties"]["id"] for f in fov) == sorted(f["properties"]["id"] for f in own)
    assert all(f["properties"]["grid"].startswith(u.town_a) for f in fov)
    assert len(read_with_gdal(live, "camera_fov", token=live.heads[u.district])) == 24
    gone = gdal(live, "ogr2ogr", "-f", "GeoJSON", "/vsistdout/", f"OAPIF:{live.base}/ogc", PRIVATE_B,
                token=live.heads[u.operator_a], check=False)
    assert gone.returncode != 0  # not even listed for town A


def test_without_a_valid_credential_the_answer_is_401(live):
    refused = gdal(live, "ogrinfo", "-ro", "-so", f"OAPIF:{live.base}/ogc", check=False)
    assert refused.returncode != 0 and "401" in refused.stderr
    wrong = gdal(live, "ogrinfo", "-ro", "-so", f"OAPIF:{live.base}/ogc",
                 userpwd=f"{live.users.operator_a}:not-the-password", check=False)
    assert wrong.returncode != 0 and "invalid username or password" in wrong.stderr
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic !!"}):
        answer = live.client.get("/ogc/collections", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == 'Basic realm="zhizhi", Bearer'


def test_a_remembered_basic_login_ends_with_a_password_change(live):
    auth = live.state.auth
    auth.add_user("ogc-basic", "town_operator", live.users.town_a, PASSWORD)
    try:
        assert live.client.get("/ogc/collections", headers=basic("ogc-basic")).status_code == 200
        assert live.client.get("/ogc/collections", headers=basic("ogc-basic")).status_code == 200  # remembered
        auth.set_password("ogc-basic", PASSWORD + "-new")
        assert live.client.get("/ogc/collections", headers=basic("ogc-basic")).status_code == 401
        assert live.client.get("/ogc/collections", headers=basic("ogc-basic", PASSWORD + "-new")).status_code == 200
    finally:
        auth.login_guard.clear()


def test_the_documents_and_their_scope(live):
    a, base = live.heads[live.users.operator_a], live.base
    landing = live.client.get("/ogc", headers=a).json()
    rels = {link["rel"]: link["href"] for link in landing["links"]}
    assert rels == {"self": f"{base}/ogc", "service-desc": f"{base}/openapi.json",
                    "conformance": f"{base}/ogc/conformance", "data": f"{base}/ogc/collections"}
    assert "/ogc/collections/{collection_id}/items" in live.client.get("/openapi.json").json()["paths"]
    classes = live.client.get("/ogc/conformance", headers=a).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in classes and len(classes) == 4
    towns = live.client.get("/ogc/collections/towns", headers=a).json()
    town_a = live.state.jurisdictions.get(live.users.town_a).geometry
    assert towns["extent"]["spatial"]["bbox"][0] == pytest.approx(list(shapely.bounds(town_a)))
    assert towns["storageCrs"] == CRS84 and towns["crs"][:2] == [CRS84, CGCS2000]
    assert live.client.get(f"/ogc/collections/{PRIVATE_B}", headers=a).status_code == 404
    assert live.client.get(f"/ogc/collections/{PRIVATE_B}/items", headers=a).status_code == 404
    everything = live.state.registry.feature_collection("grids", Scope.everything())["features"]
    b_grid = next(f for f in everything if f["properties"]["code"].startswith(live.users.town_b))
    assert live.client.get(f"/ogc/collections/grids/items/{b_grid['id']}", headers=a).status_code == 404
    mine = live.client.get(f"/ogc/collections/grids/items/{b_grid['id']}", headers=live.heads[live.users.operator_b])
    assert mine.status_code == 200 and mine.headers["content-type"] == "application/geo+json"
    assert mine.json()["properties"]["code"] == b_grid["properties"]["code"]


@pytest.mark.parametrize(("query", "says"), [
    ("bbox=1,2,3", "bbox must be 4 numbers"),
    ("bbox=121,32,nan,33", "bbox must be 4 numbers"),
    ("bbox=121,33,122,32", "lat 33.0 > 32.0"),
    ("bbox=10,91,11,92", "lat outside ±90"),
    ("bbox=121,32,122,33&bbox-crs=EPSG:3857", "unsupported crs 'EPSG:3857'"),
    ("limit=0", "limit must be a whole number >= 1"),
    ("limit=ten", "limit must be a whole number >= 1"),
    ("offset=-1", "offset must be a whole number >= 0"),
    ("crs=EPSG:3857", "supported: http://www.opengis.net/def/crs/OGC/1.3/CRS84"),
    ("f=html", "f must be one of json"),
    ("bbx=121,32,122,33", "unknown query parameter(s) bbx"),
])
def test_a_bad_query_is_a_precise_400(live, query, says):
    answer = live.client.get(f"/ogc/collections/grids/items?{query}", headers=live.heads[live.users.district])
    assert answer.status_code == 400 and says in answer.json()["detail"], answer.text


def test_next_links_walk_the_whole_set_once(live):
    d = live.heads[live.users.district]
    url, seen, pages = "/ogc/collections/grids/items?limit=10", [], 0
    while url:
        page = live.client.get(url, headers=d).json()
        pages += 1
        assert page["numberMatched"] == 64 and page["numberReturned"] == len(page["features"])
        seen += [f["id"] for f in page["features"]]
        rels = {link["rel"]: link["href"] for link in page["links"]}
        assert ("prev" in rels) == (pages > 1)
        url = rels.get("next")
    assert pages == 7 and len(seen) == len(set(seen)) == 64
    big = live.client.get("/ogc/collections/grids/items?limit=1000000", headers=d).json()
    assert big["numberReturned"] == 64 and "next" not in {link["rel"] for link in big["links"]}


def test_crs_4490_answers_lat_lon_and_says_so(live):
    a = live.heads[live.users.operator_a]
    plain = live.client.get("/ogc/collections/grids/items?limit=3", headers=a)
    cgcs = live.client.get("/ogc/collections/grids/items?limit=3&crs=EPSG:4490", headers=a)
    assert plain.headers["content-crs"] == f"<{CRS84}>" and cgcs.headers["content-crs"] == f"<{CGCS2000}>"
    lon, lat = plain.json()["features"][0]["geometry"]["coordinates"][0][0]
    assert cgcs.json()["features"][0]["geometry"]["coordinates"][0][0] == pytest.approx([lat, lon], abs=1e-6)
    assert 115 < lon < 125 and 30 < lat < 35
    # the same box in CGCS2000's lat/lon order selects the same features
    minx, miny, maxx, maxy = shapely.bounds(live.state.jurisdictions.get(live.users.town_a).geometry)
    box = f"{minx},{miny},{(minx + maxx) / 2},{(miny + maxy) / 2}"
    box_4490 = f"{miny},{minx},{(miny + maxy) / 2},{(minx + maxx) / 2}"
    lonlat = live.client.get(f"/ogc/collections/grids/items?bbox={box}", headers=a).json()
    latlon = live.client.get(f"/ogc/collections/grids/items?bbox={box_4490}&bbox-crs=EPSG:4490", headers=a).json()
    assert 0 < lonlat["numberMatched"] < 64
    assert [f["id"] for f in latlon["features"]] == [f["id"] for f in lonlat["features"]]


def test_a_replaced_layer_is_paged_afresh(live):
    d = live.heads[live.users.district]
    first = live.client.get(f"/ogc/collections/{PRIVATE_B}/items?limit=1", headers=d).json()
    assert first["numberMatched"] == 1
    two = gpd.GeoDataFrame({"name": ["b1", "b2"]}, geometry=[shapely.Point(121.0, 32.2), shapely.Point(121.0, 32.21)],
                           crs="EPSG:4326")
    live.state.registry.save_layer(PRIVATE_B, two, kind="custom", owner_code=live.users.town_b, visibility="private")
    again = live.client.get(f"/ogc/collections/{PRIVATE_B}/items?limit=1", headers=d).json()
    assert again["numberMatched"] == 2 and again["features"][0]["properties"]["name"] == "b1"


def test_basic_guessing_is_slowed_as_logins_are(live):
    """Wrong Basic passwords count as failed logins: after 5 of one name, 429 with Retry-After."""
    try:
        answers = [live.client.get("/ogc/collections", headers=basic(live.users.operator_b, f"guess-{i}"))
                   for i in range(6)]
        assert [a.status_code for a in answers] == [401] * 5 + [429]
        assert int(answers[-1].headers["retry-after"]) >= 1 and "too many failed logins" in answers[-1].text
        assert live.client.get("/ogc/collections", headers=basic(live.users.operator_b, "guess-7")).status_code == 429
        # the user's own client, whose pair was verified before (ogrinfo above), is not locked out
        assert live.client.get("/ogc/collections", headers=basic(live.users.operator_b)).status_code == 200
    finally:
        live.state.auth.login_guard.clear()
