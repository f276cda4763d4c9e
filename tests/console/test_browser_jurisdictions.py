"""The jurisdictions admin page (/jurisdictions) in a real headless Chromium on a live console.

A district administrator uploads the county's files as a county GIS team hands them over
(tests/hierarchy_files_support.py, from the real Tongzhou boundary: GCJ-02 GeoJSON towns,
GeoPackage villages, a GBK Shapefile of grids without ``.cpg``, here with a few micro-grids):
first a variant with a duplicate grid code, refused naming the code with Import closed; then the
valid files, checked (a dry run), Import opening only for the very inputs checked, a confirm step
(cancelled once: nothing stored), the import, and the new summary. Town operators and a district
duty officer get the page's "only district administrators" message, not a blank page. No request
leaves the console's host and the page runs under its CSP.

With ``ZHIZHI_UPDATE_SCREENSHOTS=1`` the refused report and the page after the import are saved
as ``docs/screenshots/jurisdictions-import.png`` and ``jurisdictions-import-done.png`` (1920x1080).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import geopandas as gpd
import pyogrio
import pytest
import shapely

from tests.auth_support import PASSWORD
from tests.browser import log_in, serve
from tests.hierarchy_files_support import DEDICATED, HierarchyTables, hierarchy_tables, write_hierarchy

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 1920, "height": 1080}
ADMIN = "county-admin-page"
MICRO_PARENTS = 3  # grids cut in two micro-grids each
REPORT = "document.querySelector('#zj-report').dataset.state"
CSP_WATCH = ("window.zzViolations = []; document.addEventListener('securitypolicyviolation', "
             "e => window.zzViolations.push(`${e.violatedDirective} ${e.blockedURI}`));")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A small demo console (3 towns, 24 grids) with a district administrator, on loopback."""
    from zhizhi.console.app import create_app
    from zhizhi.console.runtime import Runtime
    from zhizhi.console.settings import DemoSettings, Settings

    demo = DemoSettings(grids=24, towns=3, villages_per_town=2, cameras=4)
    settings = Settings(data_dir=tmp_path_factory.mktemp("jurisdictions-page"), demo=demo)
    with Runtime(settings) as runtime:
        state = runtime.state
        state.auth.add_user(ADMIN, "admin", state.jurisdictions.district_code, PASSWORD)
        with serve(create_app(settings, state=state)) as base:
            yield base, state


def _micro_grids(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The first comprehensive grids cut in two at their centroid's longitude."""
    rows = []
    for row in grids[grids["网格类型"] == "综合网格"].head(MICRO_PARENTS).itertuples():
        minx, miny, maxx, maxy = row.geometry.bounds
        cx = row.geometry.centroid.x
        for k, box in enumerate([(minx, miny, cx, maxy), (cx, miny, maxx, maxy)], start=1):
            rows.append({"微网格编码": f"{row.网格编码}{k:03d}", "微网格名称": f"{row.网格名称}{k}号微网格",
                         "所属网格": row.网格编码, "geometry": shapely.intersection(row.geometry, shapely.box(*box))})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


@pytest.fixture(scope="module")
def county(tongzhou, tmp_path_factory) -> dict:
    """The valid files under the names a county sends them, and a variant with a duplicate grid code."""
    tables = hierarchy_tables(tongzhou)
    folder = tmp_path_factory.mktemp("county-files")
    written = write_hierarchy(tables, folder / "written")
    named = {"towns": "通州区镇街_gcj02.geojson", "villages": "通州区村社区.gpkg", "grids": "通州区网格2026.zip"}
    valid = {level: Path(shutil.copy(written[level], folder / name)) for level, name in named.items()}
    micro = _micro_grids(tables.grids)
    valid["micro_grids"] = folder / "通州区微网格.gpkg"
    pyogrio.write_dataframe(micro, valid["micro_grids"], driver="GPKG")

    grids = tables.grids.copy()
    duplicate = grids.loc[grids.index[0], "网格编码"]
    grids.loc[grids.index[1], "网格编码"] = duplicate
    moved = grids.loc[grids.index[40], "网格编码"]  # and one grid 3 km east, out of its village
    grids.loc[grids.index[40], "geometry"] = shapely.affinity.translate(grids.loc[grids.index[40], "geometry"], 0.03, 0)
    broken = write_hierarchy(HierarchyTables(tables.towns, tables.villages, grids), folder / "broken")
    return {"valid": valid, "broken": broken, "duplicate": duplicate, "moved": moved, "tables": tables,
            "micro": len(micro)}


def _open(browser, base: str, username: str, path: str = "/jurisdictions"):
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    log_in(context, base, username)
    context.add_init_script(CSP_WATCH)
    seen = {"requests": [], "errors": []}
    context.on("request", lambda r: seen["requests"].append(r.url))
    page = context.new_page()
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.goto(base + path, wait_until="domcontentloaded")
    return page, seen


def _pick(page, files: dict[str, Path]) -> None:
    inputs = {"towns": "#zj-towns", "villages": "#zj-villages", "grids": "#zj-grids", "micro_grids": "#zj-micro"}
    for level, selector in inputs.items():
        page.set_input_files(selector, [str(files[level])] if level in files else [])


def _assert_clean(page, base: str, seen: dict) -> None:
    host = urlsplit(base).netloc
    elsewhere = [u for u in seen["requests"]
                 if urlsplit(u).scheme not in ("blob", "data") and urlsplit(u).netloc != host]
    assert not elsewhere, f"requests left the console's host: {elsewhere}"
    assert page.evaluate("() => window.zzViolations") == []
    assert not seen["errors"]


def _shot_folder(tmp_path: Path) -> Path:
    return REPO / "docs" / "screenshots" if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1" else tmp_path


def test_users_other_than_district_admins_see_who_may_use_the_page(browser, live):
    base, state = live
    j = state.jurisdictions
    town = j.children(j.district_code)[0].code
    users = {"page-town-operator": ("town_operator", town), "page-town-admin": ("admin", town),
             "page-duty-officer": ("duty_officer", j.district_code)}
    for name, (role, code) in users.items():
        if state.auth.get_user(name) is None:
            state.auth.add_user(name, role, code, PASSWORD)
    for name in users:
        page, seen = _open(browser, base, name)
        try:
            page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=60_000)
            assert page.evaluate("() => document.body.dataset.access") == "denied", name
            assert page.is_visible("#zj-denied") and not page.is_visible("#zj-form"), name
            text = page.inner_text("#zj-denied")
            assert "仅区县管理员" in text and "Only district administrators" in text, name
            assert "jurisdictions.manage" in text or "only district-level users" in text, name
            if name == "page-town-operator":  # the map's header offers the page to admins only
                page.goto(base + "/", wait_until="domcontentloaded")
                page.wait_for_function("() => document.querySelector('.zz-pages') !== null")
                assert page.locator(".zz-pages a[href='/jurisdictions']").count() == 0
            _assert_clean(page, base, seen)
        finally:
            page.context.close()


def test_an_admin_checks_refused_files_then_imports_valid_ones(browser, live, county, tmp_path):
    base, state = live
    district = state.jurisdictions.district_code
    shots = _shot_folder(tmp_path)
    page, seen = _open(browser, base, ADMIN, "/")
    try:
        # The map page's header links to the page for an administrator.
        page.wait_for_function("() => document.querySelector('.zz-pages a[href=\"/jurisdictions\"]') !== null")
        page.click(".zz-pages a[href='/jurisdictions']")
        page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=60_000)
        assert page.evaluate("() => document.body.dataset.access") == "granted"
        assert page.locator(".zz-pages a[href='/']").count() == 1  # back to the map
        assert page.inner_text("#zj-district-code") == district
        assert page.evaluate("() => document.querySelector('#zj-origin').dataset.origin") == "synthetic"
        assert page.inner_text("[data-count='towns'] dd") == "3"
        assert page.is_disabled("#zj-import")

        # The duplicate grid code: refused, naming the code; Import stays closed.
        _pick(page, county["broken"])
        page.select_option("#zj-crs", "gcj02")
        page.click("#zj-check")
        page.wait_for_function(f"() => {REPORT} === 'refused'", timeout=120_000)
        duplicate_row = page.locator("#zj-issue-rows tr[data-kind='error']", has_text="duplicate code")
        assert county["duplicate"] in duplicate_row.inner_text()
        outside = page.locator("#zj-issue-rows tr[data-kind='error']", has_text="lies outside its parent")
        assert county["moved"] in outside.inner_text()
        assert "Refused" in page.inner_text("#zj-verdict")
        assert page.is_disabled("#zj-import")
        # Each placed issue is a marker; a row's click pans the map to it and marks both.
        placed = page.locator("#zj-issue-rows tr[data-point]")
        assert placed.count() >= 1 and page.locator(".zj-pin").count() == placed.count()
        row = outside.first if outside.first.get_attribute("data-point") is not None else placed.first
        n = int(row.get_attribute("data-issue"))
        row.click()
        page.wait_for_function(
            f"() => document.querySelector('#zj-issue-rows tr[data-issue=\"{n}\"]').classList.contains('zj-selected')")
        lon, lat = page.evaluate(f"() => window.zhizhiJurisdictions.report.errors.concat("
                                 f"window.zhizhiJurisdictions.report.warnings)[{n - 1}].point")
        centre = page.evaluate("() => { const c = window.zhizhiJurisdictions.map.getCenter(); return [c.lng, c.lat]; }")
        assert abs(centre[0] - lon) < 1e-4 and abs(centre[1] - lat) < 1e-4  # to the pixel
        assert page.locator(".zj-pin.zj-pin-selected").count() == 1
        page.evaluate("() => { document.querySelector('.zj-issues-wrap').scrollTop = 0; }")  # for the picture
        page.wait_for_timeout(300)  # let the map settle for the picture
        page.screenshot(path=str(shots / "jurisdictions-import.png"))

        # Bad inputs: a 5-digit district code is stopped in the page, a bad mapping refused by the console.
        page.fill("#zj-district", "32061")
        page.click("#zj-check")
        assert "6 位数字" in page.inner_text("#zj-state") and page.evaluate(f"() => {REPORT}") == "stale"
        page.fill("#zj-district", "")
        page.fill("#zj-field", "grids.colour=颜色")
        page.click("#zj-check")
        page.wait_for_function(f"() => {REPORT} === 'refused' && "
                               "window.zhizhiJurisdictions.report.errors[0].level === 'fields'")
        assert "grids.colour=颜色" in page.inner_text("#zj-issue-rows") and page.is_disabled("#zj-import")
        page.fill("#zj-field", "")

        # The valid files (and micro-grids): a dry run, then Import opens for these inputs only.
        _pick(page, county["valid"])
        assert page.evaluate(f"() => {REPORT}") == "stale"
        page.fill("#zj-district-name-input", "通州区")
        page.click("#zj-check")
        page.wait_for_function(f"() => {REPORT} === 'valid'", timeout=120_000)
        grids = len(county["tables"].grids)
        assert page.inner_text("#zj-report-counts [data-count='grids'] dd") == f"{grids:,}"
        assert page.inner_text("#zj-report-counts [data-count='micro_grids'] dd") == str(county["micro"])
        assert page.is_enabled("#zj-import")
        page.fill("#zj-tolerance", "2")  # a changed input closes Import until the next check...
        assert page.is_disabled("#zj-import") and page.evaluate(f"() => {REPORT}") == "stale"
        page.fill("#zj-tolerance", "1")  # ...and the inputs that were checked open it again
        assert page.is_enabled("#zj-import") and page.evaluate(f"() => {REPORT}") == "valid"

        # The confirm step: cancelled, nothing is stored.
        page.click("#zj-import")
        assert page.is_visible("#zj-confirm")
        assert "every console" in page.inner_text("#zj-confirm")
        page.click("#zj-confirm-cancel")
        assert not page.is_visible("#zj-confirm")
        assert len(state.jurisdictions.grid_codes) == 24

        page.click("#zj-import")
        page.click("#zj-confirm-ok")
        page.wait_for_function(f"() => {REPORT} === 'imported'", timeout=180_000)
        page.wait_for_function("() => document.querySelector('#zj-origin').dataset.origin === 'imported'")
        assert len(state.jurisdictions.grid_codes) == grids - DEDICATED
        assert page.inner_text("#zj-district-name") == "通州区"
        # the header follows once the page has re-read the console's config (a moment later)
        page.wait_for_function("() => document.querySelector('#zz-district-name').innerText === '通州区'")
        assert page.inner_text("#zj-counts [data-count='towns'] dd") == "14"
        assert page.inner_text("#zj-counts [data-count='grids'] dd") == f"{grids - DEDICATED:,}"
        assert page.inner_text("#zj-counts [data-count='dedicated_grids'] dd") == str(DEDICATED)
        assert page.inner_text("#zj-counts [data-count='micro_grids'] dd") == str(county["micro"])
        sources = page.inner_text("#zj-sources")
        assert "通州区网格2026.zip" in sources and "通州区微网格.gpkg" in sources
        assert page.is_disabled("#zj-import")  # stored: another import needs another check
        page.wait_for_timeout(300)
        page.screenshot(path=str(shots / "jurisdictions-import-done.png"))
        _assert_clean(page, base, seen)
    finally:
        page.context.close()
