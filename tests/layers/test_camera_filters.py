"""A camera's object filters in its registry record (``layers/camera_filters.py``): the record's
model is the one the worker's (``video/object_filters.py``) extends, it refuses what the worker
would refuse and an unknown class besides, it is stored and read back on SQLite and PostgreSQL
(migration 0007 gives cameras registered before it no filters), and a worker's config carries it.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests import db_support
from tests.db_support import upgrade_with_rows
from zhizhi.layers import make_engine
from zhizhi.layers.camera_filters import ANY_CLASS, OBJECT_CLASSES, CameraClassFilter, CameraFilters
from zhizhi.layers.camera_registry import CameraInput, CameraRegistry
from zhizhi.video import object_filters
from zhizhi.video.observation import CLASSES
from zhizhi.video.registry_feed import camera_config

empty_db_url = db_support.empty_db_url  # a fresh, never migrated database per backend

FILTERS = {
    "classes": {
        "hazmat_tanker": {"min_score": 0.6, "threshold": 0.7, "min_size_m": 2.0, "max_size_m": 3.2},
        "person": {"max_area": 20000, "min_ratio": 0.2, "max_ratio": 1.0,
                   "masks": [[[0, 0], [200, 0], [200, 100], [0, 100]]]},
        "*": {"min_score": 0.35, "min_area": 150},
    }
}


def camera(camera_id: str = "F1", **extra) -> CameraInput:
    return CameraInput(id=camera_id, lon=120.86, lat=32.01, heading_deg=90, hfov_deg=60, range_m=200,
                       stream_main="/srv/clips/gate.mp4", **extra)


def _schema(model) -> dict:
    schema = model.model_json_schema()
    schema.pop("title", None)
    schema.pop("description", None)
    return schema


def test_the_records_model_is_the_workers_field_for_field():
    assert OBJECT_CLASSES == CLASSES and ANY_CLASS == object_filters.ANY_CLASS
    assert _schema(CameraClassFilter) == _schema(object_filters.ClassFilter)
    record = CameraFilters.model_json_schema()
    worker = object_filters.ObjectFilters.model_json_schema()
    assert {k: v for k, v in record["properties"]["classes"].items() if k != "additionalProperties"} == {
        k: v for k, v in worker["properties"]["classes"].items() if k != "additionalProperties"}
    parsed = CameraFilters.model_validate(FILTERS)
    assert object_filters.ObjectFilters.model_validate(parsed.model_dump()).model_dump() == parsed.model_dump()


@pytest.mark.parametrize(("filters", "says"), [
    ({"classes": {"tanker": {}}}, "unknown class 'tanker'"),
    ({"classes": {"car": {"min_area": 500, "max_area": 100}}}, "min_area (500.0) is larger than max_area (100.0)"),
    ({"classes": {"car": {"min_ratio": 2, "max_ratio": 1}}}, "min_ratio (2.0) is larger than max_ratio (1.0)"),
    ({"classes": {"car": {"min_size_m": 5, "max_size_m": 4}}}, "min_size_m (5.0) is larger than max_size_m (4.0)"),
    ({"classes": {"car": {"min_area": -1}}}, "greater than or equal to 0"),
    ({"classes": {"car": {"max_size_m": 0}}}, "greater than 0"),
    ({"classes": {"person": {"min_score": 1.5}}}, "less than or equal to 1"),
    ({"classes": {"person": {"threshold": float("nan")}}}, "finite number"),
    ({"classes": {"person": {"min_scor": 0.5}}}, "Extra inputs are not permitted"),
    ({"classes": {"bus": {"masks": [[[0, 0], [100, 100], [100, 0], [0, 100]]]}}}, "mask 0 is not a simple polygon"),
    ({"classes": {"bus": {"masks": [[[0, 0], [100, 0]]]}}}, "mask 0 needs at least 3 points"),
    ({"car": {"min_score": 0.5}}, "Extra inputs are not permitted"),  # the classes go under "classes"
])
def test_bad_filters_are_refused_naming_class_and_field(filters, says):
    with pytest.raises(ValidationError) as refused:
        camera(filters=filters)
    assert says in str(refused.value)
    error = refused.value.errors()[0]
    assert error["loc"][0] == "filters"
    classes = [k for k in filters.get("classes", {}) if k in OBJECT_CLASSES]
    if classes:  # the class is in the error's place (an unknown one in its message)
        assert classes[0] in error["loc"]


def test_what_the_record_refuses_the_worker_refuses_too():
    for bad in ({"min_area": 5, "max_area": 3}, {"min_score": 2}, {"min_ratio": 0},
                {"masks": [[[0, 0], [10, 10], [10, 0], [0, 10]]]}):
        with pytest.raises(ValidationError):
            CameraClassFilter.model_validate(bad)
        with pytest.raises(ValidationError):
            object_filters.ClassFilter.model_validate(bad)


def test_filters_are_stored_read_back_and_reach_the_workers_config(db_url):
    registry = CameraRegistry(make_engine(db_url))
    try:
        assert not registry.add(camera("PLAIN").record("320612")).filters  # none by default
        stored = registry.add(camera(filters=FILTERS).record("320612"))
        back = registry.get("F1")
        assert back.filters == stored.filters == CameraFilters.model_validate(FILTERS)
        assert back.filters.classes["person"].masks == [[(0, 0), (200, 0), (200, 100), (0, 100)]]
        assert registry.get("PLAIN").filters == CameraFilters()

        changed = {"classes": {"car": {"min_score": 0.5}}}
        replaced = registry.replace(camera(filters=changed).record("320612"), expect_revision=1)
        assert replaced.revision == 2 and registry.get("F1").filters.classes["car"].min_score == 0.5
        assert registry.replace(camera(filters=changed).record("320612")).revision == 2  # the same: unchanged
        added, updated = registry.put_many([camera(filters=FILTERS).record("320612")])
        assert (added, updated) == ([], ["F1"]) and registry.get("F1").filters == back.filters

        config = camera_config(registry.get("F1"))
        assert isinstance(config.filters, object_filters.ObjectFilters)
        assert config.filters.model_dump() == back.filters.model_dump()
        # the worker applies them: a small car-sized box of a person is kept, a masked one and a
        # tanker below its score are not
        keep = config.filters.keep(["person", "person", "hazmat_tanker", "truck"], [0.9, 0.9, 0.5, 0.3],
                                   [[300, 300, 340, 400], [50, 0, 90, 90], [0, 0, 200, 100], [0, 0, 50, 50]])
        assert keep.tolist() == [True, False, False, False]
        assert not camera_config(registry.get("PLAIN")).filters
    finally:
        registry.engine.dispose()


def test_cameras_registered_before_filters_get_none(empty_db_url):
    """A registry at migration 0006 (no filters column) keeps its cameras; they have no filters."""
    engine = make_engine(empty_db_url)
    try:
        upgrade_with_rows(engine, "0006", (
            "INSERT INTO camera_registry (id, name, kind, lon, lat, heading_deg, hfov_deg, range_m, owner_code,"
            " analysis_fps, enabled, masks, zones, updated_at, revision) VALUES ('OLD-1', 'old', 'fixed',"
            " 120.86, 32.01, 90, 60, 200, '320612', 5, true, '[]', '[]', '2026-12-01 00:00:00+00:00', 3)"))
        registry = CameraRegistry(engine)
        old = registry.get("OLD-1")
        assert old.filters == CameraFilters() and old.revision == 3
        registry.replace(old.model_copy(update={"filters": CameraFilters.model_validate(FILTERS)}))
        assert registry.get("OLD-1").filters.classes["*"].min_area == 150
    finally:
        engine.dispose()
