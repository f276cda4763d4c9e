"""Walls as data and paired screens, through the API of a small console of its own (real
SQLite, real users): a wall is created by an admin within its jurisdiction, a screen draws a
code, an admin enters it, the screen collects a device credential that reads its wall's
jurisdiction and nothing else, outlives the login token's expiry and idle timeout, and ends
when revoked."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from fastapi.testclient import TestClient

from tests.auth_support import PASSWORD, FakeClock, bearer, console_with_admin, login, small_console_settings
from zhizhi.console.walls import pairing
from zhizhi.console.walls.service import walls_of
from zhizhi.models.warning.record import WarningEvent

_tracks = itertools.count(1)


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    settings = small_console_settings(tmp_path_factory.mktemp("wall-pairing"))
    with console_with_admin(settings, "wall-admin") as (app, state, users), TestClient(app) as client:
        for name, town in (("wall-admin-a", users.town_a), ("wall-admin-b", users.town_b)):
            state.auth.add_user(name, "admin", town, PASSWORD)
        heads = {name: bearer(login(client, name)) for name in (
            "wall-admin", "wall-admin-a", "wall-admin-b", users.operator_a)}
        yield state, client, users, heads


@pytest.fixture
def fake_clock(console):
    state = console[0]
    clock = FakeClock(time.time())
    state.auth.clock = clock
    _forget(state)
    yield clock
    state.auth.clock = time.time
    _forget(state)


def _forget(state) -> None:
    """The pairing limits forget their counts (none from a fake future stays)."""
    walls = walls_of(state.auth)
    walls.codes_drawn.clear()
    walls.codes_missed.clear()


def _alert(state, town: str):
    grid = next(g for g in state.jurisdictions.grid_codes if g.startswith(town))
    lon, lat = state.jurisdictions.get(grid).anchor
    now = time.time()
    return state.alerts.ingest(WarningEvent(
        rule="abnormal_stop", rule_id=f"pair-stop-{next(_tracks)}", severity="red",
        camera_id=f"CAM-PAIR-{next(_tracks)}", track_id=next(_tracks), cls="hazmat_tanker", lon=lon, lat=lat,
        first_ts=now - 60, last_ts=now,
    ))


_names = itertools.count(1)


def _wall(client, headers, code: str, **changes) -> dict:
    body = {"name": f"wall{next(_names)}", "title": "指挥大厅", "code": code,
            "slots": [{"name": "left", "kind": "map", "kiosk": True}, {"name": "right", "kind": "alerts"}]}
    body.update(changes)
    made = client.post("/api/walls", json=body, headers=headers)
    assert made.status_code == 201, made.text
    return made.json()


def _pair(client, admin, wall: dict, slot: str = "left") -> tuple[str, dict]:
    """A screen draws a code, the admin enters it, the screen collects its credential."""
    drawn = client.post("/api/wall/pairings")
    assert drawn.status_code == 201, drawn.text
    code, claim = drawn.json()["code"], drawn.json()["claim"]
    assert len(code) == 6 and set(code) <= set(pairing.ALPHABET)
    assert client.post("/api/wall/pairings/claim", json={"claim": claim}).json()["status"] == "waiting"
    typed = f"{code[:3].lower()} {code[3:]}"  # as an admin types it
    paired = client.post(f"/api/walls/{wall['id']}/devices", json={"code": typed, "slot": slot, "label": "左一"},
                         headers=admin)
    assert paired.status_code == 201, paired.text
    answer = client.post("/api/wall/pairings/claim", json={"claim": claim})
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["status"] == "paired" and got["wall"] == wall["name"] and got["slot"] == slot
    again = client.post("/api/wall/pairings/claim", json={"claim": claim})
    assert again.status_code == 404  # the credential is handed out once
    return got["token"], paired.json()


def test_pairing_end_to_end(console):
    state, client, users, heads = console
    admin_a = heads["wall-admin-a"]
    wall = _wall(client, admin_a, users.town_a)
    token, device = _pair(client, admin_a, wall)
    me = client.get("/api/wall/device", headers=bearer(token))
    assert me.status_code == 200, me.text
    info = me.json()
    assert info["wall"] == wall["name"] and info["code"] == users.town_a and info["slot"]["name"] == "left"
    assert info["url"] == f"/wall?screen=map&wall={wall['name']}&slot=left&kiosk=1"
    who = client.get("/api/auth/me", headers=bearer(token)).json()
    assert who["user"]["role"] == "wall_device" and who["permissions"] == ["read"]
    listed = client.get(f"/api/walls/{wall['id']}/devices", headers=admin_a).json()
    assert [d["id"] for d in listed] == [device["id"]] and listed[0]["paired"] and listed[0]["label"] == "左一"
    # The credential is stored hashed, like session tokens.
    row = state.auth.devices.get(device["id"])
    assert row.token_hash and row.token_hash != token and token not in row.token_hash


def test_device_reads_its_wall_only_and_acts_on_nothing(console):
    state, client, users, heads = console
    wall = _wall(client, heads["wall-admin-a"], users.town_a)
    token, _ = _pair(client, heads["wall-admin-a"], wall)
    device = bearer(token)
    own, other = _alert(state, users.town_a), _alert(state, users.town_b)
    assert client.get(f"/api/alerts/{own.id}", headers=device).status_code == 200
    assert client.get(f"/api/alerts/{other.id}", headers=device).status_code == 404
    listed = {a["id"] for a in client.get("/api/alerts", headers=device).json()}
    assert own.id in listed and other.id not in listed
    acted = client.post(f"/api/alerts/{own.id}/transition", json={"to": "acknowledged"}, headers=device)
    assert acted.status_code == 403 and "alerts.act" in acted.json()["detail"]
    assert client.get("/api/walls", headers=device).status_code == 403
    assert client.get("/api/users", headers=device).status_code == 403
    # A ticket of the device opens its wall's URLs (the live channel, video) as the device.
    issued = client.post("/api/auth/ticket", headers=device)
    assert issued.status_code == 200
    assert state.auth.ticket_session(issued.json()["ticket"]).principal.role == "wall_device"


def test_device_outlives_token_expiry_and_idle(console, fake_clock):
    state, client, users, heads = console
    wall = _wall(client, heads["wall-admin-a"], users.town_a)
    token, _ = _pair(client, heads["wall-admin-a"], wall)
    user_token = login(client, users.operator_a)
    fake_clock.advance(state.settings.auth.token_ttl_s + state.settings.auth.idle_timeout_s + 3600)
    assert client.get("/api/wall/scope", headers=bearer(user_token)).status_code == 401
    assert client.get("/api/wall/scope", headers=bearer(token)).status_code == 200


def test_the_device_selects_on_its_wall_and_revoking_closes_its_live_link(console):
    from starlette.websockets import WebSocketDisconnect

    state, client, users, heads = console
    admin_a = heads["wall-admin-a"]
    wall = _wall(client, admin_a, users.town_a)
    token, device = _pair(client, admin_a, wall)
    own, other = _alert(state, users.town_a), _alert(state, users.town_b)
    ticket = client.post("/api/auth/ticket", headers=bearer(token)).json()["ticket"]
    with client.websocket_connect(f"/ws?ticket={ticket}&wall={wall['name']}") as ws:
        snapshot = ws.receive_json()
        assert snapshot["type"] == "snapshot"
        assert other.id not in json.dumps(snapshot) and users.town_b not in json.dumps(snapshot)
        ws.send_json({"type": "wall", "action": "select_alert", "alert_id": other.id})
        assert ws.receive_json() == {"type": "error", "detail": f"alert {other.id} not found"}
        ws.send_json({"type": "wall", "action": "select_alert", "alert_id": own.id})
        message = _next(ws, "wall")
        assert message["action"] == "select_alert" and message["alert"]["id"] == own.id
        assert client.delete(f"/api/walls/{wall['id']}/devices/{device['id']}", headers=admin_a).status_code == 204
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_json()
        assert closed.value.code == 4401


def _next(ws, kind: str) -> dict:
    """The next message of type ``kind`` on ``ws`` (others, e.g. alerts of this test, skipped)."""
    while True:
        message = ws.receive_json()
        if message.get("type") == kind:
            return message


def test_revoke_ends_the_credential(console):
    _, client, users, heads = console
    admin_a = heads["wall-admin-a"]
    wall = _wall(client, admin_a, users.town_a)
    token, device = _pair(client, admin_a, wall)
    assert client.get("/api/wall/device", headers=bearer(token)).status_code == 200
    # Town B's admin sees neither the wall nor its devices.
    path = f"/api/walls/{wall['id']}/devices/{device['id']}"
    assert client.delete(path, headers=heads["wall-admin-b"]).status_code == 404
    assert client.delete(path, headers=admin_a).status_code == 204
    assert client.get("/api/wall/device", headers=bearer(token)).status_code == 401
    assert client.get(f"/api/walls/{wall['id']}/devices", headers=admin_a).json() == []


def test_wrong_expired_and_too_many_codes(console, fake_clock):
    _, client, users, heads = console
    wall = _wall(client, heads["wall-admin-b"], users.town_b)
    drawn = client.post("/api/wall/pairings").json()
    fake_clock.advance(pairing.CODE_TTL_S + 1)
    late = client.post(f"/api/walls/{wall['id']}/devices", json={"code": drawn["code"], "slot": "left"},
                       headers=heads["wall-admin-b"])
    assert late.status_code == 404 and "expired" in late.json()["detail"]
    assert client.post("/api/wall/pairings/claim", json={"claim": drawn["claim"]}).status_code == 404
    fresh = client.post("/api/wall/pairings").json()
    bad_slot = client.post(f"/api/walls/{wall['id']}/devices", json={"code": fresh["code"], "slot": "middle"},
                           headers=heads["wall-admin-b"])
    assert bad_slot.status_code == 422 and "left" in bad_slot.json()["detail"]
    statuses = [client.post(f"/api/walls/{wall['id']}/devices", json={"code": "XXXXXX", "slot": "left"},
                            headers=heads["wall-admin-b"]).status_code for _ in range(pairing.GUESSES_PER_WINDOW)]
    assert statuses[:-1] == [404] * (pairing.GUESSES_PER_WINDOW - 1)  # the expired code was one wrong code
    assert statuses[-1] == 429
    # Once the guesses are spent even the right code waits out the window (no guessing on).
    right = {"code": fresh["code"], "slot": "left"}
    refused = client.post(f"/api/walls/{wall['id']}/devices", json=right, headers=heads["wall-admin-b"])
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    fake_clock.advance(pairing.WINDOW_S)
    newer = client.post("/api/wall/pairings").json()
    ok = client.post(f"/api/walls/{wall['id']}/devices", json=right | {"code": newer["code"]},
                     headers=heads["wall-admin-b"])
    assert ok.status_code == 201, ok.text
    assert client.post("/api/wall/pairings/claim", json={"claim": "x" * 15}).status_code == 422


def test_codes_are_rate_limited_per_address(console, fake_clock):
    client = console[1]
    statuses = [client.post("/api/wall/pairings").status_code for _ in range(pairing.CODES_PER_WINDOW + 1)]
    assert 429 in statuses
    refused = client.post("/api/wall/pairings")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    fake_clock.advance(pairing.WINDOW_S + 1)
    assert client.post("/api/wall/pairings").status_code == 201


def test_walls_are_kept_by_jurisdiction(console):
    _, client, users, heads = console
    admin_a, admin_b, district = heads["wall-admin-a"], heads["wall-admin-b"], heads["wall-admin"]
    wall = _wall(client, admin_a, users.town_a, name="hall")
    # The name is unique within a jurisdiction, not across them.
    again = client.post("/api/walls", json={**wall, "id": None} | {"id": None}, headers=admin_a)
    assert again.status_code == 422  # unknown fields are refused
    body = {k: wall[k] for k in ("name", "title", "code", "slots")}
    assert client.post("/api/walls", json=body, headers=admin_a).status_code == 409
    assert client.post("/api/walls", json=body | {"code": users.town_b}, headers=admin_a).status_code == 403
    assert client.post("/api/walls", json=body | {"code": users.town_b}, headers=admin_b).status_code == 201
    # Town B's admin neither sees nor changes town A's wall; the district's admin sees both.
    assert wall["id"] not in {w["id"] for w in client.get("/api/walls", headers=admin_b).json()}
    assert client.get(f"/api/walls/{wall['id']}", headers=admin_b).status_code == 404
    assert client.put(f"/api/walls/{wall['id']}", json=body | {"title": "x"}, headers=admin_b).status_code == 404
    assert client.delete(f"/api/walls/{wall['id']}", headers=admin_b).status_code == 404
    names = {(w["code"], w["name"]) for w in client.get("/api/walls", headers=district).json()}
    assert {(users.town_a, "hall"), (users.town_b, "hall")} <= names
    # Precise 4xx for bad slots.
    for slots, why in (([], "at least 1"), ([{"name": "a", "kind": "custom"}], "layout"),
                       ([{"name": "a", "kind": "map"}, {"name": "a", "kind": "video"}], "unique"),
                       ([{"name": "A b", "kind": "map"}], "pattern"), ([{"name": "a", "kind": "tv"}], "map")):
        answer = client.put(f"/api/walls/{wall['id']}", json=body | {"slots": slots}, headers=admin_a)
        assert answer.status_code == 422 and why in answer.text, (slots, answer.text)
    # A slot with a paired screen cannot be dropped; the wall's deletion revokes its screens.
    token, _ = _pair(client, admin_a, wall, slot="right")
    dropped = client.put(f"/api/walls/{wall['id']}", json=body | {"slots": body["slots"][:1]}, headers=admin_a)
    assert dropped.status_code == 409 and "right" in dropped.json()["detail"]
    renamed = client.put(f"/api/walls/{wall['id']}", json=body | {"title": "二号大厅"}, headers=admin_a)
    assert renamed.status_code == 200 and renamed.json()["title"] == "二号大厅"
    assert client.delete(f"/api/walls/{wall['id']}", headers=admin_a).status_code == 204
    assert client.get("/api/wall/scope", headers=bearer(token)).status_code == 401
    # Operators manage no walls; devices are paired, not created as users.
    assert client.get("/api/walls", headers=heads[users.operator_a]).status_code == 403
    made = client.post("/api/users", json={"username": "screen1", "role": "wall_device",
                                           "jurisdiction": users.town_a, "password": "Screen-pass-9"},
                       headers=district)
    assert made.status_code == 422 and "paired" in made.json()["detail"]
