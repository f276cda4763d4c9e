"""Incidents from the wall's map, and the rules that switch the wall's screens (issue 18).

A console of its own (a small demo district in SQLite, the warning model off so that only the
alerts raised here exist) runs under uvicorn; alerts enter through the real alert service. In
Debian's Chromium at 1920×1080 the district duty officer's wall "duty" has its three screens open
(map, board, video: three pages of one browser); a town-A and a town-B screen of their own walls
listen too. What is checked is what the room sees:

- an incident drawn on the map with the mouse (Leaflet-Geoman's polygon) switches all three
  screens — the map to its area, the board to its alerts only, the video tiles to its cameras —
  and closing it from the incident list switches them back (the map's view, every alert, the
  tiles and layout they had);
- its report's CSV starts with the UTF-8 BOM and has Chinese headers; its timeline (the API, the
  wall's incident card, the HTML report) has no raw identifiers;
- a town user cannot open an incident outside its town (403), and a town's screens never receive
  another town's preset messages;
- a new red alert pushes its camera to the first video tile and its place to the map.

The drawing test saves docs/screenshots/wall-incident.png when ZHIZHI_UPDATE_SCREENSHOTS=1 (a
temporary folder otherwise).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import shapely
from shapely.geometry import shape

from tests.auth_support import create_test_users
from tests.browser import WALL_VIEWPORT, is_loopback, log_in, login_answer, save_screenshot, serve
from tests.wall_support import FakeWorker, board_console_settings, covered_spot, publish_status, raise_alert

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
READY_MS = 120_000
SWITCH_MS = 8_000
WALL = "duty"
#: Raw identifiers that must never reach a duty officer's eyes in a timeline.
RAW = re.compile(r"abnormal_stop|hazmat_tanker|acknowledged|impact recomputed|in the area|\(new\)|incident opened")


@dataclass
class Console:
    base: str
    state: object
    users: object
    token: str
    spot_a: object
    spot_b: object


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    from zhizhi.console.app import create_app
    from zhizhi.console.settings import DemoSettings
    from zhizhi.console.state import open_console

    small = board_console_settings(tmp_path_factory.mktemp("wall-incident"))
    settings = small.model_copy(update={"demo": DemoSettings(seed=11, grids=24, towns=3, villages_per_town=2,
                                                             cameras=16)})
    state = open_console(settings)
    users = create_test_users(state)
    spot_a = covered_spot(state, users.town_a, at_least=1)
    spot_b = covered_spot(state, users.town_b, at_least=1)
    names = {c.id: c.name for c in state.cameras.cameras}
    state.workers.append(FakeWorker(names))
    with serve(create_app(settings, state=state)) as base:
        for cid in names:
            publish_status(state, cid, "online")
        token = login_answer(base, users.district)["token"]
        yield Console(base=base, state=state, users=users, token=token, spot_a=spot_a, spot_b=spot_b)
    state.close()


class Screens:
    """One browser context logged in as ``username`` with screens of one wall open."""

    def __init__(self, browser, base: str, username: str, wall: str, screens: tuple[str, ...]) -> None:
        self.context = browser.new_context(viewport=WALL_VIEWPORT, device_scale_factor=1, locale="zh-CN",
                                           timezone_id="Asia/Shanghai")
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.context.on("request", lambda r: None if is_loopback(r.url) else self.outside.append(r.url))
        log_in(self.context, base, username)
        self.pages = {}
        for screen in screens:
            page = self.context.new_page()
            page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
            page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
            page.goto(f"{base}/wall?screen={screen}&wall={wall}", wait_until="domcontentloaded")
            page.wait_for_function("() => document.body.dataset.wallReady === 'true'", timeout=READY_MS)
            page.wait_for_function("() => zhizhiWall.link.state === 'live' && zhizhiWall.link.lastSeq !== null",
                                   timeout=30_000)
            page.evaluate("() => { window.presetsHeard = [];"
                          " zhizhiWall.link.addEventListener('preset', (e) => presetsHeard.push(e.detail)); }")
            self.pages[screen] = page

    def __getitem__(self, screen: str):
        return self.pages[screen]

    def heard(self, screen: str) -> list[dict]:
        return self.pages[screen].evaluate("() => presetsHeard")


@pytest.fixture(scope="module")
def wall(browser, console):
    screens = Screens(browser, console.base, console.users.district, WALL, ("map", "alerts", "video"))
    yield screens
    assert not screens.outside, f"requests left the machine: {screens.outside}"
    assert not screens.errors, f"errors on the wall: {screens.errors}"
    screens.context.close()


@pytest.fixture(scope="module")
def towns(browser, console):
    """Town A's and town B's boards, each on its own wall named like the district's."""
    a = Screens(browser, console.base, console.users.operator_a, WALL, ("alerts",))
    b = Screens(browser, console.base, console.users.operator_b, WALL, ("alerts",))
    yield a, b
    a.context.close()
    b.context.close()


def api(console, method: str, path: str, token: str | None = None, **kw) -> httpx.Response:
    return httpx.request(method, f"{console.base}{path}", headers={"Authorization": f"Bearer {token or console.token}"},
                         trust_env=False, timeout=60, **kw)


def pixel(page, lon: float, lat: float, dx: float = 0, dy: float = 0) -> tuple[float, float]:
    """The page position of (lon, lat) on the map screen, moved by (dx, dy) pixels."""
    p = page.evaluate("([lat, lon]) => { const m = zhizhi.map; const pt = m.latLngToContainerPoint([lat, lon]);"
                      " const r = m.getContainer().getBoundingClientRect(); return [r.left + pt.x, r.top + pt.y]; }",
                      [lat, lon])
    return p[0] + dx, p[1] + dy


def map_view(page) -> dict:
    return page.evaluate("() => { const c = zhizhi.map.getCenter(); return {lat: c.lat, lon: c.lng,"
                         " zoom: zhizhi.map.getZoom()}; }")


def board_ids(page) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('#zw-list [data-alert-id]')]"
                         ".map((e) => e.dataset.alertId)")



def wait_all(wall, expression: str, arg=None) -> None:
    for screen in ("map", "alerts", "video"):
        wall[screen].wait_for_function(expression, arg=arg, timeout=SWITCH_MS)


def test_an_incident_drawn_on_the_map_switches_all_three_screens_and_back_on_close(console, wall, towns, tmp_path):
    folder = DOCS_SCREENSHOTS if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1" else tmp_path
    inside = raise_alert(console.state, console.spot_a, track_id=101, severity="orange")
    outside = raise_alert(console.state, console.spot_b, track_id=102, severity="yellow")
    for page in (wall["alerts"], wall["map"]):
        page.wait_for_function("ids => ids.every((id) => zhizhiWall.link.alerts.has(id))",
                               arg=[inside.id, outside.id], timeout=SWITCH_MS)
    map_page, board, video = wall["map"], wall["alerts"], wall["video"]
    board.wait_for_function("n => document.querySelectorAll('#zw-list [data-alert-id]').length >= n", arg=2)
    before_view, before_board = map_view(map_page), sorted(board_ids(board))
    before_tiles, before_layout = video.evaluate("zhizhiWall.tiles()"), video.evaluate("zhizhiWall.layout")
    assert {inside.id, outside.id} <= set(before_board)

    # Draw a polygon around the alert in town A with the mouse, as a fire, and open it.
    map_page.click("#zw-incident-draw summary")
    map_page.select_option("#zw-draw-type", "fire")
    map_page.fill("#zw-draw-title", "仓库火情")
    map_page.click("#zw-incident-draw [data-shape=polygon]")
    map_page.wait_for_function("() => document.body.classList.contains('zw-drawing')")
    corners = [(-45, -45), (45, -45), (45, 45), (-45, 45)]
    for dx, dy in corners:
        map_page.mouse.click(*pixel(map_page, console.spot_a.lon, console.spot_a.lat, dx, dy))
    map_page.mouse.click(*pixel(map_page, console.spot_a.lon, console.spot_a.lat, *corners[0]))  # closes it
    map_page.wait_for_function("() => document.getElementById('zw-incident-draw').dataset.draft === 'polygon'",
                               timeout=SWITCH_MS)
    map_page.click("#zw-draw-open")

    map_page.wait_for_function("() => [...zhizhiWall.link.incidents.values()].some((i) => i.title === '仓库火情')",
                               timeout=SWITCH_MS)
    incident = map_page.evaluate("() => [...zhizhiWall.link.incidents.values()].find((i) => i.title === '仓库火情')")
    iid = incident["id"]
    area = shape(incident["geometry"])
    assert area.contains(shapely.Point(console.spot_a.lon, console.spot_a.lat))
    assert not area.contains(shapely.Point(console.spot_b.lon, console.spot_b.lat))
    assert incident["incident_type"] == "fire" and incident["area"]["polygon"]["type"] == "Polygon"

    # All three screens switch to the incident preset.
    wait_all(wall, "id => document.body.dataset.wallIncident === id && document.body.dataset.wallPreset === 'incident'",
             iid)
    bounds = map_page.evaluate("() => { const b = zhizhi.map.getBounds(); return [b.getWest(), b.getSouth(),"
                               " b.getEast(), b.getNorth()]; }")
    assert shapely.box(*bounds).contains(area.envelope), (bounds, area.bounds)
    assert map_view(map_page)["zoom"] > before_view["zoom"]
    board.wait_for_function("id => document.body.dataset.boardIncident === id", arg=iid, timeout=SWITCH_MS)
    board.wait_for_function("id => ![...document.querySelectorAll('#zw-list [data-alert-id]')]"
                            ".some((e) => e.dataset.alertId === id)", arg=outside.id, timeout=SWITCH_MS)
    assert inside.id in board_ids(board) and outside.id not in board_ids(board)
    assert "仓库火情" in board.locator("#zw-board-incident").inner_text()
    video.wait_for_function("id => zhizhiWall.incident && zhizhiWall.incident.id === id", arg=iid, timeout=SWITCH_MS)
    near = [str(c["id"]) for c in sorted(incident["impact"]["cameras"], key=lambda c: c["distance_m"])]
    near = [str(d["id"]) for d in sorted(incident["impact"].get("drones") or [], key=lambda d: d["distance_m"])] + near
    assert near, "no camera in or near the drawn area"
    tiles = video.evaluate("zhizhiWall.tiles()")
    assert tiles[: len(near)] == near[: len(tiles)], (tiles, near)

    # The incident list names it; an alert arising inside joins the timeline, in Chinese.
    item = map_page.locator(f"#zw-inc-list [data-incident-id='{iid}']")
    assert "火灾" in item.inner_text() and "仓库火情" in item.inner_text()
    raise_alert(console.state, console.spot_a, track_id=103, severity="red", rule="abnormal_stop")
    timeline = api(console, "GET", f"/api/incidents/{iid}/timeline").json()
    assert [e["kind"] for e in timeline][:2] == ["opened", "alert"], timeline
    assert not [e["text"] for e in timeline if RAW.search(e["text"])]
    map_page.wait_for_function("() => document.querySelectorAll('#zw-incident .zw-incident-timeline li').length >= 2",
                               timeout=SWITCH_MS)
    assert not RAW.search(map_page.locator("#zw-incident .zw-incident-timeline").inner_text())
    map_page.mouse.move(WALL_VIEWPORT["width"] - 40, WALL_VIEWPORT["height"] - 20)  # over the panel: no tooltip
    map_page.wait_for_timeout(600)
    save_screenshot(map_page, folder / "wall-incident.png")

    # The area is clickable right beside a pulsing alert marker (its ring takes no clicks).
    map_page.wait_for_function("id => document.querySelector(`.zw-alert.zw-pulse`)", arg=iid, timeout=SWITCH_MS)
    ring = map_page.evaluate("() => { const r = document.querySelector('.zw-alert.zw-pulse').getBoundingClientRect();"
                             " return [r.left + r.width / 2, r.top + r.height / 2, r.width]; }")
    x, y = ring[0] + ring[2] / 2 + 9, ring[1]  # inside the ring's pulse (2.1 × the marker), outside the marker
    hit = map_page.evaluate("([x, y]) => { const e = document.elementFromPoint(x, y);"
                            " return e && e.closest('[data-incident-id]') ? e.dataset.incidentId : e && e.className; }",
                            [x, y])
    assert hit == iid, hit

    # The report: a CSV Excel opens cleanly, an HTML report with a Chinese timeline.
    data = api(console, "GET", f"/api/incidents/{iid}/report.csv").content
    assert data[:3] == b"\xef\xbb\xbf"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["类别", "编码或编号", "名称"] and rows[1][0] == "事件" and rows[1][2] == "仓库火情"
    assert api(console, "GET", f"/api/incidents/{iid}/report.csv", params={"headers": "en"}).text[1:].startswith(
        "section,")
    html = api(console, "GET", f"/api/incidents/{iid}/report.html").text
    table = html[html.index('<section class="sr-timeline">'):]
    assert not RAW.search(table) and "进入事件范围" in table
    outlined = [u["code"] for k in ("towns", "villages", "grids") for u in incident["impact"].get(k) or []]
    assert outlined and all(code in html for code in outlined)  # the affected units outlined, named in tooltips

    # Town B's board never heard of town A's incident; town A's did (its own part).
    town_a, town_b = towns
    if not any(c.startswith(console.users.town_b) for c in incident["codes"]):
        assert not [m for m in town_b.heard("alerts") if (m.get("incident") or {}).get("id") == iid
                    or m.get("incident_id") == iid]
    town_a["alerts"].wait_for_function("id => presetsHeard.some((m) => m.incident && m.incident.id === id)", arg=iid,
                                       timeout=SWITCH_MS)

    # Close it from the incident list: every screen goes back to the normal preset.
    item.locator("[data-close]").click()
    wait_all(wall, "() => document.body.dataset.wallPreset === 'normal' && !document.body.dataset.wallIncident")
    after = map_view(map_page)
    assert after["zoom"] == before_view["zoom"]
    assert abs(after["lat"] - before_view["lat"]) < 1e-6 and abs(after["lon"] - before_view["lon"]) < 1e-6
    board.wait_for_function("id => [...document.querySelectorAll('#zw-list [data-alert-id]')]"
                            ".some((e) => e.dataset.alertId === id)", arg=outside.id, timeout=SWITCH_MS)
    assert set(before_board) <= set(board_ids(board)) and board.locator("#zw-board-incident").is_hidden()
    assert video.evaluate("zhizhiWall.layout") == before_layout
    assert video.evaluate("zhizhiWall.tiles()") == before_tiles
    map_page.wait_for_function("id => !document.querySelector(`#zw-inc-list [data-incident-id='${id}']`)", arg=iid,
                               timeout=SWITCH_MS)


def test_a_town_cannot_open_an_incident_outside_it_nor_hear_another_towns_presets(console, wall, towns):
    town_a, town_b = towns
    operator_a = login_answer(console.base, console.users.operator_a)["token"]
    operator_b = login_answer(console.base, console.users.operator_b)["token"]
    spec = {"type": "fire", "title": "越界火情", "area": {"point": [console.spot_a.lon, console.spot_a.lat],
                                                          "radius_m": 80}}
    far = shapely.Point(console.spot_a.lon, console.spot_a.lat).distance(
        console.state.jurisdictions.get(console.users.town_b).geometry)
    assert far > 0.002, "spot A lies too close to town B for an 80 m circle"
    refused = api(console, "POST", "/api/incidents", operator_b, json=spec)
    assert refused.status_code == 403 and "jurisdiction" in refused.text
    assert not [i for i in api(console, "GET", "/api/incidents", operator_a).json() if i["title"] == "越界火情"]

    # Town A opens one in its town: its own board switches, town B's hears nothing.
    opened = api(console, "POST", "/api/incidents", operator_a, json=dict(spec, title="本镇火情"))
    assert opened.status_code == 201, opened.text
    iid = opened.json()["id"]
    town_a["alerts"].wait_for_function("id => document.body.dataset.boardIncident === id", arg=iid, timeout=SWITCH_MS)
    wall["map"].wait_for_function("id => document.body.dataset.wallIncident === id", arg=iid, timeout=SWITCH_MS)
    assert api(console, "POST", f"/api/incidents/{iid}/close", operator_a, json={}).status_code == 200
    town_a["alerts"].wait_for_function("() => !document.body.dataset.boardIncident", timeout=SWITCH_MS)
    wall["map"].wait_for_function("() => document.body.dataset.wallPreset === 'normal'", timeout=SWITCH_MS)
    heard_b = json.dumps(town_b.heard("alerts"))
    assert iid not in heard_b
    assert not town_b["alerts"].evaluate("() => document.body.dataset.boardIncident")

    # The drawing UI says so too: a town-B officer's polygon in town A is refused.
    page = town_b.context.new_page()
    page.goto(f"{console.base}/wall?screen=map&wall={WALL}", wait_until="domcontentloaded")
    page.wait_for_function("() => document.body.dataset.wallReady === 'true' && zhizhiWall.link.state === 'live'",
                           timeout=READY_MS)
    page.wait_for_function("() => document.body.dataset.incidentTools === 'manage'", timeout=SWITCH_MS)
    page.evaluate("([lat, lon]) => zhizhi.map.setView([lat, lon], 16, {animate: false})",
                  [console.spot_a.lat, console.spot_a.lon])
    page.click("#zw-incident-draw summary")
    page.click("#zw-incident-draw [data-shape=circle]")
    page.mouse.click(*pixel(page, console.spot_a.lon, console.spot_a.lat))
    page.mouse.click(*pixel(page, console.spot_a.lon, console.spot_a.lat, 30, 0))
    page.wait_for_function("() => document.getElementById('zw-incident-draw').dataset.draft === 'circle'",
                           timeout=SWITCH_MS)
    page.click("#zw-draw-open")
    page.wait_for_function("() => document.getElementById('zw-incident-draw').dataset.refused === '403'",
                           timeout=SWITCH_MS)
    assert "不在本辖区" in page.locator("#zw-draw-msg").inner_text()
    page.close()


def test_a_red_alert_pushes_its_camera_to_the_first_tile_and_its_place_to_the_map(console, wall):
    red = raise_alert(console.state, console.spot_b, track_id=201, severity="red", rule="zone_entry",
                      rule_id="zone-entry", cls="car")
    video, map_page = wall["video"], wall["map"]
    video.wait_for_function("id => zhizhiWall.pushed && zhizhiWall.pushed.alertId === id", arg=red.id,
                            timeout=SWITCH_MS)
    camera = video.evaluate("zhizhiWall.pushed.cameraId")
    assert camera in console.spot_b.cameras and video.evaluate("zhizhiWall.tiles()")[0] == camera
    map_page.wait_for_function("id => document.body.dataset.wallPushedAlert === id", arg=red.id, timeout=SWITCH_MS)
    view = map_view(map_page)
    assert abs(view["lat"] - red.lat) < 1e-4 and abs(view["lon"] - red.lon) < 1e-4 and view["zoom"] == 16


def test_a_click_in_the_incident_list_switches_the_whole_wall(console, wall, tmp_path):
    """Two open incidents: the wall shows the newer; a click on the older one in the map's list
    switches the map and the board to it."""
    ids = []
    for title, spot in (("东片积水", console.spot_a), ("西片积水", console.spot_b)):
        r = api(console, "POST", "/api/incidents", json={"type": "flood", "title": title,
                                                         "area": {"point": [spot.lon, spot.lat], "radius_m": 150}})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
        wait_all(wall, "id => document.body.dataset.wallIncident === id", ids[-1])
    first, second = ids
    map_page, board = wall["map"], wall["alerts"]
    map_page.click(f"#zw-inc-list [data-incident-id='{first}'] [data-go]")
    wait_all(wall, "id => document.body.dataset.wallIncident === id", first)
    board.wait_for_function("id => document.body.dataset.boardIncident === id", arg=first, timeout=SWITCH_MS)
    assert "东片积水" in board.locator("#zw-board-incident").inner_text()
    center = map_view(map_page)
    assert abs(center["lat"] - console.spot_a.lat) < 0.01 and abs(center["lon"] - console.spot_a.lon) < 0.01
    wall["video"].wait_for_function("id => zhizhiWall.incident && zhizhiWall.incident.id === id", arg=first,
                                    timeout=SWITCH_MS)
    note = wall["video"].locator("#zw-video-note").inner_text()
    assert note.startswith("战时 · 洪涝 东片积水") and not re.search(r"[a-z_]{4,}", note), note
    board.screenshot(path=str(tmp_path / "board-incident.png"))
    wall["video"].screenshot(path=str(tmp_path / "video-incident.png"))
    print("screens:", tmp_path)
    for iid in (second, first):
        assert api(console, "POST", f"/api/incidents/{iid}/close", json={}).status_code == 200
    wait_all(wall, "() => document.body.dataset.wallPreset === 'normal' && !document.body.dataset.wallIncident")


def test_a_leak_opened_at_the_selected_alert_with_the_wind(console, wall):
    """A chemical leak at the alert selected on the wall: the drawing card takes the alert's
    place and the wind (from the east, 3 m/s); the console computes the downwind plume."""
    alert = raise_alert(console.state, console.spot_a, track_id=301, severity="orange")
    map_page = wall["map"]
    map_page.wait_for_function("id => zhizhiWall.link.alerts.has(id)", arg=alert.id, timeout=SWITCH_MS)
    wall["alerts"].evaluate("id => zhizhiWall.link.select(id)", alert.id)
    map_page.wait_for_function("id => zhizhiWall.link.selection && zhizhiWall.link.selection.alert.id === id",
                               arg=alert.id, timeout=SWITCH_MS)
    if not map_page.evaluate("document.getElementById('zw-incident-draw').open"):
        map_page.click("#zw-incident-draw summary")
    map_page.select_option("#zw-draw-type", "chemical_leak")
    assert map_page.locator("#zw-draw-wind").is_visible() and map_page.locator("#zw-draw-radius-row").is_hidden()
    map_page.select_option("#zw-draw-wind-from", "90")
    map_page.fill("#zw-draw-wind-speed", "3")
    map_page.fill("#zw-draw-title", "槽罐车泄漏")
    map_page.click("#zw-incident-draw [data-shape=alert]")
    map_page.wait_for_function("() => document.getElementById('zw-incident-draw').dataset.draft === 'alert'",
                               timeout=SWITCH_MS)
    map_page.click("#zw-draw-open")
    map_page.wait_for_function("() => [...zhizhiWall.link.incidents.values()].some((i) => i.title === '槽罐车泄漏')",
                               timeout=SWITCH_MS)
    incident = map_page.evaluate("() => [...zhizhiWall.link.incidents.values()].find((i) => i.title === '槽罐车泄漏')")
    assert incident["incident_type"] == "chemical_leak"
    assert incident["area"] == {"point": [pytest.approx(alert.lon), pytest.approx(alert.lat)],
                                "wind_from_deg": 90.0, "wind_speed_ms": 3.0}
    plume = shape(incident["geometry"])
    assert plume.centroid.x < alert.lon  # an east wind carries it west
    timeline = api(console, "GET", f"/api/incidents/{incident['id']}/timeline").json()
    assert alert.id in timeline[0]["text"] and not RAW.search(timeline[0]["text"])
    assert api(console, "POST", f"/api/incidents/{incident['id']}/close", json={}).status_code == 200
    wait_all(wall, "() => document.body.dataset.wallPreset === 'normal' && !document.body.dataset.wallIncident")
