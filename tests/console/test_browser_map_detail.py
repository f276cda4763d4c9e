"""The map asks for its layers by view and zoom (console/static/map/detail.js), in Chromium.

A console of its own (the small demo district) serves the wall's map screen at wall size. The
first load asks every layer and the fields of view with ``bbox`` and ``zoom`` and draws all the
features of its view; zooming in to a street asks again at that zoom and puts the finer geometry
into the features already drawn (none removed, none added twice, the same Leaflet layers: no
flicker); zooming back out asks nothing; ``?layers=whole`` asks whole layers as before. The
screenshots at low and high zoom go to the test's temporary folder.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.auth_support import create_test_users
from tests.browser import login_answer, open_page, save_screenshot, serve

pytestmark = pytest.mark.browser

WALL = "/wall?screen=map&wall=detail"
LAYERS = ("towns", "villages", "grids", "roads", "zones", "cameras")


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    from zhizhi.console.app import create_app
    from zhizhi.console.settings import DemoSettings, MapSettings, Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("detail"), map=MapSettings(),
                        demo=DemoSettings(seed=11, grids=64, towns=3, villages_per_town=2, cameras=12))
    app = create_app(settings)
    with serve(app) as base:
        yield base, create_test_users(app.state.console)


def _layer_asks(requests: list[str]) -> list[dict]:
    asks = []
    for url in requests:
        parts = urlsplit(url)
        path = parts.path
        if (path.startswith("/api/layers/") and path.endswith("/features")) or path == "/api/cameras/fov":
            asks.append({"path": parts.path, **{k: v[0] for k, v in parse_qs(parts.query).items()}})
    return asks


def _counts(page) -> dict:
    return page.evaluate(
        "() => Object.fromEntries([...Object.entries(window.zhizhi.layers).map(([n, l]) => [n, l.getLayers().length]),"
        " ['fov', window.zhizhi.fov.getLayers().length]])")


def _wait_refreshed(page, before: int) -> None:
    page.wait_for_function(
        f"() => window.zhizhi.detail.refreshes > {before} && window.zhizhi.detail.pending === 0", timeout=30_000)


def test_layers_come_by_view_and_zoom_and_finer_detail_merges_in_place(browser, console, tmp_path):
    base, users = console
    token = login_answer(base, users.district)["token"]
    page, requests, problems = open_page(browser, base, users.district, WALL)
    try:
        page.wait_for_function("() => document.body.dataset.wallReady === 'true'", timeout=60_000)
        first = _layer_asks(requests)
        assert {a["path"] for a in first} >= {f"/api/layers/{n}/features" for n in LAYERS} | {"/api/cameras/fov"}
        assert all("bbox" in a and "zoom" in a for a in first), first
        low_zoom = int(first[0]["zoom"])
        assert 9 <= low_zoom <= 14, first
        counts = _counts(page)
        listed = {layer["name"]: layer["feature_count"] for layer in
                  httpx.get(f"{base}/api/layers", headers={"Authorization": f"Bearer {token}"},
                            trust_env=False).json()}
        for name in LAYERS:
            assert counts[name] == listed[name] > 0, (name, counts[name], listed[name])  # the district is in view
        save_screenshot(page, tmp_path / "wall-map-low.png")

        # Zoom in on a grid: asked again at the street's zoom, finer geometry in the same layers.
        seen = len(requests)
        refreshes = page.evaluate("window.zhizhi.detail.refreshes")
        page.evaluate("""() => {
          const view = window.zhizhi;
          const grid = view.layers.grids.getLayers()[0];
          window.zzKept = grid;
          window.zzBefore = JSON.stringify(grid.feature.geometry);
          view.map.setView(grid.getCenter(), 17, { animate: false });
        }""")
        _wait_refreshed(page, refreshes)
        again = _layer_asks(requests[seen:])
        assert again and all(a["zoom"] == "17" for a in again), again
        assert page.evaluate("window.zhizhi.layers.grids.hasLayer(window.zzKept)")  # the same Leaflet layer
        assert page.evaluate("window.zzKept.zzLevel") == 17
        assert page.evaluate("window.zzKept.getElement().isConnected")
        for name, n in _counts(page).items():
            assert n == counts[name], name  # nothing removed, nothing doubled
        save_screenshot(page, tmp_path / "wall-map-high.png")

        # Back out: what it has covers it, nothing is asked.
        seen = len(requests)
        page.evaluate("() => window.zhizhi.fitDistrict()")
        page.wait_for_timeout(800)
        assert _layer_asks(requests[seen:]) == []
        assert page.evaluate("window.zzKept.zzLevel") == 17

        # A feature not drawn yet (taken away here) comes when the view that holds it is asked.
        refreshes = page.evaluate("window.zhizhi.detail.refreshes")
        page.evaluate("""() => {
          const view = window.zhizhi;
          const entry = view.detail.tracked.get("grids");
          const gone = entry.layer.getLayers()[1];
          const at = gone.getCenter();
          window.zzGone = gone.feature.id;
          entry.layer.removeLayer(gone);
          entry.byKey.delete(`#${gone.feature.id}`);
          view.map.setView(at, 16, { animate: false });
        }""")
        _wait_refreshed(page, refreshes)
        back = page.evaluate("""() => {
          const entry = window.zhizhi.detail.tracked.get("grids");
          const lyr = entry.byKey.get(`#${window.zzGone}`);
          return lyr ? [entry.layer.hasLayer(lyr), lyr.zzLevel, !!lyr.getElement()] : null;
        }""")
        assert back == [True, 16, True], back
        assert _counts(page) == counts
        assert not problems, problems
    finally:
        page.context.close()


def test_whole_layers_on_request(browser, console):
    base, users = console
    page, requests, problems = open_page(browser, base, users.district, WALL + "&layers=whole")
    try:
        page.wait_for_function("() => document.body.dataset.wallReady === 'true'", timeout=60_000)
        asks = _layer_asks(requests)
        assert asks and all("zoom" not in a and "bbox" not in a for a in asks), asks
        seen = len(requests)
        page.evaluate("() => window.zhizhi.map.setZoom(16, { animate: false })")
        page.wait_for_timeout(800)
        assert _layer_asks(requests[seen:]) == []
        assert not problems, problems
    finally:
        page.context.close()
