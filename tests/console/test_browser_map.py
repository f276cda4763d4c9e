"""The map page in a real headless Chromium against a real console on loopback.

A session-scoped server runs ``console.app.create_app`` with uvicorn in a thread (the demo
district, seed 7, is generated into SQLite on start-up); Debian's Chromium opens ``/`` and the
tests check what an operator sees: every layer drawn, a click answered with its grid and the
cameras that see it, a search flown to, errors shown on the page, nothing fetched from outside
this machine. The page is opened logged in: the test user's token is in the tab's
sessionStorage before any script runs, as the login page leaves it (tests/console/test_auth_browser.py
drives the login page itself). The last test saves ``docs/screenshots/map.png`` (1600x900).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.auth_support import create_test_users
from tests.browser import (
    is_loopback,
    log_in,
    login_answer,
    serve,
)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
# The docs' screenshots are refreshed on request (ZHIZHI_UPDATE_SCREENSHOTS=1); an ordinary test
# run writes to a temporary folder so that it leaves the working tree as it found it.
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
VIEWPORT = {"width": 1600, "height": 900}
READY_TIMEOUT_MS = 90_000


# --------------------------------------------------------------------------------- fixtures


class LiveServer(str):
    """The base URL of the live console (a ``str``), with its test users (``.users``)."""


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The real console on a free loopback port, with the seed-7 demo district and the test
    users (``live_server.users``)."""
    from zhizhi.console.app import create_app
    from zhizhi.console.settings import DemoSettings, MapSettings, Settings

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        demo=DemoSettings(seed=7),
        map=MapSettings(),  # no tile server, whatever the environment says
    )
    app = create_app(settings)
    with serve(app) as base:
        server = LiveServer(base)
        server.users = create_test_users(app.state.console)
        yield server


@pytest.fixture(scope="session")
def district_token(live_server):
    return login_answer(live_server, live_server.users.district)["token"]


@pytest.fixture(scope="session")
def api(live_server, district_token):
    """GET a JSON document as the district duty officer."""
    headers = {"Authorization": f"Bearer {district_token}"}
    with httpx.Client(base_url=live_server, timeout=60, trust_env=False, headers=headers) as client:

        def get(path: str, **params):
            resp = client.get(path, params=params or None)
            resp.raise_for_status()
            return resp.json()

        yield get



@dataclass
class MapPage:
    page: object
    base: str
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)


def open_page(browser, base: str, prepare=None, username: str | None = None) -> MapPage:
    """A fresh context and page on ``base`` logged in as ``username`` (the district duty
    officer by default), recording every request and error."""
    context = browser.new_context(
        viewport=VIEWPORT, device_scale_factor=1, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    log_in(context, base, username or base.users.district)
    page = context.new_page()
    mp = MapPage(page=page, base=base)
    context.on("request", lambda r: mp.requests.append(r.url))
    context.on("requestfailed", lambda r: mp.failed.append(f"{r.url} ({r.failure})"))
    page.on("pageerror", lambda e: mp.errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: m.type == "error" and mp.errors.append(f"console: {m.text}"))
    if prepare:
        prepare(page)
    page.goto(f"{base}/", wait_until="domcontentloaded")
    page.wait_for_function("() => document.body.dataset.ready !== 'false'", timeout=READY_TIMEOUT_MS)
    return mp


def banner_text(mp: MapPage) -> str:
    return mp.js(
        "(() => { const b = document.getElementById('zz-errors'); return b && !b.hidden ? b.innerText : ''; })()"
    )


@pytest.fixture(scope="module")
def map_page(browser, live_server):
    mp = open_page(browser, live_server)
    state = mp.js("document.body.dataset.ready")
    assert state == "true", (
        f"map page not ready ({state}); banner: {banner_text(mp)!r}; {mp.errors}"
    )
    yield mp
    mp.page.context.close()


# --------------------------------------------------------------------------------- helpers


def assert_stayed_local(mp: MapPage) -> None:
    """Nothing went to a non-loopback host, nothing failed, nothing logged an error."""
    outside = [u for u in mp.requests if not is_loopback(u)]
    assert not outside, f"requests left the machine: {outside}"
    assert not mp.failed, f"failed requests: {mp.failed}"
    assert not mp.errors, f"errors on the page: {mp.errors}"
    assert not banner_text(mp), f"error banner shown: {banner_text(mp)!r}"


def show(mp: MapPage, lon: float, lat: float, zoom: float) -> None:
    mp.js(
        "([lat, lon, z]) => zhizhi.map.setView([lat, lon], z, {animate: false})", [lat, lon, zoom]
    )


def click_at(mp: MapPage, lon: float, lat: float, zoom: float) -> dict:
    """Centre the map on (lon, lat), click that pixel for real; return the page's locate answer."""
    show(mp, lon, lat, zoom)
    x, y = mp.js(
        """([lat, lon]) => {
            const p = zhizhi.map.latLngToContainerPoint([lat, lon]);
            const r = zhizhi.map.getContainer().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
        }""",
        [lat, lon],
    )
    target = mp.js("([x, y]) => document.elementFromPoint(x, y).closest('#map') !== null", [x, y])
    assert target, "the point to click is covered by something other than the map"
    with mp.page.expect_response(lambda r: "/api/grids/locate" in r.url) as located:
        mp.page.mouse.click(x, y)
    answer = located.value.json()
    mp.page.wait_for_function(
        "g => document.getElementById('zz-location').dataset.grid === g", arg=answer["grid"]
    )
    return answer


def ahead_of(lon: float, lat: float, heading_deg: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` from (lon, lat) towards ``heading_deg`` (fine for a few hundred m)."""
    h = math.radians(heading_deg)
    dlat = metres * math.cos(h) / 111_320.0
    dlon = metres * math.sin(h) / (111_320.0 * math.cos(math.radians(lat)))
    return lon + dlon, lat + dlat


def seen_point(api) -> tuple[float, float, list[dict]]:
    """A point inside some camera's field of view, and the cameras that see it (nearest first)."""
    for feature in api("/api/layers/cameras/features")["features"]:
        p = feature["properties"]
        lon, lat = feature["geometry"]["coordinates"][:2]
        point = ahead_of(lon, lat, p["heading_deg"], 0.4 * p["range_m"])
        covering = api("/api/cameras/covering", lon=point[0], lat=point[1])
        try:
            api("/api/grids/locate", lon=point[0], lat=point[1])
        except httpx.HTTPStatusError:
            continue  # just outside the district
        if any(c["id"] == p["id"] for c in covering):
            return point[0], point[1], covering
    pytest.fail("no camera of the demo district sees the point just ahead of it")


def inside_point(geometry: dict) -> tuple[float, float]:
    import shapely.geometry

    p = shapely.geometry.shape(geometry).representative_point()
    return p.x, p.y


# --------------------------------------------------------------------------------- tests


def test_page_draws_every_layer(map_page, api):
    mp = map_page
    config = api("/api/config")
    layers = api("/api/layers")
    names = [info["name"] for info in layers]
    assert {"towns", "grids", "cameras"} <= set(names), names

    assert (
        mp.js("document.getElementById('zz-district-name').textContent")
        == config["district"]["name"]
    )
    assert mp.js("!document.getElementById('zz-synthetic').hidden") == bool(config["synthetic"])
    drawn = mp.js("Object.keys(zhizhi.layers)")
    assert sorted(drawn) == sorted(names)

    for info in layers:
        name = info["name"]
        features = api(f"/api/layers/{name}/features")["features"]
        assert info["feature_count"] == len(features), name
        in_leaflet = mp.js("n => zhizhi.layers[n].getLayers().length", name)
        in_svg = mp.js("n => document.querySelectorAll('#map path.zz-f-' + n).length", name)
        assert in_leaflet == len(features), (
            f"{name}: {in_leaflet} Leaflet layers for {len(features)} features"
        )
        assert in_svg == len(features), f"{name}: {in_svg} SVG paths for {len(features)} features"
    assert api("/api/layers/grids/features")["features"], "the demo district has grids"

    cones = api("/api/cameras/fov")["features"]
    assert mp.js("zhizhi.fov.getLayers().length") == len(cones)
    assert mp.js("document.querySelectorAll('#map path.zz-fov').length") == len(cones)

    towns = api("/api/layers/towns/features")["features"]
    assert mp.js("document.querySelectorAll('.zz-label-town').length") == len(towns)
    overlays = mp.js(
        "document.querySelectorAll('.zz-layers .leaflet-control-layers-overlays input').length"
    )
    assert overlays == len(layers) + 1  # every layer, and the cameras' fields of view

    # Fitted to the district: its bounds are in view.
    minlon, minlat, maxlon, maxlat = config["district"]["bounds"]
    assert mp.js(
        "b => zhizhi.map.getBounds().pad(0.02).contains(L.latLngBounds([b[1], b[0]], [b[3], b[2]]))",
        [minlon, minlat, maxlon, maxlat],
    )
    assert_stayed_local(mp)


def test_toggling_a_layer_removes_it(map_page):
    mp = map_page
    label = mp.page.locator(".zz-layers label", has_text="Grids")
    checkbox = label.locator("input")
    assert checkbox.is_checked()
    checkbox.uncheck()
    assert mp.js("zhizhi.map.hasLayer(zhizhi.layers.grids)") is False
    assert mp.js("document.querySelectorAll('#map path.zz-f-grids').length") == 0
    checkbox.check()
    assert mp.js("zhizhi.map.hasLayer(zhizhi.layers.grids)") is True
    assert_stayed_local(mp)


def test_the_legend_lists_the_kinds_the_district_has(map_page):
    """The demo has zones, roads and shelters: their entries and the cameras' (a county's own import
    without them shows the cameras' alone)."""
    items = map_page.js("[...document.querySelectorAll('#zz-legend li')].map(li => li.textContent.trim())")
    assert len(items) == 4 + 2 + 1 + 1  # four zone kinds, two road entries, cameras, shelters
    assert any("School" in i for i in items) and any("Shelter" in i for i in items)


def test_click_shows_the_grid(map_page, api):
    mp = map_page
    grids = api("/api/layers/grids/features")["features"]
    grid = grids[len(grids) // 2]
    lon, lat = inside_point(grid["geometry"])
    expected = api("/api/grids/locate", lon=lon, lat=lat)
    assert expected["grid"] == grid["properties"]["code"]

    answer = click_at(mp, lon, lat, zoom=16)
    assert answer == expected
    panel = mp.page.locator("#zz-location")
    assert panel.get_attribute("data-state") == "done"
    assert mp.page.locator("#zz-grid-code").inner_text().strip() == expected["grid"]
    assert (
        mp.page.locator("[data-field=grid-name]").inner_text().strip() == grid["properties"]["name"]
    )
    for level in ("village", "town", "district"):
        shown = mp.page.locator(f"[data-field={level}-code]").inner_text().strip()
        assert shown == expected[level], level
    assert mp.js("document.querySelectorAll('#map path.zz-pick-grid').length") == 1
    assert_stayed_local(mp)


def test_click_lists_the_cameras_that_see_the_point(map_page, api):
    mp = map_page
    lon, lat, covering = seen_point(api)
    click_at(mp, lon, lat, zoom=17)
    mp.page.wait_for_function("() => document.getElementById('zz-cameras').dataset.state === 'done'")
    listed = mp.js(
        "[...document.querySelectorAll('#zz-camera-list .zz-cam')].map(li => li.dataset.cameraId)"
    )
    assert listed == [c["id"] for c in covering]  # nearest first, as the API says
    assert mp.page.locator("#zz-camera-count").inner_text().strip() == str(len(covering))
    first = mp.page.locator("#zz-camera-list .zz-cam").first.inner_text()
    assert covering[0]["name"] in first
    assert mp.js("document.querySelectorAll('#map path.zz-sightline').length") == len(covering)
    assert_stayed_local(mp)


def test_search_by_town_name_flies_there(map_page, api):
    mp = map_page
    town = api("/api/layers/towns/features")["features"][0]
    code, name = town["properties"]["code"], town["properties"]["name"]
    hit = next(h for h in api("/api/search", q=name) if h["code"] == code)
    mp.js("zhizhi.fitDistrict()")
    zoom_before = mp.js("zhizhi.map.getZoom()")

    box = mp.page.locator("#zz-search-input")
    box.click()
    box.fill(name)
    option = mp.page.locator(f"#zz-search-results .zz-hit[data-code='{code}']")
    option.wait_for(state="visible")
    assert name in option.inner_text()
    option.click()

    mp.page.locator(f"#zz-search-selected[data-code='{code}']").wait_for(state="visible")
    minlon, minlat, maxlon, maxlat = hit["bounds"]
    mp.page.wait_for_function(
        """([b, z0]) => {
            const m = zhizhi.map;
            return m.getZoom() > z0 + 0.5 &&
                m.getBounds().pad(0.01).contains(L.latLngBounds([b[1], b[0]], [b[3], b[2]]));
        }""",
        arg=[[minlon, minlat, maxlon, maxlat], zoom_before],
        timeout=10_000,
    )
    assert mp.js("zhizhi.selected.code") == code
    assert mp.js("document.querySelectorAll('#map path.zz-highlight').length") >= 1
    assert_stayed_local(mp)


def test_search_by_grid_code_with_enter(map_page, api):
    mp = map_page
    grid = api("/api/layers/grids/features")["features"][-1]["properties"]
    box = mp.page.locator("#zz-search-input")
    box.fill("")
    box.type(grid["code"])
    box.press("Enter")
    mp.page.locator(f"#zz-search-selected[data-code='{grid['code']}']").wait_for(state="visible")
    assert mp.js("zhizhi.selected.level") == "grid"
    lon, lat = inside_point(
        next(
            f
            for f in api("/api/layers/grids/features")["features"]
            if f["properties"]["code"] == grid["code"]
        )["geometry"]
    )
    mp.page.wait_for_function(
        "([lon, lat]) => zhizhi.map.getZoom() >= 14 && zhizhi.map.getBounds().contains([lat, lon])",
        arg=[lon, lat],
        timeout=10_000,
    )
    assert_stayed_local(mp)


def test_town_operator_sees_only_its_town(browser, live_server, api):
    """Logged in as a town's operator, every layer the page draws holds only that town's features."""
    district = api("/api/config")["district"]["code"]
    towns = [h for h in api("/api/search", q=district) if h["level"] == "town"]
    mine = towns[1]["code"]
    assert mine == live_server.users.town_b
    mp = open_page(browser, live_server, username=live_server.users.operator_b)
    try:
        assert mp.js("document.body.dataset.ready") == "true", banner_text(mp)
        drawn = mp.js(
            """() => Object.fromEntries(Object.entries(zhizhi.layers).map(([name, layer]) => [
                name, layer.getLayers().map(l => l.feature && l.feature.properties.code)]))"""
        )
        assert set(drawn["towns"]) == {mine}
        assert drawn["grids"] and all(code.startswith(mine) for code in drawn["grids"])
        assert drawn["cameras"] and all(code.startswith(mine) for code in drawn["cameras"])
        for name in ("villages", "zones", "shelters"):
            assert all(code.startswith(mine) for code in drawn[name]), name
        # Roads are district-level: drawn, clipped to the town (their code is the district's).
        assert all(mine.startswith(code) or code.startswith(mine) for code in drawn["roads"])
        view = mp.js(
            "(() => { const b = zhizhi.map.getBounds(); "
            "return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; })()"
        )
        town_box = towns[1]["bounds"]
        assert view[0] <= town_box[0] and view[2] >= town_box[2]  # fitted to the town
        assert view[2] - view[0] < (
            api("/api/config")["district"]["bounds"][2] - api("/api/config")["district"]["bounds"][0]
        )
        assert_stayed_local(mp)
    finally:
        mp.page.context.close()


def test_failed_api_call_shows_a_banner(browser, live_server):
    def break_roads(page):
        page.route(
            "**/api/layers/roads/features*",
            lambda route: route.fulfill(status=500, json={"detail": "database is locked"}),
        )

    mp = open_page(browser, live_server, prepare=break_roads)
    try:
        assert mp.js("document.body.dataset.ready") == "error"
        text = banner_text(mp)
        assert "roads" in text.lower() or "道路" in text, text
        assert "500" in text and "database is locked" in text, text
        # The rest of the map is still drawn under the banner.
        assert mp.js("zhizhi.layers.towns.getLayers().length") > 0
        assert mp.js("document.getElementById('zz-status').dataset.state") == "error"
    finally:
        mp.page.context.close()


def test_missing_leaflet_shows_a_banner(browser, live_server):
    def no_leaflet(page):
        page.route(
            "**/static/vendor/leaflet/**", lambda route: route.fulfill(status=404, body="not found")
        )

    mp = open_page(browser, live_server, prepare=no_leaflet)
    try:
        assert mp.js("document.body.dataset.ready") == "error"
        text = banner_text(mp)
        assert "leaflet" in text.lower() and "install_assets.sh" in text, text
    finally:
        mp.page.context.close()


def test_screenshot(map_page, api, tmp_path):
    """The district at a glance, a point located with its cameras: docs/screenshots/map.png."""
    import os

    update = os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1"
    SCREENSHOTS = DOCS_SCREENSHOTS if update else tmp_path
    mp = map_page
    lon, lat, covering = seen_point(api)
    mp.js("zhizhi.clearSelection()")
    mp.js("zhizhi.fitDistrict()")
    located = mp.js("([lon, lat]) => zhizhi.inspect(lon, lat)", [lon, lat])
    assert [c["id"] for c in located["cameras"]] == [c["id"] for c in covering]
    mp.page.mouse.move(VIEWPORT["width"] - 5, VIEWPORT["height"] - 5)  # no hover tooltip
    mp.page.wait_for_timeout(400)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    mp.page.screenshot(path=str(SCREENSHOTS / "map.png"))

    show(mp, lon, lat, 17.5)
    mp.js("zhizhi.map.panBy([140, 0], {animate: false})")  # clear of the layer control
    mp.page.wait_for_timeout(400)
    mp.page.screenshot(path=str(SCREENSHOTS / "map-cameras.png"))
    assert (SCREENSHOTS / "map.png").stat().st_size > 50_000
    assert_stayed_local(mp)


def test_nothing_left_the_machine(map_page):
    """After everything above: every request of the page stayed on loopback."""
    mp = map_page
    assert any("/static/vendor/leaflet/leaflet.js" in u for u in mp.requests)
    assert any("/api/layers/grids/features" in u for u in mp.requests)
    assert_stayed_local(mp)
