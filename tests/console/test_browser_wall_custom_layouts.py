"""A wall's named tile layouts and read-only paired screens in Debian's Chromium at 1920x1080,
against a real console on loopback (tests/wall_support.py: 24 grids, 4 cameras with a fake
worker's video, the warning model off).

- Two video screens of one wall, one on its main layout and one on the named layout ``危化专线``
  (/wall?screen=video&wall=W&layout=危化专线, what a wall's ``custom`` slot opens): a camera
  dropped on the named one stays there and does not move the other; a change of the main layout
  does not move the named one; a reload restores the named layout, its name in the toolbar.
- A screen paired to a wall's ``custom`` slot opens that named layout.
- A screen paired to the board (role ``wall_device``, read only) sees the alert, its checklist
  and the map, but no action button: no acknowledge, false-alarm close, escalate or hand-down,
  no bulk action, no SOP tick, no drawing card on the map — where the duty officer, on the same
  wall and alert, sees them all.

With ZHIZHI_UPDATE_SCREENSHOTS=1 it saves docs/screenshots/wall-custom-layout.png (the named
layout's screen); a temporary folder otherwise.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.auth_support import PASSWORD, create_test_users
from tests.browser import WALL_VIEWPORT, login_answer, open_page, save_screenshot, serve
from tests.wall_support import FakeWorker, board_console_settings, covered_spot, publish_status, raise_alert

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
WAIT_MS = 30_000
NAME = "危化专线"
ADMIN = "custom-layout-admin"
LIVE = "() => document.body.dataset.wallReady === 'true' && zhizhiWall.link.state === 'live'"


@dataclass
class Console:
    base: str
    state: object
    users: object
    cameras: list[str]  # every camera, by id
    headers: dict[str, str]  # the district duty officer's
    admin: dict[str, str]  # the district admin's (walls.manage)

    def api(self, method: str, path: str, *, headers: dict | None = None, **kwargs) -> httpx.Response:
        return httpx.request(method, self.base + path, headers=self.headers if headers is None else headers,
                             trust_env=False, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    from zhizhi.console.app import create_app
    from zhizhi.console.state import open_console

    settings = board_console_settings(tmp_path_factory.mktemp("custom-layouts"))
    state = open_console(settings)
    users = create_test_users(state)
    state.auth.add_user(ADMIN, "admin", users.district_code, PASSWORD)
    cameras = sorted(c.id for c in state.cameras.cameras)
    assert len(cameras) >= 3
    state.workers.append(FakeWorker({c.id: c.name for c in state.cameras.cameras}))
    with serve(create_app(settings, state=state)) as base:
        for camera in cameras:
            publish_status(state, camera, "online")
        token = login_answer(base, users.district)["token"]
        admin = login_answer(base, ADMIN)["token"]
        yield Console(base, state, users, cameras, {"Authorization": f"Bearer {token}"},
                      {"Authorization": f"Bearer {admin}"})
    state.close()


def _video(browser, console: Console, wall: str, extra: str = ""):
    watched = open_page(browser, console.base, console.users.district, f"/wall?screen=video&wall={wall}{extra}")
    watched.page.wait_for_function(LIVE, timeout=WAIT_MS)
    return watched


def _pinned(page) -> list:
    """The remembered camera of each tile of the layout the screen shows (None: filled by the screen)."""
    return page.evaluate("() => zhizhiWall.pinned.slice(0, zhizhiWall.layout)")


DROP_ON_TILE = """([index, id]) => {
  const tile = document.querySelectorAll('#zw-tiles .zw-tile')[index];
  const dt = new DataTransfer();
  dt.setData('application/x-zhizhi-camera', JSON.stringify({id, name: id}));
  const over = new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: dt});
  tile.dispatchEvent(over);
  tile.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));
  return over.defaultPrevented;
}"""


def _shots(tmp_path: Path) -> Path:
    return REPO / "docs" / "screenshots" if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1" else tmp_path



def test_a_named_layout_moves_only_the_screens_showing_it(browser, console, tmp_path):
    wall = "custom"
    first, second, third = console.cameras[:3]
    main = _video(browser, console, wall)
    named = _video(browser, console, wall, f"&layout={NAME}")
    try:
        assert named.page.inner_text("#zw-layout-name") == f"布局 {NAME}"
        assert main.page.locator("#zw-layout-name").count() == 0
        size = named.page.eval_on_selector("#zw-layout-name", "el => parseFloat(getComputedStyle(el).fontSize)")
        assert size >= 28
        main_before = console.api("GET", f"/api/walls/{wall}/tiles").json()

        # A camera dropped on the named layout's tile 2: there (the cameras on the other tiles stay), and
        # only there.
        assert named.page.evaluate(DROP_ON_TILE, [1, third]), "the tile did not accept the camera"
        named.page.wait_for_function("id => zhizhiWall.tiles()[1] === id", arg=third, timeout=WAIT_MS)
        kept = console.api("GET", f"/api/walls/{wall}/tiles", params={"name": NAME}).json()
        assert kept["tiles"][1] == third and kept["name"] == NAME
        assert console.api("GET", f"/api/walls/{wall}/tiles").json() == main_before  # the main layout is as it was

        # A change of the main layout reaches the main screen; it came after the named one's message
        # on the same live link, so the main screen has heard (and passed over) the named change too.
        put = console.api("PUT", f"/api/walls/{wall}/tiles/1", json={"camera_id": second})
        assert put.status_code == 200, put.text
        main.page.wait_for_function("id => zhizhiWall.pinned[0] === id", arg=second, timeout=WAIT_MS)
        assert _pinned(main.page) == [second, None, None, None]
        # ... and the named screen does not follow it: a later change of its own layout arrives first.
        put = console.api("PUT", f"/api/walls/{wall}/tiles/4", params={"name": NAME}, json={"camera_id": first})
        assert put.status_code == 200, put.text
        expected = put.json()["tiles"]  # the cameras the drop found on the tiles stay: the screen's choice
        assert expected[1] == third and expected[3] == first
        named.page.wait_for_function("id => zhizhiWall.pinned[3] === id", arg=first, timeout=WAIT_MS)
        assert _pinned(named.page) == expected

        # A reload restores the named layout.
        named.page.reload()
        named.page.wait_for_function(LIVE, timeout=WAIT_MS)
        assert _pinned(named.page) == expected
        tiles = named.page.evaluate("() => zhizhiWall.tiles()")
        assert tiles[1] == third and tiles[3] == first
        assert named.page.inner_text("#zw-layout-name") == f"布局 {NAME}"
        named.page.wait_for_function(
            "() => [...document.querySelectorAll('#zw-tiles .zw-tile')].every(t => t.dataset.video === 'live')",
            timeout=WAIT_MS)  # every tile plays before the picture
        save_screenshot(named.page, _shots(tmp_path) / "wall-custom-layout.png")
        assert main.problems == [] and named.problems == []
    finally:
        main.page.context.close()
        named.page.context.close()


def _pair(console: Console, wall: dict, slot: str) -> dict:
    """A screen paired to ``slot`` of ``wall`` as the walls page does it: its credential."""
    drawn = httpx.post(f"{console.base}/api/wall/pairings", trust_env=False).json()
    paired = console.api("POST", f"/api/walls/{wall['id']}/devices", headers=console.admin,
                         json={"code": drawn["code"], "slot": slot, "label": f"大屏 {slot}"})
    assert paired.status_code == 201, paired.text
    got = httpx.post(f"{console.base}/api/wall/pairings/claim", json={"claim": drawn["claim"]}, trust_env=False).json()
    assert got["status"] == "paired", got
    return {"token": got["token"], "wall": got["wall"], "slot": got["slot"], "url": got["url"]}


def _device_page(browser, console: Console, held: dict):
    """A browser tab holding a paired screen's credential (no login), on its slot's screen."""
    context = browser.new_context(viewport=WALL_VIEWPORT, device_scale_factor=1, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    context.add_init_script(f"localStorage.setItem('zhizhi.device', {json.dumps(json.dumps(held))});")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(console.base + held["url"], wait_until="domcontentloaded")
    page.wait_for_function(LIVE, timeout=WAIT_MS)
    return page, problems


#: The board's action buttons, by what they do.
ACTIONS = {
    "acknowledge": "#zw-d-buttons button[data-to='acknowledged']",
    "false alarm": "#zw-d-buttons button[data-verdict='false_alarm']",
    "escalate": "#zw-escalate",
    "hand down": "#zw-hand-down",
    "bulk": "button[data-bulk]",
    "SOP tick": "#zw-sop button.zw-sop-box",
}


def test_a_paired_screen_is_read_only_on_screen(browser, console):
    users = console.users
    made = console.api("POST", "/api/walls", headers=console.admin, json={
        "name": "readonly", "title": "区指挥大厅", "code": users.district_code,
        "slots": [{"name": "board", "kind": "alerts", "title": "告警屏"},
                  {"name": "map", "kind": "map", "title": "地图屏"},
                  {"name": "hazmat", "kind": "custom", "layout": NAME, "title": "危化专线"}]})
    assert made.status_code == 201, made.text
    wall = made.json()
    camera = console.cameras[2]
    put = console.api("PUT", "/api/walls/readonly/tiles", params={"name": NAME}, json={"layout": 1, "tiles": [camera]})
    assert put.status_code == 200, put.text
    board, map_screen, custom = (_pair(console, wall, slot) for slot in ("board", "map", "hazmat"))
    assert parse_qs(urlsplit(custom["url"]).query)["layout"] == [NAME]

    spot = covered_spot(console.state, users.town_a, at_least=1)
    alerts = [raise_alert(console.state, spot, track_id=700 + k, rule_id=f"custom-stop-{k}") for k in range(2)]
    ids = [a.id for a in alerts]
    officer = open_page(browser, console.base, users.district, "/wall?screen=alerts&wall=readonly")
    device, device_problems = _device_page(browser, console, board)
    try:
        officer.page.wait_for_function(LIVE, timeout=WAIT_MS)
        assert device.evaluate("() => zhizhiWall.mayAct") is False
        assert device.evaluate("() => document.body.dataset.readOnly") == "true"
        # The bulk bar sits in an opened group (two stops of one rule in one grid).
        for page in (device, officer.page):
            page.wait_for_function(
                "ids => zhizhiWall.groups.some(g => ids.every(id => g.ids.includes(id)))", arg=ids, timeout=WAIT_MS)
            row = "#zw-list li.zw-group"
            if page.locator(row).first.get_attribute("data-expanded") != "true":
                page.click(f"{row} .zw-group-count")
            page.wait_for_selector(f"{row}[data-expanded='true'] .zw-group-body:not([hidden])")
        # The paired screen selects an alert (a screen may select): both screens show it and its checklist.
        device.locator(f"#zw-list .zw-item[data-alert-id='{ids[0]}']").first.click()
        for page in (device, officer.page):
            page.wait_for_selector(f"#zw-sop[data-alert-id='{ids[0]}'] .zw-sop-step", timeout=WAIT_MS)
        # The duty officer is offered every action; the paired screen none of them.
        for what, selector in ACTIONS.items():
            assert officer.page.locator(selector).first.is_visible(), f"the duty officer has no {what} button"
            assert device.locator(selector).count() == 0 or not device.locator(selector).first.is_visible(), (
                f"the paired screen shows a {what} button")
        assert device.locator("#zw-d-actions").is_hidden()
        assert device.locator("#zw-d-actions button:visible").count() == 0
        steps = device.locator("#zw-sop .zw-sop-step")
        assert steps.count() == officer.page.locator("#zw-sop .zw-sop-step").count() >= 1
        assert device.locator("#zw-sop .zw-sop-box").count() == steps.count()  # the ticks shown as marks
        assert device_problems == [] and officer.problems == []
    finally:
        device.context.close()
        officer.page.context.close()

    # The map: no drawing card for the paired screen, the officer's is there.
    officer_map = open_page(browser, console.base, users.district, "/wall?screen=map&wall=readonly")
    device_map, map_problems = _device_page(browser, console, map_screen)
    try:
        officer_map.page.wait_for_function("() => document.body.dataset.incidentTools === 'manage'", timeout=WAIT_MS)
        assert officer_map.page.locator(".zw-draw-card").is_visible()
        device_map.wait_for_function("() => document.body.dataset.incidentTools === 'read'", timeout=WAIT_MS)
        assert device_map.locator(".zw-draw-card").count() == 0
        assert device_map.locator(".zw-inc-close").count() == 0
        assert map_problems == []
    finally:
        device_map.context.close()
        officer_map.page.context.close()

    # The custom slot opens the named layout.
    screen, screen_problems = _device_page(browser, console, custom)
    try:
        assert screen.evaluate("() => zhizhiWall.layoutName") == NAME
        screen.wait_for_function("id => zhizhiWall.tiles()[0] === id && zhizhiWall.layout === 1", arg=camera,
                                 timeout=WAIT_MS)
        assert screen.inner_text("#zw-layout-name") == f"布局 {NAME}"
        assert screen_problems == []
    finally:
        screen.context.close()
