"""The cameras page (/cameras) in a real headless Chromium: an admin adds a camera through the
form and sees it in the table and on ``GET /api/cameras/fov``; a bad value is marked and named;
a VMS export is checked (its report shown) before it is imported; a town operator sees its own
cameras with their calibration links; a duty officer reads without a form. No request leaves
the console's host and the strict CSP reports nothing. With ``ZHIZHI_UPDATE_SCREENSHOTS=1`` the
page is saved as ``docs/screenshots/cameras.png`` and ``cameras-import.png`` (1920x1080)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from tests.auth_support import console_with_admin
from tests.browser import login_answer, only_own_host, open_page, serve

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ADMIN = "cam-page-admin"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from zhizhi.console.settings import DemoSettings, Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), demo=DemoSettings(seed=7))
    with console_with_admin(settings, ADMIN) as (app, state, users), serve(app) as base:
        yield base, state, users


def _open(browser, base: str, username: str):
    # the browser's own line for the 422 the tests provoke (a bad value typed in the form)
    return open_page(browser, base, username, "/cameras",
                     expected_errors=("Failed to load resource: the server responded with a status of 422",))


def _own_host(base: str, requests: list[str]) -> None:
    assert not only_own_host(base, requests)


def _shots(tmp_path: Path) -> Path:
    return REPO / "docs" / "screenshots" if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1" else tmp_path


def _point_in(state, town: str) -> tuple[float, float]:
    grid = next(g for g in state.jurisdictions.grid_codes if g.startswith(town))
    return state.jurisdictions.get(grid).anchor


def test_an_admin_adds_a_camera_and_sees_it_in_the_table_and_on_the_map(browser, live, tmp_path):
    base, state, users = live
    page, requests, problems = _open(browser, base, ADMIN)
    try:
        assert page.locator("#zc-rows tr").count() == len(state.camera_registry) == 120
        assert page.locator("#zc-rows a.zc-calibrate").first.get_attribute("href").startswith(
            "/static/calibrate/index.html?camera=")
        lon, lat = _point_in(state, users.town_a)

        page.click("#zc-new")
        page.fill("#zc-id", "PAGE-CAM-1")
        page.fill("#zc-name", "页面新增 东门卡口")
        page.select_option("#zc-kind", "ptz")
        page.fill("#zc-lon", "abc")  # first a bad value: marked and named, nothing stored
        page.fill("#zc-lat", f"{lat:.7f}")
        page.fill("#zc-heading", "135")
        page.fill("#zc-hfov", "70")
        page.fill("#zc-range", "180")
        page.fill("#zc-height", "9")
        page.fill("#zc-stream-main", "rtsp://admin:Pw-9x@10.1.2.3:554/ch1")
        page.click("#zc-save")
        page.wait_for_function("() => document.querySelector('#zc-form-msg').dataset.kind === 'error'")
        assert "lon" in page.text_content("#zc-form-msg")
        assert page.locator("label.zc-invalid #zc-lon").count() == 1
        assert state.camera_registry.get("PAGE-CAM-1") is None

        page.fill("#zc-lon", f"{lon:.7f}")
        page.click("#zc-save")
        page.wait_for_function("() => document.querySelector('#zc-form-msg').dataset.kind === 'ok'")
        page.wait_for_function("() => !!document.querySelector('#zc-rows tr[data-id=\"PAGE-CAM-1\"]')")
        row = page.locator('#zc-rows tr[data-id="PAGE-CAM-1"]')
        assert "页面新增" in row.text_content() and "球机" in row.text_content()
        assert state.camera_registry.get("PAGE-CAM-1").stream_main == "rtsp://admin:Pw-9x@10.1.2.3:554/ch1"

        token = login_answer(base, ADMIN)["token"]
        fov = httpx.get(f"{base}/api/cameras/fov", headers={"Authorization": f"Bearer {token}"}).json()
        mine = [f for f in fov["features"] if f["properties"]["id"] == "PAGE-CAM-1"]
        assert mine and mine[0]["properties"]["heading_deg"] == 135 and mine[0]["properties"]["hfov_deg"] == 70

        page.fill("#zc-filter", "PAGE-CAM")
        assert page.locator("#zc-rows tr").count() == 1
        page.fill("#zc-filter", "")
        page.locator('#zc-rows tr[data-id="PAGE-CAM-1"]').scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        page.screenshot(path=str(_shots(tmp_path) / "cameras.png"))

        # edited from the table: disabled, then deleted (a second click confirms)
        page.click('#zc-rows tr[data-id="PAGE-CAM-1"] td.zc-name')
        page.uncheck("#zc-enabled")
        page.click("#zc-save")
        page.wait_for_function("() => document.querySelector('#zc-form-msg').dataset.kind === 'ok'")
        assert state.camera_registry.get("PAGE-CAM-1").enabled is False
        assert state.camera_registry.get("PAGE-CAM-1").revision == 2
        # the detail panel shows the new revision, its reads answered, before the camera goes
        page.wait_for_function("() => { const d = document.getElementById('zc-detail');"
                               " return d.dataset.state === 'ready'"
                               " && document.getElementById('zc-detail-title').textContent.includes('revision 2')"
                               " && [...document.querySelectorAll('#zc-detail-extra > div')]"
                               ".every(s => s.dataset.loaded === 'true'); }")
        page.click("#zc-delete")
        assert state.camera_registry.get("PAGE-CAM-1") is not None
        page.click("#zc-delete")
        page.wait_for_function("() => !document.querySelector('#zc-rows tr[data-id=\"PAGE-CAM-1\"]')")
        assert state.camera_registry.get("PAGE-CAM-1") is None
        assert not problems, problems
        _own_host(base, requests)
    finally:
        page.context.close()


def test_an_export_is_checked_before_it_is_imported(browser, live, tmp_path):
    base, state, users = live
    (lon, lat), (lon_b, lat_b) = _point_in(state, users.town_a), _point_in(state, users.town_b)
    export = tmp_path / "vms.csv"
    export.write_bytes("\n".join([
        "设备编码,设备名称,经度,纬度,朝向,视场角,摄像机类型",
        f"34020000001320000301,南门卡口,{lon},{lat},90,60,枪机",
        f"34020000001320000302,北桥球机,{lon_b},{lat_b},,,球机",
        "34020000001180000009,一号NVR,,,,,",
    ]).encode("gbk"))
    page, requests, problems = _open(browser, base, ADMIN)
    try:
        page.set_input_files("#zc-file", str(export))
        assert page.is_disabled("#zc-commit")
        page.click("#zc-check")
        page.wait_for_function("() => document.querySelector('#zc-report').dataset.state === 'valid'")
        actions = page.eval_on_selector_all("#zc-report-rows tr", "rows => rows.map(r => r.dataset.action)")
        assert actions == ["add", "add", "skip"]
        assert state.camera_registry.get("34020000001320000301") is None  # a check stores nothing
        page.screenshot(path=str(_shots(tmp_path) / "cameras-import.png"))
        page.click("#zc-commit")
        page.wait_for_function("() => document.querySelector('#zc-report').dataset.state === 'imported'")
        page.wait_for_function("() => !!document.querySelector('#zc-rows tr[data-id=\"34020000001320000302\"]')")
        assert state.camera_registry.get("34020000001320000302").kind == "ptz"
        # a changed CRS closes the import until the next check
        page.select_option("#zc-crs", "gcj02")
        assert page.is_disabled("#zc-commit")
        assert not problems, problems
        _own_host(base, requests)
    finally:
        page.context.close()
        for camera_id in ("34020000001320000301", "34020000001320000302"):
            if state.camera_registry.delete(camera_id):
                state.cameras_changed("removed", [camera_id])


def test_a_town_sees_its_own_cameras_and_a_duty_officer_only_reads(browser, live):
    base, state, users = live
    page, _, problems = _open(browser, base, users.operator_a)
    try:
        ids = page.eval_on_selector_all("#zc-rows tr", "rows => rows.map(r => r.dataset.id)")
        own = sorted(r.id for r in state.camera_registry.list() if r.owner_code.startswith(users.town_a))
        assert sorted(ids) == own and own
        assert page.is_visible("#zc-new") and page.is_visible("#zc-import")
        pages = page.evaluate("import('/static/lib/header.js').then(m => (m.CONSOLE_PAGES || []).map(p => p.href))")
        assert "/cameras" in pages  # every page's header (the map's too) links here
        assert not problems, problems
    finally:
        page.context.close()
    page, _, problems = _open(browser, base, users.district)
    try:
        assert page.locator("#zc-rows tr").count() == len(state.camera_registry)
        assert page.is_visible("#zc-readonly") and not page.is_visible("#zc-new")
        assert not page.is_visible("#zc-form") and not page.is_visible("#zc-import")
        page.click("#zc-rows tr >> nth=0")
        assert not page.is_visible("#zc-form")
        assert not problems, problems
    finally:
        page.context.close()
    assert json.dumps(login_answer(base, users.district)["user"]).find("cameras.manage") == -1
