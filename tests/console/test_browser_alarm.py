"""The wall's alarm in Debian's Chromium, launched as a kiosk is (``--autoplay-policy=
no-user-gesture-required``), against a real console on loopback.

Alerts enter through the real alert service; the board of a wall is open at 1920×1080 as the
district's duty officer. What is checked is what the room hears, read from the page's
``<audio>`` element: a new red alert plays the urgent sound (the element plays: not paused, its
time advancing) and keeps repeating; an acknowledgement by another user, over the API, stops it;
an orange alert plays the other sound; the wall's 静音 button stops it on every screen of the
wall (a second board of the same wall follows) and "恢复声音" lets it ring again. A browser
that refuses to play before a click shows "点击启用声音" and rings after that click.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pytest

from tests.auth_support import create_test_users
from tests.browser import CHROMIUM_ARGS, WALL_VIEWPORT, launch_chromium, log_in, login_answer, open_page, serve
from tests.wall_support import board_console_settings, covered_spot, raise_alert

pytestmark = pytest.mark.browser

SCREEN = "/wall?screen=alerts&wall=alarm"
REPEAT_S = 2.0
KIOSK_ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
WAIT_MS = 15_000
_tracks = iter(range(500, 10_000))


@dataclass
class Console:
    base: str
    state: object
    users: object
    spots: list


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    from zhizhi.console.app import create_app
    from zhizhi.console.settings import AlarmSettings
    from zhizhi.console.state import open_console

    settings = board_console_settings(tmp_path_factory.mktemp("alarm")).model_copy(
        update={"alarm": AlarmSettings(repeat_s=REPEAT_S, screens=["alerts", "map"])})
    state = open_console(settings)
    users = create_test_users(state)
    spots = [covered_spot(state, "", at_least=1)]
    with serve(create_app(settings, state=state)) as base:
        yield Console(base=base, state=state, users=users, spots=spots)
    state.close()


@pytest.fixture(scope="module")
def browser():
    """Chromium as the kiosk runs it: sound without a user gesture."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright, args=KIOSK_ARGS)
        yield chromium
        chromium.close()


def _board(browser, console, path: str = SCREEN):
    watched = open_page(browser, console.base, console.users.district, path)
    watched.page.wait_for_function(
        "() => document.body.dataset.wallReady === 'true' && zhizhiWall.link.state === 'live'"
        " && window.zhizhiAlarm && zhizhiWall.alarm", timeout=30_000)
    return watched


@pytest.fixture(scope="module")
def board(browser, console):
    watched = _board(browser, console)
    yield watched
    assert not watched.problems, f"errors on the board: {watched.problems}"
    watched.page.context.close()


def _raise(console, severity: str):
    return raise_alert(console.state, console.spots[0], track_id=next(_tracks), severity=severity,
                       rule_id=f"alarm-{severity}-{next(_tracks)}")


def _acknowledge(console, alert_id: str) -> None:
    token = login_answer(console.base, console.users.district)["token"]
    r = httpx.post(f"{console.base}/api/alerts/{alert_id}/transition", json={"to": "acknowledged"},
                   headers={"Authorization": f"Bearer {token}"}, trust_env=False, timeout=30)
    assert r.status_code == 200, r.text


def _plays(page) -> int:
    return page.evaluate("() => zhizhiAlarm.plays")


def _quiet_for(page, seconds: float) -> int:
    """The play count after ``seconds`` in which it must not grow (the sound stays off)."""
    before = _plays(page)
    time.sleep(seconds)
    assert _plays(page) == before, "the alarm played again"
    assert page.evaluate("() => zhizhiAlarm.audio.paused")
    return before


def test_a_new_red_alert_rings_until_someone_acknowledges_it(board, console):
    page = board.page
    assert _plays(page) == 0 and page.evaluate("() => zhizhiAlarm.audio.paused")  # nothing rings yet
    alert = _raise(console, "red")
    page.wait_for_function("() => zhizhiAlarm.plays >= 1", timeout=WAIT_MS)
    audio = page.evaluate("() => ({src: zhizhiAlarm.audio.src, sev: zhizhiAlarm.audio.dataset.severity})")
    assert audio["src"].endswith("/static/wall/sounds/alarm-red.wav") and audio["sev"] == "red"
    # the element really plays: not paused, its time advancing
    page.wait_for_function("() => !zhizhiAlarm.audio.paused && zhizhiAlarm.audio.currentTime > 0.3", timeout=WAIT_MS)
    assert page.locator("#zw-alarm").get_attribute("data-ringing") == "red"
    # ...and repeats every REPEAT_S while nobody acknowledges
    page.wait_for_function("() => zhizhiAlarm.plays >= 3", timeout=WAIT_MS)
    # another user acknowledges it (the update reaches the board on the websocket): silence
    _acknowledge(console, alert.id)
    page.wait_for_function("() => zhizhiAlarm.ringing.size === 0 && zhizhiAlarm.audio.paused", timeout=WAIT_MS)
    _quiet_for(page, REPEAT_S * 2)
    assert page.locator("#zw-alarm").get_attribute("data-ringing") == ""


def test_orange_plays_the_softer_sound_and_the_walls_silence_stops_every_screen(browser, board, console):
    page = board.page
    second = _board(browser, console)  # another screen of the same wall
    try:
        alert = _raise(console, "orange")
        for p in (page, second.page):
            p.wait_for_function("() => zhizhiAlarm.ringing.size === 1 && zhizhiAlarm.plays >= 1"
                                " && zhizhiAlarm.audio.dataset.severity === 'orange'", timeout=WAIT_MS)
            assert p.evaluate("() => zhizhiAlarm.audio.src").endswith("/static/wall/sounds/alarm-orange.wav")
        # 静音 on one screen silences the wall: both stop, both say so
        button = page.locator("#zw-alarm-silence")
        assert "静音" in button.inner_text()
        button.click()
        for p in (page, second.page):
            p.wait_for_function("() => document.querySelector('#zw-alarm').dataset.silenced === 'true'"
                                " && zhizhiAlarm.audio.paused", timeout=WAIT_MS)
        assert "已静音" in second.page.locator("#zw-alarm-silence").inner_text()
        _quiet_for(page, REPEAT_S * 2)
        assert page.evaluate("() => zhizhiAlarm.ringing.size") == 1  # still unacknowledged, just quiet
        # 恢复声音: it rings again until acknowledged
        before = _plays(second.page)
        second.page.click("#zw-alarm-silence")
        page.wait_for_function("() => document.querySelector('#zw-alarm').dataset.silenced === 'false'",
                               timeout=WAIT_MS)
        second.page.wait_for_function(f"() => zhizhiAlarm.plays > {before}", timeout=WAIT_MS)
        _acknowledge(console, alert.id)
        for p in (page, second.page):
            p.wait_for_function("() => zhizhiAlarm.ringing.size === 0 && zhizhiAlarm.audio.paused", timeout=WAIT_MS)
        assert not second.problems, second.problems
    finally:
        second.page.context.close()


def test_the_map_screen_rings_where_the_settings_say_and_an_upgrade_to_red_rings(browser, console):
    watched = open_page(browser, console.base, console.users.district, "/wall?screen=map&wall=alarm",
                        wait_ready=False)
    page = watched.page
    try:
        page.wait_for_function("() => document.body.dataset.wallReady === 'true' && window.zhizhiAlarm",
                               timeout=60_000)
        track, rule_id = next(_tracks), f"alarm-upgrade-{next(_tracks)}"
        alert = raise_alert(console.state, console.spots[0], track_id=track, severity="yellow", rule_id=rule_id)
        page.wait_for_function("id => zhizhiWall.link.alerts.has(id)", arg=alert.id, timeout=WAIT_MS)
        assert page.evaluate("() => zhizhiAlarm.ringing.size") == 0  # yellow does not ring
        upgraded = raise_alert(console.state, console.spots[0], track_id=track, severity="red", rule_id=rule_id)
        assert upgraded.id == alert.id and upgraded.severity == "red"
        page.wait_for_function("id => zhizhiAlarm.ringing.get(id) === 'red' && zhizhiAlarm.plays >= 1"
                               " && zhizhiAlarm.audio.dataset.severity === 'red'", arg=alert.id, timeout=WAIT_MS)
        _acknowledge(console, alert.id)
        page.wait_for_function("() => zhizhiAlarm.ringing.size === 0 && zhizhiAlarm.audio.paused", timeout=WAIT_MS)
        assert not watched.problems, watched.problems
    finally:
        page.context.close()


#: A browser that has not been clicked yet refuses play() as Chromium does on a page without a
#: user gesture (headless Chromium under Playwright counts the page as activated, so the refusal is
#: stood in for here): NotAllowedError until the first real click on the document.
REFUSE_UNTIL_CLICKED = """(() => {
  const play = HTMLMediaElement.prototype.play;
  let clicked = false;
  document.addEventListener("click", (e) => { if (e.isTrusted) clicked = true; }, true);
  HTMLMediaElement.prototype.play = function () {
    return clicked ? play.call(this)
      : Promise.reject(new DOMException("play() failed because the user didn't interact with the document first.",
                                        "NotAllowedError"));
  };
})();"""


def test_a_browser_that_blocks_sound_asks_for_a_click(browser, console):
    context = browser.new_context(viewport=WALL_VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        log_in(context, console.base, console.users.district)
        context.add_init_script(REFUSE_UNTIL_CLICKED)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{console.base}/wall?screen=alerts&wall=alarm-strict", wait_until="domcontentloaded")
        page.wait_for_function("() => window.zhizhiWall && zhizhiWall.link.state === 'live' && window.zhizhiAlarm",
                               timeout=30_000)
        alert = _raise(console, "red")
        page.wait_for_selector("#zw-alarm-enable:not([hidden])", timeout=WAIT_MS)
        assert "点击启用声音" in page.inner_text("#zw-alarm-enable") and _plays(page) == 0
        page.click("#zw-alarm-enable")  # a user gesture: the sound may play now
        page.wait_for_function("() => zhizhiAlarm.plays >= 1 && !zhizhiAlarm.blocked", timeout=WAIT_MS)
        page.wait_for_selector("#zw-alarm-enable", state="hidden", timeout=WAIT_MS)
        page.wait_for_function("() => zhizhiAlarm.plays >= 2", timeout=WAIT_MS)  # and it keeps repeating
        _acknowledge(console, alert.id)
        page.wait_for_function("() => zhizhiAlarm.ringing.size === 0", timeout=WAIT_MS)
        assert not problems, problems
    finally:
        context.close()


def test_the_sounds_are_the_scripts_own_and_small(tmp_path):
    """The shipped sounds are exactly what scripts/make_alarm_sounds.py writes (our own tones,
    regenerated byte for byte), short and small."""
    import subprocess
    import sys
    import wave
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, str(repo / "scripts" / "make_alarm_sounds.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    for name in ("alarm-red.wav", "alarm-orange.wav"):
        shipped = repo / "console" / "static" / "wall" / "sounds" / name
        assert shipped.read_bytes() == (tmp_path / name).read_bytes(), name
        assert shipped.stat().st_size < 100_000
        with wave.open(str(shipped)) as sound:
            assert sound.getnchannels() == 1 and 1.0 <= sound.getnframes() / sound.getframerate() <= 2.0
