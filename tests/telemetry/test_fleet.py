"""Telemetry, hazmat vehicles, drones and incidents through the console's API, with real users,
real SQLite and the real trajectory rules: contracts, bad input, and jurisdiction on every path."""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict

import pytest
import shapely
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.auth_support import PASSWORD, bearer, create_test_users, login, small_console_settings
from zhizhi.bus import Topic
from zhizhi.bus.messages import CameraStatus
from zhizhi.layers import Scope
from zhizhi.telemetry.record import DroneState
from zhizhi.telemetry.simulator import simulate

#: This module's console runs on SQLite and on PostgreSQL/PostGIS (tests/conftest.py).
CONSOLE_BACKENDS = ("sqlite", "postgresql")

GATEWAY = "beidou-gateway"
ANOMALIES = ("speeding", "route_deviation", "zone_entry", "abnormal_stop")


@pytest.fixture(scope="module")
def console(tmp_path_factory, module_database_url):
    from zhizhi.console.app import create_app
    from zhizhi.console.state import open_console

    settings = small_console_settings(tmp_path_factory.mktemp("fleet"), database_url=module_database_url)
    state = open_console(settings)
    users = create_test_users(state)
    state.auth.add_user(GATEWAY, "gateway", users.district_code, PASSWORD)
    with TestClient(create_app(settings, state=state)) as client:
        heads = {name: bearer(login(client, name)) for name in
                 (users.district, users.operator_a, users.operator_b, GATEWAY)}
        yield state, client, users, heads
    state.close()


def _town_point(state, town: str) -> tuple[float, float]:
    p = state.jurisdictions.get(town).geometry.representative_point()
    return p.x, p.y


def _route_in(state, town: str) -> dict:
    """A short route inside a town."""
    lon, lat = _town_point(state, town)
    return {"type": "LineString", "coordinates": [[lon - 0.002, lat], [lon + 0.002, lat]]}


def _vehicle(vid: str, route: dict) -> dict:
    return {"vehicle_id": vid, "plate": f"苏F{vid[-5:]}", "company": "南通危运物流有限公司",
            "un_number": "1203", "hazard_class": "3", "route": route, "corridor_m": 100,
            "permitted_hours": "00:00-24:00"}  # any hour: these tests must not depend on the clock


# --------------------------------------------------------------------------- telemetry in


def test_post_telemetry_reports_each_refusal_and_keeps_the_good(console):
    state, client, users, heads = console
    now = time.time()
    lon, lat = _town_point(state, users.town_a)
    batch = [
        {"vehicle_id": "T-1", "ts": now - 20, "lon": lon, "lat": lat, "speed_kmh": 30},
        {"vehicle_id": "T-1", "ts": now - 10, "lon": lon + 0.0005, "lat": lat},
        {"vehicle_id": "T-1", "ts": now - 10, "lon": lon + 0.0005, "lat": lat},  # duplicate
        {"vehicle_id": "T-2", "ts": now, "lon": float("nan"), "lat": lat},  # NaN
        {"vehicle_id": "T-3", "ts": now, "lon": 200.0, "lat": lat},  # out of range
        {"vehicle_id": "T-4", "ts": now + 3600, "lon": lon, "lat": lat},  # future
        {"vehicle_id": "T-5", "lat": lat},  # missing fields
        "not an object",
    ]
    r = client.post("/api/telemetry", content=json.dumps(batch), headers=heads[GATEWAY])
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["received"], report["accepted"]) == (8, 2)
    assert report["rejected"] == {"duplicate": 1, "invalid": 4, "future": 1}
    assert {e["index"] for e in report["errors"]} == {2, 3, 4, 5, 6, 7}
    # time going backwards in a later batch: refused, and the track stays where it was
    r = client.post("/api/telemetry", json=[{"vehicle_id": "T-1", "ts": now - 30, "lon": lon, "lat": lat}],
                    headers=heads[GATEWAY])
    assert r.json()["rejected"] == {"stale": 1}
    assert state.trajectory.wait_idle()
    time.sleep(0.05)
    fleet = {v["vehicle_id"]: v for v in state.fleet.vehicles("")}
    assert fleet["T-1"]["ts"] == pytest.approx(now - 10) and fleet["T-1"]["grid"].startswith(users.town_a)


def test_post_telemetry_names_late_and_too_old_reports_and_they_move_nothing(console):
    """A back-dated report sent after newer ones of its vehicle is ``late``; one 75 days old is
    ``too_old``: both named in the answer, neither reaches the map or the rules."""
    state, client, users, heads = console
    now = time.time()
    lon, lat = _town_point(state, users.town_a)
    step = 150 / (111_195 * math.cos(math.radians(lat)))  # 150 m east per 30 s: 18 km/h
    batch = [{"vehicle_id": "L-1", "ts": now - 600 + 30 * k, "lon": lon + step * k, "lat": lat} for k in range(20)]
    newest = batch[-1]
    batch.append({"vehicle_id": "L-1", "ts": newest["ts"] - 500, "lon": lon + step * 3, "lat": lat + 625 / 111_195})
    batch.append({"vehicle_id": "L-2", "ts": now - 75 * 86_400, "lon": lon, "lat": lat})
    r = client.post("/api/telemetry", json=batch, headers=heads[GATEWAY])
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["accepted"], report["rejected"]) == (20, {"late": 1, "too_old": 1})
    assert [(e["index"], e["reason"]) for e in report["errors"]] == [(20, "late"), (21, "too_old")]
    assert "horizon" in report["errors"][1]["detail"]
    fleet = {v["vehicle_id"]: v for v in state.fleet.vehicles("")}
    assert (fleet["L-1"]["ts"], fleet["L-1"]["lat"]) == (pytest.approx(newest["ts"]), lat) and "L-2" not in fleet
    status = client.get("/api/telemetry/status", headers=heads[users.district]).json()
    assert status["gate"]["late"] >= 1 and status["gate"]["too_old"] >= 1


def test_gcj02_reports_are_stored_in_wgs84(console):
    from zhizhi.gis.crs import wgs84_to_gcj02

    state, client, users, heads = console
    lon, lat = _town_point(state, users.town_a)
    glon, glat = wgs84_to_gcj02(lon, lat)
    r = client.post("/api/telemetry", json=[{"vehicle_id": "G-1", "ts": time.time(), "lon": float(glon),
                                             "lat": float(glat), "crs": "gcj02"}], headers=heads[GATEWAY])
    assert r.json()["accepted"] == 1
    assert state.trajectory.wait_idle()
    v = state.fleet.vehicle("G-1")
    assert math.hypot((v["lon"] - lon) * 94_000, (v["lat"] - lat) * 111_000) < 2.0


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{\"vehicle_id\": \"x\"}", 422), (b"not json", 422), (b"[" + b"1," * 30 + b"1]", 413)],
)
def test_post_telemetry_refuses_bad_bodies(console, body, status, monkeypatch):
    state, client, _, heads = console
    monkeypatch.setattr(state.settings.telemetry, "max_batch", 10)
    r = client.post("/api/telemetry", content=body, headers=heads[GATEWAY] | {"Content-Type": "application/json"})
    assert r.status_code == status, r.text


def test_post_telemetry_answers_503_while_the_rules_are_behind(console, monkeypatch):
    state, client, _, heads = console
    monkeypatch.setattr(state.trajectory, "max_backlog", 0)
    r = client.post("/api/telemetry", json=[{"vehicle_id": "B-1", "ts": time.time(), "lon": 120.9, "lat": 32.0}],
                    headers=heads[GATEWAY])
    assert r.status_code == 503 and r.headers["retry-after"] == "1"


def test_only_gateways_post_and_gateways_read_nothing(console):
    _, client, users, heads = console
    one = [{"vehicle_id": "X-1", "ts": time.time(), "lon": 120.9, "lat": 32.0}]
    assert client.post("/api/telemetry", json=one, headers=heads[users.district]).status_code == 403
    assert client.post("/api/telemetry", json=one).status_code == 401
    for path in ("/api/vehicles", "/api/drones", "/api/hazmat/vehicles", "/api/incidents", "/api/alerts"):
        assert client.get(path, headers=heads[GATEWAY]).status_code == 403, path
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws", headers=heads[GATEWAY]) as ws:
        ws.receive_json()
    assert refused.value.code == 4403


# ---------------------------------------------------------------------------------- hazmat


def test_hazmat_register_and_scope(console):
    state, client, users, heads = console
    body = _vehicle("HZ-A1", _route_in(state, users.town_a))
    r = client.post("/api/hazmat/vehicles", json=body, headers=heads[users.district])
    assert r.status_code == 201, r.text
    assert client.get("/api/hazmat/vehicles/HZ-A1", headers=heads[users.operator_a]).status_code == 200
    assert client.get("/api/hazmat/vehicles/HZ-A1", headers=heads[users.operator_b]).status_code == 404
    assert "HZ-A1" not in [
        v["vehicle_id"] for v in client.get("/api/hazmat/vehicles", headers=heads[users.operator_b]).json()
    ]
    corridors = client.get("/api/hazmat/corridors", headers=heads[users.operator_a]).json()
    parts = {f["properties"]["part"] for f in corridors["features"] if f["properties"]["vehicle_id"] == "HZ-A1"}
    assert parts == {"route", "corridor"}
    assert not [f for f in client.get("/api/hazmat/corridors", headers=heads[users.operator_b]).json()["features"]
                if f["properties"]["vehicle_id"] == "HZ-A1"]
    # a town operator may not register; a bad body is a 422 naming the field
    assert client.post("/api/hazmat/vehicles", json=body, headers=heads[users.operator_a]).status_code == 403
    bad = dict(body, un_number="12A3")
    r = client.post("/api/hazmat/vehicles", json=bad, headers=heads[users.district])
    assert r.status_code == 422 and "un_number" in r.text


def test_hazmat_import_is_all_or_nothing(console):
    state, client, users, heads = console
    lon, lat = _town_point(state, users.town_b)
    header = "vehicle_id,plate,company,un_number,hazard_class,route,corridor_m,permitted_hours\n"
    good = f'HZ-C1,苏F00001,某物流,1203,3,"LINESTRING ({lon} {lat}, {lon + 0.01} {lat})",150,06:00-22:00\n'
    bad = f'HZ-C2,苏F00002,某物流,1203,3,"LINESTRING ({lon} {lat}, {lon + 0.01} {lat})",150,25:00-22:00\n'
    files = {"file": ("fleet.csv", (header + good + bad).encode(), "text/csv")}
    r = client.post("/api/hazmat/vehicles/import", files=files, headers=heads[users.district])
    assert r.status_code == 422
    assert r.json()["detail"]["problems"][0]["number"] == 2
    assert state.hazmat.get("HZ-C1") is None
    files = {"file": ("fleet.csv", (header + good).encode(), "text/csv")}
    r = client.post("/api/hazmat/vehicles/import", files=files, headers=heads[users.district])
    assert r.status_code == 200 and r.json()["imported"] == 1


# --------------------------------------------------------------------- telemetry -> alerts


def test_synthetic_trajectories_raise_their_alerts_with_plate_and_cargo(console):
    state, client, users, heads = console
    everything = Scope.everything()
    roads = state.registry.read_features("roads", everything)
    zones = state.registry.read_features("zones", everything)
    probe = simulate(roads, zones, seed=3, normal=2, anomalies=ANOMALIES, unregistered=False)
    span = max(f.ts for f in probe.fixes) - min(f.ts for f in probe.fixes)
    sim = simulate(roads, zones, seed=3, normal=2, anomalies=ANOMALIES, unregistered=False,
                   start_ts=time.time() - span - 30)
    for vehicle in sim.vehicles:
        state.hazmat.upsert(vehicle)
    fixes = [asdict(f) for f in sim.fixes]
    for i in range(0, len(fixes), 500):
        r = client.post("/api/telemetry", json=fixes[i:i + 500], headers=heads[GATEWAY])
        assert r.status_code == 200 and set(r.json()["rejected"]) <= {"duplicate"}, r.text
    assert state.trajectory.wait_idle(30)
    alerts = client.get("/api/alerts", params={"limit": 500}, headers=heads[users.district]).json()
    ids = {v.vehicle_id for v in sim.vehicles}
    raised = {(a["category"], a["details"]["vehicle_id"]) for a in alerts
              if a["source"] == "telemetry" and a["details"].get("vehicle_id") in ids}
    assert raised == sim.expected
    one = next(a for a in alerts if a["source"] == "telemetry" and a["details"].get("vehicle_id") in ids)
    vehicle = sim.lookup(one["details"]["vehicle_id"])
    assert (one["details"]["plate"], one["details"]["un_number"]) == (vehicle.plate, vehicle.un_number)


# ---------------------------------------------------------------------------------- drones


def test_drone_footprint_nearest_and_scope(console):
    state, client, users, heads = console
    lon, lat = _town_point(state, users.town_a)
    pose = DroneState(drone_id="UAV-7", ts=time.time(), lon=lon, lat=lat, height_m=120, heading_deg=90,
                      gimbal_pitch_deg=-90, gimbal_yaw_deg=90, battery_pct=80)
    assert state.ingest_drone(pose)
    assert not state.ingest_drone(pose)  # the same pose again is a duplicate
    drones = client.get("/api/drones", headers=heads[users.operator_a]).json()
    drone = next(d for d in drones if d["drone_id"] == "UAV-7")
    footprint = shapely.geometry.shape(drone["footprint"])
    assert footprint.contains(shapely.Point(lon, lat)) and footprint.area > 0
    assert not [
        d for d in client.get("/api/drones", headers=heads[users.operator_b]).json() if d["drone_id"] == "UAV-7"
    ]
    near = client.get("/api/drones/nearest", params={"lon": lon + 0.01, "lat": lat},
                      headers=heads[users.operator_a]).json()
    assert near[0]["drone_id"] == "UAV-7" and 800 < near[0]["distance_m"] < 1100
    assert client.get("/api/drones/nearest", params={"lon": lon, "lat": lat},
                      headers=heads[users.operator_b]).json() == []


# ------------------------------------------------------------------------------- incidents


def test_incident_open_scope_timeline_close_and_reports(console):
    state, client, users, heads = console
    lon, lat = _town_point(state, users.town_a)
    spec = {"type": "fire", "title": "化工园区火情", "area": {"point": [lon, lat], "radius_m": 300}}
    r = client.post("/api/incidents", json=spec, headers=heads[users.operator_a])
    assert r.status_code == 201, r.text
    incident = r.json()
    assert incident["impact"]["grids"] and incident["impact"]["population"] > 0
    assert all(g["code"].startswith(users.town_a) for g in incident["impact"]["grids"])
    iid = incident["id"]
    assert client.get(f"/api/incidents/{iid}", headers=heads[users.district]).status_code == 200
    assert client.get(f"/api/incidents/{iid}", headers=heads[users.operator_b]).status_code == 404
    assert client.get(f"/api/incidents/{iid}/report.html", headers=heads[users.operator_b]).status_code == 404
    assert iid not in [i["id"] for i in client.get("/api/incidents", headers=heads[users.operator_b]).json()]
    # town B may not open an incident in town A
    assert client.post("/api/incidents", json=spec, headers=heads[users.operator_b]).status_code == 403
    # an alert inside the area (a people's report here) joins the timeline
    r = client.post("/api/events", json={"category": "fire", "text": "群众报告冒烟", "lon": lon, "lat": lat,
                                          "reporter": "12345", "channel": "hotline"},
                    headers=heads[users.operator_a])
    assert r.status_code == 201, r.text
    assert client.post(f"/api/incidents/{iid}/notes", json={"text": "消防已到场"},
                       headers=heads[users.operator_a]).status_code == 201
    kinds = [e["kind"] for e in client.get(f"/api/incidents/{iid}/timeline", headers=heads[users.operator_a]).json()]
    assert kinds[0] == "opened" and "alert" in kinds and kinds[-1] == "note"
    html = client.get(f"/api/incidents/{iid}/report.html", headers=heads[users.operator_a]).text
    assert "化工园区火情" in html and not re.search(r"""(src|href)\s*=\s*["']https?://""", html)
    csv_text = client.get(f"/api/incidents/{iid}/report.csv", headers=heads[users.operator_a]).text
    assert users.town_a in csv_text
    assert client.get(f"/api/incidents/{iid}/report.json", headers=heads[users.operator_a]).status_code == 200
    closed = client.post(f"/api/incidents/{iid}/close", json={"note": "明火扑灭"}, headers=heads[users.operator_a])
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert client.post(f"/api/incidents/{iid}/close", json={}, headers=heads[users.operator_a]).status_code == 409


@pytest.mark.parametrize(
    "area",
    [
        {
            "polygon": {
                "type": "Polygon",
                "coordinates": [[[120, 32], [120.01, 32.01], [120.01, 32], [120, 32.01], [120, 32]]],
            }
        },
        {"point": [120.9, 32.0], "radius_m": -5},
        {
            "polygon": {
                "type": "Polygon",
                "coordinates": [[[400000, 3500000], [400100, 3500000], [400100, 3500100], [400000, 3500000]]],
            }
        },
    ],
)
def test_bad_incident_areas_are_422(console, area):
    _, client, users, heads = console
    r = client.post("/api/incidents", json={"type": "flood", "title": "内涝", "area": area},
                    headers=heads[users.district])
    assert r.status_code == 422, r.text


def test_leak_needs_wind_and_points_downwind(console):
    state, client, users, heads = console
    lon, lat = _town_point(state, users.town_a)
    r = client.post(
        "/api/incidents",
        json={"type": "chemical_leak", "title": "泄漏", "area": {"point": [lon, lat], "radius_m": 200}},
        headers=heads[users.district],
    )
    assert r.status_code == 422 and "wind" in r.text
    r = client.post("/api/incidents", json={"type": "chemical_leak", "title": "氯气泄漏",
                                            "area": {"point": [lon, lat], "wind_from_deg": 0, "wind_speed_ms": 3}},
                    headers=heads[users.district])
    assert r.status_code == 201, r.text
    area = shapely.geometry.shape(r.json()["geometry"])
    assert area.centroid.y < lat  # a north wind blows the plume south


def test_incident_messages_reach_only_the_towns_they_touch(console):
    state, client, users, heads = console
    seen: dict[str, list] = {}
    a = state.hub.connect(users.town_a, last_seq=state.hub.seq)
    b = state.hub.connect(users.town_b, last_seq=state.hub.seq)
    lon, lat = _town_point(state, users.town_a)
    r = client.post(
        "/api/incidents",
        json={"type": "typhoon", "title": "台风梅花", "area": {"point": [lon, lat], "radius_m": 200}},
        headers=heads[users.operator_a],
    )
    assert r.status_code == 201
    for name, c in (("a", a), ("b", b)):
        seen[name] = [e.message for e in list(c._queue)]
    a.close(), b.close()
    assert any(m.get("type") == "incident" and m.get("id") == r.json()["id"] for m in seen["a"])
    assert not any(m.get("type") == "incident" for m in seen["b"])
    # the bus still delivers after the test
    state.bus.publish(Topic.CAMERA_STATUS, CameraStatus(camera_id="CAM-NOOP", state="online", since=0.0))


# ------------------------------------------------------------------------------------ MQTT


def test_mqtt_reports_reach_the_console_through_the_real_broker(tmp_path):
    """A console with MQTT on, against Mosquitto on loopback: a vehicle report and a DJI OSD
    message become a fix and a drone pose; a malformed message is counted and changes nothing."""
    import uuid

    import paho.mqtt.client as mqtt

    from zhizhi.console.settings import TelemetrySettings
    from zhizhi.console.state import open_console
    from zhizhi.telemetry.mqtt import MqttSettings

    prefix = f"zz-{uuid.uuid4().hex[:8]}"
    settings = small_console_settings(tmp_path, telemetry=TelemetrySettings(
        mqtt_enabled=True,
        mqtt=MqttSettings(client_id=f"{prefix}-console", vehicle_topic=f"{prefix}/vehicles/+",
                          drone_topic=f"{prefix}/thing/product/+/osd")))
    state = open_console(settings)
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{prefix}-pub")
    try:
        deadline = time.monotonic() + 10
        while state.mqtt.status != "online" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.mqtt.status == "online"
        publisher.connect("127.0.0.1", 1883)
        publisher.loop_start()
        lon, lat = state.jurisdictions.get(state.jurisdictions.grid_codes[0]).anchor
        now = time.time()
        for topic, body in (
            (f"{prefix}/vehicles/MQ-1", b"{not json"),
            (f"{prefix}/vehicles/MQ-1", json.dumps({"ts": now, "lon": lon, "lat": lat, "speed_kmh": 40}).encode()),
            (f"{prefix}/thing/product/DOCK-7/osd", json.dumps({
                "tid": "t", "bid": "b", "timestamp": int(now * 1000), "gateway": "DOCK-7",
                "data": {"latitude": lat, "longitude": lon, "elevation": 90.0, "attitude_head": -90.0,
                         "battery": {"capacity_percent": 66},
                         "52-0-0": {"gimbal_pitch": -60.0, "gimbal_yaw": -90.0}}}).encode()),
        ):
            publisher.publish(topic, body, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while (state.fleet.vehicle("MQ-1") is None or not state.fleet.drones("")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.fleet.vehicle("MQ-1")["speed_kmh"] == 40
        drone = state.fleet.drones("")[0]
        assert (drone["drone_id"], drone["gimbal_yaw_deg"], drone["battery_pct"]) == ("DOCK-7", 270.0, 66)
        status = state.telemetry_status()["mqtt"]
        assert status["malformed"] == 1 and status["fixes"] == 1
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        state.close()


def test_positions_reach_only_the_town_they_are_in(console):
    """The wall's vehicle and drone messages: town A's screens get town A's, town B's nothing of them."""
    state, _, users, _ = console
    a = state.hub.connect(users.town_a, last_seq=state.hub.seq)
    b = state.hub.connect(users.town_b, last_seq=state.hub.seq)
    try:
        lon, lat = _town_point(state, users.town_a)
        now = time.time()
        assert state.ingest_reports([{"vehicle_id": "POS-A", "ts": now, "lon": lon, "lat": lat}]).accepted == 1
        assert state.ingest_drone(DroneState(drone_id="POS-UAV", ts=now, lon=lon, lat=lat, height_m=80,
                                             heading_deg=0, gimbal_pitch_deg=-90, gimbal_yaw_deg=0))
        deadline = time.monotonic() + 5
        def seen(client) -> list[dict]:
            return [e.message for e in list(client._queue)]
        while time.monotonic() < deadline and not (
            any(m["type"] == "vehicles" and any(v["vehicle_id"] == "POS-A" for v in m["vehicles"]) for m in seen(a))
            and any(m["type"] == "drone" and m["drone_id"] == "POS-UAV" for m in seen(a))
        ):
            time.sleep(0.05)
        assert any(m["type"] == "drone" and m["drone_id"] == "POS-UAV" for m in seen(a))
        assert not any(
            m["type"] == "vehicles" and any(v["vehicle_id"] == "POS-A" for v in m["vehicles"]) for m in seen(b)
        )
        assert not any(m["type"] == "drone" and m["drone_id"] == "POS-UAV" for m in seen(b))
        snapshot = {m["type"] for m in state.hub.snapshot_for(a)["items"]}
        assert {"vehicles", "drone"} <= snapshot
    finally:
        a.close()
        b.close()


def test_a_video_tanker_is_matched_to_the_registered_vehicle_there(console):
    """Fusion: a video warning about a hazmat tanker where and when a registered vehicle reports
    becomes an alert with that vehicle's plate, carrier and cargo."""
    from zhizhi.models.warning.record import WarningEvent

    state, client, users, heads = console
    lon, lat = _town_point(state, users.town_a)
    body = _vehicle("HZ-FUSE", _route_in(state, users.town_a))
    assert client.post("/api/hazmat/vehicles", json=body, headers=heads[users.district]).status_code == 201
    now = time.time()
    report = client.post("/api/telemetry", headers=heads[GATEWAY], json=[
        {"vehicle_id": "HZ-FUSE", "ts": now - 4 + i, "lon": lon + 0.00003 * i, "lat": lat, "speed_kmh": 3}
        for i in range(4)])
    assert report.json()["accepted"] == 4
    assert state.trajectory.wait_idle()
    state.on_warning(WarningEvent(rule="abnormal_stop", rule_id="hazmat-stop", severity="orange", camera_id="CAM-F",
                                  track_id=4242, cls="hazmat_tanker", lon=lon + 0.0001, lat=lat,
                                  first_ts=now - 60, last_ts=now - 1))
    alert = next(a for a in client.get("/api/alerts", params={"limit": 500}, headers=heads[users.operator_a]).json()
                 if a.get("track_id") == 4242)
    assert alert["details"]["plate"] == body["plate"] and alert["details"]["fused"] is True
    assert (alert["details"]["company"], alert["details"]["un_number"]) == (body["company"], "1203")
