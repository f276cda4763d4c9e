"""The demo's rendered basemap in a real headless Chromium: the map page draws it under the layers
from the console's own host (no request leaves it), and the layers panel names it. With
``ZHIZHI_UPDATE_SCREENSHOTS=1`` the page is saved as ``docs/screenshots/map-demo-basemap.png``
(1920x1080), and a town at zoom 13 with the grids off as ``map-demo-basemap-detail.png``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.auth_support import create_test_users
from tests.basemap_support import LOADED_TILES, assert_own_host, demo_basemap_data, demo_settings, open_logged_in
from tests.browser import serve

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 1920, "height": 1080}
READY_TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A console on a data folder whose first start rendered the demo basemap."""
    from zhizhi.console.app import create_app
    from zhizhi.console.runtime import Runtime

    settings = demo_settings(demo_basemap_data(tmp_path_factory, tmp_path_factory.mktemp("demo-bm") / "data"))
    with Runtime(settings) as runtime:
        users = create_test_users(runtime.state)
        with serve(create_app(settings, state=runtime.state)) as base:
            yield base, users, runtime.state


def test_the_map_page_draws_the_rendered_basemap_from_its_own_host(browser, live, tmp_path):
    from zhizhi.gis.basemap_render import leaflet_center

    base, users, state = live
    page, requests, errors = open_logged_in(browser, base, users.district, f"{base}/", VIEWPORT)
    try:
        page.wait_for_function("() => document.body.dataset.ready !== 'false'", timeout=READY_TIMEOUT_MS)
        assert page.evaluate("document.body.dataset.ready") == "true"
        page.wait_for_function(f"() => {LOADED_TILES} >= 4", timeout=30_000)
        tiles = page.evaluate(
            "Array.from(document.querySelectorAll('.zz-basemap img.leaflet-tile-loaded'))"
            ".map((img) => [img.src, img.naturalWidth])")
        assert tiles and all(src.startswith("blob:") and width == 256 for src, width in tiles)
        assert_own_host(base, requests)
        assert page.locator(".zz-layers label", has_text="demo (rendered)").count() == 1
        assert not errors

        # Every tile the page asked for was there: the render covers what the district view shows.
        page.wait_for_function(
            "() => document.querySelectorAll('.zz-basemap img.leaflet-tile:not(.leaflet-tile-loaded)').length === 0",
            timeout=30_000)
        shot = REPO / "docs" / "screenshots" if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1" else tmp_path
        page.wait_for_timeout(500)
        page.screenshot(path=str(shot / "map-demo-basemap.png"))

        # Closer, with the grids off: road classes, water, village names of the basemap itself.
        page.locator(".zz-layers label", has_text="网格 Grids").locator("input").uncheck()
        town = state.jurisdictions.children(state.jurisdictions.district_code)[5]
        lon, lat = leaflet_center(town.geometry)
        page.evaluate("([lat, lon]) => zhizhi.map.setView([lat, lon], 13, {animate: false})", [lat, lon])
        page.wait_for_function(
            "() => zhizhi.map.getZoom() === 13 && !zhizhi.basemap.layer.isLoading()"
            " && document.querySelectorAll('.zz-basemap img.leaflet-tile:not(.leaflet-tile-loaded)').length === 0",
            timeout=30_000)
        assert any("/api/basemap/tiles/13/" in u for u in requests)
        assert_own_host(base, requests)
        page.wait_for_timeout(500)
        page.screenshot(path=str(shot / "map-demo-basemap-detail.png"))
        assert not errors
    finally:
        page.context.close()
