"""The camera registry through the console: seeding, ``/api/cameras`` (CRUD, scoping, refusals),
stream credentials, imports, changes reaching the index and a running worker.

A console of its own (it adds and removes cameras), on SQLite and on PostgreSQL, with the
motion detector so that a camera added with a clip as its stream is analysed at once.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from tests.auth_support import PASSWORD, bearer, create_test_users, login
from tests.clip_support import write_crossing_clip
from tests.redis_support import wait_until
from zhizhi.bus import Topic
from zhizhi.bus.messages import CamerasChanged
from zhizhi.gis.crs import wgs84_to_gcj02
from zhizhi.layers import Scope
from zhizhi.layers.camera_registry import CameraInput

CONSOLE_BACKENDS = ("sqlite", "postgresql")
SECRET = "S3cr/et@pw"  # a password with the characters VMS exports leave unencoded
STREAM = f"rtsp://admin:{SECRET}@10.20.30.40:554/Streaming/Channels/101"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Two seconds at 10 fps, 320x180: a bright box crossing a grey road (a camera's stream)."""
    return write_crossing_clip(tmp_path_factory.mktemp("clip") / "gate.mp4")


@pytest.fixture(scope="module")
def console(tmp_path_factory, module_database_url):
    from zhizhi.console.app import create_app
    from zhizhi.console.runtime import Runtime
    from zhizhi.console.settings import DemoSettings, DetectorSettings, Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("cameras"), database_url=module_database_url,
                        demo=DemoSettings(seed=7), detector=DetectorSettings(kind="motion"))
    with Runtime(settings) as runtime:
        state = runtime.state
        users = create_test_users(state)
        for name, role, code in (("cam-admin", "admin", users.district_code), ("cam-town-admin", "admin", users.town_a),
                                 ("cam-analyst", "analyst", users.district_code)):
            if state.auth.get_user(name) is None:
                state.auth.add_user(name, role, code, PASSWORD)
        with TestClient(create_app(settings, state=state)) as client:
            heads = {name: bearer(login(client, name)) for name in (
                "cam-admin", "cam-town-admin", "cam-analyst", users.district, users.operator_a, users.operator_b)}
            yield SimpleNamespace(state=state, client=client, users=users, admin=heads["cam-admin"],
                                  town_admin=heads["cam-town-admin"], analyst=heads["cam-analyst"],
                                  duty=heads[users.district], a=heads[users.operator_a], b=heads[users.operator_b])


def point_in(c, town: str) -> tuple[float, float]:
    grid = next(g for g in c.state.jurisdictions.grid_codes if g.startswith(town))
    return c.state.jurisdictions.get(grid).anchor


def body(c, camera_id: str, town: str | None = None, **extra) -> dict:
    lon, lat = point_in(c, town or c.users.town_a)
    return {"id": camera_id, "name": f"测试 {camera_id}", "lon": lon, "lat": lat, "heading_deg": 90.0,
            "hfov_deg": 60.0, "range_m": 120.0, **extra}


def fov_ids(c, headers) -> set[str]:
    return {f["properties"]["id"] for f in c.client.get("/api/cameras/fov", headers=headers).json()["features"]}


def remove(c, camera_id: str) -> None:
    if c.state.camera_registry.delete(camera_id):
        c.state.cameras_changed("removed", [camera_id])


# --- seeding and the index --------------------------------------------------------------------


def test_the_registry_is_seeded_from_the_cameras_layer_and_feeds_the_index(console):
    c = console
    layer = c.state.registry.read_features("cameras", Scope.everything())
    records = {r.id: r for r in c.state.camera_registry.list()}
    assert set(records) >= set(layer["id"]) and len(layer) == 120
    seeded = [records[i] for i in layer["id"]]
    assert all(r.revision >= 1 and r.enabled and r.stream_main is None for r in seeded)
    grids = dict(zip(layer["id"], layer["grid"], strict=True))
    assert all(r.owner_code == grids[r.id] for r in seeded)
    assert {cam.id for cam in c.state.cameras.cameras} == set(records)
    assert len(fov_ids(c, c.duty)) == len(records)
    assert c.state.camera_feed.worker is None  # no camera with a stream: no in-process worker, no detector
    # The registry is not filled again once it holds cameras (the layer is no longer read).
    from zhizhi.console.cameras import open_camera_registry

    again = open_camera_registry(c.state.engine, c.state.registry, c.state.jurisdictions)
    assert len(again) == len(records)


def test_a_camera_added_is_on_the_map_and_sees_at_once(console):
    c = console
    added = c.client.post("/api/cameras", json=body(c, "REG-NEW-1", kind="ptz", height_m=8.5, tilt_deg=20),
                          headers=c.a)
    assert added.status_code == 201, added.text
    record = added.json()
    assert record["revision"] == 1 and record["owner_code"].startswith(c.users.town_a)
    assert record["town_code"] == c.users.town_a and record["town_name"]
    assert "REG-NEW-1" in fov_ids(c, c.a) and "REG-NEW-1" not in fov_ids(c, c.b)
    camera = c.state.cameras.get("REG-NEW-1")
    assert (camera.kind, camera.height_m, camera.tilt_deg, camera.grid) == ("ptz", 8.5, 20.0, record["owner_code"])
    ahead = c.client.get("/api/cameras/covering", params={"lon": record["lon"] + 0.0005, "lat": record["lat"]},
                         headers=c.a).json()
    assert "REG-NEW-1" in {h["id"] for h in ahead}
    remove(c, "REG-NEW-1")
    assert "REG-NEW-1" not in fov_ids(c, c.a)


def test_the_list_is_scoped_and_every_role_reads_it(console):
    c = console
    mine = c.client.get("/api/cameras", headers=c.a).json()
    assert mine and all(x["owner_code"].startswith(c.users.town_a) for x in mine)
    everything = c.client.get("/api/cameras", headers=c.duty).json()
    assert len(everything) == len(c.state.camera_registry) > len(mine)
    assert len(c.client.get("/api/cameras", headers=c.analyst).json()) == len(everything)
    assert c.client.get("/api/cameras", params={"enabled": "false"}, headers=c.duty).json() == []
    theirs = next(x for x in everything if x["owner_code"].startswith(c.users.town_b))
    assert c.client.get(f"/api/cameras/{theirs['id']}", headers=c.a).status_code == 403
    assert c.client.get(f"/api/cameras/{theirs['id']}", headers=c.b).json()["id"] == theirs["id"]
    assert c.client.get("/api/cameras/NO-SUCH-CAMERA", headers=c.a).status_code == 404


def test_who_may_write(console):
    c = console
    theirs = next(r for r in c.state.camera_registry.list() if r.owner_code.startswith(c.users.town_b))
    # roles without cameras.manage: the district duty officer, an analyst
    for headers in (c.duty, c.analyst):
        refused = c.client.post("/api/cameras", json=body(c, "REG-ROLE"), headers=headers)
        assert refused.status_code == 403 and "cameras.manage" in refused.text
    # a town (operator or admin) changes nothing of another town's ...
    for headers in (c.a, c.town_admin):
        in_b = c.client.post("/api/cameras", json=body(c, "REG-IN-B", c.users.town_b), headers=headers)
        assert in_b.status_code == 403
        assert c.client.post("/api/cameras", json=body(c, "REG-FOR-B", owner_code=c.users.town_b),
                             headers=headers).status_code == 403
        assert c.client.patch(f"/api/cameras/{theirs.id}", json={"name": "x"}, headers=headers).status_code == 403
        assert c.client.put(f"/api/cameras/{theirs.id}", json=body(c, theirs.id, c.users.town_b),
                            headers=headers).status_code == 403
        assert c.client.delete(f"/api/cameras/{theirs.id}", headers=headers).status_code == 403
        # ... nor moves its own camera into another town
        mine = c.client.post("/api/cameras", json=body(c, "REG-MINE"), headers=headers).json()
        lon, lat = point_in(c, c.users.town_b)
        moved = c.client.patch("/api/cameras/REG-MINE", json={"lon": lon, "lat": lat}, headers=headers)
        assert moved.status_code == 403, moved.text
        assert c.state.camera_registry.get("REG-MINE").owner_code == mine["owner_code"]
        assert c.client.delete("/api/cameras/REG-MINE", headers=headers).status_code == 204
    assert c.state.camera_registry.get(theirs.id) == theirs
    for unknown in ("REG-IN-B", "REG-FOR-B", "REG-ROLE"):
        assert c.state.camera_registry.get(unknown) is None
    # the district admin manages every camera
    assert c.client.patch(f"/api/cameras/{theirs.id}", json={"name": theirs.name}, headers=c.admin).status_code == 200
    for method in ("PATCH", "PUT", "DELETE"):
        assert c.client.request(method, "/api/cameras/NO-SUCH-CAMERA", json=body(c, "NO-SUCH-CAMERA"),
                                headers=c.admin).status_code == 404


BAD = [
    ({"lon": 190.0}, "lon"),
    ({"lat": -95.0}, "lat"),
    ({"hfov_deg": 0}, "hfov_deg"),
    ({"hfov_deg": -10}, "hfov_deg"),
    ({"hfov_deg": 400}, "hfov_deg"),
    ({"range_m": 0}, "range_m"),
    ({"heading_deg": 361}, "heading_deg"),
    ({"tilt_deg": 95}, "tilt_deg"),
    ({"height_m": -3}, "height_m"),
    ({"kind": "bullet"}, "kind"),
    ({"analysis_fps": 0}, "analysis_fps"),
    ({"enabled": "maybe"}, "enabled"),
    ({"stream_main": "ftp://10.0.0.1/x"}, "stream_main"),
    ({"stream_main": "rtsp://admin:pw@/x"}, "stream_main"),
    ({"stream_sub": "clip.mp4"}, "stream_sub"),
    ({"masks": [[[0, 0], [10, 0]]]}, "masks"),
    ({"masks": [[[0, 0], [10, 0], [-1, 5]]]}, "masks"),
    ({"zones": [{"name": "school", "kind": "school", "polygon": [[120, 32], [120.1, 32]]}]}, "zones"),
    ({"id": "covering"}, "id"),
    ({"id": "a b"}, "id"),
    ({"id": ""}, "id"),
    ({"owner_code": "999999"}, "owner_code"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("change", "field"), BAD, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD)])
def test_bad_fields_are_refused_naming_the_field(console, change, field):
    c = console
    before = c.state.camera_registry.fingerprint()
    answer = c.client.post("/api/cameras", json=body(c, "REG-BAD", stream_main=STREAM) | change, headers=c.admin)
    assert answer.status_code == 422, answer.text
    assert any(field in e["loc"] for e in answer.json()["detail"]), answer.text
    assert SECRET not in answer.text and "S3cr" not in answer.text
    assert c.state.camera_registry.fingerprint() == before


def test_a_position_outside_the_district_is_422_and_a_body_that_is_not_an_object_too(console):
    c = console
    far = c.client.post("/api/cameras", json=body(c, "REG-FAR") | {"lon": 100.0, "lat": 30.0}, headers=c.admin)
    assert far.status_code == 422 and "outside district" in far.text
    for raw in (b"[1, 2]", b"{not json", b'"x"'):
        answer = c.client.post("/api/cameras", content=raw, headers=c.admin | {"content-type": "application/json"})
        assert answer.status_code == 422, raw
    patch = c.client.patch(f"/api/cameras/{c.state.cameras.cameras[0].id}", json={"hfov_deg": 0}, headers=c.admin)
    assert patch.status_code == 422 and "hfov_deg" in patch.text
    renamed = c.client.patch(f"/api/cameras/{c.state.cameras.cameras[0].id}", json={"id": "OTHER"}, headers=c.admin)
    assert renamed.status_code == 422 and "id" in renamed.text
    assert c.state.camera_registry.get("REG-FAR") is None


def test_a_duplicate_id_is_409_and_changes_nothing(console):
    c = console
    existing = c.state.camera_registry.list()[0]
    answer = c.client.post("/api/cameras", json=body(c, existing.id, name="冒名"), headers=c.admin)
    assert answer.status_code == 409 and existing.id in answer.text
    assert c.state.camera_registry.get(existing.id) == existing


def test_revisions_go_up_and_a_stale_edit_is_409(console):
    c = console
    made = c.client.post("/api/cameras", json=body(c, "REG-REV"), headers=c.a).json()
    first = c.client.patch("/api/cameras/REG-REV", json={"name": "一", "revision": made["revision"]}, headers=c.a)
    assert first.status_code == 200 and first.json()["revision"] == 2
    stale = c.client.patch("/api/cameras/REG-REV", json={"name": "二", "revision": made["revision"]}, headers=c.a)
    assert stale.status_code == 409 and "revision 2" in stale.text
    same = c.client.patch("/api/cameras/REG-REV", json={"name": "一"}, headers=c.a)
    assert same.json()["revision"] == 2  # nothing changed: no new revision
    disabled = c.client.patch("/api/cameras/REG-REV", json={"enabled": False}, headers=c.a).json()
    assert disabled["revision"] == 3 and disabled["status"] == "disabled"
    assert c.state.cameras.get("REG-REV").status == "maintenance"
    assert c.client.get("/api/cameras", params={"enabled": "false"}, headers=c.a).json()[0]["id"] == "REG-REV"
    assert c.client.delete("/api/cameras/REG-REV", headers=c.a).status_code == 204
    assert c.client.get("/api/cameras/REG-REV", headers=c.a).status_code == 404
    assert "REG-REV" not in fov_ids(c, c.a)


def test_moving_a_camera_moves_its_owner_unless_one_is_named(console):
    c = console
    j = c.state.jurisdictions
    grids = [g for g in j.grid_codes if g.startswith(c.users.town_a)]
    c.client.post("/api/cameras", json=body(c, "REG-MOVE"), headers=c.admin)
    lon, lat = j.get(grids[-1]).anchor
    moved = c.client.patch("/api/cameras/REG-MOVE", json={"lon": lon, "lat": lat}, headers=c.admin).json()
    assert moved["owner_code"] == grids[-1]
    named = c.client.patch("/api/cameras/REG-MOVE", json={"owner_code": c.users.town_a}, headers=c.admin).json()
    assert named["owner_code"] == c.users.town_a and c.state.cameras.get("REG-MOVE").grid == c.users.town_a
    remove(c, "REG-MOVE")


# --- stream credentials ----------------------------------------------------------------------


def test_stream_passwords_reach_admins_only_and_are_never_logged(console, caplog):
    c = console
    caplog.set_level(logging.DEBUG)
    seen: list = []
    subscription = c.state.bus.subscribe(Topic.CAMERAS, seen.append)
    try:
        made = c.client.post("/api/cameras", json=body(c, "REG-SECRET", stream_main=STREAM, stream_sub=STREAM),
                             headers=c.a)
        assert made.status_code == 201 and SECRET not in made.text  # the operator who typed it: masked too
        assert made.json()["stream_main"] == "rtsp://admin:***@10.20.30.40:554/Streaming/Channels/101"
        for headers in (c.a, c.duty, c.analyst):
            for url in ("/api/cameras/REG-SECRET", "/api/cameras"):
                assert SECRET not in c.client.get(url, headers=headers).text
        for headers in (c.admin, c.town_admin):
            assert c.client.get("/api/cameras/REG-SECRET", headers=headers).json()["stream_main"] == STREAM
        # a form that sends back what it was shown keeps the stored password
        shown = c.client.get("/api/cameras/REG-SECRET", headers=c.a).json()
        kept = c.client.put("/api/cameras/REG-SECRET", json={k: shown[k] for k in CameraInput.model_fields},
                            headers=c.a)
        assert kept.status_code == 200 and c.state.camera_registry.get("REG-SECRET").stream_main == STREAM
        assert kept.json()["revision"] == 1
        new_host = shown["stream_main"].replace("10.20.30.40", "10.20.30.41")
        c.client.patch("/api/cameras/REG-SECRET", json={"stream_main": new_host}, headers=c.a)
        assert c.state.camera_registry.get("REG-SECRET").stream_main == STREAM.replace("10.20.30.40", "10.20.30.41")
        refused = c.client.patch("/api/cameras/REG-SECRET", json={"stream_main": STREAM, "hfov_deg": -1}, headers=c.a)
        assert refused.status_code == 422 and SECRET not in refused.text
        assert seen and all(SECRET not in json.dumps(m.to_wire()) for m in seen)
        assert all(isinstance(m, CamerasChanged) for m in seen)
        assert SECRET not in caplog.text and "S3cr" not in caplog.text
    finally:
        subscription.cancel()
        remove(c, "REG-SECRET")


def test_config_show_masks_a_stream_like_password_whole(monkeypatch):
    from zhizhi.console.config_show import config_report

    monkeypatch.setenv("ZHIZHI_MAP__TILE_URL", f"http://ops:{SECRET}@10.0.0.5/tiles/{{z}}/{{x}}/{{y}}.png")
    entries = {e.key: e for e in config_report().entries}
    assert entries["map.tile_url"].value == "http://ops:***@10.0.0.5/tiles/{z}/{x}/{y}.png"


# --- imports --------------------------------------------------------------------------------


def _vms_csv(c) -> bytes:
    """A GB/T 28181 platform's export: GBK, Chinese headers, GCJ-02, an NVR among the cameras."""
    (lon1, lat1), (lon2, lat2) = point_in(c, c.users.town_a), point_in(c, c.users.town_b)
    g1, g2 = (wgs84_to_gcj02(lon, lat) for lon, lat in ((lon1, lat1), (lon2, lat2)))
    rows = [
        "设备编码,设备名称,经度,纬度,安装高度,朝向,视场角,摄像机类型,取流地址",
        f"34020000001320000101,东门卡口,{float(g1[0]):.7f},{float(g1[1]):.7f},6.5,45,60,枪机,{STREAM}",
        f"34020000001320000102,西桥球机,{float(g2[0]):.7f},{float(g2[1]):.7f},12,,,球机,",
        "34020000001180000001,一号NVR,,,,,,,",
    ]
    return ("\r\n".join(rows) + "\r\n").encode("gbk")


def _import(c, data: bytes, name: str, headers, **form) -> dict:
    answer = c.client.post("/api/cameras/import", data=form, files={"file": (name, data, "text/csv")},
                           headers=headers)
    return {"status": answer.status_code, "text": answer.text, **(answer.json() if answer.content else {})}


def test_a_vms_export_is_checked_dry_then_stored(console):
    c = console
    data = _vms_csv(c)
    before = c.state.camera_registry.fingerprint()
    dry = _import(c, data, "cams.csv", c.admin, crs="gcj02")
    assert dry["status"] == 200 and dry["dry_run"] and not dry["stored"], dry["text"]
    assert (dry["added"], dry["skipped"], dry["errors"]) == (2, 1, 0)
    assert [i["action"] for i in dry["items"]] == ["add", "add", "skip"]
    assert "NVR" in dry["items"][2]["warnings"][0]
    assert any("field of view" in w for w in dry["items"][1]["warnings"])  # a PTZ turns: 360°
    assert SECRET not in dry["text"] and c.state.camera_registry.fingerprint() == before
    stored = _import(c, data, "cams.csv", c.admin, crs="gcj02", dry_run="false")
    assert stored["status"] == 200 and stored["stored"] and stored["added"] == 2, stored["text"]
    gate = c.state.camera_registry.get("34020000001320000101")
    lon, lat = point_in(c, c.users.town_a)
    assert abs(gate.lon - lon) < 1e-6 and abs(gate.lat - lat) < 1e-6  # GCJ-02 read back to WGS-84
    assert (gate.height_m, gate.heading_deg, gate.hfov_deg, gate.kind, gate.stream_main) == (6.5, 45, 60, "fixed",
                                                                                            STREAM)
    dome = c.state.camera_registry.get("34020000001320000102")
    assert dome.kind == "ptz" and dome.hfov_deg == 360 and dome.owner_code.startswith(c.users.town_b)
    assert {"34020000001320000101", "34020000001320000102"} <= fov_ids(c, c.duty)
    # the same file again changes nothing; a changed heading updates, keeping what the file lacks
    c.client.patch("/api/cameras/34020000001320000101", json={"masks": [[[0, 0], [50, 0], [50, 40]]]},
                   headers=c.admin)
    again = _import(c, data.replace(b",45,60,", b",50,60,"), "cams.csv", c.admin, crs="gcj02", dry_run="false")
    assert [i["action"] for i in again["items"]] == ["update", "unchanged", "skip"], again["text"]
    updated = c.state.camera_registry.get("34020000001320000101")
    assert updated.heading_deg == 50 and updated.masks and updated.revision == gate.revision + 2
    for camera_id in ("34020000001320000101", "34020000001320000102"):
        remove(c, camera_id)


def test_an_import_with_a_bad_row_names_row_and_field_and_stores_nothing(console):
    c = console
    (lon, lat), (lon_b, lat_b) = point_in(c, c.users.town_a), point_in(c, c.users.town_b)
    data = (f"DeviceID,Name,Longitude,Latitude,Heading,FOV,RTSP\n"
            f"IMP-1,ok,{lon},{lat},10,60,{STREAM}\n"
            f"IMP-2,bad lon,abc,{lat},10,60,\n"
            f"IMP-3,bad fov,{lon},{lat},10,0,\n"
            f"IMP-1,again,{lon},{lat},10,60,\n"
            f"IMP-5,swapped,{lat},{lon},10,60,\n"
            f"IMP-6,town b,{lon_b},{lat_b},10,60,\n"
            f"IMP-7,bad url,{lon},{lat},10,60,ftp://admin:{SECRET}@x/y\n").encode()
    before = c.state.camera_registry.fingerprint()
    report = _import(c, data, "cams.csv", c.a, dry_run="false")
    assert report["status"] == 422 and not report["stored"] and report["errors"] == 6, report["text"]
    problems = {i["row"]: i["errors"][0]["field"] for i in report["items"] if i["errors"]}
    assert problems == {2: "lon", 3: "hfov_deg", 4: "id", 5: "lat", 6: "lon", 7: "stream_main"}
    assert "repeats row 1" in report["text"] and "swapped" in report["text"]
    assert SECRET not in report["text"]
    assert c.state.camera_registry.fingerprint() == before


@pytest.mark.parametrize(("data", "name", "form", "says"), [
    (b"", "cams.csv", {}, "empty"),
    (b"\x00\x01PK\x03\x04", "cams.csv", {}, "NUL"),
    ("名称,地址\n东门,x\n".encode(), "cams.csv", {}, "no column for id"),
    (b'{"type": "Feature"}', "cams.geojson", {}, "FeatureCollection"),
    (b"id,lon,lat\nA,120,32\n", "cams.csv", {"crs": "epsg:3857"}, "crs"),
])
def test_a_file_that_is_no_camera_list_is_422(console, data, name, form, says):
    c = console
    before = c.state.camera_registry.fingerprint()
    report = _import(c, data, name, c.admin, dry_run="false", **form)
    assert report["status"] == 422 and says in report["text"], report["text"]
    assert c.state.camera_registry.fingerprint() == before


def test_a_geojson_list_imports_its_points(console):
    c = console
    lon, lat = point_in(c, c.users.town_a)
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "GJ-1", "properties": {"name": "北门", "heading": 180, "fov": 70, "height": 7},
         "geometry": {"type": "Point", "coordinates": [lon, lat]}},
        {"type": "Feature", "properties": {"id": "GJ-2", "name": "线"},
         "geometry": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.001, lat]]}},
    ]}
    report = _import(c, json.dumps(doc).encode(), "cams.geojson", c.a)
    assert [i["action"] for i in report["items"]] == ["add", "error"], report["text"]
    assert report["items"][1]["errors"][0]["field"] == "geometry"
    doc["features"].pop()
    stored = _import(c, json.dumps(doc).encode(), "cams.geojson", c.a, dry_run="false")
    assert stored["stored"] and c.state.camera_registry.get("GJ-1").hfov_deg == 70
    remove(c, "GJ-1")


# --- changes from elsewhere, and the workers --------------------------------------------------


def test_a_change_made_by_another_console_reaches_the_index(console):
    c = console
    from zhizhi.layers.camera_registry import CameraRegistry

    elsewhere = CameraRegistry(c.state.engine)  # another process's registry on the same database
    lon, lat = point_in(c, c.users.town_a)
    grid = c.state.jurisdictions.locate(lon, lat).grid
    camera = CameraInput(id="REG-ELSEWHERE", lon=lon, lat=lat, heading_deg=0, hfov_deg=90, range_m=80)
    elsewhere.add(camera.record(grid))
    c.state.bus.publish(Topic.CAMERAS, CamerasChanged(action="added", ids=("REG-ELSEWHERE",), revision=1))
    assert wait_until(lambda: "REG-ELSEWHERE" in {x.id for x in c.state.cameras.cameras}, timeout=10)
    elsewhere.delete("REG-ELSEWHERE")  # no message this time: the console's poll finds it
    assert wait_until(lambda: "REG-ELSEWHERE" not in {x.id for x in c.state.cameras.cameras}, timeout=15)


def test_the_consoles_worker_runs_a_camera_added_with_a_stream_and_drops_it_when_disabled(console, clip):
    c = console
    feed = c.state.camera_feed
    made = c.client.post("/api/cameras", json=body(c, "REG-LIVE", stream_main=str(clip), analysis_fps=5),
                         headers=c.admin)
    assert made.status_code == 201, made.text
    assert wait_until(lambda: c.state.latest_jpeg("REG-LIVE") is not None, timeout=20)
    worker = feed.worker
    assert worker in c.state.workers and "REG-LIVE" in feed.camera_ids
    c.client.patch("/api/cameras/REG-LIVE", json={"enabled": False}, headers=c.admin)
    assert wait_until(lambda: "REG-LIVE" not in feed.camera_ids, timeout=10)
    assert c.state.latest_jpeg("REG-LIVE") is None and feed.worker is worker  # the same worker, still running
    assert feed.thread.is_alive()
    remove(c, "REG-LIVE")
