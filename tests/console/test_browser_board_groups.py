"""The wall's alert board groups what belongs together and acts on a group at once (issue 17).

A console of its own (a small demo district in SQLite, the warning model off so that only the
alerts raised here exist) runs under uvicorn; alerts enter through the real alert service
(``state.alerts.ingest``) at places far enough apart that the service keeps them separate
(it folds one rule at one place into one alert), and Debian's Chromium opens the board at the
wall's size, 1920×1080, as the district's duty officer. What is checked is what the room sees:

- three alerts of one rule in one grid are one row with a "×3" badge, which opens on them;
- "acknowledge all" moves all three; "close all as false alarm" refuses without a note (in its
  dialog, and the console with 422) and closes all three with one;
- "close the others as duplicate" keeps the selected one open and closes the others as its
  duplicates;
- alerts of different rules inside one active incident are one group;
- a single alert's detail names its sources and what was folded into it, and closes as a false
  alarm only with a note;
- the "上周误报率 False alarms, last 7 days" panel names the rule and camera with its rate.

The last test saves docs/screenshots/alert-board-groups.png when ZHIZHI_UPDATE_SCREENSHOTS=1
(a temporary folder otherwise).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.auth_support import create_test_users
from tests.browser import login_answer, open_page, serve
from tests.wall_support import board_console_settings

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
SCREEN = "/wall?screen=alerts&wall=groups"
#: An alert raised on the console must be on the board within this.
ARRIVAL_MS = 8000
#: Alerts of one group stand this far apart: beyond the service's "same place" (50 m for a stop).
APART_M = 150.0


@dataclass
class Console:
    base: str
    state: object
    users: object
    token: str
    camera: str  # the camera the grouped alerts are seen by
    other_camera: str
    grid: str  # a grid with room for several alerts APART_M apart
    points: list  # such places in it, (lon, lat)
    other_points: list  # places in another grid
    alerts: dict = field(default_factory=dict)


def _metres(a, b) -> float:
    dx = (a[0] - b[0]) * 111_320.0 * math.cos(math.radians(a[1]))
    dy = (a[1] - b[1]) * 111_320.0
    return math.hypot(dx, dy)


def _places(state, grid: str, n: int) -> list[tuple[float, float]]:
    """``n`` points of ``grid``, each APART_M or more from the others (a lattice, greedily)."""
    import shapely

    area = state.jurisdictions.get(grid).geometry
    inner = area.buffer(-0.0005)  # not on an edge (about 50 m)
    minx, miny, maxx, maxy = area.bounds
    chosen: list[tuple[float, float]] = []
    steps = 24
    for i in range(1, steps):
        for j in range(1, steps):
            p = (minx + (maxx - minx) * i / steps, miny + (maxy - miny) * j / steps)
            if not shapely.contains_xy(inner, *p):
                continue
            if all(_metres(p, q) >= APART_M for q in chosen):
                chosen.append(p)
                if len(chosen) == n:
                    return chosen
    return chosen


def _grids_with_room(state, n: int) -> list[tuple[str, list]]:
    """Grids (the largest first) with ``n`` places APART_M apart."""
    grids = sorted((u for u in state.jurisdictions.units() if u.code in set(state.jurisdictions.grid_codes)),
                   key=lambda u: -u.geometry.area)
    out = []
    for unit in grids[:6]:
        places = _places(state, unit.code, n)
        if len(places) == n:
            out.append((unit.code, places))
    return out


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    from zhizhi.console.app import create_app
    from zhizhi.console.state import open_console

    settings = board_console_settings(tmp_path_factory.mktemp("board-groups"))
    state = open_console(settings)
    users = create_test_users(state)
    roomy = _grids_with_room(state, 6)
    assert len(roomy) >= 2, "the demo district has no two grids with room for six separate alerts"
    (grid, points), (_, other_points) = roomy[:2]
    cameras = [c.id for c in state.cameras.cameras]
    with serve(create_app(settings, state=state)) as base:
        token = login_answer(base, users.district)["token"]
        yield Console(base=base, state=state, users=users, token=token, camera=cameras[0],
                      other_camera=cameras[1 % len(cameras)], grid=grid, points=points,
                      other_points=other_points)
    state.close()


@pytest.fixture(scope="module")
def board(browser, console):
    watched = open_page(browser, console.base, console.users.district, SCREEN)
    page = watched.page
    page.wait_for_function("() => document.body.dataset.wallReady === 'true' && zhizhiWall.link.state === 'live'"
                           " && zhizhiWall.link.lastSeq !== null", timeout=30_000)
    yield watched
    assert not watched.problems, f"errors on the board: {watched.problems}"
    page.context.close()


# --------------------------------------------------------------------------------- helpers


def raise_at(console, point, *, track_id: int, rule: str = "abnormal_stop", rule_id: str = "hazmat-stop",
             severity: str = "orange", camera: str | None = None, cls: str = "hazmat_tanker",
             source: str = "video", details: dict | None = None, age_s: float = 90.0):
    """A real alert through the alert service, at ``point``."""
    from zhizhi.models.warning.record import WarningEvent

    camera = console.camera if camera is None else camera
    now = time.time()
    warning = WarningEvent(rule=rule, rule_id=rule_id, severity=severity, source=source,
                           camera_id=camera if source == "video" else None,
                           cameras=[camera] if source == "video" else [], track_id=track_id, cls=cls,
                           lon=point[0], lat=point[1], first_ts=now - age_s, last_ts=now,
                           details=details or {"stopped_s": age_s})
    alert = console.state.alerts.ingest(warning)
    assert alert is not None, "the alert service did not raise the alert"
    return alert


def headers(console) -> dict:
    return {"Authorization": f"Bearer {console.token}"}


def api_alert(console, alert_id: str) -> dict:
    r = httpx.get(f"{console.base}/api/alerts/{alert_id}", headers=headers(console), trust_env=False, timeout=30)
    r.raise_for_status()
    return r.json()


def group_of(alert_id: str) -> str:
    """The board's group row holding ``alert_id``."""
    return f"#zw-list li.zw-group:has(.zw-item[data-alert-id='{alert_id}'])"


def wait_group(page, ids: list[str]) -> str:
    """Wait until ``ids`` are one group on the board; its row's selector (by its key)."""
    page.wait_for_function(
        "ids => zhizhiWall.groups.some(g => ids.every(id => g.ids.includes(id)) && g.ids.length === ids.length)",
        arg=ids, timeout=ARRIVAL_MS)
    key = page.evaluate("ids => zhizhiWall.groups.find(g => ids.every(id => g.ids.includes(id))).key", ids)
    return f"#zw-list li.zw-group[data-group-key=\"{key}\"]"


def open_group(page, row: str) -> None:
    if page.locator(row).get_attribute("data-expanded") != "true":
        page.click(f"{row} .zw-group-count")
    page.wait_for_selector(f"{row}[data-expanded='true'] .zw-group-body:not([hidden])")


def statuses(page, ids: list[str]) -> list[str]:
    return page.evaluate("ids => ids.map(id => zhizhiWall.link.alerts.get(id)?.status)", ids)


# ----------------------------------------------------------------------------------- tests


def test_the_bulk_api_is_there(console):
    """The board's contract: POST /api/alerts/bulk and GET /api/alerts/false-alarm-rates."""
    r = httpx.get(f"{console.base}/api/alerts/false-alarm-rates", params={"days": 7}, headers=headers(console),
                  trust_env=False)
    assert r.status_code == 200, r.text
    assert isinstance(r.json(), list)
    r = httpx.post(f"{console.base}/api/alerts/bulk", json={"ids": [], "action": "acknowledge"},
                   headers=headers(console), trust_env=False)
    assert r.status_code in (200, 422), r.text


def test_three_alerts_of_one_rule_and_grid_are_one_row(console, board):
    page = board.page
    alerts = [raise_at(console, console.points[k], track_id=11 + k) for k in range(3)]
    ids = [a.id for a in alerts]
    assert len(set(ids)) == 3, "the alert service folded places 150 m apart into one alert"
    assert {a.grid for a in alerts} == {console.grid}
    single = raise_at(console, console.other_points[0], track_id=21)  # another grid: its own row
    console.alerts["three"] = ids
    console.alerts["single"] = single.id
    row = wait_group(page, ids)
    page.wait_for_selector(f"#zw-list > li.zw-item[data-alert-id='{single.id}']")
    assert page.locator("#zw-list li.zw-group").count() == 1
    badge = page.locator(f"{row} .zw-group-count")
    assert badge.inner_text().startswith("×3"), badge.inner_text()
    assert page.locator(row).get_attribute("data-kind") == "place"
    assert "同一规则、同一网格" in page.locator(f"{row} .zw-group-why").inner_text()
    # Closed, the group is its first row; the others are behind the badge.
    lead = page.locator(row).get_attribute("data-lead")
    assert lead == ids[0]  # same severity: the earliest is the original
    assert page.locator(f"{row} .zw-group-members .zw-item:visible").count() == 0
    open_group(page, row)
    assert page.locator(f"{row} .zw-group-members .zw-item:visible").count() == 2
    bulk = {b: page.locator(f"{row} button[data-bulk='{b}']").get_attribute("data-n")
            for b in ("acknowledge", "close_duplicate", "close_false_alarm")}
    assert bulk == {"acknowledge": "3", "close_duplicate": "2", "close_false_alarm": "3"}, bulk
    # The badge closes it again.
    page.click(f"{row} .zw-group-count")
    page.wait_for_selector(f"{row}[data-expanded='false']")


def test_acknowledge_all_moves_all_three(console, board):
    page = board.page
    ids = console.alerts["three"]
    row = wait_group(page, ids)
    open_group(page, row)
    page.click(f"{row} button[data-bulk='acknowledge']")
    page.wait_for_function("ids => ids.every(id => zhizhiWall.link.alerts.get(id)?.status === 'acknowledged')",
                           arg=ids, timeout=ARRIVAL_MS)
    page.wait_for_function("() => document.getElementById('zw-bulk-msg').dataset.kind === 'ok'")
    assert "3" in page.locator("#zw-bulk-msg").inner_text()
    assert [api_alert(console, i)["status"] for i in ids] == ["acknowledged"] * 3
    for i in ids:  # each one's history says who acknowledged it
        history = api_alert(console, i)["history"]
        assert any(h.get("to_status") == "acknowledged" and h["actor"] == console.users.district for h in history)
    # Still one group; nothing left to acknowledge.
    row = wait_group(page, ids)
    page.wait_for_selector(f"{row} button[data-bulk='acknowledge'][data-n='0']:disabled")


def test_close_as_false_alarm_needs_a_note(console, board):
    page = board.page
    ids = console.alerts["three"]
    # The console refuses a false-alarm close without a note.
    r = httpx.post(f"{console.base}/api/alerts/bulk", json={"ids": ids, "action": "close_false_alarm", "note": " "},
                   headers=headers(console), trust_env=False)
    assert r.status_code == 422, r.text
    row = wait_group(page, ids)
    open_group(page, row)
    page.click(f"{row} button[data-bulk='close_false_alarm']")
    dialog = page.locator("#zw-bulk-dialog")
    dialog.wait_for(state="visible")
    assert dialog.get_attribute("data-required") == "true"
    assert "3" in page.locator("#zw-bulk-summary").inner_text()
    # Without a note: refused in the dialog, nothing sent, nothing closed.
    sent = len([u for u in board.requests if "/api/alerts/bulk" in u])
    page.click("#zw-bulk-confirm")
    page.wait_for_function("() => document.getElementById('zw-bulk-dialog').dataset.refused === '1'")
    assert "必须填写" in page.locator("#zw-bulk-error").inner_text()
    assert dialog.is_visible()
    page.wait_for_timeout(300)
    assert len([u for u in board.requests if "/api/alerts/bulk" in u]) == sent
    assert statuses(page, ids) == ["acknowledged"] * 3
    # With one: all three closed as false alarms.
    page.fill("#zw-bulk-note", "施工车辆临时停靠，非危化品车辆 road works truck, not a tanker")
    page.click("#zw-bulk-confirm")
    dialog.wait_for(state="hidden")
    page.wait_for_function("ids => ids.every(id => zhizhiWall.link.alerts.get(id)?.status === 'closed')",
                           arg=ids, timeout=ARRIVAL_MS)
    for i in ids:
        stored = api_alert(console, i)
        assert stored["status"] == "closed" and stored["verdict"] == "false_alarm", stored
        assert any("施工车辆" in (h.get("note") or "") for h in stored["history"])
    # Closed, they leave the group: three closed rows marked 误报.
    page.wait_for_function("ids => !zhizhiWall.groups.some(g => ids.some(id => g.ids.includes(id)))", arg=ids)
    for i in ids:
        item = page.locator(f"#zw-list > li.zw-item[data-alert-id='{i}']")
        assert item.get_attribute("data-verdict") == "false_alarm"
        assert "误报" in item.locator(".zw-verdict").inner_text()


def test_the_false_alarm_panel_shows_the_rule_and_camera(console, board):
    page = board.page
    # The three false alarms of the last test: the board reads the rates again shortly after.
    row = f"#zw-fa li.zw-fa-row[data-rule='abnormal_stop'][data-camera-id='{console.camera}']"
    page.wait_for_selector(row, timeout=ARRIVAL_MS)
    rates = httpx.get(f"{console.base}/api/alerts/false-alarm-rates", params={"days": 7}, headers=headers(console),
                      trust_env=False).json()
    mine = next(r for r in rates if r["rule"] == "abnormal_stop" and r["camera_id"] == console.camera)
    assert mine["false_alarms"] == 3 and mine["alerts"] >= 3, mine
    text = page.locator(row).inner_text()
    assert "危化品异常停车" in text
    assert f"{round(100 * mine['rate'])}%" in text
    assert f"3/{mine['alerts']}" in text
    name = next(c.name for c in console.state.cameras.cameras if c.id == console.camera)
    assert name in text
    assert page.locator(row).first.get_attribute("data-rate") == str(mine["rate"]) or math.isclose(
        float(page.locator(row).get_attribute("data-rate")), mine["rate"])
    # The highest rate first, at most eight rows.
    shown = page.evaluate("[...document.querySelectorAll('#zw-fa li.zw-fa-row')].map(li => Number(li.dataset.rate))")
    assert shown == sorted(shown, reverse=True) and 1 <= len(shown) <= 8, shown


def test_close_the_others_as_duplicate_of_the_selected(console, board):
    page = board.page
    alerts = [raise_at(console, console.other_points[1 + k], track_id=31 + k, rule="crowd", rule_id="crowd",
                       severity="blue", cls="person", camera=console.other_camera) for k in range(3)]
    ids = [a.id for a in alerts]
    row = wait_group(page, ids)
    keep = ids[1]
    open_group(page, row)
    page.click(f"#zw-list .zw-item[data-alert-id='{keep}']")
    page.wait_for_function("id => document.getElementById('zw-detail').dataset.alertId === id", arg=keep)
    row = wait_group(page, ids)
    assert page.locator(f"{row} .zw-bulk-keep").get_attribute("data-keep") == keep
    page.click(f"{row} button[data-bulk='close_duplicate']")
    page.locator("#zw-bulk-dialog").wait_for(state="visible")
    assert page.locator("#zw-bulk-dialog").get_attribute("data-required") == "false"
    assert keep in page.locator("#zw-bulk-summary").inner_text()
    page.click("#zw-bulk-confirm")  # the note is optional: the board says whose duplicates they are
    others = [i for i in ids if i != keep]
    page.wait_for_function("ids => ids.every(id => zhizhiWall.link.alerts.get(id)?.status === 'closed')",
                           arg=others, timeout=ARRIVAL_MS)
    for i in others:
        stored = api_alert(console, i)
        assert stored["verdict"] == "duplicate" and stored["duplicate_of"] == keep, stored
    assert api_alert(console, keep)["status"] == "new"
    page.wait_for_function("ids => !zhizhiWall.groups.some(g => ids.some(id => g.ids.includes(id)))", arg=ids)
    assert page.locator(f"#zw-list > li.zw-item[data-alert-id='{keep}']").get_attribute("data-status") == "new"
    console.alerts["kept"] = keep


def test_alerts_inside_one_incident_are_one_group(console, board):
    page = board.page
    centre = console.points[3]
    spec = {"type": "fire", "title": "仓库火情 warehouse fire", "area": {"point": list(centre), "radius_m": 400}}
    r = httpx.post(f"{console.base}/api/incidents", json=spec, headers=headers(console), trust_env=False)
    assert r.status_code == 201, r.text
    incident = r.json()
    page.wait_for_function("id => zhizhiWall.link.incidents.has(id)", arg=incident["id"], timeout=ARRIVAL_MS)
    # Two rules at two places near the fire: not the same rule, but the same incident.
    near = [p for p in console.points[3:] if _metres(p, centre) < 300][:2]
    if len(near) < 2:
        near = [centre, (centre[0] + 0.0015, centre[1])]
    a = raise_at(console, near[0], track_id=41, rule="crowd", rule_id="crowd", severity="yellow", cls="person")
    b = raise_at(console, near[1], track_id=42, rule="abnormal_stop", rule_id="hazmat-stop", severity="red")
    row = wait_group(page, [a.id, b.id])
    assert page.locator(row).get_attribute("data-kind") == "incident"
    assert page.locator(row).get_attribute("data-lead") == b.id  # red first
    why = page.locator(f"{row} .zw-group-why").inner_text()
    assert "同一事件" in why and "仓库火情" in why
    # Closed, the incident no longer holds them together.
    r = httpx.post(f"{console.base}/api/incidents/{incident['id']}/close", json={"note": "明火已扑灭 out"},
                   headers=headers(console), trust_env=False)
    assert r.status_code == 200, r.text
    page.wait_for_function("ids => !zhizhiWall.groups.some(g => ids.every(id => g.ids.includes(id)))",
                           arg=[a.id, b.id], timeout=ARRIVAL_MS)
    for alert in (a, b):
        r = httpx.post(f"{console.base}/api/alerts/{alert.id}/transition", json={"to": "resolved", "note": "处置完毕"},
                       headers=headers(console), trust_env=False)
        assert r.status_code == 200, r.text


def test_the_detail_names_sources_and_closes_a_false_alarm_with_a_note(console, board):
    page = board.page
    alert_id = console.alerts["single"]
    page.click(f"#zw-list .zw-item[data-alert-id='{alert_id}']")
    page.wait_for_function("id => document.getElementById('zw-detail').dataset.alertId === id", arg=alert_id)
    facts = page.locator("#zw-d-facts")
    assert facts.locator("[data-field=sources]").inner_text() == "视频"  # Chinese first: no gloss by default
    assert facts.locator("[data-field=tracks]").inner_text() == "1"
    assert facts.locator("[data-field=cameras]").inner_text() == "1"
    button = page.locator("#zw-d-buttons button[data-verdict='false_alarm']")
    assert "误报关闭" in button.inner_text()
    page.fill("#zw-note", "")
    button.click()
    page.wait_for_function("() => document.getElementById('zw-action-msg').dataset.kind === 'error'")
    assert api_alert(console, alert_id)["status"] == "new"
    page.fill("#zw-note", "树影晃动 shadows of trees")
    page.locator("#zw-d-buttons button[data-verdict='false_alarm']").click()
    page.wait_for_function("() => document.getElementById('zw-action-msg').dataset.kind === 'ok'", timeout=ARRIVAL_MS)
    stored = api_alert(console, alert_id)
    assert stored["status"] == "closed" and stored["verdict"] == "false_alarm", stored
    page.wait_for_function("() => document.querySelector('#zw-d-facts [data-field=verdict]')")
    assert "误报" in page.locator("#zw-d-facts [data-field=verdict]").inner_text()


def test_an_analyst_is_offered_no_bulk_actions(browser, console):
    """Without alerts.act (an analyst) the group opens on its alerts, without the buttons; the
    console answers 403."""
    from tests.auth_support import PASSWORD

    state = console.state
    if state.auth.get_user("analyst-groups") is None:
        state.auth.add_user("analyst-groups", "analyst", state.jurisdictions.district_code, PASSWORD)
    # Two more crowds beside the one kept open: a group of three (left open for the screenshot).
    more = [raise_at(console, console.other_points[4 + k], track_id=51 + k, rule="crowd", rule_id="crowd",
                     severity="blue", cls="person", camera=console.other_camera) for k in range(2)]
    ids = [console.alerts["kept"], *(a.id for a in more)]
    watched = open_page(browser, console.base, "analyst-groups", SCREEN)
    page = watched.page
    try:
        page.wait_for_function("() => zhizhiWall.mayAct === false", timeout=ARRIVAL_MS)
        row = wait_group(page, ids)
        open_group(page, row)
        assert page.locator(f"{row} .zw-group-members .zw-item:visible").count() == 2
        assert page.locator(f"{row} button[data-bulk]").count() == 0
        token = login_answer(console.base, "analyst-groups")["token"]
        r = httpx.post(f"{console.base}/api/alerts/bulk", json={"ids": ids, "action": "acknowledge"},
                       headers={"Authorization": f"Bearer {token}"}, trust_env=False)
        assert r.status_code == 403, r.text
        assert not watched.problems, watched.problems
    finally:
        page.context.close()


def test_screenshot(console, board, tmp_path):
    """docs/screenshots/alert-board-groups.png (with ZHIZHI_UPDATE_SCREENSHOTS=1): a group of
    three opened, one of its members selected, and last week's false-alarm rates."""
    folder = DOCS_SCREENSHOTS if os.environ.get("ZHIZHI_UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page = board.page
    # A week's worth of verdicts on more rules and cameras, for the panel.
    history = [("speeding", "speeding", console.other_camera, 4, 1), ("wrong_way", "wrong-way", console.camera, 5, 2),
               ("zone_entry", "zone-school", console.other_camera, 3, 0)]
    track = 600
    for rule, rule_id, camera, n, false_alarms in history:
        for k in range(n):
            track += 1
            p = console.other_points[(track % 5) + 1]
            p = (p[0] + 0.004 * (k + 1), p[1] + 0.003 * (k % 3))  # apart: each its own alert
            a = raise_at(console, p, track_id=track, rule=rule, rule_id=rule_id, camera=camera,
                         severity="yellow", cls="car")
            body = ({"to": "closed", "verdict": "false_alarm", "note": "误检 misdetection"} if k < false_alarms
                    else {"to": "resolved", "note": "已处置 handled"})
            r = httpx.post(f"{console.base}/api/alerts/{a.id}/transition", json=body, headers=headers(console),
                           trust_env=False)
            assert r.status_code == 200, r.text
    # A group of three: a tanker stopped where it must not, seen by a camera and by BeiDou.
    vehicle = {"vehicle_id": "HZ-0417", "plate": "苏F·D0417", "company": "南通港危运有限公司",
               "un_number": "1203", "hazard_class": "3"}
    lead = raise_at(console, console.points[0], track_id=71, severity="red", details={**vehicle, "stopped_s": 420},
                    age_s=420)
    raise_at(console, console.points[0], track_id=None, source="telemetry", severity="red",
             details={**vehicle, "stopped_s": 400}, age_s=400)
    second = raise_at(console, console.points[1], track_id=72, severity="orange", age_s=200)
    third = raise_at(console, console.points[2], track_id=73, severity="orange", age_s=60)
    row = wait_group(page, [lead.id, second.id, third.id])
    open_group(page, row)
    page.click(f"{row} .zw-group-lead")
    page.wait_for_function("id => document.getElementById('zw-detail').dataset.alertId === id", arg=lead.id)
    page.evaluate("zhizhiWall.falseAlarms.refresh()")
    page.wait_for_function("() => document.querySelectorAll('#zw-fa li.zw-fa-row').length >= 3", timeout=ARRIVAL_MS)
    page.wait_for_function("() => document.querySelectorAll('#zw-timeline li').length >= 1", timeout=ARRIVAL_MS)
    page.evaluate("document.getElementById('zw-bulk-msg').hidden = true")  # an earlier test's result
    page.mouse.move(1915, 1075)
    page.wait_for_timeout(4000)  # new rows flash for 3.6 s
    path = folder / "alert-board-groups.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 30_000
