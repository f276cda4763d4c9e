"""Incidents on a real SQLite file: opening each kind, area validation, visibility per
jurisdiction, alerts linked from the bus (also from the real alert service), closing, the
timeline and the bus messages.

The impact ``compute`` here is a small stand-in for :mod:`gis.impact` over the small test
district: the area is a metric buffer (circle), the drawn polygon, or a downwind wedge (plume),
and the codes are the units it overlaps.
"""

from __future__ import annotations

import math

import pytest
import shapely
from pydantic import ValidationError
from shapely.geometry import mapping, shape
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from tests.alerts_support import FakeClock, grids_of, small_district, warning
from zhizhi.alerts.incidents.errors import (
    IncidentConflict,
    IncidentNotFound,
    InvalidIncident,
    NotOwner,
    StaleIncident,
)
from zhizhi.alerts.incidents.record import Incident, IncidentSpec, IncidentType, impact_counts
from zhizhi.alerts.incidents.service import IncidentService
from zhizhi.alerts.incidents.store import (
    IncidentStore,
    create_schema,
    incident_codes_table,
    incident_log_table,
    incidents_table,
)
from zhizhi.alerts.record import AlertStatus
from zhizhi.alerts.service import AlertService
from zhizhi.alerts.store import AlertStore
from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages import AlertEvent
from zhizhi.console.state import locator
from zhizhi.gis.codes import Level
from zhizhi.gis.metric import MetricFrame
from zhizhi.layers import make_engine

# ------------------------------------------------------------------------------ helpers

locate = locator(small_district())


def hazard_area(spec: IncidentSpec) -> shapely.Geometry:
    area = spec.area
    if area.kind == "polygon":
        return shape(area.polygon)
    lon, lat = area.point
    frame = MetricFrame.around(lon, lat)
    if area.kind == "circle":
        return frame.buffer_m(shapely.Point(lon, lat), area.radius_m)
    to = math.radians((area.wind_from_deg + 180.0) % 360.0)  # the plume drifts downwind
    length = 500.0 * area.wind_speed_ms
    dx, dy = math.sin(to), math.cos(to)
    wedge = shapely.Polygon([(0, 0), (length * dx - 0.3 * length * dy, length * dy + 0.3 * length * dx),
                             (length * dx + 0.3 * length * dy, length * dy - 0.3 * length * dx)])
    return frame.geometry_to_lonlat(wedge.buffer(150.0))


class Compute:
    """Stand-in for the console's gis.impact-based compute; ``extra_cameras`` changes its answer."""

    def __init__(self) -> None:
        self.calls = 0
        self.extra_cameras = 0
        self.owners: list[str] = []

    def __call__(self, spec: IncidentSpec, owner: str):
        self.calls += 1
        self.owners.append(owner)
        j = small_district()
        geom = hazard_area(spec)
        units: dict[str, list[dict]] = {"towns": [], "villages": [], "grids": []}
        for level, key in ((Level.TOWN, "towns"), (Level.VILLAGE, "villages"), (Level.GRID, "grids")):
            for unit in j.units(level):
                if shapely.intersects(unit.geometry, geom) and not shapely.touches(unit.geometry, geom):
                    units[key].append({"code": unit.code, "name": unit.name, "level": level.value,
                                       "population": 1000, "share": 0.5})
        cameras = [{"layer": "cameras", "id": f"CAM-{i}", "name": f"Camera {i}", "lon": 121.0, "lat": 32.0,
                    "distance_m": 10.0 * i, "inside": True, "properties": {}} for i in range(self.extra_cameras)]
        impact = {"area": mapping(geom), "area_km2": 1.0, **units, "cameras": cameras,
                  "population": 1000 * len(units["grids"])}
        codes = [u["code"] for key in ("towns", "villages", "grids") for u in units[key]]
        return mapping(geom), impact, codes


def inner_polygon(grid: str) -> dict:
    """A GeoJSON polygon strictly inside ``grid`` (touches no neighbour)."""
    geom = small_district().get(grid).geometry.buffer(-0.0005)
    if geom.geom_type == "MultiPolygon":
        geom = max(geom.geoms, key=lambda g: g.area)
    return mapping(shapely.Polygon(geom.exterior.coords))


def spec(kind: str = "fire", **area) -> IncidentSpec:
    area = area or {"point": list(small_district().get(grids_of(0)[0]).anchor), "radius_m": 500}
    return IncidentSpec.model_validate({"type": kind, "title": f"{kind} test", "area": area})


T0 = 1_800_000_000.0


def alert_msg(alert_id: str, lonlat, status: str = "new", event: str = "new") -> AlertEvent:
    lon, lat = lonlat
    return AlertEvent(event=event, id=alert_id, key=f"stop|{alert_id}", lon=lon, lat=lat, severity="orange",
                      source="video", category="abnormal_stop", status=status, assignee_unit="320612001",
                      first_ts=T0, last_ts=T0, created_ts=T0, updated_ts=T0)


class Env:
    def __init__(self, db_url: str) -> None:
        self.url = db_url
        self.engine = make_engine(db_url)
        create_schema(self.engine)
        self.store = IncidentStore(self.engine)
        self.bus = InProcessBus()
        self.messages: list[dict] = []  # the wire forms, as the browsers and the Redis bus see them
        self.bus.subscribe(Topic.INCIDENTS, lambda message: self.messages.append(message.to_wire()))
        self.clock = FakeClock()
        self.compute = Compute()
        self.service = IncidentService(self.store, compute=self.compute, bus=self.bus, clock=self.clock)

    @property
    def events(self) -> list[str]:
        return [m["event"] for m in self.messages]


@pytest.fixture
def env(db_url) -> Env:
    """The incident service on a fresh database of each backend (SQLite, PostgreSQL)."""
    return Env(db_url)


TOWN_A, TOWN_B = "320612001", "320612002"


def anchor(grid: str) -> tuple[float, float]:
    return small_district().get(grid).anchor


# ------------------------------------------------------------------------------ specs


@pytest.mark.parametrize("kind", [t.value for t in IncidentType])
def test_open_each_type(env, kind):
    grid = grids_of(0)[0]
    if kind == "chemical_leak":
        area = {"point": list(anchor(grid)), "wind_from_deg": 45, "wind_speed_ms": 3.5}
    elif kind in ("typhoon", "flood"):
        area = {"polygon": inner_polygon(grid)}
    else:
        area = {"point": list(anchor(grid)), "radius_m": 800}
    incident = env.service.open(spec(kind, **area), actor="duty-1", unit=TOWN_A)

    assert incident.type == kind and incident.status == "active" and incident.version == 0
    assert incident.owner_unit == TOWN_A and incident.created_by == "duty-1"
    assert grid in incident.codes and TOWN_A in incident.codes
    assert shape(incident.geometry).geom_type == "Polygon"
    assert shape(incident.geometry).intersects(shapely.Point(anchor(grid)))
    assert incident.impact["population"] > 0
    stored = env.service.get(incident.id, "")
    assert stored == incident  # the round trip through SQLite keeps everything, the area's kind too
    assert stored.area.kind == {"chemical_leak": "plume", "typhoon": "polygon", "flood": "polygon"}.get(
        kind, "circle")
    (opened,) = env.service.timeline(incident.id, "")
    assert opened.kind == "opened" and "duty-1" in opened.text and opened.data["grids"] >= 1
    assert env.events == ["opened"] and env.messages[0]["id"] == incident.id


def test_plume_points_downwind(env):
    grid = grids_of(0)[0]
    lon, lat = anchor(grid)
    north_wind = env.service.open(
        spec("chemical_leak", point=[lon, lat], wind_from_deg=0, wind_speed_ms=4), "duty-1", TOWN_A
    )
    centroid = shape(north_wind.geometry).centroid
    assert centroid.y < lat  # a north wind carries the plume south


@pytest.mark.parametrize(
    "area",
    [
        {"point": [121.0, 32.0], "radius_m": 500},
        {"point": [121.0, 32.0]},
        {"polygon": {"type": "Polygon", "coordinates": [[[121, 32], [121.01, 32], [121, 32.01], [121, 32]]]}},
    ],
)
def test_leak_needs_wind(area):
    with pytest.raises(ValidationError, match="chemical_leak incident needs wind"):
        IncidentSpec.model_validate({"type": "chemical_leak", "title": "leak", "area": area})


@pytest.mark.parametrize(
    ("wind", "field"),
    [
        ({"wind_from_deg": 90, "wind_speed_ms": 0}, "wind_speed_ms"),
        ({"wind_from_deg": 361, "wind_speed_ms": 3}, "wind_from_deg"),
        ({"wind_from_deg": -5, "wind_speed_ms": 3}, "wind_from_deg"),
        ({"wind_from_deg": 90, "wind_speed_ms": 200}, "wind_speed_ms"),
        ({"wind_from_deg": 90}, "wind_speed_ms"),
    ],
)
def test_leak_wind_ranges(wind, field):
    with pytest.raises(ValidationError) as caught:
        IncidentSpec.model_validate(
            {"type": "chemical_leak", "title": "leak", "area": {"point": [121.0, 32.0], **wind}}
        )
    assert field in str(caught.value)


def test_wind_plume_only_for_leaks():
    with pytest.raises(ValidationError, match="only for chemical_leak"):
        IncidentSpec.model_validate({"type": "fire", "title": "x",
                                     "area": {"point": [121.0, 32.0], "wind_from_deg": 0, "wind_speed_ms": 3}})


def _poly(*rings):
    return {"type": "Polygon", "coordinates": [list(map(list, r)) for r in rings]}


SQUARE = [(121.0, 32.0), (121.01, 32.0), (121.01, 32.01), (121.0, 32.01), (121.0, 32.0)]


@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        (_poly([(121.0, 32.0), (121.01, 32.01), (121.01, 32.0), (121.0, 32.01), (121.0, 32.0)]),
         "not a valid area: Self-intersection"),
        (_poly(SQUARE[:-1]), "ring 0 is not closed"),
        (_poly([(121.0, 32.0), (121.01, 32.0), (121.0, 32.0)]), "needs at least 4"),
        (_poly([(32.0, 121.0), (32.0, 121.01), (32.01, 121.01), (32.0, 121.0)]), "out of range"),
        (_poly([(121.0, 32.0), (121.0, 32.0), (121.0, 32.0), (121.0, 32.0)]), "not a valid area"),
        (_poly(SQUARE, [(121.02, 32.02), (121.03, 32.02), (121.03, 32.03), (121.02, 32.02)]),
         "not a valid area: Hole lies outside shell"),
        ({"type": "MultiPolygon", "coordinates": [[SQUARE]]}, "type 'MultiPolygon'"),
        ({"type": "Polygon", "coordinates": [[[121.0, "32"], [121.01, 32.0], [121.0, 32.01], [121.0, "32"]]]},
         "ring 0 position 0"),
        ({"type": "Polygon", "coordinates": [[[121.0, float("nan")], *SQUARE[1:-1], [121.0, 32.0]]]},
         "ring 0 position 0"),
        ({"type": "Polygon", "coordinates": []}, "non-empty list of rings"),
        ("POLYGON ((121 32, 121.01 32, 121 32.01, 121 32))", "must be a GeoJSON Polygon"),
    ],
)
def test_invalid_polygons_rejected_with_a_clear_message(polygon, message):
    with pytest.raises(ValidationError) as caught:
        IncidentSpec.model_validate({"type": "flood", "title": "flood", "area": {"polygon": polygon}})
    assert message in str(caught.value)


def test_valid_polygon_with_hole_is_normalised():
    hole = [(121.002, 32.002), (121.004, 32.002), (121.004, 32.004), (121.002, 32.002)]
    s = IncidentSpec.model_validate({"type": "flood", "title": "f", "area": {"polygon": _poly(SQUARE, hole)}})
    assert len(s.area.polygon["coordinates"]) == 2
    assert s.area.polygon["coordinates"][1][0] == [121.002, 32.002]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "fire", "title": "x", "area": {"point": [121.0, 32.0], "radius_m": 0}}, "radius_m"),
        ({"type": "fire", "title": "x", "area": {"point": [121.0, 32.0], "radius_m": 1e6}}, "radius_m"),
        ({"type": "fire", "title": "x", "area": {"point": [321.0, 32.0], "radius_m": 10}}, "point"),
        ({"type": "fire", "title": "x", "area": {"point": [121.0], "radius_m": 10}}, "point"),
        ({"type": "fire", "title": "x", "area": {"point": [121.0, 32.0]}}, "area must be"),
        ({"type": "fire", "title": "x", "area": {"centre": [121.0, 32.0], "radius_m": 5}}, "centre"),
        ({"type": "fire", "title": "", "area": {"point": [121.0, 32.0], "radius_m": 5}}, "title"),
        ({"type": "fire", "title": "x" * 201, "area": {"point": [121.0, 32.0], "radius_m": 5}}, "title"),
        ({"type": "meteor", "title": "x", "area": {"point": [121.0, 32.0], "radius_m": 5}}, "type"),
        ({"type": "fire", "title": "x", "area": {"point": [121.0, 32.0], "radius_m": 5}, "owner": "1"}, "owner"),
    ],
)
def test_spec_validation(body, message):
    with pytest.raises(ValidationError) as caught:
        IncidentSpec.model_validate(body)
    assert message in str(caught.value)


def test_open_refuses_bad_unit_actor_and_computed_area(env):
    with pytest.raises(InvalidIncident, match="jurisdiction code"):
        env.service.open(spec(), "duty-1", "3206")
    with pytest.raises(InvalidIncident, match="actor"):
        env.service.open(spec(), "  ", TOWN_A)
    bad = IncidentService(env.store, compute=lambda s, owner: ({"type": "Point", "coordinates": [121, 32]}, {}, []))
    with pytest.raises(InvalidIncident, match="not a valid polygon"):
        bad.open(spec(), "duty-1", TOWN_A)
    assert env.service.list("") == []


# ------------------------------------------------------------------------------ visibility


def test_visibility_per_jurisdiction_code(env):
    grid = grids_of(0)[0]
    village = grid[:12]
    other_village = next(g[:12] for g in grids_of(0) if g[:12] != village)
    fire = env.service.open(spec("fire", polygon=inner_polygon(grid)), "town-a", TOWN_A)
    assert sorted(fire.codes) == [TOWN_A, village, grid]

    for seer in ("", "320612", TOWN_A, village, grid):
        assert env.service.get(fire.id, seer).id == fire.id
        assert [i.id for i in env.service.list(seer)] == [fire.id]
        assert fire.visible_to(seer)
    for blind in (TOWN_B, other_village, "320613"):
        with pytest.raises(IncidentNotFound):
            env.service.get(fire.id, blind)
        with pytest.raises(IncidentNotFound):
            env.service.timeline(fire.id, blind)
        with pytest.raises(IncidentNotFound):
            env.service.add_note(fire.id, "someone", "hello", scope_code=blind)
        with pytest.raises(IncidentNotFound):
            env.service.close(fire.id, "someone", scope_code=blind)
        assert env.service.list(blind) == []
        assert not fire.visible_to(blind)
    # Missing and invisible read the same.
    with pytest.raises(IncidentNotFound) as missing:
        env.service.get("zzzzzzzzzzzz", TOWN_B)
    with pytest.raises(IncidentNotFound) as hidden:
        env.service.get(fire.id, TOWN_B)
    assert str(missing.value).replace("zzzzzzzzzzzz", "") == str(hidden.value).replace(fire.id, "")


def test_town_sees_district_incident_that_crosses_it_and_not_others(env):
    in_a = grids_of(0)[0]
    flood = env.service.open(spec("flood", polygon=inner_polygon(in_a)), "district-duty", "320612")
    assert env.service.get(flood.id, TOWN_A).id == flood.id
    assert env.service.list(TOWN_B) == []
    fire_b = env.service.open(spec("fire", polygon=inner_polygon(grids_of(1)[0])), "town-b", TOWN_B)
    assert [i.id for i in env.service.list(TOWN_A)] == [flood.id]
    assert [i.id for i in env.service.list(TOWN_B)] == [fire_b.id]
    assert {i.id for i in env.service.list("320612")} == {flood.id, fire_b.id}


def test_only_owner_or_above_closes_and_refreshes(env):
    grid = grids_of(0)[0]
    fire = env.service.open(spec("fire", polygon=inner_polygon(grid)), "town-a", TOWN_A)
    with pytest.raises(NotOwner):
        env.service.close(fire.id, "village-1", scope_code=grid[:12])
    with pytest.raises(NotOwner):
        env.service.refresh(fire.id, scope_code=grid)
    env.service.add_note(fire.id, "village-1", "villagers moved to the school", scope_code=grid[:12])
    closed = env.service.close(fire.id, "district-duty", "out", scope_code="320612")
    assert closed.status == "closed"


# ------------------------------------------------------------------------------ alerts


def test_on_alert_links_inside_once_and_records_status_changes(env):
    grid = grids_of(0)[0]
    fire = env.service.open(spec("fire", point=list(anchor(grid)), radius_m=1500), "town-a", TOWN_A)
    inside, outside = anchor(grid), anchor(grids_of(2)[-1])
    assert not shape(fire.geometry).contains(shapely.Point(outside))

    env.clock.advance(10)
    (first,) = env.service.on_alert(alert_msg("alertinside1", inside))
    assert first.kind == "alert" and first.alert_id == "alertinside1" and first.data["status"] == "new"
    assert env.service.on_alert(alert_msg("alertinside1", inside, event="updated")) == []
    assert env.service.on_alert(alert_msg("alertinside1", inside, event="updated")) == []
    assert env.service.on_alert(alert_msg("alertoutside", outside)) == []
    env.clock.advance(10)
    (ack,) = env.service.on_alert(alert_msg("alertinside1", inside, "acknowledged", "transition"))
    assert ack.kind == "action" and ack.text == "橙色预警 危化品异常停车 已确认（320612001）"
    assert env.service.on_alert(alert_msg("alertinside1", inside, "acknowledged", "updated")) == []
    (disp,) = env.service.on_alert(alert_msg("alertinside1", inside, "dispatched", "transition"))
    assert disp.text == "橙色预警 危化品异常停车 已派遣（320612001）"

    # Not alerts: refused by the bus at their publisher, so the service never sees them.
    with pytest.raises(TypeError):
        env.bus.publish(Topic.ALERTS, {"type": "frame", "lon": inside[0], "lat": inside[1]})

    kinds = [(e.kind, e.alert_id) for e in env.service.timeline(fire.id, "")]
    assert kinds == [("opened", None), ("alert", "alertinside1"), ("action", "alertinside1"),
                     ("action", "alertinside1")]
    timeline_msgs = [m for m in env.messages if m["event"] == "timeline"]
    assert [m["entry"]["kind"] for m in timeline_msgs] == ["alert", "action", "action"]
    assert timeline_msgs[0]["owner_unit"] == TOWN_A and grid in timeline_msgs[0]["codes"]


def test_alert_inside_two_incidents_links_to_both_and_closed_ones_to_none(env):
    grid = grids_of(0)[0]
    a = env.service.open(spec("fire", point=list(anchor(grid)), radius_m=1500), "t", TOWN_A)
    b = env.service.open(spec("rainstorm", point=list(anchor(grid)), radius_m=3000), "t", TOWN_A)
    assert {e.incident_id for e in env.service.on_alert(alert_msg("alertinboth1", anchor(grid)))} == {a.id, b.id}
    env.service.close(a.id, "t")
    (entry,) = env.service.on_alert(alert_msg("alertinboth2", anchor(grid)))
    assert entry.incident_id == b.id


def test_a_second_service_on_the_same_database_does_not_duplicate_links(env):
    grid = grids_of(0)[0]
    fire = env.service.open(spec("fire", point=list(anchor(grid)), radius_m=1500), "t", TOWN_A)
    other = IncidentService(IncidentStore(env.engine), compute=env.compute, clock=env.clock)
    message = alert_msg("alertshared1", anchor(grid))
    assert len(env.service.on_alert(message)) == 1
    assert other.on_alert(message) == []
    assert [e.kind for e in env.service.timeline(fire.id, "")] == ["opened", "alert"]


def test_geometry_cache_follows_refresh(env):
    grid = grids_of(0)[0]
    fire = env.service.open(spec("fire", point=list(anchor(grid)), radius_m=1500), "t", TOWN_A)
    env.service.on_alert(alert_msg("alertcache01", anchor(grid)))
    assert fire.id in env.service._areas
    refreshed = env.service.refresh(fire.id)
    assert env.service._active_areas().keys() == {fire.id}
    assert env.service._areas[fire.id][0] == refreshed.version


def test_alerts_from_the_real_alert_service_are_linked(env):
    """The alert service publishes on the shared bus; the incident service listens."""
    grid = grids_of(0)[0]
    fire = env.service.open(spec("fire", point=list(anchor(grid)), radius_m=1500), "t", TOWN_A)
    env.bus.subscribe(Topic.ALERTS, env.service.on_alert)
    alerts = AlertService(AlertStore(make_engine(env.url)), locate,
                          bus=env.bus, clock=env.clock, district=small_district().district_code)

    alert = alerts.ingest(warning(grid))
    alerts.ingest(warning(grid, last=env.clock.now + 5))  # the same key again: "updated"
    alerts.ingest(warning(grid, last=env.clock.now + 9))
    alerts.transition(alert.id, AlertStatus.ACKNOWLEDGED, "duty-3")
    far = alerts.ingest(warning(grids_of(2)[-1], track=99))
    assert far is not None

    entries = env.service.timeline(fire.id, "")
    assert [(e.kind, e.alert_id) for e in entries] == [("opened", None), ("alert", alert.id), ("action", alert.id)]
    assert entries[2].text.endswith("已确认（320612001001）") and "abnormal_stop" not in entries[2].text


# ------------------------------------------------------------------------------ lifecycle


def test_close(env):
    fire = env.service.open(spec(), "duty-1", TOWN_A)
    env.clock.advance(3600)
    closed = env.service.close(fire.id, "duty-2", "fire out, roads reopened", scope_code=TOWN_A)
    assert closed.status == "closed" and closed.closed_ts == env.clock.now and closed.version == 1
    assert env.service.get(fire.id, TOWN_A) == closed
    last = env.service.timeline(fire.id, TOWN_A)[-1]
    assert last.kind == "closed" and last.actor == "duty-2" and "fire out" in last.text
    assert last.data["duration_s"] == 3600
    assert env.events == ["opened", "closed"] and env.messages[-1]["status"] == "closed"
    with pytest.raises(IncidentConflict, match="closed"):
        env.service.close(fire.id, "duty-2")
    with pytest.raises(IncidentConflict):
        env.service.refresh(fire.id)
    assert env.service.list("", status="active") == []
    assert [i.id for i in env.service.list("", status="closed")] == [fire.id]
    # The after-action review still goes on the record.
    env.service.add_note(fire.id, "analyst", "review: response in 12 min")
    assert env.service.timeline(fire.id, "")[-1].kind == "note"


def test_notes_need_text(env):
    fire = env.service.open(spec(), "duty-1", TOWN_A)
    with pytest.raises(InvalidIncident, match="note must not be empty"):
        env.service.add_note(fire.id, "duty-1", "   ")
    with pytest.raises(InvalidIncident, match="longer"):
        env.service.add_note(fire.id, "duty-1", "x" * 2001)


def test_refresh_recomputes_impact(env):
    fire = env.service.open(spec(), "duty-1", TOWN_A)
    env.compute.extra_cameras = 3
    env.clock.advance(60)
    refreshed = env.service.refresh(fire.id, actor="analyst", scope_code=TOWN_A)
    assert refreshed.version == 1 and len(env.service.get(fire.id, "").impact["cameras"]) == 3
    assert refreshed.impact["cameras"] == []  # a bare town code has no area: features are not shown
    assert env.compute.owners == [TOWN_A, TOWN_A]  # the area is cut to the owner's jurisdiction
    assert refreshed.updated_ts == env.clock.now and env.compute.calls == 2
    entry = env.service.timeline(fire.id, "")[-1]
    assert entry.kind == "impact_updated" and "摄像头 0→3" in entry.text
    assert entry.data["after"]["cameras"] == 3
    assert env.events == ["opened", "updated"] and len(env.messages[-1]["impact"]["cameras"]) == 3
    assert env.service.refresh(fire.id).version == 2
    assert env.service.timeline(fire.id, "")[-1].text == "影响范围重新计算：无变化"


def test_timeline_order(env):
    grid = grids_of(0)[0]
    fire = env.service.open(spec("fire", point=list(anchor(grid)), radius_m=1500), "duty-1", TOWN_A)
    env.clock.advance(5)
    env.service.add_note(fire.id, "duty-1", "first note")
    env.service.add_note(fire.id, "duty-1", "same second, written later")
    env.clock.advance(5)
    env.service.on_alert(alert_msg("alertorder01", anchor(grid)))
    env.clock.advance(5)
    env.service.on_alert(alert_msg("alertorder01", anchor(grid), "on_scene", "transition"))
    env.clock.advance(5)
    env.service.refresh(fire.id)
    env.clock.advance(5)
    env.service.close(fire.id, "duty-1", "done")
    entries = env.service.timeline(fire.id, "")
    assert [e.kind for e in entries] == ["opened", "note", "note", "alert", "action", "impact_updated", "closed"]
    assert entries[1].text == "first note" and entries[2].text == "same second, written later"
    assert [e.ts for e in entries] == sorted(e.ts for e in entries)
    assert [e.id for e in entries] == sorted(e.id for e in entries)


def test_bus_messages(env):
    fire = env.service.open(spec(), "duty-1", TOWN_A)
    env.service.add_note(fire.id, "duty-1", "evacuating the east bank")
    env.service.refresh(fire.id)
    env.service.close(fire.id, "duty-1")
    assert env.events == ["opened", "timeline", "updated", "closed"]
    assert all(m["type"] == "incident" and m["id"] == fire.id for m in env.messages)
    opened = env.messages[0]
    assert opened["owner_unit"] == TOWN_A and opened["geometry"]["type"] == "Polygon"
    assert opened["area"] == {"point": list(fire.area.point), "radius_m": 500.0}
    assert env.messages[1]["entry"]["text"] == "evacuating the east bank"
    assert [m["version"] for m in env.messages if "version" in m] == [0, 1, 2]
    assert opened["incident_type"] == "fire"
    assert Incident.from_message(env.messages[-1]) == env.service.get(fire.id, "")


def test_no_bus_is_fine(env):
    quiet = IncidentService(env.store, compute=env.compute, clock=env.clock)
    fire = quiet.open(spec(), "duty-1", TOWN_A)
    quiet.add_note(fire.id, "duty-1", "ok")
    quiet.close(fire.id, "duty-1")
    assert env.messages == []


def test_stale_update_is_refused(env):
    fire = env.service.open(spec(), "duty-1", TOWN_A)
    env.store.update(fire.model_copy(update={"title": "renamed"}))
    with pytest.raises(StaleIncident):
        env.store.update(fire.model_copy(update={"title": "again"}))


def test_codes_follow_the_incident(env):
    fire = env.service.open(spec(), "duty-1", TOWN_A)
    with env.engine.connect() as conn:
        rows = conn.execute(incident_codes_table.select()).all()
    assert sorted(r.code for r in rows) == sorted(fire.codes)


def test_impact_counts():
    counts = impact_counts({"population": 12_345, "grids": [{}, {}], "cameras": [{}], "shelters": None})
    assert counts == {"population": 12_345, "towns": 0, "villages": 0, "grids": 2, "cameras": 1,
                      "facilities": 0, "drones": 0, "vehicles": 0, "shelters": 0}


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_schema_compiles_for_sqlite_and_postgresql(dialect):
    for table in (incidents_table, incident_codes_table, incident_log_table):
        assert "CREATE TABLE" in str(CreateTable(table).compile(dialect=dialect))
        for index in table.indexes:
            ddl = str(CreateIndex(index).compile(dialect=dialect))
            if index.name == "ux_incident_log_alert":
                assert "UNIQUE" in ddl and "WHERE" in ddl
