"""The camera tours' editor and the patrol log on the wall's video screen, in Debian's Chromium
against a real console (tests/wall_support.py: a small wall console of its own, a fake worker's
video for every camera).

The district's duty officer makes a tour of two cameras in the editor (picked by searching their
Chinese names, the second moved up), finds it in the tour picker, runs it, changes a dwell (a
dwell of 0 and a tour deleted meanwhile on another PC are refused in Chinese), reads the shift's
patrol log with its snapshots, exports it as CSV (BOM, Chinese headers, the wall's time zone) and
deletes the tour, which stops it. An analyst (no alerts.act) is not offered the editor.
``docs/screenshots/wall-tour-editor.png`` and ``wall-patrol-log.png`` are saved when
ZHIZHI_UPDATE_SCREENSHOTS=1 (a temporary folder otherwise).
"""

from __future__ import annotations

import csv
import io
import os
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.auth_support import PASSWORD, create_test_users
from tests.browser import login_answer, open_page, save_screenshot, serve
from tests.wall_support import FakeWorker, board_console_settings, publish_status

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    from zhizhi.console.app import create_app
    from zhizhi.console.state import open_console

    settings = board_console_settings(tmp_path_factory.mktemp("tour-editor"))
    state = open_console(settings)
    users = create_test_users(state)
    state.auth.add_user("tour-analyst", "analyst", users.district_code, PASSWORD)
    state.workers.append(FakeWorker({c.id: c.name for c in state.cameras.cameras}))
    with serve(create_app(settings, state=state)) as base:
        for camera in state.cameras.cameras:
            publish_status(state, camera.id, "online")
        token = login_answer(base, users.district)["token"]
        yield {"base": base, "state": state, "users": users, "headers": {"Authorization": f"Bearer {token}"},
               "cameras": sorted(state.cameras.cameras, key=lambda c: c.id)}
    state.close()


def _api(console, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, console["base"] + path, headers=console["headers"], trust_env=False, timeout=30,
                         **kwargs)


def _shots(tmp_path: Path) -> Path:
    return REPO / "docs" / "screenshots" if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1" else tmp_path



def _say(page, words: str) -> None:
    page.wait_for_function("(w) => document.getElementById('zw-te-error').textContent.includes(w)", arg=words,
                           timeout=WAIT_MS)


def _tour_options(page) -> list[str]:
    return page.eval_on_selector_all("#zw-tour-select option", "os => os.map(o => o.textContent)")


def test_a_tour_made_in_the_editor_runs_is_logged_exported_and_deleted(browser, console, tmp_path):
    a, b = console["cameras"][:2]
    watched = open_page(browser, console["base"], console["users"].district, "/wall?screen=video&wall=editor",
                        expected_errors=("404",))
    page = watched.page
    page.wait_for_function("() => document.body.dataset.wallReady === 'true'", timeout=WAIT_MS)
    page.wait_for_selector("#zw-tour-edit:not([hidden])", timeout=WAIT_MS)
    shots = _shots(tmp_path)

    save_screenshot(page, tmp_path / "wall-tour-toolbar.png")  # looked at, not kept in docs
    # A new tour: two cameras found by their Chinese names, 5 s and 2 s, the second moved first.
    page.click("#zw-tour-edit")
    page.wait_for_selector("#zw-tour-editor:not([hidden])", timeout=WAIT_MS)
    page.click("#zw-te-new")
    page.fill("#zw-te-name", "早班巡航")
    page.click("#zw-te-save")
    _say(page, "至少选择 1 个摄像头")
    for camera, dwell in ((a, "5"), (b, "2")):
        page.fill("#zw-te-search", camera.name)
        page.wait_for_selector(f'#zw-te-cameras [data-add="{camera.id}"]', timeout=WAIT_MS)
        assert page.locator("#zw-te-cameras [data-add]").count() >= 1
        page.fill("#zw-te-dwell", dwell)
        page.click(f'#zw-te-cameras [data-add="{camera.id}"]')
    page.click('#zw-te-stops li[data-index="1"] button[data-move="-1"]')
    names = page.eval_on_selector_all("#zw-te-stops .zw-te-stop-name", "els => els.map(e => e.textContent)")
    assert names == [b.name, a.name]
    save_screenshot(page, shots / "wall-tour-editor.png")
    page.click("#zw-te-save")
    _say(page, "已新建")
    (tour,) = [t for t in _api(console, "GET", "/api/tours").json() if t["name"] == "早班巡航"]
    assert [(s["camera_id"], s["dwell_s"]) for s in tour["stops"]] == [(b.id, 2), (a.id, 5)]
    page.click("#zw-te-close")

    # It is in the picker at once; run it on tile 1.
    page.wait_for_function("(id) => [...document.querySelectorAll('#zw-tour-select option')].some(o => o.value == id)",
                           arg=tour["id"], timeout=WAIT_MS)
    assert "早班巡航（2 个点位）" in _tour_options(page)
    page.select_option("#zw-tour-select", str(tour["id"]))
    page.select_option("#zw-tour-tile", "1")
    page.click("#zw-tour-toggle")
    for camera, stop in ((b, "1/2"), (a, "2/2")):
        page.wait_for_function("([c, s]) => zhizhiWall.tiles()[0] === c && document.body.dataset.tourStop === s",
                               arg=[camera.id, stop], timeout=WAIT_MS)

    # Change a dwell: 0 is refused in Chinese before anything is sent; 3 is saved, the running tour follows.
    page.click("#zw-tour-edit")
    page.wait_for_selector(f'#zw-te-tours [data-tour="{tour["id"]}"][aria-pressed="true"]', timeout=WAIT_MS)
    dwell = page.locator('#zw-te-stops li[data-index="0"] .zw-te-stop-dwell')
    dwell.fill("0")
    page.click("#zw-te-save")
    _say(page, "第 1 个点位的停留时间须为 1–3600 秒的整数")
    dwell.fill("3")
    page.click("#zw-te-save")
    _say(page, "已保存")
    assert _api(console, "GET", f"/api/tours/{tour['id']}").json()["stops"][0]["dwell_s"] == 3
    page.wait_for_function("() => zhizhiWall.tour.running && zhizhiWall.tour.running.tour.stops[0].dwell_s === 3",
                           timeout=WAIT_MS)
    # A tour deleted on another PC meanwhile: the console's 404, said in Chinese; nothing is made.
    other = _api(console, "POST", "/api/tours", json={"name": "临时", "stops": [{"camera_id": a.id, "dwell_s": 9}]})
    assert other.status_code == 201, other.text
    page.click("#zw-te-close")
    page.click("#zw-tour-edit")
    page.click(f'#zw-te-tours [data-tour="{other.json()["id"]}"]')
    assert _api(console, "DELETE", f"/api/tours/{other.json()['id']}").status_code == 204
    page.click("#zw-te-save")
    _say(page, "该巡航路线已不存在")
    assert [t["name"] for t in _api(console, "GET", "/api/tours").json()] == ["早班巡航"]
    page.click("#zw-te-close")

    # The shift's patrol log: every stop with its time, the camera's name and its snapshot.
    page.wait_for_function("() => zhizhiWall.tour.logged.length >= 3", timeout=WAIT_MS)
    page.click("#zw-tour-log")
    page.wait_for_selector("#zw-patrol-log:not([hidden])", timeout=WAIT_MS)
    page.wait_for_function("() => document.querySelectorAll('#zw-pl-rows tr[data-entry]').length >= 3"
                           " && [...document.querySelectorAll('#zw-pl-rows img')].every(i => i.naturalWidth > 0)",
                           timeout=WAIT_MS)
    assert page.get_attribute('#zw-patrol-log [data-range="43200"]', "aria-pressed") == "true"  # this shift: 12 h
    rows = page.eval_on_selector_all("#zw-pl-rows tr[data-entry]",
                                     "trs => trs.map(tr => [...tr.cells].map(td => td.textContent))")
    assert {r[1] for r in rows} == {a.name, b.name}
    srcs = page.eval_on_selector_all("#zw-pl-rows img", "is => is.map(i => i.getAttribute('src'))")
    assert all("ticket=" in s and "/snapshot.jpg" in s for s in srcs)
    log = _api(console, "GET", f"/api/tours/{tour['id']}/log", params={"start": time.time() - 3600}).json()
    zone = ZoneInfo("Asia/Shanghai")
    newest = datetime.fromtimestamp(log[-1]["ts"], zone).strftime("%Y-%m-%d %H:%M:%S")
    assert newest in [r[0] for r in rows]
    save_screenshot(page, shots / "wall-patrol-log.png")
    with page.expect_download(timeout=WAIT_MS) as download:
        page.click("#zw-pl-csv")
    data = Path(download.value.path()).read_bytes()
    assert data.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0] == ["时间", "巡航路线", "摄像头", "摄像头编号", "大屏", "值班员", "快照"]
    assert len(table) - 1 >= 3 and {r[2] for r in table[1:]} == {a.name, b.name}
    assert all(r[1] == "早班巡航" and r[4] == "editor" and r[6] == "有" for r in table[1:])
    first = datetime.fromtimestamp(log[0]["ts"], zone).strftime("%Y-%m-%d %H:%M:%S")
    assert table[1][0] == first
    page.click("#zw-pl-close")

    # Delete it (twice: 确认删除): gone from the console and the picker, and the running tour stops.
    page.click("#zw-tour-edit")
    page.wait_for_selector(f'#zw-te-tours [data-tour="{tour["id"]}"][aria-pressed="true"]', timeout=WAIT_MS)
    page.click("#zw-te-delete")
    assert page.text_content("#zw-te-delete") == "确认删除？"
    page.click("#zw-te-delete")
    _say(page, "已删除")
    assert _api(console, "GET", f"/api/tours/{tour['id']}").status_code == 404
    page.wait_for_function("() => !zhizhiWall.tour.running && zhizhiWall.tour.tours.length === 0", timeout=WAIT_MS)
    assert "早班巡航（2 个点位）" not in _tour_options(page)
    assert not watched.problems, watched.problems
    page.context.close()


def test_the_editor_is_not_offered_without_alerts_act(browser, console):
    watched = open_page(browser, console["base"], "tour-analyst", "/wall?screen=video&wall=editor")
    page = watched.page
    page.wait_for_function("() => document.body.dataset.wallReady === 'true'", timeout=WAIT_MS)
    page.wait_for_selector(".zw-tour[data-may-edit]", state="attached", timeout=WAIT_MS)  # /api/auth/me answered
    assert page.get_attribute(".zw-tour", "data-may-edit") == "false"
    assert page.is_hidden("#zw-tour-edit")
    assert page.is_visible("#zw-tour-log")  # the patrol log is for everyone who reads the wall
    assert not watched.problems, watched.problems
    page.context.close()
