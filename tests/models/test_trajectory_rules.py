"""Trajectory rules over telemetry: each fires on its anomaly and only then, with the video
engine's lifecycle (debounce, same key while it lasts, one ending event); the simulator's
trajectories give exactly the expected alerts."""

from __future__ import annotations

from itertools import pairwise

import geopandas as gpd
import pytest
import shapely

from zhizhi.gis.district import DistrictSpec, generate_district
from zhizhi.gis.metric import MetricFrame
from zhizhi.layers.hazmat import HazmatVehicle
from zhizhi.models.trajectory.config import ModelConfigError, load_model, parse_model
from zhizhi.models.trajectory.engine import TrajectoryEngine
from zhizhi.models.trajectory.places import TrajectoryPlaces
from zhizhi.models.trajectory.replay import replay
from zhizhi.telemetry.record import Fix
from zhizhi.telemetry.simulator import ANOMALIES, SIM_START, simulate

FRAME = MetricFrame(121.0, 32.0)


def ll(x: float, y: float) -> tuple[float, float]:
    lon, lat = FRAME.to_lonlat(x, y)
    return float(lon), float(lat)


def metric_box(x0, y0, x1, y1):
    return shapely.Polygon([ll(x, y) for x, y in [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]])


# A local road along y=0 and an expressway along y=2000; a school on the local road at
# x 1000..1200; hazmat parking at x -2100..-1900.
ZONES = gpd.GeoDataFrame(
    {
        "id": ["Z1", "Z2"],
        "zone_type": ["school", "hazmat_parking"],
        "name": ["东湖小学", "停车场1号"],
    },
    geometry=[metric_box(1000, -100, 1200, 100), metric_box(-2100, -100, -1900, 100)],
    crs="EPSG:4326",
)
ROADS = gpd.GeoDataFrame(
    {"id": ["R1", "R2"], "road_class": ["local", "expressway"], "name": ["乡道", "高速"]},
    geometry=[
        shapely.LineString([ll(-5000, 0), ll(5000, 0)]),
        shapely.LineString([ll(-5000, 2000), ll(5000, 2000)]),
    ],
    crs="EPSG:4326",
)
PLACES = TrajectoryPlaces.from_layers(ZONES, ROADS)


def move(vid, t0, start, end, kmh, dt=5.0, with_speed=True) -> list[Fix]:
    """Fixes every ``dt`` from ``start`` to ``end`` (metres) at ``kmh``, the first at ``t0``."""
    (x0, y0), (x1, y1) = start, end
    length = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
    n = max(int(length / (kmh / 3.6) // dt), 1)
    out = []
    for k in range(n + 1):
        w = k / n
        lon, lat = ll(x0 + w * (x1 - x0), y0 + w * (y1 - y0))
        out.append(
            Fix(
                vehicle_id=vid,
                ts=t0 + k * dt * (length / (kmh / 3.6) / dt / n),
                lon=lon,
                lat=lat,
                speed_kmh=kmh if with_speed else None,
            )
        )
    return out


def stay(vid, t0, at, seconds, dt=5.0) -> list[Fix]:
    lon, lat = ll(*at)
    return [
        Fix(vehicle_id=vid, ts=t0 + k * dt, lon=lon, lat=lat, speed_kmh=0.0)
        for k in range(int(seconds // dt) + 1)
    ]


def registered(
    vid="V1", hours="06:00-22:00", route=((-4000, 0), (4000, 0)), corridor=200.0
) -> HazmatVehicle:
    return HazmatVehicle(
        vehicle_id=vid,
        plate="苏F·D0001",
        company="南通危运",
        un_number="1203",
        hazard_class="3",
        route={"type": "LineString", "coordinates": [list(ll(*p)) for p in route]},
        corridor_m=corridor,
        permitted_hours=hours,
    )


def engine(*rules: dict, vehicles=(), **model) -> TrajectoryEngine:
    config = parse_model({"name": "t", "version": 1, "rules": list(rules), **model})
    known = {v.vehicle_id: v for v in vehicles}
    return TrajectoryEngine(config, PLACES, known.get)


def feed_each(eng: TrajectoryEngine, fixes: list[Fix]) -> list:
    """Fixes one small batch (one fix) at a time, as a live stream would bring them."""
    return [e for f in fixes for e in eng.feed([f])]


# --- abnormal stop ---------------------------------------------------------------------------
STOP = {"id": "stop", "kind": "abnormal_stop", "min_duration_s": 300}


def test_abnormal_stop_fires_after_the_debounce_and_ends_when_it_drives_on():
    eng = engine(STOP, update_every_s=60)
    arrive = move("V1", SIM_START, (-1000, 0), (0, 0), 40)
    t = arrive[-1].ts
    events = feed_each(eng, arrive + stay("V1", t + 5, (0, 0), 290))
    assert events == []  # 290 s: not yet
    events = feed_each(eng, stay("V1", t + 300, (0, 0), 200))
    assert events and all(e.active and e.rule == "abnormal_stop" for e in events)
    assert len({e.key for e in events}) == 1 and events[0].key == "stop||V1"
    assert [e.last_ts for e in events] == sorted(e.last_ts for e in events) and len(events) >= 3
    first = events[0]
    assert first.source == "telemetry" and first.camera_id is None and first.track_id is None
    assert first.details["stopped_s"] >= 300 and first.details["vehicle_id"] == "V1"
    assert first.details["plate"] is None  # not registered: the registry facts are empty
    ended = feed_each(eng, move("V1", t + 510, (0, 0), (1000, 0), 40))
    assert [e.active for e in ended] == [False] and ended[0].key == first.key


def test_stopping_in_hazmat_parking_or_at_a_light_raises_nothing():
    eng = engine(STOP)
    assert feed_each(eng, stay("V1", SIM_START, (-2000, 0), 1800)) == []
    light = stay("V2", SIM_START, (0, 0), 90) + move("V2", SIM_START + 95, (0, 0), (500, 0), 40)
    assert feed_each(eng, light) == []


# --- zone entry -------------------------------------------------------------------------------
ZONE = {"id": "zone", "kind": "zone_entry"}


def test_zone_entry_fires_inside_a_school_only():
    eng = engine(ZONE)
    events = eng.feed(move("V1", SIM_START, (0, 0), (2000, 0), 20))
    fired = [e for e in events if e.active]
    assert (
        fired and fired[0].details["zone_id"] == "Z1" and fired[0].details["zone_type"] == "school"
    )
    assert fired[0].details["zone_name"] == "东湖小学" and fired[0].severity == "red"
    assert [e.active for e in events][-1] is False  # left the school
    assert engine(ZONE).feed(move("V2", SIM_START, (0, 500), (2000, 500), 20)) == []


# --- prohibited hours -------------------------------------------------------------------------
HOURS = {"id": "hours", "kind": "prohibited_hours"}


def test_prohibited_hours_by_the_registration():
    trip = move("V1", SIM_START, (-3000, 0), (0, 0), 40)  # 10:00 local
    night_only = engine(HOURS, vehicles=[registered(hours="20:00-06:00")])
    events = night_only.feed(trip)
    assert events and events[0].rule == "prohibited_hours"
    assert events[0].details["local_time"] == "10:00" or events[0].details["local_time"].startswith(
        "10:0"
    )
    assert (
        events[0].details["permitted_hours"] == "20:00-06:00"
        and events[0].details["un_number"] == "1203"
    )
    assert engine(HOURS, vehicles=[registered()]).feed(trip) == []
    assert engine(HOURS).feed(trip) == []  # unregistered: the rule does not apply
    late = move("V1", SIM_START + 13 * 3600, (-3000, 0), (0, 0), 40)  # 23:00 local
    assert engine(HOURS, vehicles=[registered()]).feed(late)


# --- speeding -----------------------------------------------------------------------------------
SPEED = {"id": "speed", "kind": "speeding"}


def test_speeding_by_road_class_with_tolerance_and_duration():
    events = engine(SPEED).feed(move("V1", SIM_START, (-4000, 0), (0, 0), 50))
    assert (
        events
        and events[0].details["limit_kmh"] == 40
        and events[0].details["road_class"] == "local"
    )
    assert events[0].details["speed_kmh"] == 50 and events[0].first_ts >= SIM_START
    assert engine(SPEED).feed(move("V1", SIM_START, (-4000, 0), (0, 0), 43)) == []  # within 10 %
    assert (
        engine(SPEED).feed(move("V1", SIM_START, (-4000, 2000), (0, 2000), 85)) == []
    )  # expressway
    assert engine(SPEED).feed(move("V1", SIM_START, (-4000, 2000), (0, 2000), 95))
    off_road = engine(SPEED).feed(move("V1", SIM_START, (-4000, 1000), (0, 1000), 120))
    assert off_road[0].details["limit_kmh"] == 60  # no road near: the vehicle's own ceiling
    short = move("V1", SIM_START, (-4000, 0), (-3700, 0), 50)  # about 22 s
    assert engine(SPEED).feed(short) == []


def test_speeding_from_positions_when_reports_lack_speed():
    events = engine(SPEED).feed(move("V1", SIM_START, (-4000, 0), (0, 0), 55, with_speed=False))
    assert events and events[0].details["speed_kmh"] == pytest.approx(55, abs=1)


# --- route deviation ----------------------------------------------------------------------------
ROUTE = {"id": "route", "kind": "route_deviation"}


def test_route_deviation_outside_the_corridor_for_a_minute():
    off = move("V1", SIM_START, (-4000, 500), (0, 500), 40)
    events = engine(ROUTE, vehicles=[registered()]).feed(off)
    assert events and events[0].details["distance_from_route_m"] == pytest.approx(500, abs=2)
    assert events[0].details["corridor_m"] == 200
    on = move("V1", SIM_START, (-4000, 150), (0, 150), 40)
    assert engine(ROUTE, vehicles=[registered()]).feed(on) == []
    assert engine(ROUTE).feed(off) == []  # unregistered
    brief = move("V1", SIM_START, (-4000, 500), (-3600, 500), 40)  # 36 s
    assert engine(ROUTE, vehicles=[registered()]).feed(brief) == []


# --- fatigue ------------------------------------------------------------------------------------
FATIGUE = {"id": "fatigue", "kind": "fatigue", "max_driving_s": 600, "rest_s": 120}


def test_fatigue_counts_driving_until_a_long_enough_rest():
    eng = engine(FATIGUE)
    leg1 = move("V1", SIM_START, (-4000, 0), (-200, 0), 30)  # ~456 s
    t = leg1[-1].ts
    short_stop = stay("V1", t + 5, (-200, 0), 60)
    leg2 = move("V1", t + 70, (-200, 0), (2800, 0), 30)  # ~360 s more
    events = eng.feed(leg1 + short_stop + leg2)
    assert events and all(e.rule == "fatigue" and e.active for e in events)
    assert events[0].details["driving_s"] > 600
    rest = stay("V1", leg2[-1].ts + 5, (2800, 0), 150)
    ended = eng.feed(rest)  # updates while it rests, then the end once rested 120 s
    assert [e.active for e in ended][-1] is False and all(e.active for e in ended[:-1])
    assert ended[-1].last_ts >= rest[0].ts + 115 and len({e.key for e in ended}) == 1
    assert eng.feed(move("V1", rest[-1].ts + 5, (2800, 0), (3500, 0), 30)) == []


def test_a_long_silence_in_one_place_is_a_rest():
    eng = engine(FATIGUE)
    leg1 = move("V1", SIM_START, (-4000, 0), (-200, 0), 30)
    leg2 = move("V1", leg1[-1].ts + 600, (-200, 0), (2800, 0), 30)  # engine off for 10 min
    assert eng.feed(leg1 + leg2) == []


# --- signal loss ----------------------------------------------------------------------------------
LOSS = {"id": "loss", "kind": "signal_loss", "after_s": 300}


def test_signal_loss_by_tick_ends_when_reports_return():
    eng = engine(LOSS, update_every_s=60)
    trip = move("V1", SIM_START, (-4000, 0), (-2000, 0), 40)
    assert eng.feed(trip) == []
    last = trip[-1].ts
    assert eng.tick(last + 299) == []
    fired = eng.tick(last + 301)
    assert len(fired) == 1 and fired[0].rule == "signal_loss" and fired[0].first_ts == last
    assert fired[0].details["silent_s"] == pytest.approx(301)
    assert eng.tick(last + 330) == []  # not yet due again
    again = eng.tick(last + 400)
    assert again[0].key == fired[0].key and again[0].last_ts == last + 400
    back = eng.feed(move("V1", last + 600, (-2000, 0), (-1000, 0), 40))
    assert [e.active for e in back] == [False] and back[0].last_ts == last + 600
    assert eng.tick(last + 700) == []


# --- the whole model on simulated traffic ---------------------------------------------------
@pytest.fixture(scope="module", params=[3, 11])
def district(request):
    return generate_district(
        DistrictSpec(seed=request.param, grids=100, towns=3, villages_per_town=2, cameras=8)
    )


@pytest.mark.parametrize("start_ts", [SIM_START, SIM_START + 12.5 * 3600], ids=["10h00", "22h30"])
def test_replaying_the_simulator_gives_exactly_the_expected_alerts(district, start_ts):
    """At any time of day: permitted hours follow the local clock of the run's start (CI once
    started at 22:30 China time, when fixed 06:00-22:00 windows raised extra alerts)."""
    sim = simulate(
        district.roads, district.zones, seed=district.spec.seed, normal=6, start_ts=start_ts
    )
    assert {rule for rule, _ in sim.expected} == set(ANOMALIES)
    eng = TrajectoryEngine(
        load_model(), TrajectoryPlaces.from_layers(district.zones, district.roads), sim.lookup
    )
    events = replay(eng, sim.fixes, batch_s=10, tick_every_s=30)
    assert {(e.rule, e.details["vehicle_id"]) for e in events} == sim.expected
    by_key: dict[str, list] = {}
    for e in events:
        by_key.setdefault(e.key, []).append(e)
        assert e.source == "telemetry" and e.camera_id is None and e.track_id is None
        assert e.model == "hazmat-telemetry@1"
        assert {"vehicle_id", "plate", "company", "un_number", "hazard_class"} <= set(e.details)
    assert len(by_key) == len(sim.expected)  # one warning per rule and vehicle
    for seq in by_key.values():  # every one fired, lasted and ended within the replay
        assert [e.active for e in seq][-1] is False and all(e.active for e in seq[:-1])
        assert all(a.last_ts <= b.last_ts for a, b in pairwise(seq))
    unregistered = [v for v, role in sim.roles.items() if "unregistered" in role]
    assert all(sim.lookup(v) is None for v in unregistered)


def test_the_simulator_is_deterministic(district):
    a = simulate(district.roads, district.zones, seed=5, normal=3)
    b = simulate(district.roads, district.zones, seed=5, normal=3)
    assert a.fixes == b.fixes and a.expected == b.expected


# --- configuration --------------------------------------------------------------------------------
def test_the_shipped_model_has_every_rule_kind():
    model = load_model()
    assert model.label == "hazmat-telemetry@1"
    assert {r.kind for r in model.rules} == set(ANOMALIES)


def test_config_errors_name_the_path():
    with pytest.raises(ModelConfigError) as info:
        parse_model(
            {
                "name": "t",
                "version": 1,
                "rules": [
                    {"id": "s", "kind": "speeding", "limits_kmh": {"motorway": 120}},
                    {"id": "z", "kind": "zone_entry", "min_duration_s": -1},
                    {"id": "x", "kind": "teleport"},
                ],
            }
        )
    paths = dict(info.value.errors)
    assert "unknown road class 'motorway'" in paths["rules.0.speeding.limits_kmh"]
    assert "greater than or equal to 0" in paths["rules.1.zone_entry.min_duration_s"]
    assert any(p.startswith("rules.2") and "teleport" in m for p, m in info.value.errors)
    with pytest.raises(ModelConfigError, match="duplicate rule ids"):
        parse_model({"name": "t", "version": 1, "rules": [{"id": "a", "kind": "fatigue"}] * 2})


def test_config_files(tmp_path):
    with pytest.raises(ModelConfigError, match="file not found"):
        load_model(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ModelConfigError, match="not valid YAML"):
        load_model(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "name: t\nversion: 1\nrules:\n  - {id: a, kind: signal_loss, after_s: 0}\n",
        encoding="utf-8",
    )
    with pytest.raises(ModelConfigError) as info:
        load_model(wrong)
    assert info.value.errors[0][0] == "rules.0.signal_loss.after_s" and str(wrong) in str(
        info.value
    )
