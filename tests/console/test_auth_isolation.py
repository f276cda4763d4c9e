"""A town operator's token never reaches another town's data, on every /api route.

The test walks every route of the app under ``/api`` (``http_routes``: FastAPI nests included
routers) and runs, for each, a check written for that route: town A's operator asks about
town B's features, cameras, alerts, events, evidence and layers (list, detail, bbox query,
export, search, locate, and every write) and must get nothing of town B back — while the same
request about town A works, so the check is not passing for a broken route. A route without a
check fails the test: whoever adds an /api route adds its isolation check here.

Besides each check's own asserts, every text answer town A gets during a check is scanned for
anything of town B (:class:`LeakScan`: B's jurisdiction codes, B's alerts, cameras, vehicles,
drones, incidents and the ids of B's facilities and shelters) that A did not itself name in the
request: a derived result (an incident's impact, a timeline, a report) that carries B's data
fails whatever route serves it. Incidents are checked on a district-wide incident crossing both
towns as well as on each town's own.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

import cv2
import numpy as np
import pytest
import shapely
import shapely.geometry

from tests.auth_support import TestUsers, api_routes, http_routes
from tests.redis_support import wait_until
from zhizhi.alerts.record import Alert
from zhizhi.models.warning.record import WarningEvent

#: The session console's tests of this module run on SQLite and on PostgreSQL (tests/conftest.py).
CONSOLE_BACKENDS = ("sqlite", "postgresql")

_tracks = itertools.count(1)
PRIVATE_B = "isolation-town-b-private"


@dataclass
class World:
    """What exists of town B (and of A, for the positive half of each check)."""

    client: object
    state: object
    users: TestUsers
    a: dict[str, str]  # town A operator's headers
    b: dict[str, str]  # town B operator's headers
    alert_a: Alert
    alert_b: Alert
    event_b: dict
    camera_a: object
    camera_b: object
    d: dict[str, str]  # the district duty officer's headers

    def within_a(self, code: str | None) -> bool:
        return code is not None and code.startswith(self.users.town_a)

    def of_b(self, code: str | None) -> bool:
        return code is not None and code.startswith(self.users.town_b)

    def point_in(self, town: str) -> tuple[float, float]:
        grid = next(g for g in self.state.jurisdictions.grid_codes if g.startswith(town))
        return self.state.jurisdictions.get(grid).anchor


def _raise_with_evidence(state, town: str) -> Alert:
    grid = next(g for g in state.jurisdictions.grid_codes if g.startswith(town))
    lon, lat = state.jurisdictions.get(grid).anchor
    now = time.time()
    alert = state.alerts.ingest(WarningEvent(
        rule="abnormal_stop", rule_id=f"iso-stop-{next(_tracks)}", severity="orange",
        camera_id=f"CAM-ISO-{next(_tracks)}", track_id=next(_tracks), cls="hazmat_tanker", lon=lon, lat=lat,
        first_ts=now - 60, last_ts=now,
    ))
    frame = np.full((48, 64, 3), 80, np.uint8)
    jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
    snapshot = state.evidence.save_snapshot(alert.id, jpeg)
    clip = state.evidence.save_clip(alert.id, [frame] * 5, 5.0)
    track = state.evidence.save_track(alert.id, [{"type": "frame", "camera_id": alert.camera_id, "ts": now}])
    state.alerts.attach_evidence(alert.id, snapshot=snapshot, clip=clip, track=track)
    joined = f"{alert.camera_id}-JOINED"  # a camera that joined the alert: its view
    view = {"snapshot": state.evidence.save_snapshot(alert.id, jpeg, camera_id=joined),
            "clip": state.evidence.save_clip(alert.id, [frame] * 5, 5.0, camera_id=joined),
            "track": state.evidence.save_track(alert.id, [{"type": "frame", "camera_id": joined, "ts": now}],
                                               camera_id=joined)}
    return state.alerts.attach_evidence(alert.id, camera_id=joined, **view)


def _geojson(point: tuple[float, float]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "iso"}, "geometry": {"type": "Point", "coordinates": list(point)}}
    ]}).encode()


@pytest.fixture(scope="module")
def world(client, console_state, logins, test_users) -> World:
    state, users = console_state, test_users
    a, b = logins[users.operator_a], logins[users.operator_b]
    alert_a = _raise_with_evidence(state, users.town_a)
    alert_b = _raise_with_evidence(state, users.town_b)
    lon, lat = state.jurisdictions.get(
        next(g for g in state.jurisdictions.grid_codes if g.startswith(users.town_b))).anchor
    event = {"category": "fire", "text": "仓库冒烟", "lon": lon, "lat": lat, "reporter": "赵六", "channel": "hotline"}
    reported = client.post("/api/events", json=event, headers=b)
    assert reported.status_code == 201, reported.text
    if PRIVATE_B not in {layer["name"] for layer in client.get("/api/layers", headers=b).json()}:
        upload = client.post("/api/layers", headers=b, data={"name": PRIVATE_B},
                             files={"file": ("b.geojson", _geojson((lon, lat)), "application/geo+json")})
        assert upload.status_code == 201, upload.text
    cameras = state.cameras.cameras
    camera_a = next(c for c in cameras if c.grid and c.grid.startswith(users.town_a))
    camera_b = next(c for c in cameras if c.grid and c.grid.startswith(users.town_b))
    return World(client, state, users, a, b, alert_a, alert_b, reported.json(), camera_a, camera_b,
                 logins[users.district])


# --- one check per route ----------------------------------------------------------------------


def check_alerts_list(w: World) -> None:
    for params in ({"limit": 1000}, {"limit": 1000, "status": "new"}, {"limit": 1000, "severity": "orange,red"},
                   {"limit": 1000, "since": 0}):
        listed = w.client.get("/api/alerts", params=params, headers=w.a).json()
        ids = {x["id"] for x in listed}
        assert w.alert_a.id in ids
        assert w.alert_b.id not in ids and w.event_b["id"] not in ids
        assert all(w.within_a(x["grid"]) or w.within_a(x["assignee_unit"]) for x in listed)
    theirs = {x["id"] for x in w.client.get("/api/alerts", params={"limit": 1000}, headers=w.b).json()}
    assert w.alert_b.id in theirs  # the same query does find town B's alert for town B


def check_alerts_export(w: World) -> None:
    from fastapi.testclient import TestClient

    bare = TestClient(w.client.app)  # a download link: ?ticket=, no header
    for params in ({}, {"status": "new"}, {"severity": "orange,red", "headers": "en"}, {"since": 0}):
        for exported in (w.client.get("/api/alerts/export.csv", params=params, headers=w.a),
                         bare.get("/api/alerts/export.csv", params={**params, "ticket": _ticket(w, w.a)})):
            assert exported.status_code == 200, exported.text
            assert w.alert_a.id in exported.text
            assert w.alert_b.id not in exported.text and w.event_b["id"] not in exported.text
    theirs = w.client.get("/api/alerts/export.csv", headers=w.b)
    assert w.alert_b.id in theirs.text and w.alert_a.id not in theirs.text


def _hidden_like_missing(w: World, method: str, suffix: str, body=None) -> None:
    hidden = w.client.request(method, f"/api/alerts/{w.alert_b.id}{suffix}", json=body, headers=w.a)
    missing = w.client.request(method, f"/api/alerts/zzzzzzzzzzzz{suffix}", json=body, headers=w.a)
    assert hidden.status_code == missing.status_code == 404, (suffix, hidden.text)
    assert hidden.text.replace(w.alert_b.id, "zzzzzzzzzzzz") == missing.text


def check_alert_detail(w: World) -> None:
    _hidden_like_missing(w, "GET", "")
    for alert_id in (w.event_b["id"],):
        assert w.client.get(f"/api/alerts/{alert_id}", headers=w.a).status_code == 404
    assert w.client.get(f"/api/alerts/{w.alert_a.id}", headers=w.a).status_code == 200


def check_evidence(w: World) -> None:
    gateway = _gateway_headers(w)
    for kind in ("snapshot", "clip", "track"):
        _hidden_like_missing(w, "GET", f"/evidence/{kind}")
        assert w.client.get(f"/api/alerts/{w.alert_b.id}/evidence/{kind}", headers=w.b).status_code == 200
        # a role without `read` (the gateway machine account, district-wide) gets no evidence
        denied = w.client.get(f"/api/alerts/{w.alert_a.id}/evidence/{kind}", headers=gateway)
        assert denied.status_code == 403 and not denied.content.startswith(b"\xff\xd8"), denied.text
        assert w.client.get(f"/api/alerts/{w.alert_a.id}", headers=gateway).status_code == 403
    own = w.client.get(f"/api/alerts/{w.alert_a.id}/evidence/snapshot", headers=w.a)
    assert own.status_code == 200 and own.content.startswith(b"\xff\xd8")
    track = w.client.get(f"/api/alerts/{w.alert_a.id}/evidence/track", headers=w.a)
    assert track.status_code == 200 and track.headers["content-type"] == "application/x-ndjson"
    assert json.loads(track.text.splitlines()[0])["camera_id"] == w.alert_a.camera_id
    # a joining camera's files (?camera=): the same rules, and 404 for a camera without a view
    theirs = {"camera": w.alert_b.evidence.views[0].camera_id}
    ours = {"camera": w.alert_a.evidence.views[0].camera_id}
    for kind in ("snapshot", "clip", "track"):
        url_a, url_b = f"/api/alerts/{w.alert_a.id}/evidence/{kind}", f"/api/alerts/{w.alert_b.id}/evidence/{kind}"
        hidden = w.client.get(url_b, params=theirs, headers=w.a)
        missing = w.client.get(f"/api/alerts/zzzzzzzzzzzz/evidence/{kind}", params=theirs, headers=w.a)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.text.replace(w.alert_b.id, "zzzzzzzzzzzz") == missing.text
        assert w.client.get(url_b, params=theirs, headers=w.b).status_code == 200
        denied = w.client.get(url_a, params=ours, headers=gateway)
        assert denied.status_code == 403, denied.text
        assert w.client.get(url_a, params=ours, headers=w.a).status_code == 200
        assert w.client.get(url_a, params=theirs, headers=w.a).status_code == 404  # B's camera: no view of A's
    view = w.client.get(f"/api/alerts/{w.alert_a.id}/evidence/snapshot", params=ours, headers=w.a)
    assert view.content.startswith(b"\xff\xd8") and view.content == (
        w.state.evidence.root / w.alert_a.evidence.views[0].snapshot).read_bytes()


def _gateway_headers(w: World) -> dict[str, str]:
    from tests.auth_support import PASSWORD, bearer, login

    if w.state.auth.get_user("iso-gateway") is None:
        w.state.auth.add_user("iso-gateway", "gateway", w.users.district_code, PASSWORD)
    return bearer(login(w.client, "iso-gateway"))


def _untouched(w: World) -> None:
    after = w.state.alerts.get(w.alert_b.id)
    assert after.status == "new" and after.assignee_unit == w.alert_b.assignee_unit
    assert all(h.actor != w.users.operator_a for h in w.state.alerts.history(w.alert_b.id))


def check_transition(w: World) -> None:
    _hidden_like_missing(w, "POST", "/transition", {"to": "acknowledged"})
    _untouched(w)


def check_escalate(w: World) -> None:
    _hidden_like_missing(w, "POST", "/escalate", {"note": "up"})
    _untouched(w)


def check_hand_down(w: World) -> None:
    _hidden_like_missing(w, "POST", "/hand_down", {"unit": w.alert_b.grid})
    _untouched(w)


def check_bulk(w: World) -> None:
    for action, extra in (("acknowledge", {}), ("close_false_alarm", {"note": "越界"}),
                          ("close_duplicate", {"duplicate_of": w.alert_a.id})):
        answer = w.client.post("/api/alerts/bulk", json={"ids": [w.alert_b.id], "action": action, **extra},
                               headers=w.a)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"done": [], "failed": [
            {"id": w.alert_b.id, "status": 404, "detail": f"no alert {w.alert_b.id!r}"}]}
    # nor may B's alert be the one A's duplicates are folded into
    fold = w.client.post("/api/alerts/bulk", headers=w.a, json={
        "ids": [w.alert_a.id], "action": "close_duplicate", "duplicate_of": w.alert_b.id})
    assert fold.json()["failed"][0]["status"] == 404 and w.state.alerts.get(w.alert_a.id).is_open
    _untouched(w)


def check_false_alarm_rates(w: World) -> None:
    rates = w.client.get("/api/alerts/false-alarm-rates", params={"days": 90}, headers=w.a).json()
    assert rates and all(r["camera_id"] != w.alert_b.camera_id for r in rates)
    assert any(r["camera_id"] == w.alert_a.camera_id for r in rates)
    theirs = w.client.get("/api/alerts/false-alarm-rates", params={"days": 90}, headers=w.b).json()
    assert any(r["camera_id"] == w.alert_b.camera_id for r in theirs)


def check_report_event(w: World) -> None:
    lon, lat = w.point_in(w.users.town_b)
    event = {"category": "road_damage", "text": "坑洼", "lon": lon, "lat": lat, "reporter": "钱七", "channel": "app"}
    refused = w.client.post("/api/events", json=event, headers=w.a)
    assert refused.status_code == 403 and "outside jurisdiction" in refused.json()["detail"]
    lon, lat = w.point_in(w.users.town_a)
    own = w.client.post("/api/events", json=event | {"lon": lon, "lat": lat}, headers=w.a)
    assert own.status_code == 201 and w.within_a(own.json()["grid"])


def _assert_features_of_a(w: World, features: list[dict], what: str) -> None:
    for f in features:
        code = f["properties"].get("code")
        assert not w.of_b(code), (what, code)
        assert w.within_a(code) or w.users.town_a.startswith(code), (what, code)


def check_layers_list(w: World) -> None:
    listed = {layer["name"]: layer for layer in w.client.get("/api/layers", headers=w.a).json()}
    assert PRIVATE_B not in listed and "grids" in listed
    own_grids = [g for g in w.state.jurisdictions.grid_codes if g.startswith(w.users.town_a)]
    assert listed["grids"]["feature_count"] == len(own_grids)
    assert listed["towns"]["feature_count"] == 1
    assert PRIVATE_B in {layer["name"] for layer in w.client.get("/api/layers", headers=w.b).json()}


def _layer_names(w: World) -> list[str]:
    return [layer["name"] for layer in w.client.get("/api/layers", headers=w.a).json()]


def check_layer_features(w: World) -> None:
    b_box = ",".join(str(v) for v in shapely.bounds(w.state.jurisdictions.get(w.users.town_b).geometry))
    for name in _layer_names(w):
        for params in ({}, {"bbox": b_box}):
            response = w.client.get(f"/api/layers/{name}/features", params=params, headers=w.a)
            assert response.status_code == 200, (name, response.text)
            _assert_features_of_a(w, response.json()["features"], name)
    assert w.client.get(f"/api/layers/{PRIVATE_B}/features", headers=w.a).status_code == 404
    grids = w.client.get("/api/layers/grids/features", headers=w.a).json()["features"]
    assert grids and all(w.within_a(f["properties"]["code"]) for f in grids)


def check_layer_export(w: World) -> None:
    for name in ("grids", "villages", "cameras", "zones", "shelters", "towns"):
        exported = w.client.get(f"/api/layers/{name}/export", params={"format": "geojson"}, headers=w.a)
        assert exported.status_code == 200, (name, exported.text)
        _assert_features_of_a(w, json.loads(exported.content)["features"], f"export {name}")
    zipped = w.client.get("/api/layers/grids/export", params={"format": "shp.zip"}, headers=w.a)
    assert zipped.status_code == 200
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        dbf = next(n for n in archive.namelist() if n.endswith(".dbf"))
        assert w.users.town_b.encode() not in archive.read(dbf)
    assert w.client.get(f"/api/layers/{PRIVATE_B}/export", headers=w.a).status_code == 404


def check_layer_upload(w: World) -> None:
    lon, lat = w.point_in(w.users.town_b)
    files = {"file": ("x.geojson", _geojson((lon, lat)), "application/geo+json")}
    as_b = w.client.post("/api/layers", headers=w.a, data={"name": "iso-a-for-b", "jurisdiction": w.users.town_b},
                         files=files)
    assert as_b.status_code == 403
    into_b = w.client.post("/api/layers", headers=w.a, data={"name": "iso-a-into-b"}, files=files)
    assert into_b.status_code == 422
    assert "iso-a-into-b" not in _layer_names(w)
    # Nobody replaces a layer owned above (the district's shelters) or beside (town B's own layer).
    lon, lat = w.point_in(w.users.town_a)
    mine = {"file": ("a.geojson", _geojson((lon, lat)), "application/geo+json")}
    for name in ("shelters", "cameras", PRIVATE_B):
        before = w.state.registry.get_layer(name, _everything())
        refused = w.client.post("/api/layers", headers=w.a, data={"name": name}, files=mine)
        assert refused.status_code == 403, (name, refused.text)
        assert refused.json()["code"] == "forbidden" and w.users.town_b not in refused.text
        after = w.state.registry.get_layer(name, _everything())
        assert (after.owner_code, after.feature_count, after.updated_at) == (
            before.owner_code, before.feature_count, before.updated_at)
    # ... while a town owns and replaces its own layers.
    for _ in range(2):
        own = w.client.post("/api/layers", headers=w.a, data={"name": "iso-a-own"}, files=mine)
        assert own.status_code == 201 and own.json()["owner_code"] == w.users.town_a, own.text


def _everything():
    from zhizhi.layers import Scope

    return Scope.everything()


def check_search(w: World) -> None:
    town_b = w.state.jurisdictions.get(w.users.town_b)
    village_b = w.state.jurisdictions.children(town_b.code)[0]
    for q in (town_b.name, town_b.code, village_b.code, village_b.name, w.users.district_code, "镇", "村"):
        hits = w.client.get("/api/search", params={"q": q, "limit": 100}, headers=w.a).json()
        assert all(w.within_a(h["code"]) for h in hits), q
    own = w.client.get("/api/search", params={"q": w.users.town_a}, headers=w.a).json()
    assert own and own[0]["code"] == w.users.town_a


def check_locate(w: World) -> None:
    lon, lat = w.point_in(w.users.town_b)
    hidden = w.client.get("/api/grids/locate", params={"lon": lon, "lat": lat}, headers=w.a)
    assert hidden.status_code == 404 and w.users.town_b not in hidden.text.replace(w.users.town_a, "")
    lon, lat = w.point_in(w.users.town_a)
    assert w.within_a(w.client.get("/api/grids/locate", params={"lon": lon, "lat": lat}, headers=w.a).json()["grid"])


def check_covering(w: World) -> None:
    for camera in (w.camera_b, w.camera_a):
        hits = w.client.get("/api/cameras/covering", params={"lon": camera.lon, "lat": camera.lat},
                            headers=w.a).json()
        assert all(w.within_a(h["grid"]) for h in hits)
        assert w.camera_b.id not in {h["id"] for h in hits}


def check_fov(w: World) -> None:
    features = w.client.get("/api/cameras/fov", headers=w.a).json()["features"]
    ids = {f["properties"]["id"] for f in features}
    assert w.camera_a.id in ids and w.camera_b.id not in ids
    assert all(w.within_a(f["properties"]["grid"]) for f in features)


def _calibration_pairs(w: World, camera) -> list[dict]:
    """Pairs the camera's own pinhole first guess would give (a valid calibration of it)."""
    from zhizhi.video.calibration import pinhole_calibration

    guess = pinhole_calibration(camera.lon, camera.lat, camera.heading_deg, min(camera.hfov_deg, 120.0), (1280, 720))
    pixels = [(200, 650), (1080, 650), (900, 500), (380, 500)]
    lon, lat = guess.pixel_to_lonlat(*np.asarray(pixels, float).T)
    return [{"px": list(p), "lonlat": [float(x), float(y)]} for p, x, y in zip(pixels, lon, lat)]


def _calibrations_of(w: World, camera_id: str) -> int:
    from zhizhi.layers.camera_calibrations import CameraCalibrations

    return len(CameraCalibrations(w.state.engine).versions(camera_id))


def _adaptation_of_b(w: World) -> str:
    """A finished adaptation job of town B's camera (made directly: no stream to record here)."""
    job = w.state.jobs.submit("adapt", lambda progress: {"camera_id": w.camera_b.id, "figure": None},
                              owner="b", params={"camera_id": w.camera_b.id})
    w.state.jobs.wait(job.id, 10)
    return job.id


def check_adapt_start(w: World) -> None:
    refused = w.client.post(f"/api/cameras/{w.camera_b.id}/adapt", json={"minutes": 0.5}, headers=w.a)
    assert refused.status_code == 403 and "another jurisdiction" in refused.text
    assert not [j for j in w.state.jobs.list("adapt") if j.owner == w.users.operator_a]
    own = w.client.post(f"/api/cameras/{w.camera_a.id}/adapt", json={"minutes": 0.5}, headers=w.a)
    assert own.status_code == 422 and "no main stream" in own.text  # allowed: the demo camera has no stream


def check_adapt_list(w: World) -> None:
    _adaptation_of_b(w)
    assert w.client.get(f"/api/cameras/{w.camera_b.id}/adapt", headers=w.a).status_code == 403
    own = w.client.get(f"/api/cameras/{w.camera_a.id}/adapt", headers=w.a)
    assert own.status_code == 200 and all(j["params"]["camera_id"] == w.camera_a.id for j in own.json())
    assert w.client.get(f"/api/cameras/{w.camera_b.id}/adapt", headers=w.b).json()


def check_adapt_detail(suffix: str):
    def check(w: World) -> None:
        job_id = _adaptation_of_b(w)
        assert w.client.get(f"/api/cameras/{w.camera_b.id}/adapt/{job_id}{suffix}", headers=w.a).status_code == 403
        assert w.client.get(f"/api/cameras/{w.camera_a.id}/adapt/{job_id}{suffix}", headers=w.a).status_code == 404
        theirs = w.client.get(f"/api/cameras/{w.camera_b.id}/adapt/{job_id}{suffix}", headers=w.b)
        assert theirs.status_code == (404 if suffix else 200)  # no figure: the job made none

    return check


def check_calibration_get(w: World) -> None:
    hidden = w.client.get(f"/api/cameras/{w.camera_b.id}/calibration", headers=w.a)
    assert hidden.status_code == 403 and "another jurisdiction" in hidden.text
    own = w.client.get(f"/api/cameras/{w.camera_a.id}/calibration", headers=w.a)
    assert own.status_code == 200 and own.json()["camera"]["id"] == w.camera_a.id


def check_calibration_preview(w: World) -> None:
    body = {"points": _calibration_pairs(w, w.camera_b), "image_size": [1280, 720]}
    assert w.client.post(f"/api/cameras/{w.camera_b.id}/calibration/preview", json=body,
                         headers=w.a).status_code == 403
    body = {"points": _calibration_pairs(w, w.camera_a), "image_size": [1280, 720]}
    own = w.client.post(f"/api/cameras/{w.camera_a.id}/calibration/preview", json=body, headers=w.a)
    assert own.status_code == 200 and own.json()["fov"]["type"] == "Polygon"


def check_calibration_put(w: World) -> None:
    from sqlalchemy import delete

    from zhizhi.layers.camera_calibrations import camera_calibrations

    before = _calibrations_of(w, w.camera_b.id)
    body = {"points": _calibration_pairs(w, w.camera_b), "image_size": [1280, 720]}
    refused = w.client.put(f"/api/cameras/{w.camera_b.id}/calibration", json=body, headers=w.a)
    assert refused.status_code == 403 and _calibrations_of(w, w.camera_b.id) == before
    body = {"points": _calibration_pairs(w, w.camera_a), "image_size": [1280, 720]}
    own = w.client.put(f"/api/cameras/{w.camera_a.id}/calibration", json=body, headers=w.a)
    try:
        assert own.status_code == 200 and own.json()["version"] >= 1, own.text
    finally:  # the session console's other tests expect the demo camera's nominal sector
        with w.state.engine.begin() as conn:
            conn.execute(delete(camera_calibrations).where(camera_calibrations.c.camera_id == w.camera_a.id))
        w.state.reload_cameras()


def check_masks_put(w: World) -> None:
    before = w.state.camera_registry.get(w.camera_b.id)
    refused = w.client.put(f"/api/cameras/{w.camera_b.id}/masks", json={"masks": [[[0, 0], [9, 0], [9, 9]]]},
                           headers=w.a)
    assert refused.status_code == 403 and w.state.camera_registry.get(w.camera_b.id) == before
    own = w.client.put(f"/api/cameras/{w.camera_a.id}/masks", json={"masks": w.state.camera_registry.get(
        w.camera_a.id).masks}, headers=w.a)
    assert own.status_code == 200 and own.json()["id"] == w.camera_a.id


def check_camera_video(suffix: str) -> Callable[[World], None]:
    def check(w: World) -> None:
        from fastapi.testclient import TestClient

        bare = TestClient(w.client.app)  # no default (district) Authorization header
        for kwargs in ({"headers": w.a}, {"params": {"ticket": _ticket(w, w.a)}}):
            # Streamed: were the camera served, an MJPEG stream would never end.
            with bare.stream("GET", f"/api/cameras/{w.camera_b.id}/{suffix}", **kwargs) as response:
                assert response.status_code == 404, kwargs

    return check


def _recorded(w: World) -> tuple[float, dict[str, str]]:
    """Both towns' cameras recorded (2 s each, once per module); the time and each one's first segment name."""
    from tests.recording_support import record_clip

    root = w.state.settings.resolved_recordings_dir
    t0 = 1_700_000_000.0
    names = {}
    for camera in (w.camera_a, w.camera_b):
        segments = record_clip(root, camera.id, t0, seconds=2.0) if not (root / camera.id).is_dir() else None
        names[camera.id] = (segments or sorted((root / camera.id).glob("[0-9]*.mp4")))[0].name
    return t0, names


def check_recordings_list(w: World) -> None:
    t0, _ = _recorded(w)
    span = {"start": t0, "end": t0 + 10}
    hidden = w.client.get(f"/api/cameras/{w.camera_b.id}/recordings", params=span, headers=w.a)
    missing = w.client.get("/api/cameras/CAM-NONE/recordings", params=span, headers=w.a)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace(w.camera_b.id, "CAM-NONE") == missing.text
    assert w.client.get(f"/api/cameras/{w.camera_b.id}/recordings", params=span, headers=w.b).json()
    assert w.client.get(f"/api/cameras/{w.camera_a.id}/recordings", params=span, headers=w.a).json()


def check_recording_segment(w: World) -> None:
    from fastapi.testclient import TestClient

    _, names = _recorded(w)
    bare = TestClient(w.client.app)
    for kwargs in ({"headers": w.a}, {"params": {"ticket": _ticket(w, w.a)}}):
        hidden = bare.get(f"/api/cameras/{w.camera_b.id}/recordings/{names[w.camera_b.id]}", **kwargs)
        assert hidden.status_code == 404 and b"ftyp" not in hidden.content[:16]
        own = bare.get(f"/api/cameras/{w.camera_a.id}/recordings/{names[w.camera_a.id]}", **kwargs)
        assert own.status_code == 200 and own.content[4:8] == b"ftyp"
    theirs = bare.get(f"/api/cameras/{w.camera_b.id}/recordings/{names[w.camera_b.id]}", headers=w.b)
    assert theirs.status_code == 200


def check_recording_export(w: World) -> None:
    from fastapi.testclient import TestClient

    t0, _ = _recorded(w)
    span = {"start": t0, "end": t0 + 2}
    bare = TestClient(w.client.app)
    for kwargs in ({"headers": w.a}, {"params": {**span, "ticket": _ticket(w, w.a)}}):
        params = kwargs.pop("params", span)
        hidden = bare.get(f"/api/cameras/{w.camera_b.id}/recordings/export", params=params, **kwargs)
        assert hidden.status_code == 404 and b"ftyp" not in hidden.content[:16]
        own = bare.get(f"/api/cameras/{w.camera_a.id}/recordings/export", params=params, **kwargs)
        assert own.status_code == 200 and own.content[4:8] == b"ftyp"


def _ticket(w: World, headers: dict[str, str]) -> str:
    issued = w.client.post("/api/auth/ticket", headers=headers)
    assert issued.status_code == 200, issued.text
    return issued.json()["ticket"]


def check_ticket(w: World) -> None:
    """A ticket is town A's session in a URL: B's camera and B's evidence stay hidden."""
    from fastapi.testclient import TestClient

    ticket = _ticket(w, w.a)
    bare = TestClient(w.client.app)
    hidden = bare.get(f"/api/alerts/{w.alert_b.id}/evidence/snapshot", params={"ticket": ticket})
    assert hidden.status_code == 404
    own = bare.get(f"/api/alerts/{w.alert_a.id}/evidence/snapshot", params={"ticket": ticket})
    assert own.status_code == 200 and own.content.startswith(b"\xff\xd8")
    for alert, status in ((w.alert_b, 404), (w.alert_a, 200)):  # a joining camera's file (?camera=) alike
        view = {"ticket": ticket, "camera": alert.evidence.views[0].camera_id}
        assert bare.get(f"/api/alerts/{alert.id}/evidence/snapshot", params=view).status_code == status
    token = w.a["Authorization"].split(" ", 1)[1]  # a login token in a URL opens nothing
    assert bare.get(f"/api/alerts/{w.alert_a.id}/evidence/snapshot", params={"token": token}).status_code == 401


def check_wall_units(w: World) -> None:
    units = w.client.get("/api/wall/units", headers=w.a).json()
    codes = {u["code"] for u in units}
    assert w.users.town_a in codes and w.users.district_code in codes
    assert all(w.within_a(c) or w.users.town_a.startswith(c) for c in codes)


def check_wall_scope(w: World) -> None:
    outline = w.client.get("/api/wall/scope", headers=w.a).json()
    assert outline["properties"]["code"] == w.users.town_a
    town_a = w.state.jurisdictions.get(w.users.town_a).geometry
    assert shapely.geometry.shape(outline["geometry"]).within(shapely.buffer(town_a, 1e-4))


def check_procedures_list(w: World) -> None:
    # district-wide configuration: every town reads the same, and no town's data is in it
    mine = w.client.get("/api/procedures", headers=w.a)
    assert mine.status_code == 200 and mine.json() == w.client.get("/api/procedures", headers=w.b).json()
    assert {"abnormal_stop", "speeding"} <= {p["category"] for p in mine.json()}


def check_procedure_versions(w: World) -> None:
    versions = w.client.get("/api/procedures/abnormal_stop", headers=w.a)
    assert versions.status_code == 200 and versions.json()[-1]["version"] == 1
    assert versions.json() == w.client.get("/api/procedures/abnormal_stop", headers=w.b).json()


def check_procedure_save(w: World) -> None:
    before = w.client.get("/api/procedures/speeding", headers=w.a).json()
    body = {"title": "越界修改", "steps": [{"text": "越界", "required": False}]}
    for headers in (w.a, w.b, w.d):  # town operators and the duty officer: no admins
        assert w.client.put("/api/procedures/speeding", json=body, headers=headers).status_code == 403
    assert w.client.get("/api/procedures/speeding", headers=w.a).json() == before


def check_alert_checklist(w: World) -> None:
    _hidden_like_missing(w, "GET", "/procedure")
    mine = w.client.get(f"/api/alerts/{w.alert_a.id}/procedure", headers=w.a)
    assert mine.status_code == 200 and mine.json()["alert_id"] == w.alert_a.id and mine.json()["steps"]


def check_alert_tick(w: World) -> None:
    _hidden_like_missing(w, "POST", "/procedure/steps/1", {"done": True})
    _untouched(w)
    assert not w.state.procedures.store.ticks(w.alert_b.id)
    mine = w.client.post(f"/api/alerts/{w.alert_a.id}/procedure/steps/1", json={"done": True}, headers=w.a)
    assert mine.status_code == 200 and mine.json()["steps"][0]["actor"] == w.users.operator_a


def check_wall_alarm(w: World) -> None:
    from zhizhi.console.live.hub import wall_key

    w.state.silences.silence(wall_key(w.users.town_b, "iso"), until=time.time() + 60, by=w.users.operator_b,
                             now=time.time())
    mine = w.client.get("/api/wall/alarm", params={"wall": "iso"}, headers=w.a)
    assert mine.status_code == 200 and mine.json()["silenced_until"] is None  # B's wall "iso" is not A's
    assert w.client.get("/api/wall/alarm", params={"wall": "iso"}, headers=w.b).json()["silenced_by"] == \
        w.users.operator_b


def check_wall_silence(w: World) -> None:
    from zhizhi.console.live.hub import wall_key

    key_b = wall_key(w.users.town_b, "iso-silence")
    w.state.silences.silence(key_b, until=time.time() + 60, by=w.users.operator_b, now=time.time())
    ended = w.client.post("/api/wall/alarm/silence", json={"wall": "iso-silence", "minutes": 0}, headers=w.a)
    assert ended.status_code == 200
    assert w.state.silences.get(key_b, now=time.time()).by == w.users.operator_b  # B's still silenced
    mine = w.client.post("/api/wall/alarm/silence", json={"wall": "iso-silence", "minutes": 5}, headers=w.a)
    assert mine.status_code == 200 and mine.json()["silenced_by"] == w.users.operator_a
    assert w.state.silences.get(key_b, now=time.time()).by == w.users.operator_b


def check_config(w: World) -> None:
    config = w.client.get("/api/config", headers=w.a).json()
    assert config["scope"]["code"] == w.users.town_a and w.users.town_b not in json.dumps(config)


def check_basemap(w: World) -> None:
    answer = w.client.get("/api/basemap", headers=w.a)
    assert answer.status_code == 200 and answer.json() == w.client.get("/api/basemap", headers=w.b).json()


def check_basemap_tile(w: World) -> None:
    # District-wide imagery, the same for every town (none imported here: 404 for both).
    for headers in (w.a, w.b):
        assert w.client.get("/api/basemap/tiles/10/857/418.png", headers=headers).status_code in (200, 404)


def check_jurisdictions(w: World) -> None:
    # The hierarchy's summary is for district admins: a town's operator gets 403 naming the permission.
    answer = w.client.get("/api/jurisdictions", headers=w.a)
    assert answer.status_code == 403 and "jurisdictions.manage" in answer.json()["detail"]


def check_jurisdictions_import(w: World) -> None:
    before = len(w.state.jurisdictions)
    files = {level: (f"{level}.geojson", b'{"type": "FeatureCollection", "features": []}')
             for level in ("towns", "villages", "grids")}
    answer = w.client.post("/api/jurisdictions/import", files=files, data={"dry_run": "false"}, headers=w.a)
    assert answer.status_code == 403 and len(w.state.jurisdictions) == before


def check_alert_lifecycle(w: World) -> None:
    table = w.client.get("/api/alerts/lifecycle", headers=w.a).json()
    assert table["transitions"]["new"] and table == w.client.get("/api/alerts/lifecycle", headers=w.b).json()


def check_me(w: World) -> None:
    me = w.client.get("/api/auth/me", headers=w.a).json()
    assert me["user"]["jurisdiction"] == w.users.town_a and me["level"] == "town"


def check_login(w: World) -> None:
    from tests.auth_support import login

    token = login(w.client, w.users.operator_a)
    assert w.state.auth.authenticate(token).code == w.users.town_a
    w.state.auth.logout(token)


def check_logout(w: World) -> None:
    from tests.auth_support import bearer, login

    token = login(w.client, w.users.operator_a)
    assert w.client.post("/api/auth/logout", headers=bearer(token)).status_code == 204
    assert w.client.get("/api/alerts", headers=bearer(token)).status_code == 401


def check_users_list(w: World) -> None:
    refused = w.client.get("/api/users", headers=w.a)
    assert refused.status_code == 403 and w.users.operator_b not in refused.text


def check_users_add(w: World) -> None:
    body = {
        "username": "iso-intruder",
        "role": "town_operator",
        "jurisdiction": w.users.town_b,
        "password": "Intrude-9x",
    }
    assert w.client.post("/api/users", json=body, headers=w.a).status_code == 403
    assert w.state.auth.get_user("iso-intruder") is None


# --- telemetry, hazmat vehicles, drones, incidents ------------------------------------------------


@dataclass
class Fleet:
    """A registered vehicle, a reporting vehicle, a drone and an incident in each of towns A and B."""

    vehicle_a: str
    vehicle_b: str
    drone_a: str
    drone_b: str
    incident_a: str
    incident_b: str
    typhoon: str  # the district's, 100 km wide: it crosses both towns
    wide_a: str  # town A's with a 100 km radius: cut to town A
    typhoon_alert_a: str  # alerts raised inside the typhoon, one in each town
    typhoon_alert_b: str


def _fleet(w: World) -> Fleet:
    if getattr(w, "fleet", None) is not None:
        return w.fleet
    from zhizhi.layers.hazmat import HazmatVehicle
    from zhizhi.telemetry.record import DroneState

    now = time.time()
    ids = {}
    for town, tag in ((w.users.town_a, "a"), (w.users.town_b, "b")):
        lon, lat = w.point_in(town)
        vid = f"ISO-HZ-{tag.upper()}"
        w.state.hazmat.upsert(HazmatVehicle(
            vehicle_id=vid, plate=f"苏F·ISO{tag.upper()}", company="隔离测试物流", un_number="1203", hazard_class="3",
            route={"type": "LineString", "coordinates": [[lon - 0.0005, lat], [lon + 0.0005, lat]]}, corridor_m=50,
            permitted_hours="00:00-24:00"))
        report = w.state.ingest_reports([{"vehicle_id": vid, "ts": now - 5, "lon": lon, "lat": lat, "speed_kmh": 20}])
        assert report.accepted == 1, report
        assert w.state.ingest_drone(
            DroneState(
                drone_id=f"ISO-UAV-{tag.upper()}",
                ts=now,
                lon=lon,
                lat=lat,
                height_m=100,
                heading_deg=0,
                gimbal_pitch_deg=-90,
                gimbal_yaw_deg=0,
                battery_pct=90,
            )
        )
        spec = {"type": "flood", "title": f"内涝 {tag}", "area": {"point": [lon, lat], "radius_m": 50}}
        opened = w.client.post("/api/incidents", json=spec, headers=w.a if tag == "a" else w.b)
        assert opened.status_code == 201, opened.text
        ids[tag] = (vid, f"ISO-UAV-{tag.upper()}", opened.json()["id"])
    assert w.state.trajectory.wait_idle()
    lon, lat = w.point_in(w.users.town_a)
    typhoon = w.client.post("/api/incidents", headers=w.d, json={
        "type": "typhoon", "title": "台风 全区", "area": {"point": [lon, lat], "radius_m": 100_000}})
    assert typhoon.status_code == 201, typhoon.text
    assert {w.users.town_a, w.users.town_b} <= {t["code"] for t in typhoon.json()["impact"]["towns"]}
    wide_a = w.client.post("/api/incidents", headers=w.a, json={
        "type": "flood", "title": "内涝 甲镇全镇", "area": {"point": [lon, lat], "radius_m": 100_000}})
    assert wide_a.status_code == 201, wide_a.text
    inside_a = _raise_with_evidence(w.state, w.users.town_a).id
    inside_b = _raise_with_evidence(w.state, w.users.town_b).id
    district_view = lambda: {e["alert_id"] for e in w.client.get(
        f"/api/incidents/{typhoon.json()['id']}/timeline", headers=w.d).json()}
    assert wait_until(lambda: {inside_a, inside_b} <= district_view(), timeout=5)
    w.fleet = Fleet(ids["a"][0], ids["b"][0], ids["a"][1], ids["b"][1], ids["a"][2], ids["b"][2],
                    typhoon.json()["id"], wide_a.json()["id"], inside_a, inside_b)
    return w.fleet


def check_vehicles(w: World) -> None:
    f = _fleet(w)
    mine = {v["vehicle_id"] for v in w.client.get("/api/vehicles", headers=w.a).json()}
    assert f.vehicle_a in mine and f.vehicle_b not in mine
    assert f.vehicle_b in {v["vehicle_id"] for v in w.client.get("/api/vehicles", headers=w.b).json()}


def check_drones(w: World) -> None:
    f = _fleet(w)
    mine = {d["drone_id"] for d in w.client.get("/api/drones", headers=w.a).json()}
    assert f.drone_a in mine and f.drone_b not in mine


def check_drones_nearest(w: World) -> None:
    f = _fleet(w)
    lon, lat = w.point_in(w.users.town_b)
    near = w.client.get("/api/drones/nearest", params={"lon": lon, "lat": lat, "k": 50}, headers=w.a).json()
    assert f.drone_b not in {d["drone_id"] for d in near} and f.drone_a in {d["drone_id"] for d in near}


def check_telemetry_post(w: World) -> None:
    one = [{"vehicle_id": _fleet(w).vehicle_b, "ts": time.time(), "lon": 0.0, "lat": 0.0}]
    assert w.client.post("/api/telemetry", json=one, headers=w.a).status_code == 403


def check_telemetry_status(w: World) -> None:
    status = w.client.get("/api/telemetry/status", headers=w.a)
    assert status.status_code == 200 and _fleet(w).vehicle_b not in status.text  # counters only


def check_hazmat_list(w: World) -> None:
    f = _fleet(w)
    mine = {v["vehicle_id"] for v in w.client.get("/api/hazmat/vehicles", headers=w.a).json()}
    assert f.vehicle_a in mine and f.vehicle_b not in mine


def check_hazmat_detail(w: World) -> None:
    f = _fleet(w)
    hidden = w.client.get(f"/api/hazmat/vehicles/{f.vehicle_b}", headers=w.a)
    missing = w.client.get("/api/hazmat/vehicles/NO-SUCH", headers=w.a)
    assert hidden.status_code == missing.status_code == 404
    assert w.client.get(f"/api/hazmat/vehicles/{f.vehicle_a}", headers=w.a).status_code == 200


def check_hazmat_corridors(w: World) -> None:
    f = _fleet(w)
    ids = {x["properties"]["vehicle_id"] for x in w.client.get("/api/hazmat/corridors", headers=w.a).json()["features"]}
    assert f.vehicle_a in ids and f.vehicle_b not in ids


def check_hazmat_register(w: World) -> None:
    f = _fleet(w)
    lon, lat = w.point_in(w.users.town_b)
    body = {"vehicle_id": f.vehicle_b, "plate": "苏F·HIJACK", "company": "x", "un_number": "1203", "hazard_class": "3",
            "route": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.001, lat]]}, "corridor_m": 50,
            "permitted_hours": "00:00-24:00"}
    assert w.client.post("/api/hazmat/vehicles", json=body, headers=w.a).status_code == 403
    assert w.state.hazmat.get(f.vehicle_b).plate == "苏F·ISOB"


def check_hazmat_delete(w: World) -> None:
    f = _fleet(w)
    assert w.client.delete(f"/api/hazmat/vehicles/{f.vehicle_b}", headers=w.a).status_code == 403
    assert w.state.hazmat.get(f.vehicle_b) is not None


def check_hazmat_import(w: World) -> None:
    data = b"vehicle_id,plate,company,un_number,hazard_class,route,corridor_m,permitted_hours\n"
    r = w.client.post("/api/hazmat/vehicles/import", files={"file": ("x.csv", data, "text/csv")}, headers=w.a)
    assert r.status_code == 403


def check_incidents_list(w: World) -> None:
    f = _fleet(w)
    listed = w.client.get("/api/incidents", headers=w.a).json()
    mine = {i["id"] for i in listed}
    assert {f.incident_a, f.typhoon, f.wide_a} <= mine and f.incident_b not in mine
    for incident in listed:  # each as town A may see it: its part only
        _only_town_a(w, incident)
    theirs = {i["id"] for i in w.client.get("/api/incidents", headers=w.b).json()}
    assert f.typhoon in theirs and f.wide_a not in theirs  # A's incident never reaches into B


def check_incidents_export(w: World) -> None:
    f = _fleet(w)
    for params in ({}, {"status": "active", "headers": "en"}):
        mine = w.client.get("/api/incidents/export.csv", params=params, headers=w.a)
        assert mine.status_code == 200, mine.text
        assert all(i in mine.text for i in (f.incident_a, f.typhoon, f.wide_a)) and f.incident_b not in mine.text
    theirs = w.client.get("/api/incidents/export.csv", headers=w.b).text
    assert f.typhoon in theirs and f.wide_a not in theirs and f.incident_a not in theirs


def _only_town_a(w: World, incident: dict, features: bool = True) -> None:
    """An incident as town A reads it: area, codes and impact inside town A (``features=False``:
    as the district reads town A's incident, with what lies near it beyond the town)."""
    town_a = w.state.jurisdictions.get(w.users.town_a).geometry
    area = shapely.geometry.shape(incident["geometry"])
    assert area.is_empty or shapely.area(shapely.difference(area, town_a)) < 1e-9, incident["id"]
    assert all(w.within_a(c) for c in incident["codes"])
    impact = incident["impact"]
    for key in ("towns", "villages", "grids"):
        assert all(w.within_a(u["code"]) for u in impact.get(key, [])), key
    for key in ("cameras", "facilities", "shelters", "drones", "vehicles") if features else ():
        for item in impact.get(key, []):
            assert town_a.buffer(1e-9).intersects(shapely.Point(item["lon"], item["lat"])), (key, item["id"])


def _incident_hidden(w: World, method: str, suffix: str, body=None) -> None:
    f = _fleet(w)
    hidden = w.client.request(method, f"/api/incidents/{f.incident_b}{suffix}", json=body, headers=w.a)
    missing = w.client.request(method, f"/api/incidents/zzzzzzzzzzzz{suffix}", json=body, headers=w.a)
    assert hidden.status_code == missing.status_code == 404, (suffix, hidden.text)
    assert hidden.text.replace(f.incident_b, "zzzzzzzzzzzz") == missing.text


def check_incident_detail(w: World) -> None:
    f = _fleet(w)
    _incident_hidden(w, "GET", "")
    assert w.client.get(f"/api/incidents/{f.incident_a}", headers=w.a).status_code == 200
    # The district's typhoon: town A gets its own part, the district the whole.
    part = w.client.get(f"/api/incidents/{f.typhoon}", headers=w.a).json()
    _only_town_a(w, part)
    assert [t["code"] for t in part["impact"]["towns"]] == [w.users.town_a]
    whole = w.client.get(f"/api/incidents/{f.typhoon}", headers=w.d).json()
    assert whole["impact"]["population"] > part["impact"]["population"] > 0
    assert len(whole["impact"]["cameras"]) > len(part["impact"]["cameras"]) > 0  # A's own cameras stay
    assert {c["id"] for c in part["impact"]["cameras"]} == {
        c["id"] for c in whole["impact"]["cameras"]
        if w.state.cameras.get(c["id"]).grid and w.within_a(w.state.cameras.get(c["id"]).grid)}
    # Town A's incident, asked 100 km wide, covers town A only — for every reader.
    for headers in (w.a, w.d):
        _only_town_a(w, w.client.get(f"/api/incidents/{f.wide_a}", headers=headers).json(), headers is w.a)
    _incident_hidden_id(w, f.wide_a, "GET", "", w.b)


def _incident_hidden_id(w: World, incident_id: str, method: str, suffix: str, headers, body=None) -> None:
    hidden = w.client.request(method, f"/api/incidents/{incident_id}{suffix}", json=body, headers=headers)
    missing = w.client.request(method, f"/api/incidents/zzzzzzzzzzzz{suffix}", json=body, headers=headers)
    assert hidden.status_code == missing.status_code == 404, (suffix, hidden.text)


def check_incident_timeline(w: World) -> None:
    f = _fleet(w)
    check_incident_part("/timeline")(w)
    seen = {e["alert_id"] for e in w.client.get(f"/api/incidents/{f.typhoon}/timeline", headers=w.a).json()}
    assert f.typhoon_alert_a in seen and f.typhoon_alert_b not in seen
    seen = {e["alert_id"] for e in w.client.get(f"/api/incidents/{f.typhoon}/timeline", headers=w.b).json()}
    assert f.typhoon_alert_b in seen and f.typhoon_alert_a not in seen
    opened = w.client.get(f"/api/incidents/{f.typhoon}/timeline", headers=w.a).json()[0]
    assert opened["kind"] == "opened" and "population" not in opened["data"]  # no district-wide counts
    _incident_hidden_id(w, f.wide_a, "GET", "/timeline", w.b)


def check_incident_report(suffix: str) -> Callable[[World], None]:
    def check(w: World) -> None:
        f = _fleet(w)
        check_incident_part(suffix)(w)
        report = w.client.get(f"/api/incidents/{f.typhoon}{suffix}", headers=w.a)
        assert report.status_code == 200
        assert f.typhoon_alert_b not in report.text and f.typhoon_alert_a in report.text or suffix == "/report.csv"
        whole = w.client.get(f"/api/incidents/{f.typhoon}{suffix}", headers=w.d)
        assert w.users.town_b in whole.text  # the district's report does name town B
        _incident_hidden_id(w, f.wide_a, "GET", suffix, w.b)

    return check


def check_incident_part(suffix: str, method: str = "GET", body=None) -> Callable[[World], None]:
    def check(w: World) -> None:
        _incident_hidden(w, method, suffix, body)
        own = w.client.request(method, f"/api/incidents/{_fleet(w).incident_a}{suffix}", json=body, headers=w.a)
        assert own.status_code in (200, 201), own.text

    return check


def check_incident_open(w: World) -> None:
    lon, lat = w.point_in(w.users.town_b)
    spec = {"type": "fire", "title": "越界", "area": {"point": [lon, lat], "radius_m": 30}}
    refused = w.client.post("/api/incidents", json=spec, headers=w.a)
    assert refused.status_code == 403 and "overlap" in refused.json()["detail"]
    lon, lat = w.point_in(w.users.town_a)
    wide = {"type": "fire", "title": "本镇大火", "area": {"point": [lon, lat], "radius_m": 100_000}}
    opened = w.client.post("/api/incidents", json=wide, headers=w.a)
    assert opened.status_code == 201, opened.text
    _only_town_a(w, opened.json())  # cut to town A, its impact with it
    assert w.client.post(f"/api/incidents/{opened.json()['id']}/close", json={"note": ""},
                         headers=w.a).status_code == 200


def check_incident_close(w: World) -> None:
    _incident_hidden(w, "POST", "/close", {"note": ""})
    assert w.client.get(f"/api/incidents/{_fleet(w).incident_b}", headers=w.b).json()["status"] == "active"


# --- model versions: district-wide, read by every town alike, changed only by the district -------


def _same_for_both_towns(w: World, path: str, params: dict | None = None):
    mine = w.client.get(path, params=params, headers=w.a)
    theirs = w.client.get(path, params=params, headers=w.b)
    assert mine.status_code == theirs.status_code == 200, (path, mine.text)
    assert mine.json() == theirs.json()  # nothing in a model depends on the town asking
    assert w.users.town_b not in mine.text
    return mine.json()


def _production(w: World):
    return w.state.models.production("warning")


def check_models_list(w: World) -> None:
    listed = _same_for_both_towns(w, "/api/models")
    assert _production(w).label in {f"{m['name']}@{m['version']}" for m in listed if m["status"] == "production"}


def check_model_detail(w: World) -> None:
    prod = _production(w)
    assert _same_for_both_towns(w, f"/api/models/warning/{prod.name}/{prod.version}")["content"] == prod.content


def check_model_diff(w: World) -> None:
    prod = _production(w)
    diff = _same_for_both_towns(w, f"/api/models/warning/{prod.name}/diff", {"a": prod.version, "b": prod.version})
    assert diff["changes"] == []


def check_models_audit(w: World) -> None:
    _same_for_both_towns(w, "/api/models/audit")


def check_model_add(w: World) -> None:
    prod = _production(w)
    content = prod.content.replace(f"version: {prod.version}", f"version: {prod.version + 100}", 1)
    refused = w.client.post("/api/models", json={"kind": "warning", "content": content, "reason": "iso"}, headers=w.a)
    assert refused.status_code == 403 and "models.manage" in refused.json()["detail"]
    assert all(v.version != prod.version + 100 for v in w.state.models.list("warning"))


def check_model_promote(w: World) -> None:
    prod = _production(w)
    refused = w.client.post(f"/api/models/warning/{prod.name}/{prod.version}/promote", json={"reason": "iso"},
                            headers=w.a)
    assert refused.status_code == 403 and _production(w) == prod


def check_model_rollback(w: World) -> None:
    prod = _production(w)
    assert w.client.post("/api/models/warning/rollback", json={"reason": "iso"}, headers=w.a).status_code == 403
    assert _production(w) == prod and all(a.actor != w.users.operator_a for a in w.state.models.audit())


def _camera_body(w: World, town: str, camera_id: str, **extra) -> dict:
    lon, lat = w.point_in(town)
    return {"id": camera_id, "name": "iso", "lon": lon, "lat": lat, "heading_deg": 90, "hfov_deg": 60,
            "range_m": 100, **extra}


def _unchanged_camera_b(w: World, check: Callable[[], None]) -> None:
    before = w.state.camera_registry.get(w.camera_b.id)
    check()
    assert w.state.camera_registry.get(w.camera_b.id) == before


def check_cameras_list(w: World) -> None:
    listed = w.client.get("/api/cameras", headers=w.a).json()
    assert w.camera_a.id in {c["id"] for c in listed} and w.camera_b.id not in {c["id"] for c in listed}
    assert listed and all(w.within_a(c["owner_code"]) and w.within_a(c["town_code"]) for c in listed)
    assert w.camera_b.id in {c["id"] for c in w.client.get("/api/cameras", headers=w.b).json()}


def check_camera_detail(w: World) -> None:
    theirs = w.client.get(f"/api/cameras/{w.camera_b.id}", headers=w.a)
    assert theirs.status_code == 403, theirs.text
    assert w.client.get("/api/cameras/ISO-NO-SUCH-CAMERA", headers=w.a).status_code == 404
    assert w.client.get(f"/api/cameras/{w.camera_a.id}", headers=w.a).json()["id"] == w.camera_a.id


def check_camera_add(w: World) -> None:
    for body in (_camera_body(w, w.users.town_b, "ISO-A-IN-B"),
                 _camera_body(w, w.users.town_a, "ISO-A-FOR-B", owner_code=w.users.town_b)):
        refused = w.client.post("/api/cameras", json=body, headers=w.a)
        assert refused.status_code == 403, refused.text
        assert w.state.camera_registry.get(body["id"]) is None
    own = w.client.post("/api/cameras", json=_camera_body(w, w.users.town_a, "ISO-A-OWN"), headers=w.a)
    assert own.status_code == 201 and w.within_a(own.json()["owner_code"]), own.text
    assert w.state.camera_registry.delete("ISO-A-OWN")
    w.state.reload_cameras()


def check_camera_patch(w: World) -> None:
    _unchanged_camera_b(w, lambda: _refused(w, "PATCH", {"name": "越界"}))
    own = w.client.patch(f"/api/cameras/{w.camera_a.id}", json={"name": w.camera_a.name}, headers=w.a)
    assert own.status_code == 200 and own.json()["name"] == w.camera_a.name, own.text


def check_camera_put(w: World) -> None:
    body = _camera_body(w, w.users.town_b, w.camera_b.id)
    _unchanged_camera_b(w, lambda: _refused(w, "PUT", body))
    mine = w.state.camera_registry.get(w.camera_a.id).as_input()
    own = w.client.put(f"/api/cameras/{w.camera_a.id}", json=mine, headers=w.a)
    assert own.status_code == 200 and own.json()["owner_code"] == mine["owner_code"], own.text


def check_camera_delete(w: World) -> None:
    _unchanged_camera_b(w, lambda: _refused(w, "DELETE"))
    made = w.client.post("/api/cameras", json=_camera_body(w, w.users.town_a, "ISO-A-GONE"), headers=w.a)
    assert made.status_code == 201, made.text
    assert w.client.delete("/api/cameras/ISO-A-GONE", headers=w.a).status_code == 204
    assert w.state.camera_registry.get("ISO-A-GONE") is None


def _refused(w: World, method: str, body: dict | None = None) -> None:
    refused = w.client.request(method, f"/api/cameras/{w.camera_b.id}", json=body, headers=w.a)
    assert refused.status_code == 403, (method, refused.text)


def check_camera_import(w: World) -> None:
    (lon_b, lat_b), (lon_a, lat_a) = w.point_in(w.users.town_b), w.point_in(w.users.town_a)
    rows = f"id,name,lon,lat,heading\nISO-IMP-A,a,{lon_a},{lat_a},10\nISO-IMP-B,b,{lon_b},{lat_b},10\n"
    for dry_run in ("true", "false"):
        answer = w.client.post("/api/cameras/import", data={"dry_run": dry_run}, headers=w.a,
                               files={"file": ("cams.csv", rows.encode(), "text/csv")})
        assert answer.status_code == (200 if dry_run == "true" else 422), answer.text
        report = answer.json()
        assert [i["action"] for i in report["items"]] == ["add", "error"] and not report["stored"]
        assert report["items"][1]["errors"][0]["field"] == "lon"
    assert w.state.camera_registry.get("ISO-IMP-A") is None and w.state.camera_registry.get("ISO-IMP-B") is None


def check_datasets(w: World) -> None:
    from zhizhi.alerts.labels import LabelStore

    mine = w.client.get("/api/datasets", headers=w.a)
    theirs = w.client.get("/api/datasets", headers=w.b)
    assert mine.status_code == theirs.status_code == 200, mine.text

    def folders(listed: list[dict]) -> list[dict]:
        return [d for d in listed if not d["name"].startswith("labels:")]

    assert folders(mine.json()) == folders(theirs.json())  # folders are district-wide, like the models
    # the labels dataset counts the caller's own labels: town A's never include town B's
    from zhizhi.alerts.labels import AlertLabel

    store = LabelStore(w.state.engine, migrated=True)
    b_label = AlertLabel.of_alert(w.alert_b, "false_alarm", note="a town-B false alarm", actor="iso", ts=time.time())
    if not store.list(scope=w.users.town_b):
        store.add(b_label)

    def counted(headers) -> int:
        listed = w.client.get("/api/datasets", headers=headers).json()
        return next(d for d in listed if d["name"] == "labels:false-alarms")["false_alarms"]

    since = time.time() - 30 * 86400
    of_a, of_b = (store.list(verdicts=("false_alarm",), since=since, scope=town)
                  for town in (w.users.town_a, w.users.town_b))
    assert w.alert_b.id not in {x.alert_id for x in of_a} and w.alert_b.id in {x.alert_id for x in of_b}
    assert counted(w.a) == len(of_a) and counted(w.b) == len(of_b)


def check_backtest_start(w: World) -> None:
    prod = _production(w)
    body = {"model": {"name": prod.name, "version": prod.version}, "dataset": "any"}
    refused = w.client.post("/api/backtests", json=body, headers=w.a)
    assert refused.status_code == 403 and "models.manage" in refused.json()["detail"]


def check_backtests_list(w: World) -> None:
    _same_for_both_towns(w, "/api/backtests")


def check_backtest_detail(w: World) -> None:
    hidden = w.client.get("/api/backtests/backtest-0-0", headers=w.a)
    assert hidden.status_code == 404


def check_backtest_csv(w: World) -> None:
    assert w.client.get("/api/backtests/backtest-0-0/result.csv", headers=w.a).status_code == 404
    scores = {"tp": 1, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0, "mean_delay_s": 2.0}
    job = w.state.jobs.submit("backtest", lambda progress: {"model": "iso@1", "rules": {
        "iso-crowd": {"rule": "crowd", **scores}}, "totals": scores}, owner="iso")
    w.state.jobs.wait(job.id, 10)
    mine = w.client.get(f"/api/backtests/{job.id}/result.csv", headers=w.a)
    theirs = w.client.get(f"/api/backtests/{job.id}/result.csv", headers=w.b)
    assert mine.status_code == theirs.status_code == 200, mine.text
    assert mine.content == theirs.content and "iso-crowd" in mine.text  # scores are district-wide, like models


# --- camera tours, the patrol log, the wall's tiles (console/api/tours.py) ----------------------


def _tour_body(camera) -> dict:
    return {"name": "巡航", "stops": [{"camera_id": camera.id, "dwell_s": 10}]}


def _tours(w: World) -> tuple[dict, dict]:
    """A tour of town A and one of town B (each with a patrol log entry holding a snapshot)."""
    from zhizhi.console.tours import TourStore

    a = w.client.post("/api/tours", json=_tour_body(w.camera_a), headers=w.a).json()
    b = w.client.post("/api/tours", json=_tour_body(w.camera_b), headers=w.b).json()
    store = TourStore(w.state.engine)
    for tour in (a, b):
        store.log(store.get(tour["id"], tour["code"]), tour["stops"][0]["camera_id"], "main", b"\xff\xd8iso", "x")
    return a, b


def check_tours_list(w: World) -> None:
    a, b = _tours(w)
    ids = {t["id"] for t in w.client.get("/api/tours", headers=w.a).json()}
    assert a["id"] in ids and b["id"] not in ids


def check_tour_create(w: World) -> None:
    refused = w.client.post("/api/tours", json=_tour_body(w.camera_b), headers=w.a)
    assert refused.status_code == 422
    made = w.client.post("/api/tours", json=_tour_body(w.camera_a), headers=w.a)
    assert made.status_code == 201 and made.json()["code"] == w.users.town_a


def check_tour_detail(w: World) -> None:
    a, b = _tours(w)
    assert w.client.get(f"/api/tours/{b['id']}", headers=w.a).status_code == 404
    assert w.client.get(f"/api/tours/{a['id']}", headers=w.a).status_code == 200


def check_tour_replace(w: World) -> None:
    a, b = _tours(w)
    body = {"name": "改", "stops": [{"camera_id": w.camera_a.id, "dwell_s": 5}]}
    assert w.client.put(f"/api/tours/{b['id']}", json=body, headers=w.a).status_code == 404
    assert w.client.get(f"/api/tours/{b['id']}", headers=w.b).json()["name"] == b["name"]
    assert w.client.put(f"/api/tours/{a['id']}", json=body, headers=w.a).json()["name"] == "改"


def check_tour_delete(w: World) -> None:
    a, b = _tours(w)
    assert w.client.delete(f"/api/tours/{b['id']}", headers=w.a).status_code == 404
    assert w.client.get(f"/api/tours/{b['id']}", headers=w.b).status_code == 200
    assert w.client.delete(f"/api/tours/{a['id']}", headers=w.a).status_code == 204


def check_tour_log_stop(w: World) -> None:
    a, b = _tours(w)
    assert w.client.post(f"/api/tours/{b['id']}/log", json={"camera_id": w.camera_b.id}, headers=w.a).status_code == 404
    assert w.client.post(f"/api/tours/{a['id']}/log", json={"camera_id": w.camera_a.id}, headers=w.a).status_code == 201


def check_tour_log(w: World) -> None:
    a, b = _tours(w)
    since = {"start": time.time() - 3600}
    assert w.client.get(f"/api/tours/{b['id']}/log", params=since, headers=w.a).status_code == 404
    own = w.client.get(f"/api/tours/{a['id']}/log", params=since, headers=w.a).json()
    assert own and all(e["camera_id"] == w.camera_a.id for e in own)


def check_tour_log_csv(w: World) -> None:
    from fastapi.testclient import TestClient

    a, b = _tours(w)
    since = {"start": time.time() - 3600}
    bare = TestClient(w.client.app)
    for auth in ({"headers": w.a}, {"params": {**since, "ticket": _ticket(w, w.a)}}):
        params = auth.get("params", since)
        assert bare.get(f"/api/tours/{b['id']}/log.csv", params=params, headers=auth.get("headers")).status_code == 404
        own = bare.get(f"/api/tours/{a['id']}/log.csv", params=params, headers=auth.get("headers"))
        assert own.status_code == 200 and w.camera_a.id in own.text and w.camera_b.id not in own.text


def check_tour_snapshot(w: World) -> None:
    from fastapi.testclient import TestClient

    a, b = _tours(w)
    since = {"start": time.time() - 3600}
    theirs = w.client.get(f"/api/tours/{b['id']}/log", params=since, headers=w.b).json()[0]["snapshot"]
    own = w.client.get(f"/api/tours/{a['id']}/log", params=since, headers=w.a).json()[0]["snapshot"]
    bare = TestClient(w.client.app)
    for kwargs in ({"headers": w.a}, {"params": {"ticket": _ticket(w, w.a)}}):
        assert bare.get(theirs, **kwargs).status_code == 404
        assert bare.get(own, **kwargs).status_code == 200


def _walls_tiles(w: World) -> str:
    """The wall ``iso`` of town B holds B's camera, on its main layout and its named one ``危化专线``."""
    put = w.client.put("/api/walls/iso/tiles", json={"layout": 4, "tiles": [w.camera_b.id]}, headers=w.b)
    assert put.status_code == 200, put.text
    named = w.client.put("/api/walls/iso/tiles", params=ISO_LAYOUT, json={"layout": 4, "tiles": [w.camera_b.id]},
                         headers=w.b)
    assert named.status_code == 200, named.text
    return "iso"


#: A named tile layout of a wall (its custom slot): kept per jurisdiction like the main one.
ISO_LAYOUT = {"name": "危化专线"}


def check_wall_tiles(w: World) -> None:
    wall = _walls_tiles(w)
    mine = w.client.get(f"/api/walls/{wall}/tiles", headers=w.a).json()
    assert w.camera_b.id not in mine["tiles"]
    assert w.client.get(f"/api/walls/{wall}/tiles", headers=w.b).json()["tiles"][0] == w.camera_b.id
    named = w.client.get(f"/api/walls/{wall}/tiles", params=ISO_LAYOUT, headers=w.a).json()
    assert w.camera_b.id not in named["tiles"] and w.camera_b.id not in named["names"]
    assert w.client.get(f"/api/walls/{wall}/tiles", params=ISO_LAYOUT, headers=w.b).json()["tiles"][0] == w.camera_b.id


def check_wall_tiles_put(w: World) -> None:
    wall = _walls_tiles(w)
    refused = w.client.put(f"/api/walls/{wall}/tiles", json={"layout": 4, "tiles": [w.camera_b.id]}, headers=w.a)
    assert refused.status_code == 422
    own = w.client.put(f"/api/walls/{wall}/tiles", json={"layout": 4, "tiles": [w.camera_a.id]}, headers=w.a)
    assert own.status_code == 200 and own.json()["tiles"][0] == w.camera_a.id
    for camera, status in ((w.camera_b, 422), (w.camera_a, 200)):
        put = w.client.put(f"/api/walls/{wall}/tiles", params=ISO_LAYOUT, json={"layout": 4, "tiles": [camera.id]},
                           headers=w.a)
        assert put.status_code == status, put.text
    assert w.client.get(f"/api/walls/{wall}/tiles", params=ISO_LAYOUT, headers=w.b).json()["tiles"][0] == w.camera_b.id
    assert w.client.get(f"/api/walls/{wall}/tiles", headers=w.b).json()["tiles"][0] == w.camera_b.id


def check_wall_tile_put(w: World) -> None:
    wall = _walls_tiles(w)
    assert w.client.put(f"/api/walls/{wall}/tiles/2", json={"camera_id": w.camera_b.id}, headers=w.a).status_code == 422
    own = w.client.put(f"/api/walls/{wall}/tiles/2", json={"camera_id": w.camera_a.id}, headers=w.a)
    assert own.status_code == 200 and own.json()["tiles"][1] == w.camera_a.id
    assert w.client.get(f"/api/walls/{wall}/tiles", headers=w.b).json()["tiles"][:2] == [w.camera_b.id, None]
    for camera, status in ((w.camera_b, 422), (w.camera_a, 200)):
        put = w.client.put(f"/api/walls/{wall}/tiles/2", params=ISO_LAYOUT, json={"camera_id": camera.id}, headers=w.a)
        assert put.status_code == status, put.text
    theirs = w.client.get(f"/api/walls/{wall}/tiles", params=ISO_LAYOUT, headers=w.b).json()
    assert theirs["tiles"][:2] == [w.camera_b.id, None]


# --- walls as data and paired screens (console/api/walls.py, console/api/wall.py) ---------------


def _wall_admins(w: World) -> tuple[dict[str, str], dict[str, str]]:
    """An admin of town A and one of town B (walls.manage), logged in."""
    from tests.auth_support import PASSWORD, bearer, login

    heads = []
    for name, town in (("iso-walls-a", w.users.town_a), ("iso-walls-b", w.users.town_b)):
        if w.state.auth.get_user(name) is None:
            w.state.auth.add_user(name, "admin", town, PASSWORD)
        heads.append(bearer(login(w.client, name)))
    return heads[0], heads[1]


def _wall_body(code: str, name: str = "iso-hall") -> dict:
    return {"name": name, "title": "隔离大厅", "code": code, "slots": [{"name": "left", "kind": "alerts"}]}


def _walls(w: World) -> tuple[dict, dict, dict[str, str], dict[str, str]]:
    """A wall of town A and one of town B, with both towns' admins' headers."""
    admin_a, admin_b = _wall_admins(w)
    made = []
    for headers, town in ((admin_a, w.users.town_a), (admin_b, w.users.town_b)):
        found = [x for x in w.client.get("/api/walls", headers=headers).json() if x["code"] == town]
        made.append(found[0] if found else w.client.post("/api/walls", json=_wall_body(town), headers=headers).json())
    return made[0], made[1], admin_a, admin_b


def _paired(w: World, wall: dict, admin: dict[str, str]) -> tuple[dict[str, str], dict]:
    """A screen paired to ``wall``: its bearer headers and its device."""
    from tests.auth_support import bearer

    drawn = w.client.post("/api/wall/pairings").json()
    device = w.client.post(f"/api/walls/{wall['id']}/devices", json={"code": drawn["code"], "slot": "left"},
                           headers=admin)
    assert device.status_code == 201, device.text
    claimed = w.client.post("/api/wall/pairings/claim", json={"claim": drawn["claim"]}).json()
    return bearer(claimed["token"]), device.json()


def check_walls_list(w: World) -> None:
    a, b, admin_a, _ = _walls(w)
    ids = {x["id"] for x in w.client.get("/api/walls", headers=admin_a).json()}
    assert a["id"] in ids and b["id"] not in ids
    assert w.client.get("/api/walls", headers=w.a).status_code == 403  # an operator manages no walls


def check_wall_create(w: World) -> None:
    _, _, admin_a, admin_b = _walls(w)
    refused = w.client.post("/api/walls", json=_wall_body(w.users.town_b, "iso-other"), headers=admin_a)
    assert refused.status_code == 403
    assert w.client.post("/api/walls", json=_wall_body(w.users.town_a, "iso-op"), headers=w.a).status_code == 403
    assert "iso-other" not in {x["name"] for x in w.client.get("/api/walls", headers=admin_b).json()}


def check_wall_detail(w: World) -> None:
    a, b, admin_a, _ = _walls(w)
    assert w.client.get(f"/api/walls/{b['id']}", headers=admin_a).status_code == 404
    assert w.client.get(f"/api/walls/{a['id']}", headers=admin_a).json()["code"] == w.users.town_a


def check_wall_replace(w: World) -> None:
    a, b, admin_a, admin_b = _walls(w)
    body = _wall_body(w.users.town_b) | {"title": "改"}
    assert w.client.put(f"/api/walls/{b['id']}", json=body, headers=admin_a).status_code == 404
    assert w.client.get(f"/api/walls/{b['id']}", headers=admin_b).json()["title"] == b["title"]
    moved = w.client.put(f"/api/walls/{a['id']}", json=body, headers=admin_a)  # into town B
    assert moved.status_code == 403
    own = w.client.put(f"/api/walls/{a['id']}", json=_wall_body(w.users.town_a) | {"title": "改"}, headers=admin_a)
    assert own.status_code == 200 and own.json()["title"] == "改"


def check_wall_delete(w: World) -> None:
    _, b, admin_a, admin_b = _walls(w)
    assert w.client.delete(f"/api/walls/{b['id']}", headers=admin_a).status_code == 404
    assert w.client.get(f"/api/walls/{b['id']}", headers=admin_b).status_code == 200
    doomed = w.client.post("/api/walls", json=_wall_body(w.users.town_a, "iso-doomed"), headers=admin_a).json()
    assert w.client.delete(f"/api/walls/{doomed['id']}", headers=admin_a).status_code == 204


def check_wall_devices(w: World) -> None:
    a, b, admin_a, admin_b = _walls(w)
    _paired(w, b, admin_b)
    assert w.client.get(f"/api/walls/{b['id']}/devices", headers=admin_a).status_code == 404
    assert all(d["wall_id"] == a["id"] for d in w.client.get(f"/api/walls/{a['id']}/devices", headers=admin_a).json())


def check_wall_pair(w: World) -> None:
    a, b, admin_a, _ = _walls(w)
    drawn = w.client.post("/api/wall/pairings").json()
    into_b = w.client.post(f"/api/walls/{b['id']}/devices", json={"code": drawn["code"], "slot": "left"},
                           headers=admin_a)
    assert into_b.status_code == 404
    device, _ = _paired(w, a, admin_a)
    assert w.client.get(f"/api/alerts/{w.alert_b.id}", headers=device).status_code == 404
    assert w.client.get(f"/api/alerts/{w.alert_a.id}", headers=device).status_code == 200


def check_wall_revoke(w: World) -> None:
    a, b, admin_a, admin_b = _walls(w)
    device_b, row_b = _paired(w, b, admin_b)
    assert w.client.delete(f"/api/walls/{b['id']}/devices/{row_b['id']}", headers=admin_a).status_code == 404
    assert w.client.delete(f"/api/walls/{a['id']}/devices/{row_b['id']}", headers=admin_a).status_code == 404
    assert w.client.get("/api/wall/device", headers=device_b).status_code == 200
    _, row_a = _paired(w, a, admin_a)
    assert w.client.delete(f"/api/walls/{a['id']}/devices/{row_a['id']}", headers=admin_a).status_code == 204


def check_wall_pairing_open(w: World) -> None:
    drawn = w.client.post("/api/wall/pairings")
    assert drawn.status_code in (201, 429) and w.users.town_b not in drawn.text


def check_wall_pairing_claim(w: World) -> None:
    a, _, admin_a, _ = _walls(w)
    drawn = w.client.post("/api/wall/pairings").json()
    assert w.client.post("/api/wall/pairings/claim", json={"claim": drawn["claim"]}).json()["status"] == "waiting"
    w.client.post(f"/api/walls/{a['id']}/devices", json={"code": drawn["code"], "slot": "left"}, headers=admin_a)
    claimed = w.client.post("/api/wall/pairings/claim", json={"claim": drawn["claim"]}).json()
    assert claimed["wall"] == a["name"] and w.users.town_b not in json.dumps(claimed)


def check_wall_device(w: World) -> None:
    a, _, admin_a, _ = _walls(w)
    device, _ = _paired(w, a, admin_a)
    info = w.client.get("/api/wall/device", headers=device).json()
    assert info["code"] == w.users.town_a and info["wall_id"] == a["id"]
    assert w.client.get("/api/wall/device", headers=w.a).status_code == 403  # a user is no screen


def check_ogc_landing(w: World) -> None:
    for path in ("/ogc", "/ogc/conformance"):
        assert w.client.get(path, headers=w.a).status_code == 200
        assert w.client.get(path, headers={"Authorization": "Bearer not-a-token"}).status_code == 401


def check_ogc_collections(w: World) -> None:
    listed = {c["id"]: c for c in w.client.get("/ogc/collections", headers=w.a).json()["collections"]}
    assert set(listed) == {*_layer_names(w), "camera_fov"} and PRIVATE_B not in listed
    town_a = shapely.box(*shapely.bounds(w.state.jurisdictions.get(w.users.town_a).geometry)).buffer(1e-9)
    for c in listed.values():
        for box in c["extent"].get("spatial", {}).get("bbox", []):
            assert town_a.contains(shapely.box(*box)), c["id"]
    assert PRIVATE_B in {c["id"] for c in w.client.get("/ogc/collections", headers=w.b).json()["collections"]}


def check_ogc_collection(w: World) -> None:
    assert w.client.get("/ogc/collections/grids", headers=w.a).status_code == 200
    assert w.client.get(f"/ogc/collections/{PRIVATE_B}", headers=w.a).status_code == 404
    assert w.client.get(f"/ogc/collections/{PRIVATE_B}", headers=w.b).status_code == 200


def check_ogc_items(w: World) -> None:
    b_box = ",".join(str(v) for v in shapely.bounds(w.state.jurisdictions.get(w.users.town_b).geometry))
    for name in [*_layer_names(w), "camera_fov"]:
        for params in ({"limit": 10000}, {"limit": 10000, "bbox": b_box}):
            response = w.client.get(f"/ogc/collections/{name}/items", params=params, headers=w.a)
            assert response.status_code == 200, (name, response.text)
            features = response.json()["features"]
            if name == "camera_fov":  # a camera's sector is coded by its grid
                assert all(w.within_a(f["properties"]["grid"]) for f in features)
            else:
                _assert_features_of_a(w, features, name)
    api = w.client.get("/api/layers/grids/features", headers=w.a).json()["features"]
    ogc = w.client.get("/ogc/collections/grids/items", params={"limit": 10000}, headers=w.a).json()
    assert ogc["numberMatched"] == len(api) and [f["id"] for f in ogc["features"]] == [f["id"] for f in api]
    assert w.client.get(f"/ogc/collections/{PRIVATE_B}/items", headers=w.a).status_code == 404


def check_ogc_feature(w: World) -> None:
    grids = w.state.registry.feature_collection("grids", _everything())["features"]
    b_grid = next(f["id"] for f in grids if w.of_b(f["properties"]["code"]))
    a_grid = next(f["id"] for f in grids if w.within_a(f["properties"]["code"]))
    assert w.client.get(f"/ogc/collections/grids/items/{b_grid}", headers=w.a).status_code == 404
    assert w.client.get(f"/ogc/collections/grids/items/{b_grid}", headers=w.b).status_code == 200
    assert w.client.get(f"/ogc/collections/grids/items/{a_grid}", headers=w.a).status_code == 200
    assert w.client.get(f"/ogc/collections/camera_fov/items/{w.camera_b.id}", headers=w.a).status_code == 404
    assert w.client.get(f"/ogc/collections/camera_fov/items/{w.camera_a.id}", headers=w.a).status_code == 200


def check_alert_cap(w: World) -> None:
    _hidden_like_missing(w, "GET", "/cap.xml")
    mine = w.client.get(f"/api/alerts/{w.alert_a.id}/cap.xml", headers=w.a)
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("application/cap+xml")
    assert f"<incidents>{w.alert_a.id}</incidents>" in mine.text


def _dead_letter_of_b(w: World):
    from zhizhi.alerts.forward.store import DeadLetter

    b = w.alert_b
    return w.state.forwarder.store.add(DeadLetter(
        delivery="iso-b", target="town-b", alert_id=b.id, event="new", grid=b.grid, assignee_unit=b.assignee_unit,
        content_type="application/json", body=b"{}", attempts=1, reason="HTTP 500", first_ts=1.0, failed_ts=2.0))


def check_forward_targets(w: World) -> None:
    # district-wide configuration: towns get 403 (docs/forwarding.md), the district the list
    for headers in (w.a, w.b):
        assert w.client.get("/api/forward/targets", headers=headers).status_code == 403
    assert w.client.get("/api/forward/targets", headers=w.d).status_code == 200


def check_forward_dead_letters(w: World) -> None:
    letter = _dead_letter_of_b(w)
    try:
        assert w.client.get("/api/forward/dead-letters", headers=w.a).status_code == 403
        listed = w.client.get("/api/forward/dead-letters", headers=w.d)
        assert listed.status_code == 200 and letter.id in {d["id"] for d in listed.json()}
    finally:
        w.state.forwarder.store.remove(letter.id)


def check_forward_retry(w: World) -> None:
    letter = _dead_letter_of_b(w)
    try:
        mine = w.client.post(f"/api/forward/dead-letters/{letter.id}/retry", headers=w.a)
        assert mine.status_code == 403 and w.state.forwarder.store.get(letter.id).attempts == 1
        # the district may: this console has no target "town-b" (any more), so 409
        assert w.client.post(f"/api/forward/dead-letters/{letter.id}/retry", headers=w.d).status_code == 409
    finally:
        w.state.forwarder.store.remove(letter.id)


def check_forward_discard(w: World) -> None:
    letter = _dead_letter_of_b(w)
    assert w.client.delete(f"/api/forward/dead-letters/{letter.id}", headers=w.a).status_code == 403
    assert w.state.forwarder.store.get(letter.id) is not None
    assert w.client.delete(f"/api/forward/dead-letters/{letter.id}", headers=w.d).status_code == 204
    assert w.client.delete(f"/api/forward/dead-letters/{letter.id}", headers=w.d).status_code == 404


CHECKS: dict[tuple[str, str], Callable[[World], None]] = {
    ("GET", "/api/datasets"): check_datasets,
    ("POST", "/api/backtests"): check_backtest_start,
    ("GET", "/api/backtests"): check_backtests_list,
    ("GET", "/api/backtests/{job_id}"): check_backtest_detail,
    ("GET", "/api/backtests/{job_id}/result.csv"): check_backtest_csv,
    ("GET", "/api/vehicles"): check_vehicles,
    ("GET", "/api/drones"): check_drones,
    ("GET", "/api/drones/nearest"): check_drones_nearest,
    ("POST", "/api/telemetry"): check_telemetry_post,
    ("GET", "/api/telemetry/status"): check_telemetry_status,
    ("GET", "/api/hazmat/vehicles"): check_hazmat_list,
    ("GET", "/api/hazmat/vehicles/{vehicle_id}"): check_hazmat_detail,
    ("GET", "/api/hazmat/corridors"): check_hazmat_corridors,
    ("POST", "/api/hazmat/vehicles"): check_hazmat_register,
    ("DELETE", "/api/hazmat/vehicles/{vehicle_id}"): check_hazmat_delete,
    ("POST", "/api/hazmat/vehicles/import"): check_hazmat_import,
    ("GET", "/api/incidents"): check_incidents_list,
    ("GET", "/api/incidents/export.csv"): check_incidents_export,
    ("POST", "/api/incidents"): check_incident_open,
    ("GET", "/api/incidents/{incident_id}"): check_incident_detail,
    ("GET", "/api/incidents/{incident_id}/timeline"): check_incident_timeline,
    ("GET", "/api/incidents/{incident_id}/report.html"): check_incident_report("/report.html"),
    ("GET", "/api/incidents/{incident_id}/report.json"): check_incident_report("/report.json"),
    ("GET", "/api/incidents/{incident_id}/report.csv"): check_incident_report("/report.csv"),
    ("POST", "/api/incidents/{incident_id}/notes"): check_incident_part("/notes", "POST", {"text": "越界备注"}),
    ("POST", "/api/incidents/{incident_id}/refresh"): check_incident_part("/refresh", "POST"),
    ("POST", "/api/incidents/{incident_id}/close"): check_incident_close,
    ("GET", "/api/alerts"): check_alerts_list,
    ("GET", "/api/alerts/export.csv"): check_alerts_export,
    ("GET", "/api/alerts/lifecycle"): check_alert_lifecycle,
    ("GET", "/api/alerts/{alert_id}"): check_alert_detail,
    ("GET", "/api/alerts/{alert_id}/evidence/{kind}"): check_evidence,
    ("POST", "/api/alerts/{alert_id}/transition"): check_transition,
    ("POST", "/api/alerts/{alert_id}/escalate"): check_escalate,
    ("POST", "/api/alerts/{alert_id}/hand_down"): check_hand_down,
    ("POST", "/api/alerts/bulk"): check_bulk,
    ("GET", "/api/alerts/false-alarm-rates"): check_false_alarm_rates,
    ("POST", "/api/events"): check_report_event,
    ("GET", "/api/layers"): check_layers_list,
    ("GET", "/api/layers/{name}/features"): check_layer_features,
    ("GET", "/api/layers/{name}/export"): check_layer_export,
    ("POST", "/api/layers"): check_layer_upload,
    ("GET", "/api/search"): check_search,
    ("GET", "/api/grids/locate"): check_locate,
    ("GET", "/api/cameras/covering"): check_covering,
    ("GET", "/api/cameras/fov"): check_fov,
    ("GET", "/api/cameras"): check_cameras_list,
    ("GET", "/api/cameras/{camera_id}"): check_camera_detail,
    ("POST", "/api/cameras"): check_camera_add,
    ("PATCH", "/api/cameras/{camera_id}"): check_camera_patch,
    ("PUT", "/api/cameras/{camera_id}"): check_camera_put,
    ("DELETE", "/api/cameras/{camera_id}"): check_camera_delete,
    ("POST", "/api/cameras/import"): check_camera_import,
    ("GET", "/api/cameras/{camera_id}/frame.jpg"): check_camera_video("frame.jpg"),
    ("GET", "/api/cameras/{camera_id}/mjpeg"): check_camera_video("mjpeg"),
    ("GET", "/api/cameras/{camera_id}/recordings"): check_recordings_list,
    ("GET", "/api/cameras/{camera_id}/recordings/{name}"): check_recording_segment,
    ("GET", "/api/cameras/{camera_id}/recordings/export"): check_recording_export,
    ("GET", "/api/cameras/{camera_id}/calibration"): check_calibration_get,
    ("POST", "/api/cameras/{camera_id}/calibration/preview"): check_calibration_preview,
    ("PUT", "/api/cameras/{camera_id}/calibration"): check_calibration_put,
    ("PUT", "/api/cameras/{camera_id}/masks"): check_masks_put,
    ("POST", "/api/cameras/{camera_id}/adapt"): check_adapt_start,
    ("GET", "/api/cameras/{camera_id}/adapt"): check_adapt_list,
    ("GET", "/api/cameras/{camera_id}/adapt/{job_id}"): check_adapt_detail(""),
    ("GET", "/api/cameras/{camera_id}/adapt/{job_id}/figure.png"): check_adapt_detail("/figure.png"),
    ("GET", "/api/procedures"): check_procedures_list,
    ("GET", "/api/procedures/{category}"): check_procedure_versions,
    ("PUT", "/api/procedures/{category}"): check_procedure_save,
    ("GET", "/api/alerts/{alert_id}/procedure"): check_alert_checklist,
    ("POST", "/api/alerts/{alert_id}/procedure/steps/{step}"): check_alert_tick,
    ("GET", "/api/wall/alarm"): check_wall_alarm,
    ("POST", "/api/wall/alarm/silence"): check_wall_silence,
    ("GET", "/api/wall/units"): check_wall_units,
    ("GET", "/api/wall/scope"): check_wall_scope,
    ("GET", "/api/config"): check_config,
    ("GET", "/api/basemap"): check_basemap,
    ("GET", "/api/jurisdictions"): check_jurisdictions,
    ("POST", "/api/jurisdictions/import"): check_jurisdictions_import,
    ("GET", "/api/basemap/tiles/{z}/{x}/{y}.{ext}"): check_basemap_tile,
    ("GET", "/api/auth/me"): check_me,
    ("POST", "/api/auth/ticket"): check_ticket,
    ("POST", "/api/auth/login"): check_login,
    ("POST", "/api/auth/logout"): check_logout,
    ("GET", "/api/users"): check_users_list,
    ("POST", "/api/users"): check_users_add,
    ("GET", "/api/models"): check_models_list,
    ("GET", "/api/models/{kind}/{name}/{version}"): check_model_detail,
    ("GET", "/api/models/{kind}/{name}/diff"): check_model_diff,
    ("GET", "/api/models/audit"): check_models_audit,
    ("POST", "/api/models"): check_model_add,
    ("POST", "/api/models/{kind}/{name}/{version}/promote"): check_model_promote,
    ("POST", "/api/models/{kind}/rollback"): check_model_rollback,
    ("GET", "/api/tours"): check_tours_list,
    ("POST", "/api/tours"): check_tour_create,
    ("GET", "/api/tours/{tour_id}"): check_tour_detail,
    ("PUT", "/api/tours/{tour_id}"): check_tour_replace,
    ("DELETE", "/api/tours/{tour_id}"): check_tour_delete,
    ("POST", "/api/tours/{tour_id}/log"): check_tour_log_stop,
    ("GET", "/api/tours/{tour_id}/log"): check_tour_log,
    ("GET", "/api/tours/{tour_id}/log.csv"): check_tour_log_csv,
    ("GET", "/api/tours/{tour_id}/log/{entry_id}/snapshot.jpg"): check_tour_snapshot,
    ("GET", "/api/walls/{wall}/tiles"): check_wall_tiles,
    ("PUT", "/api/walls/{wall}/tiles"): check_wall_tiles_put,
    ("PUT", "/api/walls/{wall}/tiles/{tile}"): check_wall_tile_put,
    ("GET", "/api/walls"): check_walls_list,
    ("POST", "/api/walls"): check_wall_create,
    ("GET", "/api/walls/{wall_id}"): check_wall_detail,
    ("PUT", "/api/walls/{wall_id}"): check_wall_replace,
    ("DELETE", "/api/walls/{wall_id}"): check_wall_delete,
    ("GET", "/api/walls/{wall_id}/devices"): check_wall_devices,
    ("POST", "/api/walls/{wall_id}/devices"): check_wall_pair,
    ("DELETE", "/api/walls/{wall_id}/devices/{device_id}"): check_wall_revoke,
    ("POST", "/api/wall/pairings"): check_wall_pairing_open,
    ("POST", "/api/wall/pairings/claim"): check_wall_pairing_claim,
    ("GET", "/api/wall/device"): check_wall_device,
    ("GET", "/api/alerts/{alert_id}/cap.xml"): check_alert_cap,
    ("GET", "/api/forward/targets"): check_forward_targets,
    ("GET", "/api/forward/dead-letters"): check_forward_dead_letters,
    ("POST", "/api/forward/dead-letters/{letter_id}/retry"): check_forward_retry,
    ("DELETE", "/api/forward/dead-letters/{letter_id}"): check_forward_discard,
    # OGC API - Features (not under /api, but read with the same scope: scoped_routes below)
    ("GET", "/ogc"): check_ogc_landing,
    ("GET", "/ogc/conformance"): check_ogc_landing,
    ("GET", "/ogc/collections"): check_ogc_collections,
    ("GET", "/ogc/collections/{collection_id}"): check_ogc_collection,
    ("GET", "/ogc/collections/{collection_id}/items"): check_ogc_items,
    ("GET", "/ogc/collections/{collection_id}/items/{feature_id}"): check_ogc_feature,
}


def scoped_routes(app) -> list[tuple[str, str]]:
    """The routes that must keep town A out of town B's data: every /api route, and /ogc's."""
    return api_routes(app) + [(m, p) for m, p in http_routes(app) if p == "/ogc" or p.startswith("/ogc/")]


def test_every_api_route_has_an_isolation_check(client):
    routes = set(scoped_routes(client.app))
    uncovered = sorted(routes - set(CHECKS))
    assert not uncovered, f"/api routes without an isolation check in {__name__}: {uncovered}"


def _app_routes() -> list[str]:
    """The app's /api routes, as test ids (an app is built, never started)."""
    from zhizhi.console.app import create_app
    from zhizhi.console.settings import Settings

    return [f"{method} {path}" for method, path in scoped_routes(create_app(Settings()))]


_TEXT_TYPES = ("json", "html", "csv", "text", "xml")


class LeakScan:
    """Records every answer to town A's token during a check; :meth:`leaks` finds town B's
    markers in them: any code under town B's, and the ids of B's alerts, cameras, vehicles,
    drones, incidents, facilities and shelters — except those A named in its own request (a 404
    that repeats the id asked for tells nothing)."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.responses: list = []
        self.patterns = {"town B code": re.compile(rf"(?<!\d){re.escape(w.users.town_b)}\d*(?!\d)")}
        for marker in self._ids():
            self.patterns[marker] = re.compile(rf"(?<![\w-]){re.escape(marker)}(?![\w-])")

    def _ids(self) -> set[str]:
        w = self.w
        ids = {w.alert_b.id, w.event_b["id"], w.camera_b.id, PRIVATE_B}
        ids |= {c.id for c in w.state.cameras.cameras if c.grid and c.grid.startswith(w.users.town_b)}
        fleet = getattr(w, "fleet", None)
        if fleet is not None:
            ids |= {fleet.vehicle_b, fleet.drone_b, fleet.incident_b, fleet.typhoon_alert_b}
        for layer in ("facilities", "shelters"):
            features = w.state.registry.read_features(layer, _everything())
            if "id" in features.columns:
                ids |= {str(i) for i, code in zip(features["id"], features["code"], strict=True)
                        if str(code).startswith(w.users.town_b)}
        return ids

    def __enter__(self) -> Self:
        self.w.client.event_hooks["response"].append(self.responses.append)
        return self

    def __exit__(self, *exc: object) -> None:
        self.w.client.event_hooks["response"].remove(self.responses.append)

    def leaks(self) -> list[str]:
        found = []
        token = self.w.a["Authorization"]
        for response in self.responses:
            request = response.request
            kind = response.headers.get("content-type", "")
            if request.headers.get("authorization") != token or not any(t in kind for t in _TEXT_TYPES):
                continue
            if not hasattr(response, "_content"):  # a stream the check did not read
                continue
            asked = f"{request.url} ".encode() + (request.content if hasattr(request, "_content") else b"")
            text = response.content.decode("utf-8", "replace")
            for marker, pattern in self.patterns.items():
                hit = pattern.search(text)
                if hit and hit.group(0).encode() not in asked:
                    found.append(f"{request.method} {request.url.path}: {marker} ({hit.group(0)})")
        return found


@pytest.mark.parametrize("route", _app_routes())
def test_a_town_never_sees_another_towns_data(world, route):
    method, path = route.split(" ", 1)
    check = CHECKS.get((method, path))
    assert check is not None, f"{route} has no isolation check in {__name__}"
    with LeakScan(world) as scan:
        check(world)
    assert scan.leaks() == [], f"town A got town B's data through {route}"
