"""Standard operating procedures in Debian's Chromium against a real console on loopback.

The board of a town's wall shows the selected alert's checklist (the shipped procedure of its
rule kind); ticking a step records who and when and a second screen of the wall shows it; with a
required step unticked, "处置完毕 Resolve" asks for a note (and the console refuses without one);
with a note the alert is resolved and the district's board shows the notice of steps skipped.
The admin page edits a procedure and saves it as a new version, the old one kept. The board
with its checklist is saved as docs/screenshots/wall-alert-sop.png when
ZHIZHI_UPDATE_SCREENSHOTS=1 (a temporary folder otherwise).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.auth_support import PASSWORD, create_test_users
from tests.browser import login_answer, open_page, save_screenshot, serve
from tests.wall_support import board_console_settings, covered_spot, raise_alert

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
TOWN_SCREEN = "/wall?screen=alerts&wall=sop"
WAIT_MS = 15_000
ADMIN = "sop-browser-admin"


@dataclass
class Console:
    base: str
    state: object
    users: object
    spot: object


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    from zhizhi.console.app import create_app
    from zhizhi.console.state import open_console

    settings = board_console_settings(tmp_path_factory.mktemp("sop"))
    state = open_console(settings)
    users = create_test_users(state)
    state.auth.add_user(ADMIN, "admin", users.district_code, PASSWORD)
    spot = covered_spot(state, users.town_a, at_least=1)
    with serve(create_app(settings, state=state)) as base:
        yield Console(base=base, state=state, users=users, spot=spot)
    state.close()


def _board(browser, console, user: str, path: str = TOWN_SCREEN):
    watched = open_page(browser, console.base, user, path, expected_errors=("422",))
    watched.page.wait_for_function("() => document.body.dataset.wallReady === 'true'"
                                   " && zhizhiWall.link.state === 'live' && zhizhiWall.link.lastSeq !== null",
                                   timeout=30_000)
    return watched



def _step(n: int) -> str:
    return f"#zw-sop .zw-sop-step[data-step='{n}']"


def test_steps_are_ticked_with_who_and_when_and_gate_resolving(browser, console):
    users = console.users
    town = _board(browser, console, users.operator_a)
    other_screen = _board(browser, console, users.operator_a)  # a second screen of the town's wall
    district = _board(browser, console, users.district, "/wall?screen=alerts&wall=command")
    page = town.page
    try:
        alert = raise_alert(console.state, console.spot, track_id=41, severity="orange")
        assert alert.assignee_unit.startswith(users.town_a)
        row = f"#zw-list .zw-item[data-alert-id='{alert.id}']"
        page.wait_for_selector(row, timeout=WAIT_MS)
        page.click(row)  # the whole wall follows: the other screen shows it too
        for p in (page, other_screen.page):
            p.wait_for_selector(f"#zw-sop[data-alert-id='{alert.id}'] .zw-sop-step", timeout=WAIT_MS)
        assert page.locator("#zw-sop .zw-sop-step").count() == 5
        assert page.locator("#zw-sop").get_attribute("data-left") == "4"
        assert "危化品车辆异常停车处置规程" in page.inner_text("#zw-sop h3")
        assert "必做" in page.inner_text(_step(1)) and "选做" in page.inner_text(_step(4))

        # tick step 1: who and when here, and on the wall's other screen through the alert's update
        page.click(f"{_step(1)} .zw-sop-box")
        page.wait_for_selector(f"{_step(1)}[data-done='true']", timeout=WAIT_MS)
        assert users.operator_a in page.inner_text(f"{_step(1)} .zw-sop-who")
        other_screen.page.wait_for_selector(f"{_step(1)}[data-done='true']", timeout=WAIT_MS)
        assert users.operator_a in other_screen.page.inner_text(f"{_step(1)} .zw-sop-who")
        page.click(f"{_step(2)} .zw-sop-box")
        page.wait_for_selector("#zw-sop[data-left='2']", timeout=WAIT_MS)
        # ...and untick it again: step 2 is required and left undone
        page.click(f"{_step(2)} .zw-sop-box")
        page.wait_for_selector(f"{_step(2)}[data-done='false'] .zw-sop-who", timeout=WAIT_MS)
        page.wait_for_selector("#zw-sop[data-left='3']", timeout=WAIT_MS)
        stored = console.state.procedures.checklist(alert.id)
        assert [s.done for s in stored.steps] == [True, False, False, False, False]

        if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.locator("#zw-sop").scroll_into_view_if_needed()
            save_screenshot(page, DOCS_SCREENSHOTS / "wall-alert-sop.png")

        # resolving with required steps left asks for a note first; the console refuses without
        resolve = page.locator("#zw-d-buttons button[data-to='resolved']")
        assert "zw-needs-note" in (resolve.get_attribute("class") or "")
        resolve.click()
        page.wait_for_function("() => document.querySelector('#zw-action-msg').dataset.kind === 'error'",
                               timeout=WAIT_MS)
        assert "说明" in page.inner_text("#zw-action-msg")
        assert console.state.alerts.get(alert.id).status == "new"
        token = login_answer(console.base, users.operator_a)["token"]
        refused = httpx.post(f"{console.base}/api/alerts/{alert.id}/transition", json={"to": "resolved"},
                             headers={"Authorization": f"Bearer {token}"}, trust_env=False, timeout=30)
        assert refused.status_code == 422

        # with a note it resolves, and the district (the unit above) is told why
        page.fill("#zw-note", "车辆已驶离，驾驶员电话未接通")
        page.locator("#zw-d-buttons button[data-to='resolved']").click()
        page.wait_for_function(f"() => zhizhiWall.link.alerts.get('{alert.id}').status === 'resolved'",
                               timeout=WAIT_MS)
        notice = f"#zw-sop-notices .zw-sop-notice[data-alert-id='{alert.id}']"
        district.page.wait_for_selector(notice, timeout=WAIT_MS)
        text = district.page.inner_text(notice)
        assert "跳步办结" in text and "驾驶员电话未接通" in text and "2. 联系驾驶员" in text
        assert users.operator_a in text
        assert not page.locator("#zw-sop-notices .zw-sop-notice").count()  # the town itself is not notified
        history = console.state.alerts.history(alert.id)
        assert [h.action for h in history][-2:] == ["transition", "sop_skipped"]
        district.page.click(f"{notice} .zw-sop-notice-ok")
        district.page.wait_for_selector("#zw-sop-notices", state="hidden", timeout=WAIT_MS)
        for w in (town, other_screen, district):
            assert not w.problems, w.problems
    finally:
        for w in (town, other_screen, district):
            w.page.context.close()


def test_the_admin_page_saves_a_new_version_and_keeps_the_old(browser, console):
    watched = open_page(browser, console.base, ADMIN, "/procedures")
    page = watched.page
    try:
        page.click("#zp-categories li[data-category='speeding']")
        page.wait_for_selector("#zp-editor[data-category='speeding']", timeout=WAIT_MS)
        before = len(console.state.procedures.store.versions("speeding"))
        page.fill("#zp-steps .zp-step:nth-child(1) .zp-step-text", "核实车速与路段限速（以北斗数据为准）")
        page.click("#zp-add")
        page.fill("#zp-steps .zp-step:last-child .zp-step-text", "记录处置结果")
        page.fill("#zp-note", "增加记录步骤")
        page.click("#zp-save")
        page.wait_for_function("() => document.querySelector('#zp-state').dataset.kind === 'ok'", timeout=WAIT_MS)
        versions = console.state.procedures.store.versions("speeding")
        assert len(versions) == before + 1 and versions[0].author == ADMIN and versions[0].note == "增加记录步骤"
        assert versions[0].steps[0].text == "核实车速与路段限速（以北斗数据为准）"
        assert versions[0].steps[-1].text == "记录处置结果" and versions[1].steps == versions[-1].steps
        page.wait_for_selector(f"#zp-versions li[data-version='{versions[0].version}']", timeout=WAIT_MS)
        assert page.locator("#zp-versions > li").count() == before + 1
        assert not watched.problems, watched.problems
    finally:
        page.context.close()
    # a town operator reads the page but cannot save
    town = open_page(browser, console.base, console.users.operator_a, "/procedures")
    try:
        assert town.page.locator("#zp-save").is_disabled()
        assert town.page.locator("#zp-readonly").is_visible()
    finally:
        town.page.context.close()
