"""Calibrating a camera through the console: ``/api/cameras/{id}/calibration`` (the contract, its
versions, the preview), ``/api/cameras/{id}/masks``, and what a saved calibration changes: the
camera's field of view on the map, "which cameras see this point", the other consoles' index and
the workers' configs.

A console of its own (it calibrates cameras), on SQLite and on PostgreSQL. The "real" camera
behind the clicked pairs is a pinhole looking 90° away from the heading its record says, so the
calibrated ground area and the nominal sector hardly meet.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from tests.auth_support import PASSWORD, bearer, create_test_users, login
from zhizhi.console.state import load_camera_index
from zhizhi.gis.cameras import fov_sector
from zhizhi.gis.metric import MetricFrame
from zhizhi.layers.camera_calibrations import CameraCalibrations
from zhizhi.layers.camera_registry import CameraRegistry, RegistryWatch
from zhizhi.video.calibration import pinhole_calibration
from zhizhi.video.registry_feed import newest_calibrations, worker_configs

CONSOLE_BACKENDS = ("sqlite", "postgresql")
SIZE = (1280, 720)
PIXELS = [(200, 650), (1080, 650), (900, 420), (380, 420), (640, 520)]


@pytest.fixture(scope="module")
def console(tmp_path_factory, module_database_url):
    from zhizhi.console.app import create_app
    from zhizhi.console.runtime import Runtime
    from zhizhi.console.settings import DemoSettings, Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("calibration"), database_url=module_database_url,
                        demo=DemoSettings(seed=7))
    with Runtime(settings) as runtime:
        state = runtime.state
        users = create_test_users(state)
        if state.auth.get_user("cal-admin") is None:
            state.auth.add_user("cal-admin", "admin", users.district_code, PASSWORD)
        with TestClient(create_app(settings, state=state)) as client:
            heads = {n: bearer(login(client, n)) for n in ("cal-admin", users.district, users.operator_a,
                                                            users.operator_b)}
            records = state.camera_registry.list()
            mine = [r for r in records if r.owner_code.startswith(users.town_a) and r.hfov_deg < 120]
            theirs = next(r for r in records if r.owner_code.startswith(users.town_b))
            yield SimpleNamespace(state=state, client=client, users=users, admin=heads["cal-admin"],
                                  duty=heads[users.district], a=heads[users.operator_a], b=heads[users.operator_b],
                                  mine=mine, theirs=theirs)


def truth(record, turn_deg: float = 90.0, height_m: float = 8.0, tilt_deg: float = 15.0):
    """The camera as it really hangs: its record's heading turned by ``turn_deg``."""
    return pinhole_calibration(record.lon, record.lat, (record.heading_deg + turn_deg) % 360, record.hfov_deg, SIZE,
                               height_m=height_m, tilt_deg=tilt_deg)


def pairs(record, pixels=PIXELS, **kwargs) -> list[dict]:
    real = truth(record, **kwargs)
    u, v = np.asarray(pixels, float).T
    lon, lat = real.pixel_to_lonlat(u, v)
    return [{"px": [float(a), float(b)], "lonlat": [float(x), float(y)]} for a, b, x, y in zip(u, v, lon, lat)]


def fov_of(c, camera_id: str, headers) -> dict:
    features = c.client.get("/api/cameras/fov", headers=headers).json()["features"]
    return next(f for f in features if f["properties"]["id"] == camera_id)["geometry"]


def covering_ids(c, lon: float, lat: float, headers) -> set[str]:
    hits = c.client.get("/api/cameras/covering", params={"lon": lon, "lat": lat}, headers=headers).json()
    return {h["id"] for h in hits}


def test_a_saved_calibration_becomes_the_cameras_field_of_view(console):
    c = console
    record = c.mine[0]
    sector = fov_sector(record.lon, record.lat, record.heading_deg, record.hfov_deg, record.range_m)
    before = c.client.get(f"/api/cameras/{record.id}/calibration", params={"width": 1280, "height": 720},
                          headers=c.a).json()
    assert before["calibration"] is None and before["versions"] == []
    assert before["first_guess"]["assumed"] == ["height_m", "tilt_deg"] and before["first_guess"]["fov"]["type"] == \
        "Polygon"
    # A ground point the real camera sees that the nominal sector does not hold.
    real = truth(record)
    lon, lat = (float(v) for v in real.pixel_to_lonlat(640, 560))
    assert not sector.contains(shapely.Point(lon, lat)) and record.id not in covering_ids(c, lon, lat, c.a)
    # ... and one on the nominal axis the real camera does not see.
    frame = MetricFrame.around(record.lon, record.lat)
    axis = np.radians(record.heading_deg)
    ahead = tuple(float(v) for v in frame.to_lonlat(0.5 * record.range_m * np.sin(axis),
                                                    0.5 * record.range_m * np.cos(axis)))
    assert record.id in covering_ids(c, *ahead, c.a)
    revision = c.state.camera_registry.get(record.id).revision

    saved = c.client.put(f"/api/cameras/{record.id}/calibration",
                         json={"points": pairs(record), "image_size": list(SIZE)}, headers=c.a)
    assert saved.status_code == 200, saved.text
    answer = saved.json()
    assert answer["reprojection_px"] < 0.01 and answer["ground_error_m"] < 0.01
    assert answer["fov"]["type"] == "Polygon" and answer["version"] == 1
    assert len(answer["points"]) == 5 and all(p["reprojection_px"] < 0.01 for p in answer["points"])
    footprint = shapely.geometry.shape(answer["fov"])
    assert footprint.contains(shapely.Point(lon, lat)) and not footprint.contains(shapely.Point(*ahead))
    # The map and "who sees this point" follow at once.
    assert shapely.geometry.shape(fov_of(c, record.id, c.a)).equals_exact(footprint, 1e-9)
    assert record.id in covering_ids(c, lon, lat, c.a)
    assert record.id not in covering_ids(c, *ahead, c.a)
    # The record's revision went up with it: other consoles and the workers notice the change.
    assert c.state.camera_registry.get(record.id).revision == revision + 1
    assert load_camera_index(c.state.camera_registry).get(record.id).footprint.equals(footprint)
    config = next(x for x in worker_configs([c.state.camera_registry.get(record.id).model_copy(
        update={"stream_main": "/srv/clip.mp4"})], newest_calibrations(c.state.engine)))
    assert config.calibration is not None and config.calibration.homography == answer["homography"]

    # A second save is version 2; the newest applies, both are listed.
    second = c.client.put(f"/api/cameras/{record.id}/calibration",
                          json={"points": pairs(record, turn_deg=80.0), "image_size": list(SIZE)}, headers=c.admin)
    assert second.status_code == 200 and second.json()["version"] == 2
    shown = c.client.get(f"/api/cameras/{record.id}/calibration", headers=c.duty).json()
    assert shown["calibration"]["version"] == 2 and shown["calibration"]["created_by"] == "cal-admin"
    assert [v["version"] for v in shown["versions"]] == [2, 1]
    assert shown["calibration"]["fov"] == second.json()["fov"]
    assert shapely.geometry.shape(fov_of(c, record.id, c.a)).equals_exact(
        shapely.geometry.shape(second.json()["fov"]), 1e-9)


def test_another_console_notices_a_calibration(console):
    """A console that did not save it sees the change of the registry (the revision went up with
    the calibration) and its rebuilt index takes the new ground area."""
    c = console
    record = c.mine[4]
    seen: list[int] = []
    watch = RegistryWatch(CameraRegistry(c.state.engine), lambda: seen.append(1), interval_s=0)
    watch.note(watch.registry.fingerprint())
    assert watch.check() is False
    saved = c.client.put(f"/api/cameras/{record.id}/calibration",
                         json={"points": pairs(record), "image_size": list(SIZE)}, headers=c.admin)
    assert saved.status_code == 200, saved.text
    assert watch.check() is True and seen == [1]
    other = load_camera_index(CameraRegistry(c.state.engine))
    assert other.get(record.id).footprint.equals(shapely.geometry.shape(saved.json()["fov"]))


def test_the_preview_predicts_and_fits_without_storing(console):
    c = console
    record = c.mine[1]
    points = pairs(record, turn_deg=0.0, height_m=8.0, tilt_deg=15.0)  # the first guess's own assumptions
    partial = points[:2] + [{"px": points[2]["px"]}]
    shown = c.client.post(f"/api/cameras/{record.id}/calibration/preview",
                          json={"points": partial, "image_size": list(SIZE)}, headers=c.a)
    assert shown.status_code == 200, shown.text
    preview = shown.json()
    assert preview["model"] == "first guess" and preview["fov"] is None and preview["complete"] == 2
    # the pinhole guess with the camera's own heading and the default height and tilt: exact
    for got, want in zip(preview["points"], points):
        assert got["predicted"] == pytest.approx(want["lonlat"], abs=1e-6)
    assert preview["points"][0]["ground_error_m"] < 0.05 and preview["points"][2]["ground_error_m"] is None
    fitted = c.client.post(f"/api/cameras/{record.id}/calibration/preview",
                           json={"points": pairs(record), "image_size": list(SIZE)}, headers=c.a).json()
    assert fitted["model"] == "fit" and fitted["fov"]["type"] == "Polygon" and fitted["reprojection_px"] < 0.01
    assert all(p["reprojection_px"] is not None for p in fitted["points"])
    assert CameraCalibrations(c.state.engine).versions(record.id) == []
    assert c.state.cameras.get(record.id).footprint is None


def _refused(c, camera_id, body, fragment, headers=None, status=422):
    revision = c.state.camera_registry.get(camera_id).revision
    versions = len(CameraCalibrations(c.state.engine).versions(camera_id))
    answer = c.client.put(f"/api/cameras/{camera_id}/calibration", content=body if isinstance(body, bytes)
                          else json.dumps(body), headers=headers or c.a)
    assert answer.status_code == status, answer.text
    assert fragment in answer.text, answer.text
    assert c.state.camera_registry.get(camera_id).revision == revision
    assert len(CameraCalibrations(c.state.engine).versions(camera_id)) == versions
    return answer


def test_bad_pairs_are_refused_naming_the_point_and_nothing_is_stored(console):
    c = console
    record = c.mine[2]
    good = pairs(record)

    def swap(i, **point):
        return [dict(p, **point) if n == i else p for n, p in enumerate(good)]

    _refused(c, record.id, {"points": good[:3]}, "at least 4 point pairs (pixel and map), got 3")
    _refused(c, record.id, {"image_size": [1280, 720]}, "points is required")
    line = [{"px": [100 + 100 * i, 600], "lonlat": good[i]["lonlat"]} for i in range(4)]
    _refused(c, record.id, {"points": line}, "pixel points are (nearly) collinear")
    three = [dict(good[0]), dict(good[1]), {"px": [640, 650], "lonlat": good[4]["lonlat"]}, dict(good[2])]
    _refused(c, record.id, {"points": three}, "pixel points 1, 2 and 3 lie (nearly) on one line")
    lon, lat = good[3]["lonlat"]
    _refused(c, record.id, {"points": swap(3, lonlat=[lat, lon])}, "map point 4 (")
    _refused(c, record.id, {"points": swap(3, lonlat=[lat, lon])}, "are lon and lat swapped? send [lon, lat]")
    answer = _refused(c, record.id, {"points": swap(3, lonlat=[lat, lon + 100])}, "out of range")
    assert answer.json()["detail"][0]["loc"] == ["body", "points", "3", "lonlat"]
    _refused(c, record.id, {"points": swap(1, lonlat=[lon + 0.3, lat])}, "map point 2")
    _refused(c, record.id, {"points": swap(0, px=[1400, 650]), "image_size": [1280, 720]},
             "pixel point 1 (1400, 650) is outside the 1280x720 image")
    mirrored = [dict(good[i], lonlat=good[j]["lonlat"]) for i, j in ((0, 1), (1, 0), (2, 3), (3, 2), (4, 4))]
    _refused(c, record.id, {"points": mirrored, "image_size": [1280, 720]}, "mirrored")
    crossed = [dict(good[i], lonlat=good[j]["lonlat"]) for i, j in ((0, 0), (1, 1), (2, 3), (3, 2))]
    _refused(c, record.id, {"points": crossed, "image_size": [1280, 720]}, "beyond the horizon of the others")
    # pairs of a camera 900 m east of this one's record, looking further east: nothing within its range
    east = MetricFrame.around(record.lon, record.lat).to_lonlat(900.0, 0.0)
    away = pinhole_calibration(float(east[0]), float(east[1]), 90.0, 60.0, SIZE, height_m=8.0, tilt_deg=15.0)
    u, v = np.asarray(PIXELS, float).T
    far = [{"px": [float(a), float(b)], "lonlat": [float(x), float(y)]}
           for a, b, x, y in zip(u, v, *away.pixel_to_lonlat(u, v))]
    _refused(c, record.id, {"points": far, "image_size": [1280, 720]}, "empty within")
    _refused(c, record.id, {"points": good, "image_size": [1280]}, "image_size must be [width, height]")
    _refused(c, record.id, {"points": good, "extra": 1}, "unknown field")
    _refused(c, record.id, {"points": [{"px": [1, "a"], "lonlat": [1, 2]}] * 4}, "point 1: px must be [x, y]")
    _refused(c, record.id, b"{not json", "the body is not JSON")
    drone = c.state.camera_registry.add(record.model_copy(update={"id": "CAL-UAV-1", "kind": "drone"}))
    try:
        _refused(c, drone.id, {"points": good}, "is a drone's: it moves")
    finally:
        c.state.camera_registry.delete(drone.id)
    # who may: not another town's camera (403), not an unknown one (404), not without cameras.manage (403)
    _refused(c, c.theirs.id, {"points": pairs(c.theirs)}, "belongs to another jurisdiction", status=403)
    missing = c.client.put("/api/cameras/NO-SUCH-CAM/calibration", json={"points": good}, headers=c.a)
    assert missing.status_code == 404
    _refused(c, record.id, {"points": good}, "may not", headers=c.duty, status=403)
    assert c.client.get(f"/api/cameras/{c.theirs.id}/calibration", headers=c.a).status_code == 403
    assert c.client.post(f"/api/cameras/{c.theirs.id}/calibration/preview", json={"points": []},
                         headers=c.a).status_code == 403
    assert c.client.get(f"/api/cameras/{c.theirs.id}/calibration", headers=c.b).status_code == 200


def test_masks_are_stored_with_the_camera_and_reach_the_workers(console):
    c = console
    record = c.mine[3]
    pole = [[600, 0], [640, 0], [640, 300], [600, 300]]
    billboard = [[0, 0], [300, 0], [300, 120], [0, 120]]
    saved = c.client.put(f"/api/cameras/{record.id}/masks",
                         json={"masks": [pole, billboard], "image_size": [1280, 720]}, headers=c.a)
    assert saved.status_code == 200, saved.text
    assert saved.json()["masks"] == [pole, billboard] and saved.json()["revision"] == record.revision + 1
    assert c.client.get(f"/api/cameras/{record.id}/calibration", headers=c.a).json()["masks"] == [pole, billboard]
    stored = c.state.camera_registry.get(record.id)
    (config,) = worker_configs([stored.model_copy(update={"stream_main": "/srv/clip.mp4"})])
    assert config.masks == [[tuple(p) for p in pole], [tuple(p) for p in billboard]]
    for body, fragment in (
        ({"masks": [[[0, 0], [10, 10], [10, 0], [0, 5]]]}, "mask 1 is not a simple polygon"),
        ({"masks": [pole, [[0, 0], [10, 0]]]}, "mask 2 needs at least 3"),
        ({"masks": [[[1200, 600], [1300, 600], [1300, 700]]], "image_size": [1280, 720]},
         "mask 1 reaches outside the 1280x720 image"),
        ({"masks": [[[-5, 0], [10, 0], [10, 10]]]}, "negative pixel coordinates"),
        ({"masks": "none"}, "masks must be a list"),
        ({}, "masks is required"),
    ):
        refused = c.client.put(f"/api/cameras/{record.id}/masks", json=body, headers=c.a)
        assert refused.status_code == 422 and fragment in refused.text, (body, refused.text)
    # the registry's own edit refuses a mask a worker could not use, too
    crossed = c.client.patch(f"/api/cameras/{record.id}", json={"masks": [[[0, 0], [10, 10], [10, 0], [0, 5]]]},
                             headers=c.a)
    assert crossed.status_code == 422 and "not a simple polygon" in crossed.text
    assert c.state.camera_registry.get(record.id).masks == stored.masks
    assert c.client.put(f"/api/cameras/{c.theirs.id}/masks", json={"masks": []}, headers=c.a).status_code == 403
    lifted = c.client.put(f"/api/cameras/{record.id}/masks", json={"masks": []}, headers=c.admin)
    assert lifted.status_code == 200 and lifted.json()["masks"] == []
