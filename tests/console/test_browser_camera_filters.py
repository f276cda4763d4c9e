"""A camera's masks and object filters on the cameras page (/cameras), in a real headless Chromium
(issue 16's "the camera page shows filters and masks").

A camera with two masks and filters for three classes streams a recorded clip (the shared car
park); the console's own worker analyses it (motion detector), so the page has a live frame.
An admin opens the camera: its masks are counted and drawn over that frame, its filters read as a
table per class; the admin edits them (a value changed, a class added, one removed) and the
console stores them (read back through the API); a bad value shows the console's refusal, naming
the class and the field, and stores nothing. A duty officer sees the same detail with no editor.
No request leaves the console's host. With ``ZHIZHI_UPDATE_SCREENSHOTS=1`` the detail is saved as
``docs/screenshots/cameras-filters.png``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from tests.auth_support import create_test_users
from tests.browser import login_answer, only_own_host, open_camera_detail, small_console
from tests.conftest import SHARED

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ADMIN = "filters-admin"
CAMERA = "FLT-PARK-01"
CLIP = SHARED / "data" / "video" / "parking_lot_768x432_12fps.mp4"
MASKS = [[[0, 0], [768, 0], [768, 70], [0, 110]], [[600, 150], [700, 150], [700, 300], [600, 300]]]
FILTERS = {
    "classes": {
        "hazmat_tanker": {"min_score": 0.6, "threshold": 0.7, "min_size_m": 2.0, "max_size_m": 3.2},
        "person": {"max_area": 20000, "min_ratio": 0.2, "max_ratio": 1.0,
                   "masks": [[[40, 300], [260, 300], [260, 432], [40, 432]]]},
        "*": {"min_score": 0.35, "min_area": 150},
    }
}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    assert CLIP.is_file(), f"shared test data missing: {CLIP}"
    with small_console(tmp_path_factory.mktemp("data"), ADMIN) as (base, state):
        users = create_test_users(state)
        auth = {"Authorization": f"Bearer {login_answer(base, ADMIN)['token']}"}
        lon, lat = state.jurisdictions.get(state.jurisdictions.grid_codes[0]).anchor
        added = httpx.post(f"{base}/api/cameras", headers=auth, json={
            "id": CAMERA, "name": "停车场入口", "lon": lon, "lat": lat, "heading_deg": 45, "hfov_deg": 70,
            "range_m": 80, "stream_main": str(CLIP), "analysis_fps": 2, "masks": MASKS, "filters": FILTERS})
        assert added.status_code == 201, added.text
        _wait_online(base, auth)
        yield base, state, users, auth


def _wait_online(base: str, auth: dict, deadline_s: float = 120.0) -> None:
    """Until the console's worker runs the camera: online, with a frame."""
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        status = httpx.get(f"{base}/api/cameras/{CAMERA}", headers=auth).json()["status"]
        frame = httpx.get(f"{base}/api/cameras/{CAMERA}/frame.jpg", headers=auth)
        if status == "online" and frame.status_code == 200:
            return
        time.sleep(0.5)
    raise AssertionError(f"{CAMERA} not online with a frame within {deadline_s:.0f} s")


def _open_camera(browser, base: str, username: str):
    return open_camera_detail(browser, base, username, CAMERA, expected_errors=("status of 422",))


def _cells(page) -> dict[str, list[str]]:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#zc-filters-body tbody tr')]
        .map(tr => [tr.dataset.cls, [...tr.cells].map(td => td.innerText.replace(/\\s+/g, ' ').trim())]))""")


def _stored(base: str, auth: dict) -> dict:
    return httpx.get(f"{base}/api/cameras/{CAMERA}", headers=auth).json()


def test_an_admin_sees_masks_and_filters_edits_them_and_sees_a_refusal(browser, live, tmp_path):
    base, state, _, auth = live
    page, requests, problems = _open_camera(browser, base, ADMIN)
    try:
        # the masks: counted, drawn over the live frame (camera-wide solid, the person's own dashed)
        assert page.get_attribute("#zc-mask-count", "data-count") == "2"
        assert page.get_attribute(".zc-mask-view", "data-source") == "live"
        assert page.evaluate("() => document.querySelector('.zc-mask-stage img').naturalWidth") == 768
        assert page.locator(".zc-mask-svg polygon.zc-mask").count() == 2
        assert page.locator(".zc-mask-svg polygon.zc-class-mask").count() == 1
        assert page.get_attribute(".zc-mask-svg", "viewBox") == "0 0 768 432"
        # the filters: a row per class, Chinese first
        heads = page.eval_on_selector_all("#zc-filters-body th",
                                          "ths => ths.map(th => th.firstChild.textContent.trim())")
        assert heads == ["类别", "最低分", "轨迹中位分阈值", "面积", "宽高比", "地面尺寸", "屏蔽区"]
        cells = _cells(page)
        assert list(cells) == ["hazmat_tanker", "person", "*"]
        assert cells["hazmat_tanker"][:3] == ["危化品车 hazmat_tanker", "0.6", "0.7"]
        assert cells["hazmat_tanker"][5] == "2 – 3.2 需标定"  # ground sizes wait for a calibration
        assert cells["person"][3:] == ["≤ 20,000", "0.2 – 1", "—", "1 个"]
        assert cells["*"][:4] == ["其他类别 * others", "0.35", "—", "≥ 150"]
        shots = REPO / "docs" / "screenshots" if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1" else tmp_path
        page.locator("#zc-detail").screenshot(path=str(shots / "cameras-filters.png"))

        # edited: a value changed, a class added, one removed; stored and read back
        revision = _stored(base, auth)["revision"]
        page.click("#zc-filters-edit")
        page.fill('input[data-cls="person"][data-field="min_score"]', "0.55")
        page.select_option("#zc-filter-class", "truck")
        page.click("#zc-filter-add")
        page.fill('input[data-cls="truck"][data-field="max_ratio"]', "4")
        page.click('button.zc-remove[data-cls="*"]')
        page.click("#zc-filters-save")
        page.wait_for_function("() => (document.getElementById('zc-filters-note') || {}).textContent"
                               " && document.getElementById('zc-filters-note').textContent.includes('已保存')")
        stored = _stored(base, auth)
        classes = stored["filters"]["classes"]
        assert stored["revision"] == revision + 1 and set(classes) == {"hazmat_tanker", "person", "truck"}
        assert classes["person"]["min_score"] == 0.55 and classes["person"]["max_area"] == 20000
        assert classes["person"]["masks"] == FILTERS["classes"]["person"]["masks"]  # the class's masks kept
        assert classes["truck"]["max_ratio"] == 4 and classes["truck"]["min_ratio"] is None
        assert state.camera_registry.get(CAMERA).filters.classes["truck"].max_ratio == 4
        assert _cells(page)["truck"][4] == "≤ 4"

        # bad values: the console's refusal shown, naming class and field; nothing stored
        page.click("#zc-filters-edit")
        page.fill('input[data-cls="hazmat_tanker"][data-field="min_size_m"]', "5")
        page.fill('input[data-cls="person"][data-field="min_score"]', "1.5")
        page.click("#zc-filters-save")
        page.wait_for_function("() => document.getElementById('zc-filters-msg').dataset.kind === 'error'")
        said = page.text_content("#zc-filters-msg")
        assert said.startswith("HTTP 422")
        assert "危化品车 hazmat_tanker: min_size_m (5.0) is larger than max_size_m (3.2)" in said
        assert "行人 person · 最低分 min_score: Input should be less than or equal to 1" in said
        for field in ("min_size_m", "max_size_m"):  # the pair its message names
            assert page.locator(f'input.zc-invalid[data-cls="hazmat_tanker"][data-field="{field}"]').count() == 1
        assert page.locator('input.zc-invalid[data-cls="hazmat_tanker"][data-field="min_score"]').count() == 0
        assert page.locator('input.zc-invalid[data-cls="person"][data-field="min_score"]').count() == 1
        assert _stored(base, auth)["revision"] == revision + 1
        page.click("#zc-filters-cancel")
        assert _cells(page)["person"][1] == "0.55"
        assert not problems, problems
        assert not only_own_host(base, requests)
    finally:
        page.context.close()


def test_a_duty_officer_reads_masks_and_filters_without_an_editor(browser, live):
    base, _, users, _ = live
    page, _, problems = _open_camera(browser, base, users.district)
    try:
        assert page.get_attribute("#zc-mask-count", "data-count") == "2"
        assert page.locator("#zc-filters-body tbody tr").count() >= 3
        assert page.locator("#zc-filters-edit").count() == 0 and not page.is_visible("#zc-form")
        assert not problems, problems
    finally:
        page.context.close()
