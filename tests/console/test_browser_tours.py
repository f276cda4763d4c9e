"""Camera tours and the wall's remembered tiles in Debian's Chromium against a real console.

A small wall console of its own (tests/wall_support.py: 24 grids, 4 cameras, the warning model
off) with a fake worker's video for every camera runs under uvicorn; the district's duty officer
opens the wall's screens at 1920x1080. The tests check what the room sees: a tour cycles a tile
through its cameras ("巡航中 n/N"), each stop in the patrol log with the camera's frame; a camera
dragged from the map's popup (a real HTML5 drag's DataTransfer, carried from the map's window to
the video's as between two windows of one browser) and a tile dragged onto another land on the
tile, for every video screen of the wall, and survive a reload; the map's "投到画面 N" reaches a
video screen of the wall; at 16 tiles every camera name is whole, at least 28 px.
``docs/screenshots/wall-tour.png`` is saved when ZHIZHI_UPDATE_SCREENSHOTS=1 (a temporary folder
otherwise).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.auth_support import PASSWORD, create_test_users
from tests.browser import login_answer, open_page, save_screenshot, serve
from tests.wall_support import FakeWorker, board_console_settings, publish_status

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
WAIT_MS = 30_000


@dataclass
class Console:
    base: str
    state: object
    users: object
    cameras: list[str]  # every camera, by id
    headers: dict[str, str]  # the duty officer's

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(method, self.base + path, headers=self.headers, trust_env=False, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    from zhizhi.console.app import create_app
    from zhizhi.console.state import open_console

    settings = board_console_settings(tmp_path_factory.mktemp("tours"))
    state = open_console(settings)
    users = create_test_users(state)
    cameras = sorted(c.id for c in state.cameras.cameras)
    assert len(cameras) >= 3
    state.workers.append(FakeWorker({c.id: c.name for c in state.cameras.cameras}))
    with serve(create_app(settings, state=state)) as base:
        for camera in cameras:
            publish_status(state, camera, "online")
        token = login_answer(base, users.district)["token"]
        yield Console(base, state, users, cameras, {"Authorization": f"Bearer {token}"})
    state.close()


def _screen(browser, console: Console, screen: str, wall: str, extra: str = ""):
    watched = open_page(browser, console.base, console.users.district, f"/wall?screen={screen}&wall={wall}{extra}")
    watched.page.wait_for_function("() => document.body.dataset.wallReady === 'true'"
                                   " && zhizhiWall.link.state === 'live'", timeout=WAIT_MS)
    return watched


def _tiles(page) -> list:
    return page.evaluate("() => zhizhiWall.tiles()")


def _wait_tile(page, index: int, camera: str) -> None:
    page.wait_for_function("([i, c]) => zhizhiWall.tiles()[i] === c", arg=[index, camera], timeout=WAIT_MS)


def _shots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/screenshots with ZHIZHI_UPDATE_SCREENSHOTS=1, else the test's folder."""
    return REPO / "docs" / "screenshots" if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1" else tmp_path



def test_a_tour_cycles_a_tile_and_logs_each_stop(browser, console, tmp_path):
    a, b = console.cameras[:2]
    made = console.api("POST", "/api/tours", json={"name": "夜间巡航", "stops": [
        {"camera_id": a, "dwell_s": 1}, {"camera_id": b, "dwell_s": 1}]})
    assert made.status_code == 201, made.text
    tour = made.json()
    started = time.time() - 1
    watched = _screen(browser, console, "video", "tour")
    page = watched.page
    page.wait_for_function(f"() => [...document.querySelectorAll('#zw-tour-select option')].some("
                           f"o => o.value === '{tour['id']}')", timeout=WAIT_MS)
    page.select_option("#zw-tour-select", str(tour["id"]))
    page.select_option("#zw-tour-tile", "2")
    page.click("#zw-tour-toggle")
    # The tile shows A, then B, then A again, the toolbar saying which stop of how many.
    for camera, stop in ((a, "1/2"), (b, "2/2"), (a, "1/2")):
        page.wait_for_function("([c, s]) => zhizhiWall.tiles()[1] === c && document.body.dataset.tourStop === s"
                               " && document.getElementById('zw-tour-status').textContent.startsWith('巡航中 ' + s)",
                               arg=[camera, stop], timeout=WAIT_MS)
    history = page.evaluate("() => zhizhiWall.tour.history")
    assert history[:3] == [a, b, a]
    assert page.get_attribute("#zw-tiles .zw-tile:nth-child(2)", "class").count("zw-tour-tile") == 1
    page.wait_for_function("() => zhizhiWall.tour.logged.length >= 3", timeout=WAIT_MS)
    shots = _shots(tmp_path)
    page.wait_for_function("() => document.querySelector('#zw-tiles .zw-tile:nth-child(2)').dataset.video === 'live'",
                           timeout=WAIT_MS)
    save_screenshot(page, shots / "wall-tour.png")
    page.click("#zw-tour-toggle")  # stop: the tile goes back to its own camera, the status goes
    page.wait_for_function("() => !zhizhiWall.tour.running && document.getElementById('zw-tour-status').hidden",
                           timeout=WAIT_MS)
    assert not watched.problems, watched.problems
    # The patrol log: every stop with the time, the camera and its frame as a JPEG.
    log = console.api("GET", f"/api/tours/{tour['id']}/log", params={"start": started}).json()
    assert [e["camera_id"] for e in log][:3] == [a, b, a]
    assert all(e["wall"] == "tour" and e["by"] == console.users.district and e["snapshot"] for e in log)
    assert all(later["ts"] > earlier["ts"] for earlier, later in itertools.pairwise(log))
    jpeg = console.api("GET", log[1]["snapshot"])
    assert jpeg.status_code == 200 and jpeg.content[:2] == b"\xff\xd8"
    page.context.close()


DRAG_FROM_MAP = """(id) => {
  zhizhi.camerasById.get(id).openPopup();
  const handle = document.querySelector('.zw-cast[data-camera="' + id + '"] .zw-cast-drag');
  const dt = new DataTransfer();
  handle.dispatchEvent(new DragEvent('dragstart', {bubbles: true, cancelable: true, dataTransfer: dt}));
  const carried = {};
  for (const type of dt.types) carried[type] = dt.getData(type);
  handle.dispatchEvent(new DragEvent('dragend', {bubbles: true, dataTransfer: dt}));
  return {draggable: handle.draggable, carried};
}"""

DRAG_TILE = """(index) => {
  const tile = document.querySelectorAll('#zw-tiles .zw-tile')[index];
  const dt = new DataTransfer();
  tile.dispatchEvent(new DragEvent('dragstart', {bubbles: true, cancelable: true, dataTransfer: dt}));
  const carried = {};
  for (const type of dt.types) carried[type] = dt.getData(type);
  tile.dispatchEvent(new DragEvent('dragend', {bubbles: true, dataTransfer: dt}));
  return carried;
}"""

DROP_ON_TILE = """([index, carried]) => {
  const tile = document.querySelectorAll('#zw-tiles .zw-tile')[index];
  const dt = new DataTransfer();
  for (const [type, value] of Object.entries(carried)) dt.setData(type, value);
  const over = new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: dt});
  tile.dispatchEvent(over);
  tile.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));
  return over.defaultPrevented;
}"""


def test_a_camera_dragged_from_the_map_lands_on_the_tile_for_the_whole_wall(browser, console):
    wall = "drag"
    camera = console.cameras[2]
    video = _screen(browser, console, "video", wall)
    other = _screen(browser, console, "video", wall)  # a second video screen of the same wall
    map_screen = _screen(browser, console, "map", wall)
    assert camera not in _tiles(video.page)[:1]
    dragged = map_screen.page.evaluate(DRAG_FROM_MAP, camera)
    assert dragged["draggable"] is True
    assert json.loads(dragged["carried"]["application/x-zhizhi-camera"])["id"] == camera
    accepted = video.page.evaluate(DROP_ON_TILE, [0, dragged["carried"]])
    assert accepted, "the tile did not accept the camera's drag"
    _wait_tile(video.page, 0, camera)
    _wait_tile(other.page, 0, camera)  # every video screen of the wall follows
    remembered = console.api("GET", f"/api/walls/{wall}/tiles").json()
    assert remembered["tiles"][0] == camera and remembered["updated_by"] == console.users.district
    # A tile dragged onto another: the two cameras change places.
    second = _tiles(video.page)[3]
    carried = video.page.evaluate(DRAG_TILE, 0)
    assert video.page.evaluate(DROP_ON_TILE, [3, carried])
    _wait_tile(video.page, 3, camera)
    _wait_tile(video.page, 0, second)
    # The map's "投到画面 N" (no drag: map and video on different PCs) reaches the video screens.
    target = console.cameras[0]
    map_screen.page.evaluate("(id) => zhizhi.camerasById.get(id).openPopup()", target)
    map_screen.page.click(f'.zw-cast[data-camera="{target}"] button[data-tile="2"]')
    map_screen.page.wait_for_selector(f'.zw-cast[data-camera="{target}"][data-sent="2"]', timeout=WAIT_MS)
    _wait_tile(video.page, 1, target)
    _wait_tile(other.page, 1, target)
    # A reload restores the wall's tiles.
    shown = _tiles(video.page)
    video.page.reload(wait_until="domcontentloaded")
    video.page.wait_for_function("() => document.body.dataset.wallReady === 'true'", timeout=WAIT_MS)
    assert _tiles(video.page)[:4] == shown[:4]
    assert shown[1] == target and shown[3] == camera
    for watched in (video, other, map_screen):
        assert not watched.problems, watched.problems
        watched.page.context.close()


def test_sixteen_tiles_keep_every_name_whole_and_large(browser, console, tmp_path):
    wall = "sixteen"
    # A long name as the wall meets them (a road, a place and the camera's number): renamed by an admin.
    console.state.auth.add_user("tour-admin", "admin", console.users.district_code, PASSWORD)
    admin = {"Authorization": f"Bearer {login_answer(console.base, 'tour-admin')['token']}"}
    long_name = "沪陕高速G40 通州东互通匝道口 北向 12号球机"
    renamed = httpx.patch(f"{console.base}/api/cameras/{console.cameras[3]}", json={"name": long_name},
                          headers=admin, trust_env=False, timeout=30)
    assert renamed.status_code == 200, renamed.text
    console.state.reload_cameras()
    assert console.state.cameras.get(console.cameras[3]).name == long_name
    video = _screen(browser, console, "video", wall)
    page = video.page
    page.click('#zw-layouts button[data-layout="16"]')
    page.wait_for_function("() => document.getElementById('zw-tiles').dataset.layout === '16'", timeout=WAIT_MS)
    page.wait_for_function("() => document.body.dataset.theme === 'ready'", timeout=WAIT_MS)
    assert console.api("GET", f"/api/walls/{wall}/tiles").json()["layout"] == 16  # the wall's layout now
    names = page.evaluate("""() => [...document.querySelectorAll('#zw-tiles .zw-tile[data-camera-id]')].map((t) => {
      const el = t.querySelector('.zw-tile-name');
      const style = getComputedStyle(el);
      return {id: t.dataset.cameraId, text: el.textContent, title: t.title, px: parseFloat(style.fontSize),
              lines: Math.round(el.getBoundingClientRect().height / parseFloat(style.lineHeight)),
              // a line cut off (clamped) or the name running out sideways
              clipped: el.scrollHeight - el.clientHeight > parseFloat(style.lineHeight) / 2
                || el.scrollWidth > el.clientWidth + 1};
    })""")
    assert len(names) == len(console.cameras)
    expected = {c.id: c.name for c in console.state.cameras.cameras}
    for tile in names:
        assert tile["text"] == expected[tile["id"]], tile
        assert tile["px"] >= 28, tile
        assert not tile["clipped"] and tile["lines"] <= 2, tile
        assert expected[tile["id"]] in tile["title"] and tile["id"] in tile["title"], tile
    save_screenshot(page, tmp_path / "wall-tiles-16.png")  # looked at, not kept in docs
    page.reload(wait_until="domcontentloaded")
    page.wait_for_function("() => document.getElementById('zw-tiles').dataset.layout === '16'", timeout=WAIT_MS)
    assert not video.problems, video.problems
    page.context.close()
