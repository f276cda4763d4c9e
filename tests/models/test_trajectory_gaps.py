"""Trajectory rules without gaps: a silence found inside an upload is one signal-loss alert,
silence is never measured from history, late fixes never move a vehicle, and speeding off any
road is judged against the vehicle's own ceiling."""

from __future__ import annotations

import pytest

from tests.alerts_support import FakeClock, Recorder, open_service
from tests.models.test_trajectory_rules import engine, ll, move, stay
from zhizhi.bus import InProcessBus
from zhizhi.models.trajectory.fusion import TrackFusion
from zhizhi.models.trajectory.places import TrajectoryPlaces
from zhizhi.telemetry.record import Fix
from zhizhi.telemetry.simulator import SIM_START

LOSS = {"id": "loss", "kind": "signal_loss", "after_s": 300}
SPEED = {"id": "speed", "kind": "speeding"}
DAY = 86_400.0


def buffered_trip(vid: str = "V1", silent_s: float = 1200.0) -> tuple[list[Fix], float, float]:
    """A drive, ``silent_s`` without reports, the drive on: (fixes, last before, first after)."""
    before = move(vid, SIM_START, (-4000, 0), (-2000, 0), 40)
    after = move(vid, before[-1].ts + silent_s, (-2000, 0), (0, 0), 40)
    return before + after, before[-1].ts, after[0].ts


# --- signal loss inside one upload -------------------------------------------------------------


def test_a_gap_inside_one_upload_is_a_signal_loss_raised_and_ended():
    fixes, last, back = buffered_trip()
    events = engine(LOSS).feed(fixes)
    assert [(e.rule, e.active) for e in events] == [("signal_loss", True), ("signal_loss", False)]
    fired, ended = events
    assert fired.key == ended.key == "loss||V1"
    assert (fired.first_ts, fired.last_ts, ended.last_ts) == (last, back, back)
    assert fired.details["silent_s"] == pytest.approx(1200) and fired.details["last_report_ts"] == last
    assert fired.details["back_ts"] == back and fired.details["found_in_upload"] is True
    assert (fired.lon, fired.lat) == pytest.approx(ll(-2000, 0), abs=1e-6)  # where it went quiet


def test_a_gap_across_uploads_and_one_per_silence():
    eng = engine(LOSS)
    fixes, last, _back = buffered_trip()
    first = [f for f in fixes if f.ts <= last]
    assert eng.feed(first) == []  # no tick ran in between: nothing saw the silence live
    rest = [f for f in fixes if f.ts > last]
    second_gap = move("V1", rest[-1].ts + 400, (0, 0), (500, 0), 40)
    events = eng.feed(rest + second_gap)
    assert [e.active for e in events] == [True, False, True, False]
    assert [e.first_ts for e in events[::2]] == [last, rest[-1].ts]


def test_a_silence_the_ticks_raised_is_not_raised_again_by_the_upload():
    eng = engine(LOSS)
    fixes, last, back = buffered_trip()
    eng.feed([f for f in fixes if f.ts <= last])
    live = eng.tick(last + 301)
    assert [e.active for e in live] == [True]
    events = eng.feed([f for f in fixes if f.ts > last])
    assert [(e.key, e.active, e.last_ts) for e in events] == [(live[0].key, False, back)]


def test_short_gaps_and_clean_trips_raise_nothing():
    fixes, _, _ = buffered_trip(silent_s=290)
    assert engine(LOSS).feed(fixes) == []
    assert engine(LOSS).feed(move("V1", SIM_START, (-4000, 0), (4000, 0), 40)) == []


def test_a_gap_found_in_an_upload_opens_exactly_one_alert(tmp_path):
    """Through the real alert service: the warning opens the alert, its end closes the condition.
    The end alone would open none (the service raises nothing for a warning already over)."""
    bus = InProcessBus()
    seen = Recorder(bus)
    service = open_service(tmp_path / "alerts.db", FakeClock(SIM_START + 3600), bus=bus)
    fixes, last, back = buffered_trip()
    events = engine(LOSS).feed(fixes)
    alerts = [service.ingest(e) for e in events]
    assert all(a is not None for a in alerts) and len({a.id for a in alerts}) == 1
    alert = alerts[-1]
    assert (alert.rule, alert.active, alert.first_ts, alert.last_ts) == ("signal_loss", False, last, back)
    assert seen.events == ["new", "updated"]
    other = events[-1].model_copy(update={"details": {**events[-1].details, "vehicle_id": "V2"}})
    assert service.ingest(other) is None  # an ended warning alone: no alert


# --- the horizon -------------------------------------------------------------------------------


def test_silence_is_never_measured_from_a_fix_older_than_the_horizon():
    eng = engine(LOSS)
    trip = move("V1", SIM_START, (-4000, 0), (-2000, 0), 40)
    eng.feed(trip)
    last = trip[-1].ts
    assert eng.tick(last + 75 * DAY) == []  # 6.5 million seconds: history, not a vehicle gone quiet
    assert eng.tick(last + DAY + 1) == []
    assert [e.active for e in eng.tick(last + 301)] == [True]
    later = move("V1", last + 2 * DAY, (-2000, 0), (0, 0), 40)
    assert [e.active for e in eng.feed(later)] == [False]  # ends the live one; the 2-day gap is none


def test_an_upload_with_a_gap_longer_than_the_horizon_raises_nothing():
    fixes, _, _ = buffered_trip(silent_s=DAY + 60)
    assert engine(LOSS).feed(fixes) == []
    short = engine({**LOSS, "horizon_s": 3600})
    assert short.feed(buffered_trip(silent_s=3000)[0]) and short.feed(buffered_trip("V2", 3700)[0]) == []


def test_the_horizon_must_exceed_the_silence_limit():
    from zhizhi.models.trajectory.config import ModelConfigError

    with pytest.raises(ModelConfigError, match="horizon_s"):
        engine({**LOSS, "horizon_s": 300})


# --- late fixes --------------------------------------------------------------------------------


def test_a_late_fix_never_moves_the_engine_the_fleet_or_the_fusion():
    """The gate refuses late reports; every consumer downstream also ignores one that slips by
    (another console's gate, a replay): none of them goes back in time."""
    trip = move("V1", SIM_START, (-4000, 0), (4000, 0), 40, with_speed=False)
    late = Fix("V1", trip[-1].ts - 500, *ll(4000 - 40 / 3.6 * 500, 625), speed_kmh=None)
    eng = engine(SPEED, LOSS)
    eng.feed(trip)
    assert eng.feed([late]) == [] and eng._last["V1"].ts == trip[-1].ts
    fusion = TrackFusion(horizon_s=3600)
    fusion.observe(trip)
    fusion.observe([late])
    _lon, lat = fusion.position("V1", late.ts)
    assert lat == pytest.approx(ll(0, 0)[1], abs=1e-5)  # on the road it drove, not 625 m off


# --- speeding off any road ---------------------------------------------------------------------


def test_speeding_with_no_road_near_uses_the_vehicles_ceiling():
    events = engine(SPEED).feed(move("V1", SIM_START, (-4000, 1000), (0, 1000), 95))
    assert events and all(e.rule == "speeding" for e in events)
    facts = events[0].details
    assert facts["limit_kmh"] == 60 and facts["limit_source"] == "no road within 30 m"
    assert facts["road_class"] is None and facts["road_id"] is None and facts["speed_kmh"] == 95
    assert engine(SPEED).feed(move("V1", SIM_START, (-4000, 1000), (0, 1000), 55)) == []
    assert engine(SPEED).feed(move("V1", SIM_START, (-4000, 1000), (0, 1000), 65)) == []  # within 10 %


def test_the_off_road_limit_is_configurable_and_named():
    fast = move("V1", SIM_START, (-4000, 1000), (0, 1000), 95)
    assert engine({**SPEED, "off_road_limit_kmh": 100}).feed(fast) == []
    assert engine({**SPEED, "off_road_limit_kmh": None}).feed(fast) == []
    on_road = engine(SPEED).feed(move("V1", SIM_START, (-4000, 0), (0, 0), 50))
    assert on_road[0].details["limit_source"] == "local road R1"
    no_local = engine({**SPEED, "limits_kmh": {"expressway": 80, "arterial": 60}})
    events = no_local.feed(move("V1", SIM_START, (-4000, 0), (0, 0), 70))
    assert events[0].details["limit_source"] == "no limit for road class local"
    assert events[0].details["limit_kmh"] == 60


def test_without_a_road_map_there_is_no_off_road_limit():
    from zhizhi.models.trajectory.config import parse_model
    from zhizhi.models.trajectory.engine import TrajectoryEngine

    bare = TrajectoryPlaces.from_layers(None, None)
    eng = TrajectoryEngine(parse_model({"name": "t", "version": 1, "rules": [SPEED]}), bare)
    assert eng.feed(move("V1", SIM_START, (-4000, 1000), (0, 1000), 95)) == []


def test_a_vehicle_parked_off_road_is_not_speeding():
    assert engine(SPEED).feed(stay("V1", SIM_START, (0, 1000), 600)) == []

