"""A wall screen paired once runs for good: the whole story in Debian's Chromium at 1920×1080,
against a real console under uvicorn on loopback (SQLite in a folder of its own).

- an unpaired screen opens /wall/pair (no login) and shows a six-character code, large;
- the admin types it on the walls page (/walls), choosing the wall's slot; the screen collects
  its device credential by itself and opens its slot's screen, in kiosk mode;
- the console stops: the screen shows the full-width "重新连接中…" banner; the console starts
  again on the same port and database (a new process for the browser) with its clock 13 hours
  on — past the login tokens' lifetime, shortened here to a minute, and their idle timeout: the
  admin's token is refused, the screen reconnects by itself and reloads into its screen, never
  the login page;
- the admin revokes the screen: its live link closes and it shows the pairing page (a new code),
  still never the login page.

With ZHIZHI_UPDATE_SCREENSHOTS=1 it saves docs/screenshots/wall-pairing.png (the code on the
screen), docs/screenshots/wall-admin.png (the walls page) and docs/screenshots/wall-reconnecting.png
(a kiosk board with the console away); a temporary folder otherwise.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.auth_support import PASSWORD
from tests.browser import WALL_VIEWPORT, login_answer, open_page, serve

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
ADMIN = "wall-admin"
#: The console's clock after the restart: beyond a 12 h shift, the token lifetime and idle timeout.
LATER_S = 13 * 3600
#: Waits for what the screen does by itself (reconnecting backs off up to 15 s).
SCREEN_MS = 60_000
#: The screen has loaded and its live link is up.
LIVE = "() => document.body.dataset.ready === 'true' && document.body.dataset.conn === 'live'"


def _settings(data_dir: Path):
    from zhizhi.console.settings import (
        AlertSettings,
        AuthSettings,
        DemoSettings,
        MapSettings,
        Settings,
        WarningSettings,
    )

    return Settings(
        data_dir=data_dir,
        demo=DemoSettings(seed=11, grids=24, towns=3, villages_per_town=2, cameras=4),
        map=MapSettings(),
        warning=WarningSettings(enabled=False),
        alerts=AlertSettings(check_interval_s=0),
        auth=AuthSettings(token_ttl_s=60, idle_timeout_s=60),
    )


@contextmanager
def _console(settings, port: int = 0, clock_ahead_s: float = 0.0):
    """The console of ``settings`` under uvicorn on ``port`` (0: a free one): (base URL, state)."""
    from zhizhi.console.app import create_app
    from zhizhi.console.runtime import Runtime

    with Runtime(settings) as runtime:
        state = runtime.state
        if clock_ahead_s:
            state.auth.clock = lambda: time.time() + clock_ahead_s
        if state.auth.get_user(ADMIN) is None:
            state.auth.add_user(ADMIN, "admin", state.jurisdictions.district_code, PASSWORD)
        with serve(create_app(settings, state=state), port=port) as base:
            yield base, state


def _shots(tmp_path: Path) -> Path:
    return DOCS_SCREENSHOTS if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1" else tmp_path


def test_a_paired_screen_survives_restart_and_token_expiry(browser, tmp_path):
    settings = _settings(tmp_path / "console")
    shots = _shots(tmp_path)
    screen_context = browser.new_context(viewport=WALL_VIEWPORT, device_scale_factor=1, locale="zh-CN",
                                         timezone_id="Asia/Shanghai")
    screen = screen_context.new_page()
    visited: list[str] = []
    problems: list[str] = []
    screen.on("framenavigated", lambda f: visited.append(f.url) if f == screen.main_frame else None)
    screen.on("pageerror", lambda e: problems.append(str(e)))

    with _console(settings) as (base, state):
        port = int(base.rsplit(":", 1)[1])
        admin = {"Authorization": f"Bearer {login_answer(base, ADMIN)['token']}"}
        wall = httpx.post(f"{base}/api/walls", headers=admin, trust_env=False, json={
            "name": "hall", "title": "区指挥大厅", "code": state.jurisdictions.district_code,
            "slots": [{"name": "board", "kind": "alerts", "title": "右屏", "kiosk": True},
                      {"name": "map", "kind": "map", "title": "左屏"}]}).json()

        # An unpaired screen: a code, large, no login.
        screen.goto(f"{base}/wall/pair")
        screen.wait_for_function("() => document.getElementById('zw-pair-code').dataset.code", timeout=SCREEN_MS)
        code = screen.eval_on_selector("#zw-pair-code", "el => el.dataset.code")
        assert len(code) == 6
        size = screen.eval_on_selector("#zw-pair-code", "el => parseFloat(getComputedStyle(el).fontSize)")
        assert size >= 120
        screen.screenshot(path=str(shots / "wall-pairing.png"))

        # The admin enters it on the walls page.
        page, _, admin_problems = open_page(browser, base, ADMIN, "/walls")
        page.wait_for_selector(f'#zwa-walls [data-wall="{wall["id"]}"][aria-current="true"]')
        page.fill("#zwa-pair-code", code.lower())
        page.select_option("#zwa-pair-slot", "board")
        page.fill("#zwa-pair-label", "指挥大厅右一")
        page.click("#zwa-pair-submit")
        page.wait_for_function("() => document.getElementById('zwa-pair-message').dataset.state === 'ok'")

        # The screen collects its credential and opens its slot, in kiosk mode.
        screen.wait_for_url("**/wall?screen=alerts&wall=hall&slot=board&kiosk=1", timeout=SCREEN_MS)
        screen.wait_for_function(LIVE, timeout=SCREEN_MS)
        assert screen.evaluate("() => document.body.classList.contains('zw-kiosk')")
        assert screen.is_hidden(".zw-screens") and screen.is_hidden("#zz-logout")
        held = screen.evaluate("() => JSON.parse(localStorage.getItem('zhizhi.device'))")
        assert held["wall"] == "hall" and held["slot"] == "board" and held["token"]
        assert screen.evaluate("() => sessionStorage.getItem('zhizhi.token')") is None  # no login at all
        # The cursor goes after 3 s without moving.
        screen.mouse.move(400, 400)
        screen.wait_for_function("() => document.body.classList.contains('zw-cursor-off')", timeout=SCREEN_MS)
        page.wait_for_selector("#zwa-device-rows .zwa-paired", timeout=SCREEN_MS)  # the walls page sees it
        page.screenshot(path=str(shots / "wall-admin.png"))
        page.context.close()
        assert admin_problems == []

    # The console is down: the banner says so, full width.
    screen.wait_for_selector("#zw-reconnecting", state="visible", timeout=SCREEN_MS)
    box = screen.eval_on_selector("#zw-reconnecting", "el => el.getBoundingClientRect().toJSON()")
    assert box["width"] >= WALL_VIEWPORT["width"] - 1 and "重新连接中" in screen.inner_text("#zw-reconnecting")
    screen.screenshot(path=str(shots / "wall-reconnecting.png"))

    with _console(settings, port=port, clock_ahead_s=LATER_S) as (base, state):
        # 13 hours on: a login token of before is refused, the screen's credential is not.
        assert httpx.get(f"{base}/api/auth/me", headers=admin, trust_env=False).status_code == 401
        screen.wait_for_function("() => document.body.dataset.conn === 'live'", timeout=SCREEN_MS)
        assert screen.is_hidden("#zw-reconnecting")
        screen.reload()
        screen.wait_for_function(LIVE, timeout=SCREEN_MS)
        assert "/wall?screen=alerts" in screen.url

        # Revoked on the walls page: the live link closes and the screen shows the pairing page.
        page, _, admin_problems = open_page(browser, base, ADMIN, "/walls")
        page.wait_for_selector("#zwa-device-rows [data-revoke]")
        assert page.inner_text("#zwa-device-rows").count("指挥大厅右一") == 1
        page.on("dialog", lambda dialog: dialog.accept())
        page.click("#zwa-device-rows [data-revoke]")
        page.wait_for_function("() => document.getElementById('zwa-pair-message').dataset.state === 'ok'")
        page.wait_for_function("() => document.getElementById('zwa-device-rows').textContent.includes('尚无配对屏幕')")
        assert admin_problems == []
        screen.wait_for_url("**/wall/pair", timeout=SCREEN_MS)
        screen.wait_for_function("() => document.getElementById('zw-pair-code').dataset.code", timeout=SCREEN_MS)
        assert screen.evaluate("() => localStorage.getItem('zhizhi.device')") is None

    assert not [u for u in visited if "/login" in u], visited
    assert problems == []
    screen_context.close()
