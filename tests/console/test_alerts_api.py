"""The alerts and events REST contract on the demo console (real SQLite, FastAPI TestClient).

The console is the session's shared one, so every test makes its own alerts (unique keys) and
asserts on those only. `client` is logged in as the district duty officer; a town or village
acts through its operator's login (tests/auth_support.py).
"""

from __future__ import annotations

import itertools
import json
import time

import pytest
from pydantic import ValidationError

from zhizhi.bus import Topic
from zhizhi.console.settings import Settings
from zhizhi.gis.crs import wgs84_to_gcj02
from zhizhi.layers.ids import new_alert_id
from zhizhi.models.warning.record import WarningEvent

#: The session console's tests of this module run on SQLite and on PostgreSQL (tests/conftest.py).
CONSOLE_BACKENDS = ("sqlite", "postgresql")

_tracks = itertools.count(1)


@pytest.fixture(scope="module")
def towns(console_state):
    j = console_state.jurisdictions
    a, b = (t.code for t in j.children(j.district_code)[:2])
    grid_a = next(g for g in j.grid_codes if g.startswith(a))
    grid_b = next(g for g in j.grid_codes if g.startswith(b))
    return {"a": a, "b": b, "grid_a": str(grid_a), "grid_b": str(grid_b), "district": j.district_code}


def _raise(state, grid: str, severity: str = "yellow"):
    """A fresh machine alert at a grid's anchor (a rule instance of its own: alerts of one rule at
    one place would be one alert)."""
    lon, lat = state.jurisdictions.get(grid).anchor
    now = time.time()
    track = next(_tracks)
    w = WarningEvent(
        rule="abnormal_stop", rule_id=f"hazmat-stop-{track}", severity=severity, camera_id=f"CAM-{new_alert_id()}",
        track_id=track, cls="hazmat_tanker", lon=lon, lat=lat, first_ts=now - 30, last_ts=now,
    )
    return state.alerts.ingest(w)


@pytest.fixture(scope="module")
def as_unit(logins, test_users):
    """The Authorization header of the operator of a unit (the test users' units only)."""
    users = {
        test_users.district_code: test_users.district,
        test_users.town_a: test_users.operator_a,
        test_users.town_b: test_users.operator_b,
        test_users.village_a: test_users.operator_village_a,
    }
    return lambda code: logins[users[code]]


# --- alerts ---------------------------------------------------------------------------------


def test_list_and_read_with_history(client, console_state, towns):
    alert = _raise(console_state, towns["grid_a"])
    listed = client.get("/api/alerts").json()
    mine = next(a for a in listed if a["id"] == alert.id)
    assert mine["type"] == "alert" and mine["grid"] == towns["grid_a"] and mine["status"] == "new"
    assert {"grid", "village", "town", "district", "evidence", "assignee_unit", "deadline_ts"} <= set(mine)
    body = client.get(f"/api/alerts/{alert.id}").json()
    assert body["id"] == alert.id and body["assignee_unit"] == towns["grid_a"][:12]
    assert [h["action"] for h in body["history"]] == ["create"]
    assert client.get("/api/alerts/zzzzzzzzzzzz").status_code == 404
    assert client.get("/api/alerts/..%2F..%2Fetc").status_code == 404


def test_transition_contract(client, console_state, towns, as_unit, test_users):
    alert = _raise(console_state, towns["grid_a"])
    url = f"/api/alerts/{alert.id}/transition"
    done = client.post(url, json={"to": "acknowledged", "note": "seen on the wall"}, headers=as_unit(towns["a"]))
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"
    illegal = client.post(url, json={"to": "new"}, headers=as_unit(towns["a"]))
    assert illegal.status_code == 409
    assert illegal.json()["from"] == "acknowledged" and illegal.json()["to"] == "new"
    assert illegal.json()["allowed"] == ["dispatched", "on_scene", "resolved", "closed"]
    assert "allowed" in illegal.json()["detail"]
    needs_note = client.post(url, json={"to": "closed"}, headers=as_unit(towns["a"]))
    assert needs_note.status_code == 422 and "needs a note" in needs_note.json()["detail"]
    unknown = client.post(url, json={"to": "archived"})
    assert unknown.status_code == 422 and "acknowledged" in json.dumps(unknown.json())
    assert client.post(url, json={"note": "x"}).status_code == 422
    assert client.post(url, json={"to": "dispatched", "extra": 1}).status_code == 422
    assert client.post(url, json={"to": "dispatched", "note": "x" * 2001}).status_code == 422
    assert client.post("/api/alerts/zzzzzzzzzzzz/transition", json={"to": "acknowledged"}).status_code == 404
    history = client.get(f"/api/alerts/{alert.id}").json()["history"]
    assert [(h["action"], h["actor"], h["to_status"], h["note"]) for h in history[1:]] == [
        ("transition", test_users.operator_a, "acknowledged", "seen on the wall")
    ]


def test_the_lifecycle_is_served_to_every_logged_in_user(client, towns, as_unit):
    """GET /api/alerts/lifecycle is alerts/lifecycle.py's table (the board offers its moves):
    the same answer for the district and a town, none without a login."""
    from zhizhi.alerts.lifecycle import NOTE_REQUIRED, TRANSITIONS
    from zhizhi.alerts.record import OPEN_STATUSES, AlertStatus

    answer = client.get("/api/alerts/lifecycle")
    assert answer.status_code == 200, answer.text
    table = answer.json()
    assert table["statuses"] == [s.value for s in AlertStatus]
    assert table["open"] == [s.value for s in OPEN_STATUSES]
    assert table["transitions"] == {s.value: [t.value for t in targets] for s, targets in TRANSITIONS.items()}
    assert {tuple(move) for move in table["note_required"]} == {(a.value, b.value) for a, b in NOTE_REQUIRED}
    assert client.get("/api/alerts/lifecycle", headers=as_unit(towns["a"])).json() == table
    assert client.get("/api/alerts/lifecycle", headers={"Authorization": "Bearer not-a-token"}).status_code == 401


def test_escalate_and_hand_down(client, console_state, towns, as_unit, test_users):
    alert = _raise(console_state, towns["grid_a"], severity="blue")
    village = towns["grid_a"][:12]
    up = client.post(f"/api/alerts/{alert.id}/escalate", json={"note": "needs enforcement"}, headers=as_unit(village))
    assert up.status_code == 200 and up.json()["assignee_unit"] == towns["a"]
    refused = client.post(f"/api/alerts/{alert.id}/escalate", json={}, headers=as_unit(village))
    assert refused.status_code == 403 and "assigned to" in refused.json()["detail"]
    top = client.post(f"/api/alerts/{alert.id}/escalate", json={}, headers=as_unit(towns["a"]))
    assert top.json()["assignee_unit"] == towns["district"]
    at_top = client.post(f"/api/alerts/{alert.id}/escalate", json={})
    assert at_top.status_code == 409 and "already with the district" in at_top.json()["detail"]
    bad = client.post(f"/api/alerts/{alert.id}/hand_down", json={"unit": towns["b"]})
    assert bad.status_code == 422 and "does not contain" in bad.json()["detail"]
    assert client.post(f"/api/alerts/{alert.id}/hand_down", json={"unit": "12"}).status_code == 422
    down = client.post(f"/api/alerts/{alert.id}/hand_down", json={"unit": towns["grid_a"], "note": "grid worker"})
    assert down.status_code == 200 and down.json()["assignee_unit"] == towns["grid_a"]
    history = client.get(f"/api/alerts/{alert.id}").json()["history"]
    assert [(h["action"], h["from_unit"], h["unit"], h["actor"]) for h in history[1:]] == [
        ("escalate", village, towns["a"], test_users.operator_village_a),
        ("escalate", towns["a"], towns["district"], test_users.operator_a),
        ("hand_down", towns["district"], towns["grid_a"], test_users.district),
    ]


def test_list_filters(client, console_state, towns):
    start = time.time() - 1
    red = _raise(console_state, towns["grid_a"], severity="red")
    blue = _raise(console_state, towns["grid_a"], severity="blue")
    console_state.alerts.transition(blue.id, "acknowledged", "test")
    mine = {red.id, blue.id}

    def ids(**params):
        return [a["id"] for a in client.get("/api/alerts", params=params).json() if a["id"] in mine]

    assert ids(since=start) == [blue.id, red.id]  # newest first
    assert ids(status="new") == [red.id]
    assert ids(status="new,acknowledged", since=start) == [blue.id, red.id]
    assert ids(status=["new", "acknowledged"], since=start) == [blue.id, red.id]
    assert ids(severity="red") == [red.id]
    assert ids(severity="blue,yellow") == [blue.id]
    assert ids(until=start) == []
    page = client.get("/api/alerts", params={"since": start, "limit": 1}).json()
    assert len(page) == 1
    bad = client.get("/api/alerts", params={"status": "new,archived"})
    assert bad.status_code == 422 and "'archived'" in bad.json()["detail"] and "on_scene" in bad.json()["detail"]
    assert client.get("/api/alerts", params={"severity": "purple"}).status_code == 422
    assert client.get("/api/alerts", params={"limit": 0}).status_code == 422
    assert client.get("/api/alerts", params={"since": "nan"}).status_code == 422


def test_a_town_never_sees_or_touches_another_towns_alert(client, console_state, towns, as_unit):
    theirs = _raise(console_state, towns["grid_b"], severity="orange")
    ours = _raise(console_state, towns["grid_a"], severity="orange")
    a = as_unit(towns["a"])
    listed = {x["id"] for x in client.get("/api/alerts", params={"limit": 1000}, headers=a).json()}
    assert ours.id in listed and theirs.id not in listed
    assert all(x["grid"].startswith(towns["a"]) or x["assignee_unit"].startswith(towns["a"])
               for x in client.get("/api/alerts", params={"limit": 1000}, headers=a).json())
    unknown_id = "zzzzzzzzzzzz"
    for method, suffix, body in [
        ("get", "", None),
        ("post", "/transition", {"to": "acknowledged"}),
        ("post", "/escalate", {"note": ""}),
        ("post", "/hand_down", {"unit": towns["grid_b"]}),
    ]:
        hidden = client.request(method, f"/api/alerts/{theirs.id}{suffix}", json=body, headers=a)
        missing = client.request(method, f"/api/alerts/{unknown_id}{suffix}", json=body, headers=a)
        assert hidden.status_code == missing.status_code == 404, suffix
        assert hidden.json()["detail"].replace(theirs.id, unknown_id) == missing.json()["detail"]
    after = console_state.alerts.get(theirs.id)
    assert (
        after.status == "new"
        and after.assignee_unit == towns["b"]
        and len(console_state.alerts.history(theirs.id)) == 1
    )
    assert client.get(f"/api/alerts/{theirs.id}", headers=as_unit(towns["b"])).status_code == 200
    assert client.get(f"/api/alerts/{theirs.id}").status_code == 200  # the district sees all
    assert client.get("/api/alerts", headers={"Authorization": "Bearer not-a-token"}).status_code == 401


def test_api_changes_are_published_on_the_bus(client, console_state, towns):
    seen = []
    sub = console_state.bus.subscribe(Topic.ALERTS, seen.append)
    try:
        alert = _raise(console_state, towns["grid_a"])
        client.post(f"/api/alerts/{alert.id}/transition", json={"to": "dispatched"})
    finally:
        sub.cancel()
    mine = [(m.event, m.status) for m in seen if m.id == alert.id]
    assert mine == [("new", "new"), ("transition", "dispatched")]


# --- events ---------------------------------------------------------------------------------


def _event(state, grid, **kw):
    lon, lat = state.jurisdictions.get(grid).anchor
    return {"category": "road_damage", "text": "路面塌陷", "lon": lon, "lat": lat, "reporter": "王五",
            "channel": "grid_worker"} | kw


def test_report_event_gcj02_routed_to_the_village(client, console_state, towns, as_unit, test_users):
    grid = towns["grid_a"]
    lon, lat = console_state.jurisdictions.get(grid).anchor
    g_lon, g_lat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    payload = _event(console_state, grid, lon=g_lon, lat=g_lat, crs="gcj02", occurred_at="2025-06-01T08:30:00+08:00")
    response = client.post("/api/events", json=payload, headers=as_unit(towns["a"]))
    assert response.status_code == 201, response.text
    alert = response.json()
    assert alert["type"] == "alert" and alert["grid"] == grid and alert["assignee_unit"] == grid[:12]
    assert abs(alert["lon"] - lon) < 1e-6 and abs(alert["lat"] - lat) < 1e-6
    assert alert["source"] == alert["channel"] == "grid_worker" and alert["reporter"] == "王五"
    assert alert["first_ts"] == 1748737800.0
    history = client.get(f"/api/alerts/{alert['id']}", headers=as_unit(towns["a"])).json()["history"]
    assert history[0]["actor"] == test_users.operator_a and history[0]["unit"] == grid[:12]
    fire = client.post("/api/events", json=_event(console_state, grid, category="fire", channel="hotline"))
    assert fire.status_code == 201 and fire.json()["assignee_unit"] == towns["a"]


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"category": None}, "category"),
        ({"text": None}, "text"),
        ({"lon": None}, "lon"),
        ({"reporter": None}, "reporter"),
        ({"channel": None}, "channel"),
        ({"lon": 200.0}, "less than or equal to 180"),
        ({"lat": -91.0}, "greater than or equal to -90"),
        ({"lon": "east"}, "valid number"),
        ({"channel": "fax"}, "'hotline', 'grid_worker', 'app' or 'iot'"),
        ({"crs": "utm"}, "'wgs84', 'gcj02' or 'bd09'"),
        ({"text": "x" * 2001}, "at most 2000 characters"),
        ({"text": "   "}, "at least 1 character"),
        ({"category": ""}, "at least 1 character"),
        ({"severity": "red"}, "Extra inputs are not permitted"),
        ({"occurred_at": "2025-06-01T08:30:00"}, "needs a UTC offset"),
        ({"occurred_at": "yesterday"}, "neither epoch seconds nor ISO 8601"),
        ({"occurred_at": 4_000_000_000}, "lies in the future"),
        ({"lon": 100.0, "lat": 30.0}, "outside district 320612"),
    ],
)
def test_bad_event_payloads_say_why(client, console_state, towns, change, fragment):
    payload = _event(console_state, towns["grid_a"]) | change
    payload = {k: v for k, v in payload.items() if v is not None}
    response = client.post("/api/events", json=payload)
    assert response.status_code == 422, response.text
    assert fragment in json.dumps(response.json(), ensure_ascii=False)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_coordinates_are_refused(client, console_state, towns, token):
    payload = json.dumps(_event(console_state, towns["grid_a"]) | {"lat": 0.5})
    payload = payload.replace('"lat": 0.5', f'"lat": {token}')
    response = client.post("/api/events", content=payload, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert "finite number" in json.dumps(response.json())


def test_a_town_reports_only_in_its_own_town(client, console_state, towns, as_unit):
    elsewhere = client.post("/api/events", json=_event(console_state, towns["grid_b"]), headers=as_unit(towns["a"]))
    assert elsewhere.status_code == 403 and f"outside jurisdiction {towns['a']}" in elsewhere.json()["detail"]
    own = client.post("/api/events", json=_event(console_state, towns["grid_a"]), headers=as_unit(towns["a"]))
    assert own.status_code == 201
    mine = {a["id"] for a in client.get("/api/alerts", params={"limit": 1000}, headers=as_unit(towns["b"])).json()}
    assert own.json()["id"] not in mine


# --- settings -------------------------------------------------------------------------------


def test_alert_settings_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZHIZHI_ALERTS__POLICY__COOLDOWN_S", "120")
    monkeypatch.setenv("ZHIZHI_ALERTS__RETENTION_DAYS", "7")
    settings = Settings(data_dir=tmp_path)
    assert settings.alerts.policy.cooldown_s == 120 and settings.alerts.retention_days == 7
    assert settings.resolved_evidence_dir == tmp_path / "evidence"
    assert settings.alerts.policy.time_limit("wrong_way") == 900
    monkeypatch.setenv("ZHIZHI_ALERTS__POLICY__COOLDOWN_S", "-5")
    with pytest.raises(ValidationError, match="cooldown_s"):
        Settings()


def test_alert_policy_from_a_toml_file(monkeypatch, tmp_path):
    config = tmp_path / "zhizhi.toml"
    config.write_text(
        "[alerts.policy]\ncooldown_s = 30\n[alerts.policy.routing]\nblue = 'village'\nyellow = 'town'\n"
        "orange = 'town'\nred = 'district'\n[[alerts.policy.suppression]]\nrule = 'crowd'\nhours = '07:00-09:00'\n"
    )
    monkeypatch.setenv("ZHIZHI_CONFIG", str(config))
    policy = Settings().alerts.policy
    assert policy.cooldown_s == 30 and policy.routing["yellow"] == "town"
    assert policy.suppression[0].rule == "crowd" and policy.suppression[0].hours == "07:00-09:00"


# --- verdicts, bulk actions, false-alarm rates -------------------------------------------------


def test_close_as_false_alarm_and_as_duplicate(client, console_state, towns):
    false, kept, dup = (_raise(console_state, towns["grid_a"]) for _ in range(3))
    url = "/api/alerts/{}/transition"
    no_note = client.post(url.format(false.id), json={"to": "closed", "verdict": "false_alarm"})
    assert no_note.status_code == 422 and "false alarm needs a note" in no_note.json()["detail"]
    wrong = client.post(url.format(false.id), json={"to": "resolved", "verdict": "false_alarm", "note": "x"})
    assert wrong.status_code == 422 and "goes with closing" in wrong.json()["detail"]
    closed = client.post(url.format(false.id), json={"to": "closed", "verdict": "false_alarm", "note": "树影"})
    assert closed.status_code == 200 and closed.json()["verdict"] == "false_alarm"
    no_target = client.post(url.format(dup.id), json={"to": "closed", "verdict": "duplicate"})
    assert no_target.status_code == 422 and "duplicate_of" in no_target.json()["detail"]
    dup_done = client.post(url.format(dup.id), json={"to": "closed", "verdict": "duplicate", "duplicate_of": kept.id})
    assert dup_done.status_code == 200
    assert (dup_done.json()["verdict"], dup_done.json()["duplicate_of"]) == ("duplicate", kept.id)
    assert client.get(f"/api/alerts/{kept.id}").json()["track_ids"] == [kept.track_id, dup.track_id]


def test_bulk_contract(client, console_state, towns, as_unit):
    ids = [_raise(console_state, towns["grid_a"]).id for _ in range(3)]
    theirs = _raise(console_state, towns["grid_b"]).id
    a = as_unit(towns["a"])
    done = client.post("/api/alerts/bulk", json={"ids": [*ids, theirs], "action": "acknowledge"}, headers=a)
    assert done.status_code == 200, done.text
    body = done.json()
    assert [x["id"] for x in body["done"]] == ids and {x["status"] for x in body["done"]} == {"acknowledged"}
    assert body["failed"] == [{"id": theirs, "status": 404, "detail": f"no alert {theirs!r}"}]
    again = client.post("/api/alerts/bulk", json={"ids": ids[:1], "action": "acknowledge"}, headers=a).json()
    assert again["failed"][0]["status"] == 409 and "allowed" in again["failed"][0]["detail"]
    no_note = client.post("/api/alerts/bulk", json={"ids": ids, "action": "close_false_alarm"}, headers=a)
    assert no_note.status_code == 422 and "needs a note" in no_note.json()["detail"]
    no_target = client.post("/api/alerts/bulk", json={"ids": ids, "action": "close_duplicate"}, headers=a)
    assert no_target.status_code == 422 and "duplicate_of" in no_target.json()["detail"]
    for bad in ({"ids": [], "action": "acknowledge"}, {"ids": ids, "action": "delete"},
                {"ids": ["../etc"], "action": "acknowledge"}, {"ids": ids, "action": "acknowledge", "x": 1}):
        assert client.post("/api/alerts/bulk", json=bad, headers=a).status_code == 422, bad
    closed = client.post("/api/alerts/bulk", headers=a,
                         json={"ids": ids, "action": "close_false_alarm", "note": "演练车辆"}).json()
    assert [x["verdict"] for x in closed["done"]] == ["false_alarm"] * 3
    assert console_state.alerts.get(theirs).status == "new"


def test_an_analyst_may_read_rates_but_not_act(client, console_state, towns, test_users):
    from tests.auth_support import PASSWORD, bearer, login

    if console_state.auth.get_user("analyst-fa") is None:
        console_state.auth.add_user("analyst-fa", "analyst", test_users.district_code, PASSWORD)
    analyst = bearer(login(client, "analyst-fa"))
    alert = _raise(console_state, towns["grid_a"])
    refused = client.post("/api/alerts/bulk", json={"ids": [alert.id], "action": "acknowledge"}, headers=analyst)
    assert refused.status_code == 403
    assert client.get("/api/alerts/false-alarm-rates", headers=analyst).status_code == 200


def test_false_alarm_rates_of_the_last_days(client, console_state, towns, as_unit):
    camera = f"CAM-FA-{new_alert_id()}"
    lon, lat = console_state.jurisdictions.get(towns["grid_a"]).anchor
    now = time.time()
    ids = []
    for k in range(4):
        track = next(_tracks)
        ids.append(console_state.alerts.ingest(WarningEvent(
            rule="abnormal_stop", rule_id=f"fa-stop-{track}", severity="yellow", camera_id=camera,
            track_id=track, lon=lon, lat=lat, first_ts=now - 30, last_ts=now,
        )).id)
    client.post("/api/alerts/bulk", json={"ids": ids[:3], "action": "close_false_alarm", "note": "雨雾"})
    rates = client.get("/api/alerts/false-alarm-rates", params={"days": 7}).json()
    mine = [r for r in rates if r["camera_id"] == camera]
    assert len(mine) == 4 and sum(r["false_alarms"] for r in mine) == 3
    assert rates.index(mine[0]) < rates.index(mine[-1]) and mine[0]["rate"] == 1.0 and mine[-1]["rate"] == 0.0
    town_b = client.get("/api/alerts/false-alarm-rates", headers=as_unit(towns["b"])).json()
    assert all(r["camera_id"] != camera for r in town_b)
    assert client.get("/api/alerts/false-alarm-rates", params={"days": 0}).status_code == 422
    assert client.get("/api/alerts/false-alarm-rates", params={"days": 91}).status_code == 422


def test_the_evidence_of_a_joining_camera_is_served_with_its_name(client, console_state, towns, as_unit):
    """``GET .../evidence/{kind}?camera=`` serves a view's files (the camera that joined the alert)
    to those who may see the alert, by header or ticket; 404 for a camera without a view, a file
    not written or gone, and for a town that may not see the alert (as if it did not exist)."""
    import cv2
    import numpy as np

    state = console_state
    alert = _raise(state, towns["grid_a"])
    frame = np.full((48, 64, 3), 120, np.uint8)
    jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
    joined = "南门/CAM 2"  # a camera id no file name could hold as it is
    main = state.evidence.save_snapshot(alert.id, jpeg)
    snapshot = state.evidence.save_snapshot(alert.id, jpeg, camera_id=joined)
    clip = state.evidence.save_clip(alert.id, [frame] * 4, 4.0, camera_id=joined)
    state.alerts.attach_evidence(alert.id, snapshot=main)
    state.alerts.attach_evidence(alert.id, snapshot=snapshot, clip=clip, camera_id=joined)
    read = client.get(f"/api/alerts/{alert.id}").json()["evidence"]
    assert read["snapshot"] == main and read["views"] == [
        {"camera_id": joined, "snapshot": snapshot, "clip": clip, "track": None}]

    url = f"/api/alerts/{alert.id}/evidence"
    a, b = as_unit(towns["a"]), as_unit(towns["b"])
    view = client.get(f"{url}/snapshot", params={"camera": joined}, headers=a)
    assert view.status_code == 200 and view.content == (state.evidence.root / snapshot).read_bytes()
    assert client.get(f"{url}/snapshot", headers=a).content == (state.evidence.root / main).read_bytes()
    played = client.get(f"{url}/clip", params={"camera": joined}, headers=a)
    assert played.status_code == 200 and played.headers["content-type"] == "video/webm"
    ticket = client.post("/api/auth/ticket", headers=a).json()["ticket"]
    bare = client.get(f"{url}/snapshot", params={"camera": joined, "ticket": ticket}, headers={"Authorization": ""})
    assert bare.status_code == 200 and bare.content.startswith(b"\xff\xd8")

    assert client.get(f"{url}/track", params={"camera": joined}, headers=a).status_code == 404  # none written
    for other in ("CAM-NEVER-JOINED", alert.camera_id, "../" + joined):
        assert client.get(f"{url}/snapshot", params={"camera": other}, headers=a).status_code == 404, other
    hidden = client.get(f"{url}/snapshot", params={"camera": joined}, headers=b)
    missing = client.get("/api/alerts/zzzzzzzzzzzz/evidence/snapshot", params={"camera": joined}, headers=b)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(alert.id, "zzzzzzzzzzzz") == missing.json()["detail"]

    (state.evidence.root / clip).unlink()  # past its retention
    gone = client.get(f"{url}/clip", params={"camera": joined}, headers=a)
    assert gone.status_code == 404 and "no longer kept" in gone.json()["detail"]
