"""A camera's object filters through ``/api/cameras`` (issue 16): added with the camera, changed
with ``PATCH`` (the revision read), answered with every read, carried to the worker's config;
bad filters are a 422 whose detail names the class and the field, storing nothing; a town
changes only its own cameras' filters. A console of its own, on SQLite (the registry's storage on
PostgreSQL is tested in tests/layers/test_camera_filters.py)."""

from __future__ import annotations

import pytest

from tests.auth_support import admin_console
from zhizhi.video.object_filters import ObjectFilters
from zhizhi.video.registry_feed import worker_configs

FILTERS = {
    "classes": {
        "hazmat_tanker": {"min_score": 0.6, "threshold": 0.7, "min_size_m": 2.0, "max_size_m": 3.2},
        "person": {"max_area": 20000, "masks": [[[0, 0], [200, 0], [200, 100], [0, 100]]]},
        "*": {"min_score": 0.35},
    }
}


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    with admin_console(tmp_path_factory.mktemp("filters"), "flt-admin") as console:
        yield console


def new_camera(c, camera_id: str, **extra) -> dict:
    grid = next(g for g in c.state.jurisdictions.grid_codes if g.startswith(c.users.town_a))
    lon, lat = c.state.jurisdictions.get(grid).anchor
    return {"id": camera_id, "name": f"过滤 {camera_id}", "lon": lon, "lat": lat, "heading_deg": 90.0,
            "hfov_deg": 60.0, "range_m": 120.0, "stream_main": "/srv/clips/gate.mp4", **extra}


def test_filters_are_added_read_changed_and_reach_the_worker(console):
    c = console
    added = c.client.post("/api/cameras", json=new_camera(c, "FLT-1", filters=FILTERS), headers=c.admin)
    assert added.status_code == 201, added.text
    answer = added.json()["filters"]
    assert answer["classes"]["hazmat_tanker"]["min_size_m"] == 2.0
    assert answer["classes"]["person"]["masks"] == [[[0, 0], [200, 0], [200, 100], [0, 100]]]
    assert answer["classes"]["*"]["min_score"] == 0.35 and answer["classes"]["*"]["max_area"] is None
    assert c.client.get("/api/cameras/FLT-1", headers=c.duty).json()["filters"] == answer  # every role reads them
    listed = {cam["id"]: cam for cam in c.client.get("/api/cameras", headers=c.a).json()}
    assert listed["FLT-1"]["filters"] == answer
    assert all(cam["filters"] == {"classes": {}} for cid, cam in listed.items() if cid != "FLT-1")

    changed = {"classes": {"car": {"min_score": 0.5, "min_ratio": 0.8, "max_ratio": 3.0}, "*": {"min_area": 200}}}
    patched = c.client.patch("/api/cameras/FLT-1", json={"filters": changed, "revision": 1}, headers=c.a)
    assert patched.status_code == 200, patched.text
    assert patched.json()["revision"] == 2 and set(patched.json()["filters"]["classes"]) == {"car", "*"}
    stored = c.state.camera_registry.get("FLT-1")
    assert stored.filters.classes["car"].max_ratio == 3.0 and stored.name == "过滤 FLT-1"  # the rest kept
    stale = c.client.patch("/api/cameras/FLT-1", json={"filters": FILTERS, "revision": 1}, headers=c.a)
    assert stale.status_code == 409

    # the worker runs the camera with them (as a registry feed hands it to Worker.set_cameras)
    config = next(cfg for cfg in worker_configs(c.state.camera_registry.list()) if cfg.id == "FLT-1")
    assert isinstance(config.filters, ObjectFilters)
    assert config.filters.keep(["car", "car", "bus"], [0.9, 0.4, 0.9], [[0, 0, 100, 50], [0, 0, 100, 50],
                                                                       [0, 0, 10, 10]]).tolist() == [True, False, False]
    lifted = c.client.patch("/api/cameras/FLT-1", json={"filters": {"classes": {}}}, headers=c.a)
    assert lifted.json()["filters"] == {"classes": {}} and not c.state.camera_registry.get("FLT-1").filters
    assert c.client.delete("/api/cameras/FLT-1", headers=c.admin).status_code == 204


BAD = [
    ({"classes": {"tanker": {"min_score": 0.5}}}, ["filters", "classes"], "unknown class 'tanker'"),
    ({"classes": {"car": {"min_area": 900, "max_area": 100}}}, ["filters", "classes", "car"],
     "min_area (900.0) is larger than max_area (100.0)"),
    ({"classes": {"truck": {"min_size_m": 12, "max_size_m": 3}}}, ["filters", "classes", "truck"],
     "min_size_m (12.0) is larger than max_size_m (3.0)"),
    ({"classes": {"car": {"min_area": -5}}}, ["filters", "classes", "car", "min_area"], "greater than or equal to 0"),
    ({"classes": {"person": {"min_score": 1.2}}}, ["filters", "classes", "person", "min_score"],
     "less than or equal to 1"),
    ({"classes": {"bus": {"min_ratio": "wide"}}}, ["filters", "classes", "bus", "min_ratio"], "valid number"),
    ({"classes": {"person": {"masks": [[[0, 0], [100, 100], [100, 0], [0, 100]]]}}},
     ["filters", "classes", "person", "masks"], "mask 0 is not a simple polygon"),
    ({"classes": {"person": {"maximum_area": 5}}}, ["filters", "classes", "person", "maximum_area"],
     "Extra inputs are not permitted"),
    ({"person": {"min_score": 0.5}}, ["filters", "person"], "Extra inputs are not permitted"),
    ("strict", ["filters"], "valid dictionary"),
]


@pytest.mark.parametrize(("filters", "loc", "says"), BAD, ids=[f"{i}-{b[1][-1]}" for i, b in enumerate(BAD)])
def test_bad_filters_are_422_naming_class_and_field(console, filters, loc, says):
    c = console
    if c.state.camera_registry.get("FLT-BAD") is None:
        assert c.client.post("/api/cameras", json=new_camera(c, "FLT-BAD"), headers=c.admin).status_code == 201
    before = c.state.camera_registry.fingerprint()
    for method, path, body in (("POST", "/api/cameras", new_camera(c, "FLT-NEW", filters=filters)),
                               ("PATCH", "/api/cameras/FLT-BAD", {"filters": filters})):
        answer = c.client.request(method, path, json=body, headers=c.admin)
        assert answer.status_code == 422, answer.text
        detail = answer.json()["detail"]
        assert len(detail) == 1 and detail[0]["loc"] == ["body", *loc] and says in detail[0]["msg"], detail
    assert c.state.camera_registry.fingerprint() == before and c.state.camera_registry.get("FLT-NEW") is None


def test_a_town_changes_only_its_own_cameras_filters(console):
    c = console
    theirs = next(r for r in c.state.camera_registry.list() if r.owner_code.startswith(c.users.town_b))
    refused = c.client.patch(f"/api/cameras/{theirs.id}", json={"filters": FILTERS}, headers=c.a)
    assert refused.status_code == 403
    assert c.client.patch(f"/api/cameras/{theirs.id}", json={"filters": FILTERS}, headers=c.duty).status_code == 403
    assert c.state.camera_registry.get(theirs.id) == theirs
    own = c.client.patch(f"/api/cameras/{theirs.id}", json={"filters": FILTERS, "revision": theirs.revision},
                         headers=c.b)
    assert own.status_code == 200 and own.json()["filters"]["classes"]["person"]["max_area"] == 20000
    assert c.client.get(f"/api/cameras/{theirs.id}", headers=c.a).status_code == 403  # nor reads them
