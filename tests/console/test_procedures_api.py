"""The procedures (SOP) API and the wall alarm's API on the session console (real SQLite and
PostgreSQL, FastAPI TestClient): versions saved by district admins only, each alert's checklist
ticked within the caller's jurisdiction, resolving gated by the required steps, and a wall's
silence shared by its screens and no other wall's.
"""

from __future__ import annotations

import itertools
import time

import pytest

from tests.auth_support import PASSWORD, bearer, login
from zhizhi.console.live.hub import wall_key
from zhizhi.models.warning.record import WarningEvent

CONSOLE_BACKENDS = ("sqlite", "postgresql")

_tracks = itertools.count(1)
ADMIN = "sop-admin"
TOWN_ADMIN = "sop-town-admin"


@pytest.fixture(scope="module")
def admins(client, console_state, test_users):
    state = console_state
    if state.auth.get_user(ADMIN) is None:
        state.auth.add_user(ADMIN, "admin", test_users.district_code, PASSWORD)
    if state.auth.get_user(TOWN_ADMIN) is None:
        state.auth.add_user(TOWN_ADMIN, "admin", test_users.town_a, PASSWORD)
    return {"district": bearer(login(client, ADMIN)), "town": bearer(login(client, TOWN_ADMIN))}


def _raise(state, town: str, rule: str = "abnormal_stop", severity: str = "orange"):
    grid = next(g for g in state.jurisdictions.grid_codes if g.startswith(town))
    lon, lat = state.jurisdictions.get(grid).anchor
    now, track = time.time(), next(_tracks)
    return state.alerts.ingest(WarningEvent(
        rule=rule, rule_id=f"sop-api-{track}", severity=severity, camera_id=f"CAM-SOP-{track}", track_id=track,
        cls="hazmat_tanker", lon=lon, lat=lat, first_ts=now - 30, last_ts=now,
    ))


def test_the_shipped_procedures_are_listed_for_every_reader(client, logins, test_users):
    listed = client.get("/api/procedures", headers=logins[test_users.operator_a])
    assert listed.status_code == 200
    by_kind = {p["category"]: p for p in listed.json()}
    for kind in ("abnormal_stop", "speeding", "signal_loss", "zone_entry"):
        assert by_kind[kind]["steps"] and by_kind[kind]["title"]
    versions = client.get("/api/procedures/abnormal_stop").json()
    assert versions[-1]["version"] == 1 and versions[-1]["author"] == "system"
    assert client.get("/api/procedures/no_such_kind").status_code == 404
    assert client.get("/api/procedures/Bad-Name").status_code == 422


def test_only_district_admins_save_and_every_save_is_a_version(client, logins, test_users, admins):
    body = {"title": "测试规程", "steps": [{"text": "第一步", "required": True}, {"text": "第二步", "required": False}],
            "note": "第一版"}
    url = "/api/procedures/sop_api_test"
    assert client.put(url, json=body, headers=logins[test_users.operator_a]).status_code == 403
    assert client.put(url, json=body).status_code == 403  # the district duty officer is no admin
    refused = client.put(url, json=body, headers=admins["town"])
    assert refused.status_code == 403 and "district-wide" in refused.json()["detail"]
    first = client.put(url, json=body, headers=admins["district"])
    assert first.status_code == 200, first.text
    second = client.put(url, json={**body, "steps": body["steps"][:1], "note": "精简"}, headers=admins["district"])
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    assert second.json()["author"] == ADMIN
    versions = client.get(url).json()
    assert [v["version"] for v in versions] == [2, 1] and len(versions[1]["steps"]) == 2
    for bad in ({**body, "steps": []}, {**body, "title": ""}, {**body, "extra": 1},
                {**body, "steps": [{"text": "", "required": True}]}):
        assert client.put(url, json=bad, headers=admins["district"]).status_code == 422
    assert [v["version"] for v in client.get(url).json()] == [2, 1]  # nothing stored by a refusal


def test_a_checklist_is_ticked_with_who_and_when_in_the_callers_jurisdiction(client, console_state, logins,
                                                                            test_users):
    alert = _raise(console_state, test_users.town_a)
    a, b = logins[test_users.operator_a], logins[test_users.operator_b]
    checklist = client.get(f"/api/alerts/{alert.id}/procedure", headers=a).json()
    assert checklist["version"] >= 1 and checklist["required_left"] == [1, 2, 3, 5]
    url = f"/api/alerts/{alert.id}/procedure/steps/2"
    assert client.post(url, json={"done": True}, headers=b).status_code == 404  # another town's alert
    assert client.get(f"/api/alerts/{alert.id}/procedure", headers=b).status_code == 404
    ticked = client.post(url, json={"done": True}, headers=a)
    assert ticked.status_code == 200, ticked.text
    step = ticked.json()["steps"][1]
    assert step["done"] and step["actor"] == test_users.operator_a and step["ts"] > 0
    assert ticked.json()["required_left"] == [1, 3, 5]
    assert client.post(f"/api/alerts/{alert.id}/procedure/steps/9", json={"done": True}, headers=a).status_code == 422
    assert client.post(url, json={"done": "maybe"}, headers=a).status_code == 422
    history = client.get(f"/api/alerts/{alert.id}", headers=a).json()["history"]
    assert [h["actor"] for h in history if h["action"] == "procedure"] == [test_users.operator_a]


def test_resolving_with_required_steps_unticked_needs_a_note_and_the_district_sees_why(client, console_state,
                                                                                     logins, test_users):
    alert = _raise(console_state, test_users.town_a)
    a = logins[test_users.operator_a]
    url = f"/api/alerts/{alert.id}/transition"
    refused = client.post(url, json={"to": "resolved"}, headers=a)
    assert refused.status_code == 422 and "1, 2, 3, 5" in refused.json()["detail"]
    assert console_state.alerts.get(alert.id).status == "new"
    done = client.post(url, json={"to": "resolved", "note": "车辆已驶离，司机电话未接通"}, headers=a)
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    history = client.get(f"/api/alerts/{alert.id}").json()["history"]  # the district's view
    skipped = [h for h in history if h["action"] == "sop_skipped"]
    assert len(skipped) == 1 and skipped[0]["unit"] == test_users.district_code
    assert "司机电话未接通" in skipped[0]["note"] and skipped[0]["actor"] == test_users.operator_a
    # resolved: its steps are no longer ticked
    assert client.post(f"/api/alerts/{alert.id}/procedure/steps/1", json={"done": True}, headers=a).status_code == 409


def test_a_walls_silence_is_shared_by_its_screens_and_no_other_wall(client, console_state, logins, test_users):
    a, b = logins[test_users.operator_a], logins[test_users.operator_b]
    fresh = client.get("/api/wall/alarm", params={"wall": "sop-test"}, headers=a).json()
    assert fresh["silenced_until"] is None and fresh["screens"] == ["alerts"]
    assert fresh["sounds"]["red"].endswith(".wav") and fresh["sounds"]["red"] != fresh["sounds"]["orange"]
    silenced = client.post("/api/wall/alarm/silence", json={"wall": "sop-test", "minutes": 10}, headers=a)
    assert silenced.status_code == 200, silenced.text
    until = silenced.json()["silenced_until"]
    assert 590 < until - time.time() <= 600 and silenced.json()["silenced_by"] == test_users.operator_a
    assert client.get("/api/wall/alarm", params={"wall": "sop-test"}, headers=a).json()["silenced_until"] == until
    # town B's wall of the same name, and another wall of town A, still ring
    assert client.get("/api/wall/alarm", params={"wall": "sop-test"}, headers=b).json()["silenced_until"] is None
    assert client.get("/api/wall/alarm", params={"wall": "other"}, headers=a).json()["silenced_until"] is None
    assert console_state.silences.get(wall_key(test_users.town_a, "sop-test"), now=time.time()) is not None
    ended = client.post("/api/wall/alarm/silence", json={"wall": "sop-test", "minutes": 0}, headers=a)
    assert ended.json()["silenced_until"] is None
    for bad in ({"wall": "", "minutes": 5}, {"wall": "x", "minutes": -1}, {"wall": "x", "minutes": 1000},
                {"wall": "x", "loud": True}):
        assert client.post("/api/wall/alarm/silence", json=bad, headers=a).status_code == 422
