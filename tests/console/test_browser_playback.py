"""A recording plays back at an alert's time (issue 18, "Recording and playback").

A console of its own (a small demo district in SQLite) with a camera's recording on disk (real
H.264 MP4 segments, 10 s each, written as the recorder writes them) around a real alert of that
camera (through ``state.alerts.ingest``). Debian's Chromium at 1920×1080, as the district's duty
officer:

- on the alert board, the alert's "从告警前30秒回放" opens the playback at the alert's first
  sighting − 30 s: the <video> has data (readyState ≥ 2), the recorded time shown is that
  moment, and it advances (the video plays);
- on the video screen, ?playback=CAMERA&at=… opens it too; the timeline (1 h) shows the
  recorded spans and marks the alert, and a click on the mark plays from 30 s before it;
- where nothing was recorded the panel says so.

The last test saves docs/screenshots/wall-playback.png when ZHIZHI_UPDATE_SCREENSHOTS=1 (a
temporary folder otherwise).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.auth_support import create_test_users
from tests.browser import open_page, serve
from tests.recording_support import record_road
from tests.wall_support import board_console_settings

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
BEFORE_S = 30  # "play from 30 s before"
RECORDED_BEFORE_S = 150  # the recording starts this long before the alert
RECORDED_S = 240


@dataclass
class Console:
    base: str
    state: object
    users: object
    camera: str
    alert: object
    recorded_from: float


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    from zhizhi.console.app import create_app
    from zhizhi.console.state import open_console
    from zhizhi.models.warning.record import WarningEvent

    settings = board_console_settings(tmp_path_factory.mktemp("playback"))
    state = open_console(settings)
    users = create_test_users(state)
    camera = state.cameras.cameras[0]
    now = time.time()
    first_ts = now - 120
    alert = state.alerts.ingest(WarningEvent(
        rule="abnormal_stop", rule_id="playback-stop", severity="red", camera_id=camera.id, cameras=[camera.id],
        track_id=1, cls="hazmat_tanker", lon=camera.lon, lat=camera.lat, first_ts=first_ts, last_ts=now - 60,
        details={"stopped_s": 60}))
    assert alert is not None
    recorded_from = first_ts - RECORDED_BEFORE_S
    record_road(settings.resolved_recordings_dir, camera.id, recorded_from, RECORDED_S)
    with serve(create_app(settings, state=state)) as base:
        yield Console(base=base, state=state, users=users, camera=camera.id, alert=alert, recorded_from=recorded_from)
    state.close()


def wait_playing_near(page, at: float, tolerance: float = 2.0) -> float:
    """Wait until the playback plays (data there) near ``at``; the recorded time it shows."""
    page.wait_for_function(
        "() => { const v = document.getElementById('zw-pb-video');"
        " return v && v.readyState >= 2 && zhizhiPlayback.time() !== null; }", timeout=30_000)
    shown = page.evaluate("() => zhizhiPlayback.time()")
    assert abs(shown - at) <= tolerance, f"playing {shown - at:+.1f} s from the asked time"
    return shown


def test_the_boards_button_plays_from_30_s_before_the_alert(browser, console):
    watched = open_page(browser, console.base, console.users.district, "/wall?screen=alerts&wall=playback")
    page = watched.page
    try:
        item = f"#zw-list .zw-item[data-alert-id='{console.alert.id}']"
        page.wait_for_selector(item, timeout=30_000)
        page.click(f"{item} .zw-item-rule")
        button = page.locator("#zw-d-evidence .zw-pb-open")
        button.wait_for(state="visible")
        assert "从告警前30秒回放" in button.inner_text()
        button.click()
        at = console.alert.first_ts - BEFORE_S
        shown = wait_playing_near(page, at)
        # it plays: the recorded time moves on, the element has data
        page.wait_for_function("t => zhizhiPlayback.time() > t + 1.0", arg=shown, timeout=30_000)
        state = page.evaluate("() => { const v = document.getElementById('zw-pb-video');"
                              " return {ready: v.readyState, paused: v.paused, current: v.currentTime}; }")
        assert state["ready"] >= 2 and not state["paused"] and state["current"] > 0
        assert page.locator("#zw-playback").get_attribute("data-state") == "playing"
        assert page.locator("#zw-pb-camera").inner_text()  # the camera's name
        page.click("#zw-pb-close")
        assert page.locator("#zw-playback").is_hidden()
        assert not watched.problems, watched.problems
    finally:
        page.context.close()


@pytest.fixture(scope="module")
def video_screen(browser, console):
    at = console.alert.first_ts - BEFORE_S + 20
    watched = open_page(browser, console.base, console.users.district,
                        f"/wall?screen=video&wall=playback&playback={console.camera}&at={at}")
    watched.page.wait_for_function("() => document.body.dataset.wallReady === 'true'", timeout=30_000)
    yield watched
    assert not watched.problems, f"errors on the video screen: {watched.problems}"
    watched.page.context.close()


def test_the_video_screen_plays_a_camera_at_a_time_with_its_alerts_on_the_timeline(console, video_screen):
    page = video_screen.page
    wait_playing_near(page, console.alert.first_ts - BEFORE_S + 20)
    # the 1 h timeline: one recorded span per segment, the alert marked
    spans = page.locator("#zw-pb-spans span")
    assert spans.count() == RECORDED_S // 10
    mark = page.locator(f"#zw-pb-marks .zw-pb-mark[data-alert-id='{console.alert.id}']")
    assert mark.count() == 1
    mark.click()
    page.wait_for_function("t => Math.abs(zhizhiPlayback.time() - t) < 2"
                           " && document.getElementById('zw-pb-video').readyState >= 2",
                           arg=console.alert.first_ts - BEFORE_S, timeout=30_000)
    # 24 h: the same recording, a longer axis
    page.click("#zw-playback [data-zoom='86400']")
    page.wait_for_selector("#zw-playback[data-zoom='86400']")
    assert page.evaluate("() => zhizhiPlayback.window[1] - zhizhiPlayback.window[0]") == pytest.approx(86400)
    assert page.locator("#zw-pb-axis span").count() >= 7
    page.click("#zw-playback [data-zoom='3600']")
    page.wait_for_selector("#zw-playback[data-zoom='3600']")
    assert page.locator("#zw-pb-spans span").count() == RECORDED_S // 10


def test_a_time_without_recording_says_so(console, video_screen):
    page = video_screen.page
    after = console.recorded_from + RECORDED_S + 5  # past the end of the recording
    page.evaluate(
        "t => import('/static/wall/playback.js').then(m => m.openPlayback({camera: zhizhiPlayback.camera, at: t}))",
        after)
    page.wait_for_selector("#zw-playback[data-state='none'] #zw-pb-none:not([hidden])")
    assert "无录像" in page.locator("#zw-pb-none").inner_text()


def test_screenshot(console, video_screen, tmp_path):
    """docs/screenshots/wall-playback.png (with ZHIZHI_UPDATE_SCREENSHOTS=1): the video screen playing
    a camera 30 s before its red alert, the 1 h timeline with the recorded span and the alert."""
    folder = DOCS_SCREENSHOTS if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1" else tmp_path
    page = video_screen.page
    page.evaluate("t => import('/static/wall/playback.js').then(m => m.openPlayback({camera: zhizhiPlayback.camera,"
                  " at: t}))", console.alert.first_ts - BEFORE_S)
    wait_playing_near(page, console.alert.first_ts - BEFORE_S)
    page.wait_for_function("t => zhizhiPlayback.time() > t + 2", arg=console.alert.first_ts - BEFORE_S)
    path = folder / "wall-playback.png"
    page.screenshot(path=str(path))
    from PIL import Image

    with Image.open(path) as shot:  # 256 colours: a screen of flat panels, a quarter of the bytes
        small = shot.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    small.save(path, optimize=True)
    assert 20_000 < path.stat().st_size < 200_000
