"""The offline basemap in a real headless Chromium: the map page and the wall's map screen draw
the imported MBTiles under the layers, every request stays on the console's host, and the
layers panel turns the basemap off and on; the situation report shows it inlined. With
``ZHIZHI_UPDATE_SCREENSHOTS=1`` the map page and the report are saved as
``docs/screenshots/map-basemap.png`` and ``report-basemap.png`` (1600x900)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import shapely

from tests.auth_support import create_test_users
from tests.basemap_support import LOADED_TILES, assert_own_host, open_logged_in, write_mbtiles
from tests.browser import log_in, serve

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 1600, "height": 900}
READY_TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A console (seed-7 demo district) with a three-zoom basemap over the district imported."""
    from zhizhi.console.app import create_app
    from zhizhi.console.basemap import import_basemap
    from zhizhi.console.runtime import Runtime
    from zhizhi.console.settings import DemoSettings, MapSettings, Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), demo=DemoSettings(seed=7), map=MapSettings())
    with Runtime(settings) as runtime:
        j = runtime.state.jurisdictions
        box = tuple(shapely.bounds(j.get(j.district_code).geometry).tolist())
        path = tmp_path_factory.mktemp("basemap") / "county.mbtiles"
        write_mbtiles(path, box, (9, 10, 11))
        import_basemap(settings.data_dir, path, name="县域底图")
        users = create_test_users(runtime.state)
        with serve(create_app(settings, state=runtime.state)) as base:
            yield base, users


def test_map_page_draws_the_basemap_from_its_own_host(browser, live, tmp_path):
    base, users = live
    page, requests, errors = open_logged_in(browser, base, users.district, f"{base}/", VIEWPORT)
    try:
        page.wait_for_function("() => document.body.dataset.ready !== 'false'", timeout=READY_TIMEOUT_MS)
        assert page.evaluate("document.body.dataset.ready") == "true"
        page.wait_for_function(f"() => {LOADED_TILES} >= 2", timeout=30_000)
        tiles = page.evaluate(
            "Array.from(document.querySelectorAll('.zz-basemap img.leaflet-tile-loaded'))"
            ".map((img) => [img.src, img.naturalWidth])")
        assert all(src.startswith("blob:") and width == 256 for src, width in tiles)
        assert_own_host(base, requests)
        assert not [u for u in requests if "/basemap/" in u and ("token=" in u or "ticket=" in u)]
        assert page.evaluate("window.getComputedStyle(document.querySelector('.zz-basemap')).zIndex") == "1"
        assert not errors

        shot = REPO / "docs" / "screenshots" if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1" else tmp_path
        page.wait_for_timeout(500)
        page.screenshot(path=str(shot / "map-basemap.png"))

        # The layers panel turns it off and on.
        label = page.locator(".zz-layers label", has_text="县域底图")
        label.locator("input").uncheck()
        page.wait_for_function("() => !document.querySelector('.zz-basemap')")
        label.locator("input").check()
        page.wait_for_function(f"() => {LOADED_TILES} >= 2", timeout=30_000)
    finally:
        page.context.close()


def test_the_situation_report_shows_the_basemap(browser, live, tmp_path):
    import httpx

    base, users = live
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    token = log_in(context, base, users.district)["token"]
    headers = {"Authorization": f"Bearer {token}"}
    config = httpx.get(f"{base}/api/config", headers=headers, trust_env=False).json()
    lon, lat = config["district"]["center"]
    incident = httpx.post(f"{base}/api/incidents", headers=headers, trust_env=False, json={
        "type": "fire", "title": "仓库火灾", "area": {"point": [lon, lat], "radius_m": 1500}}).json()
    context.set_extra_http_headers(headers)
    context.add_init_script(
        "window.zzViolations = []; document.addEventListener('securitypolicyviolation', "
        "e => window.zzViolations.push(`${e.violatedDirective} ${e.blockedURI}`));")
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    try:
        page.goto(f"{base}/api/incidents/{incident['id']}/report.html", wait_until="load")
        page.wait_for_function(
            "() => { const i = document.querySelector('img.leaflet-image-layer');"
            " return !!i && i.complete && i.naturalWidth > 0; }", timeout=30_000)
        assert page.evaluate("window.zzViolations") == []
        host = urlsplit(base).netloc
        assert all(urlsplit(u).scheme == "data" or urlsplit(u).netloc == host for u in requests), requests
        shot = REPO / "docs" / "screenshots" if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1" else tmp_path
        page.screenshot(path=str(shot / "report-basemap.png"))
    finally:
        context.close()


def test_wall_map_screen_draws_the_basemap(browser, live):
    base, users = live
    page, requests, errors = open_logged_in(browser, base, users.district, f"{base}/wall?screen=map&wall=bm", VIEWPORT)
    try:
        page.wait_for_function("() => document.body.dataset.wallReady !== undefined", timeout=READY_TIMEOUT_MS)
        assert page.evaluate("document.body.dataset.wallReady") == "true"
        page.wait_for_function(f"() => {LOADED_TILES} >= 2", timeout=30_000)
        assert_own_host(base, requests)
        assert not errors
    finally:
        page.context.close()
