"""The hazmat vehicle registry: the contract, storage on SQLite and PostgreSQL, all-or-nothing imports, scoping."""

from __future__ import annotations

import json

import pytest
import shapely
from pydantic import ValidationError

from zhizhi.gis.metric import MetricFrame
from zhizhi.layers import make_engine
from zhizhi.layers.hazmat import HazmatImportError, HazmatRegistry, HazmatVehicle, visible_to
from zhizhi.layers.scope import Scope

WEST = [[120.90, 32.00], [120.93, 32.00]]
EAST = [[121.10, 32.00], [121.13, 32.01]]


def vehicle(vid: str = "V1", coords=WEST, **changes) -> dict:
    return {
        "vehicle_id": vid,
        "plate": "苏F·D1234",
        "company": "南通危运",
        "un_number": "1203",
        "hazard_class": "3",
        "route": {"type": "LineString", "coordinates": coords},
        "corridor_m": 200,
        "permitted_hours": "06:00-22:00",
        **changes,
    }


@pytest.fixture
def registry(db_url):
    return HazmatRegistry(make_engine(db_url))


def errors_of(data: dict) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        HazmatVehicle.model_validate(data)
    return {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}


# --- the contract ------------------------------------------------------------------------------
def test_a_valid_vehicle_keeps_its_fields():
    v = HazmatVehicle.model_validate(vehicle(hazard_class=2.1, un_number=1203))
    assert (v.un_number, v.hazard_class, v.corridor_m) == ("1203", "2.1", 200.0)
    assert v.window == (360, 1320) and v.permitted_at(12 * 60) and not v.permitted_at(23 * 60)


def test_night_hours_pass_midnight():
    v = HazmatVehicle.model_validate(vehicle(permitted_hours="22:00-06:00"))
    assert v.permitted_at(23 * 60) and v.permitted_at(5 * 60) and not v.permitted_at(12 * 60)


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"un_number": "12A3"}, "un_number", "pattern"),
        ({"un_number": "12034"}, "un_number", "pattern"),
        ({"hazard_class": "10"}, "hazard_class", "pattern"),
        ({"corridor_m": 5}, "corridor_m", "greater than or equal to 10"),
        ({"corridor_m": 9000}, "corridor_m", "less than or equal to 5000"),
        ({"permitted_hours": "25:00-01:00"}, "permitted_hours", "not HH:MM-HH:MM"),
        ({"permitted_hours": "08:00-08:00"}, "permitted_hours", "empty window"),
        ({"plate": ""}, "plate", "at least 1"),
        ({"route": {"type": "Point", "coordinates": [120.9, 32.0]}}, "route", "must be LineString"),
        (
            {"route": {"type": "LineString", "coordinates": [[120.9, 32.0]]}},
            "route",
            "at least 2 positions",
        ),
        (
            {"route": {"type": "LineString", "coordinates": [[120.9, 32.0], [200.0, 32.0]]}},
            "route",
            "position 1: longitude 200.0 is outside -180..180",
        ),
        (
            {"route": {"type": "LineString", "coordinates": [[120.9, 32.0], [120.9, 95.0]]}},
            "route",
            "position 1: latitude 95.0",
        ),
        (
            {"route": {"type": "LineString", "coordinates": [[120.9, 32.0], [120.9, 32.0]]}},
            "route",
            "degenerate",
        ),
        (
            {"route": {"type": "LineString", "coordinates": [[120.9, 32.0], ["a", 32.0]]}},
            "route",
            "non-number",
        ),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_contract_names_the_field_and_the_reason(changes, field, says):
    errors = errors_of(vehicle(**changes))
    assert list(errors) == [field]
    assert says in errors[field]


def test_corridor_is_a_metric_buffer_of_the_route():
    v = HazmatVehicle.model_validate(vehicle())
    corridor = v.corridor()
    frame = MetricFrame.for_geometry(v.line)
    length = float(frame.distance_m(shapely.Point(WEST[0]), shapely.Point(WEST[1])))
    area = float(frame.area_m2(corridor))
    assert area == pytest.approx(2 * 200 * length + 3.1416 * 200**2, rel=0.02)
    x, y = frame.to_metric(120.915, 32.0)
    inside = shapely.Point(*frame.to_lonlat(x, y + 150))
    outside = shapely.Point(*frame.to_lonlat(x, y + 250))
    assert corridor.contains(inside) and not corridor.contains(outside)


# --- storage -------------------------------------------------------------------------------------
def test_upsert_get_known_delete_persist(registry, db_url):
    v = HazmatVehicle.model_validate(vehicle())
    assert not registry.known("V1") and registry.get("V1") is None
    registry.upsert(v)
    assert registry.known("V1") and registry.get("V1") == v
    registry.upsert(HazmatVehicle.model_validate(vehicle(plate="苏F·D9999")))
    again = HazmatRegistry(make_engine(db_url))
    assert again.get("V1").plate == "苏F·D9999" and len(again) == 1
    assert registry.route_corridor("V1").contains(v.line)
    assert registry.delete("V1") and not registry.delete("V1")
    assert not registry.known("V1")
    again.refresh()
    assert not again.known("V1")
    with pytest.raises(KeyError):
        registry.route_corridor("V1")


# --- imports -------------------------------------------------------------------------------------
HEADER = "vehicle_id,plate,company,un_number,hazard_class,route,corridor_m,permitted_hours\n"


def csv_row(vid: str, route: str, un: str = "1203") -> str:
    return f'{vid},苏F·{vid},南通危运,{un},3,"{route}",300,20:00-06:00\n'


def test_csv_import_reads_wkt_and_geojson_routes(registry):
    geojson = json.dumps({"type": "LineString", "coordinates": EAST}).replace('"', '""')
    data = (
        HEADER + csv_row("A1", "LINESTRING (120.9 32, 120.93 32)") + csv_row("A2", geojson)
    ).encode()
    assert registry.import_csv(data) == 2
    assert registry.get("A2").route["coordinates"] == EAST
    assert (
        registry.get("A1").corridor_m == 300 and registry.get("A1").permitted_hours == "20:00-06:00"
    )


def test_a_bad_csv_row_leaves_the_store_unchanged(registry):
    registry.upsert(HazmatVehicle.model_validate(vehicle("KEEP")))
    data = (
        HEADER
        + csv_row("A1", "LINESTRING (120.9 32, 120.93 32)")
        + csv_row("A2", "LINESTRING (120.9 32, 120.93 32)", un="12X4")
        + csv_row("A3", "POINT (120.9 32)")
    ).encode()
    with pytest.raises(HazmatImportError) as info:
        registry.import_csv(data)
    problems = {(p.number, p.field) for p in info.value.problems}
    assert problems == {(2, "un_number"), (3, "route")}
    assert "row 2: un_number" in str(info.value) and "row 3: route" in str(info.value)
    assert [v.vehicle_id for v in registry.list(Scope.everything())] == ["KEEP"]
    registry.refresh()
    assert not registry.known("A1")


def test_csv_header_and_duplicates_are_refused(registry):
    with pytest.raises(HazmatImportError, match="missing columns"):
        registry.import_csv(b"vehicle_id,plate\nA1,x\n")
    row = csv_row("A1", "LINESTRING (120.9 32, 120.93 32)")
    with pytest.raises(HazmatImportError, match="row 2: vehicle_id: 'A1' repeats row 1"):
        registry.import_csv((HEADER + row + row).encode())
    assert len(registry) == 0


def feature(vid: str, geometry: dict, **props) -> dict:
    p = vehicle(vid)
    p.pop("route")
    return {"type": "Feature", "geometry": geometry, "properties": {**p, **props}}


def test_geojson_import_and_a_bad_feature(registry):
    good = {
        "type": "FeatureCollection",
        "features": [
            feature("G1", {"type": "LineString", "coordinates": WEST}),
            feature("G2", {"type": "LineString", "coordinates": EAST}),
        ],
    }
    assert registry.import_geojson(json.dumps(good).encode()) == 2
    bad = {
        "type": "FeatureCollection",
        "features": [
            feature("G3", {"type": "LineString", "coordinates": WEST}),
            feature("G4", {"type": "Point", "coordinates": [120.9, 32.0]}),
            feature("G5", {"type": "LineString", "coordinates": WEST}, corridor_m=1),
        ],
    }
    with pytest.raises(HazmatImportError) as info:
        registry.import_geojson(json.dumps(bad).encode())
    assert {(p.number, p.field) for p in info.value.problems} == {(2, "route"), (3, "corridor_m")}
    assert "feature 2: route" in str(info.value)
    assert [v.vehicle_id for v in registry.list()] == ["G1", "G2"]
    with pytest.raises(HazmatImportError, match="FeatureCollection"):
        registry.import_geojson(b'{"type": "Feature"}')


# --- jurisdiction --------------------------------------------------------------------------------
def test_a_scope_sees_the_vehicles_whose_route_meets_it(registry):
    registry.upsert(HazmatVehicle.model_validate(vehicle("W", WEST)))
    registry.upsert(HazmatVehicle.model_validate(vehicle("E", EAST)))
    west_town = Scope("320612001", shapely.box(120.85, 31.95, 120.95, 32.05))
    assert [v.vehicle_id for v in registry.list(west_town)] == ["W"]
    assert [v.vehicle_id for v in registry.list(Scope.everything())] == ["E", "W"]
    assert registry.list(Scope("320612002")) == []
    assert registry.visible("W", west_town) and not registry.visible("E", west_town)
    assert not registry.visible("nobody", Scope.everything())
    assert visible_to(registry.get("E"), Scope.everything())
