"""The board's detail shows the evidence of every camera of an alert (issue 17, "evidence grows
when another camera joins"): beside the first camera's snapshot and clip, a thumbnail of each
camera that joined, named, whose click plays that camera's clip in the clip box.

A console of its own (a small demo district in SQLite, the warning model off so that only the
alert raised here exists) runs under uvicorn; the alert enters through the real alert service,
a second camera's warning at the same place joins it, and the evidence files are written by the
real evidence store and attached by the service, as a worker's recorder would. Debian's
Chromium opens the board at the wall's size, 1920×1080, as the district's duty officer.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from tests.auth_support import create_test_users
from tests.browser import login_answer, open_page, serve
from tests.wall_support import board_console_settings

pytestmark = pytest.mark.browser

SCREEN = "/wall?screen=alerts&wall=views"
ARRIVAL_MS = 8000
#: A camera's name on the thumbnail is read from across the room: at least this many CSS pixels.
MIN_NAME_PX = 17.0


def _frames(camera: int, n: int = 8) -> list[np.ndarray]:
    frames = []
    for k in range(n):
        image = np.full((90, 160, 3), (60, 60 + 60 * camera, 140), np.uint8)
        cv2.putText(image, f"CAM{camera} {k}", (10, 50), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        frames.append(image)
    return frames


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    from zhizhi.console.app import create_app
    from zhizhi.console.state import open_console
    from zhizhi.models.warning.record import WarningEvent

    settings = board_console_settings(tmp_path_factory.mktemp("board-views"))
    state = open_console(settings)
    users = create_test_users(state)
    cameras = [c for c in state.cameras.cameras][:2]
    grid = state.jurisdictions.grid_codes[0]
    lon, lat = state.jurisdictions.get(grid).anchor
    now = time.time()

    def warning(camera: str, track: int) -> WarningEvent:
        return WarningEvent(rule="abnormal_stop", rule_id="hazmat-stop", severity="orange", camera_id=camera,
                            cameras=[camera], track_id=track, cls="hazmat_tanker", lon=lon, lat=lat,
                            first_ts=now - 90, last_ts=now, details={"stopped_s": 90})

    first, joining = cameras[0].id, cameras[1].id
    alert = state.alerts.ingest(warning(first, 3))
    joined = state.alerts.ingest(warning(joining, 4))
    assert joined.id == alert.id and joined.cameras == [first, joining]
    store = state.evidence
    for index, camera in ((0, None), (1, joining)):
        frames = _frames(index)
        jpeg = cv2.imencode(".jpg", frames[0])[1].tobytes()
        state.alerts.attach_evidence(alert.id, camera_id=camera,
                                     snapshot=store.save_snapshot(alert.id, jpeg, camera_id=camera),
                                     clip=store.save_clip(alert.id, frames, 4.0, camera_id=camera))
    with serve(create_app(settings, state=state)) as base:
        token = login_answer(base, users.district)["token"]
        yield {"base": base, "state": state, "users": users, "token": token, "alert": alert.id,
               "first": cameras[0], "joining": cameras[1]}
    state.close()


def test_the_joined_cameras_thumbnail_is_named_and_plays_its_clip(browser, console):
    watched = open_page(browser, console["base"], console["users"].district, SCREEN)
    page = watched.page
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.wait_for_function("() => document.body.dataset.wallReady === 'true' && zhizhiWall.link.state === 'live'",
                           timeout=30_000)
    alert_id, joining, first = console["alert"], console["joining"], console["first"]
    page.wait_for_selector(f"#zw-list .zw-item[data-alert-id='{alert_id}']", timeout=ARRIVAL_MS)
    page.click(f"#zw-list .zw-item[data-alert-id='{alert_id}']")
    thumb = f"#zw-ev-views .zw-ev-view[data-camera='{joining.id}']"
    page.wait_for_selector(f"{thumb} .zw-media[data-loaded='true'] img", timeout=ARRIVAL_MS)
    assert page.locator("#zw-ev-views").is_visible()
    assert page.locator("#zw-ev-views .zw-ev-view").count() == 1  # the first camera is not a thumbnail
    name = page.locator(f"{thumb} .zw-ev-view-name")
    assert name.inner_text() == (joining.name or joining.id)
    size = float(name.evaluate("el => parseFloat(getComputedStyle(el).fontSize)"))
    assert size >= MIN_NAME_PX, size
    box = page.locator(thumb).bounding_box()
    assert box and box["width"] >= 200, box  # a thumbnail one can see from the back of the room
    assert page.locator(f"{thumb} img").get_attribute("src").startswith("blob:")

    # the clip box plays the first camera's clip, and says whose
    page.wait_for_function("() => { const c = document.getElementById('zw-ev-clip'); "
                           "return c.dataset.loaded === 'true' || c.dataset.playable === 'false'; }", timeout=10_000)
    assert (first.name or first.id) in page.locator("#zw-ev-clip-of").inner_text()
    assert page.locator(thumb).get_attribute("aria-pressed") == "false"

    page.click(thumb)  # the joined camera's clip
    page.wait_for_function(
        "id => document.getElementById('zw-ev-clip').dataset.key.endsWith(id)",
        arg=f"clip-{_slug(joining.id)}.webm", timeout=ARRIVAL_MS)
    page.wait_for_function("() => { const c = document.getElementById('zw-ev-clip'); "
                           "return c.dataset.loaded === 'true' || c.dataset.playable === 'false'; }", timeout=10_000)
    assert page.locator(thumb).get_attribute("aria-pressed") == "true"
    assert (joining.name or joining.id) in page.locator("#zw-ev-clip-of").inner_text()
    asked = [u for u in watched.requests if f"/api/alerts/{alert_id}/evidence/" in u]
    assert any("/evidence/snapshot?camera=" in u for u in asked), asked
    assert any("/evidence/clip?camera=" in u for u in asked), asked
    assert not any("token=" in u or "ticket=" in u for u in asked)  # fetched with the header

    page.click(thumb)  # and back to the first camera's
    page.wait_for_function("() => document.getElementById('zw-ev-clip').dataset.key.endsWith('/clip.webm')",
                           timeout=ARRIVAL_MS)
    assert page.locator(thumb).get_attribute("aria-pressed") == "false"
    assert not watched.problems, f"errors on the board: {watched.problems}"
    page.context.close()


def _slug(camera_id: str) -> str:
    from zhizhi.video.evidence_store import camera_slug

    return camera_slug(camera_id)
