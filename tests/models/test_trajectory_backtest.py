"""The trajectory backtest: simulator trips sent as gateways send them (live, a buffered log, a
back-dated report, a stale upload) through the real gate and rules, scored against the truth.
With the held-back cases of issue 17 the shipped rules score exactly; each guard, turned off,
opens its own gap again."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest

from zhizhi.gis.district import DistrictSpec, generate_district
from zhizhi.gis.metric import MetricFrame
from zhizhi.models.trajectory.backtest import alerts_opened, main, run_backtest, uploads
from zhizhi.models.trajectory.config import load_model, parse_model
from zhizhi.models.trajectory.places import TrajectoryPlaces
from zhizhi.models.warning.record import WarningEvent
from zhizhi.telemetry.gate import TelemetryGate
from zhizhi.telemetry.simulator import CASES, STALE_AGE_S, simulate


@pytest.fixture(scope="module")
def district():
    return generate_district(DistrictSpec(seed=3, grids=100, towns=3, villages_per_town=2, cameras=0))


@pytest.fixture(scope="module")
def places(district):
    return TrajectoryPlaces.from_layers(district.zones, district.roads)


@pytest.fixture(scope="module")
def cases_only(district):
    """Only the held-back cases, one vehicle each (quick)."""
    return simulate(district.roads, district.zones, seed=3, normal=1, anomalies=(), unregistered=False, cases=CASES)


def vehicle_of(sim, role: str) -> str:
    return next(v for v, r in sim.roles.items() if r == role)


def test_the_backtest_scores_every_anomaly_and_held_back_case_exactly(district, places):
    sim = simulate(district.roads, district.zones, seed=3, normal=6, cases=CASES)
    score = run_backtest(sim, places)
    assert (score.precision, score.recall, score.f1, score.missed, score.false) == (1.0, 1.0, 1.0, [], [])
    by_rule = {r.rule: (r.expected, r.tp) for r in score.rules}
    assert by_rule["signal_loss"] == (2, 2) and by_rule["speeding"] == (3, 3)  # + the gap, + off road
    stale = sum(1 for why in sim.refuse.values() if why == "too_old")
    assert score.gate.bad == len(sim.refuse) == stale + 1 and score.gate.bad_refused == score.gate.bad
    assert score.gate.good_refused == 0
    assert score.gate.rejected["late"] == 1 and score.gate.rejected["too_old"] == stale
    assert score.model == "hazmat-telemetry@1" and score.vehicles == len(sim.roles)


def test_clean_trips_raise_nothing(district, places):
    sim = simulate(district.roads, district.zones, seed=4, normal=5, anomalies=(), unregistered=False)
    score = run_backtest(sim, places)
    assert sim.expected == set() and score.rules == [] and score.false == []
    assert score.gate.bad == score.gate.good_refused == 0


def test_the_held_back_cases_as_the_simulator_sends_them(cases_only):
    sim = cases_only
    assert sim.expected == {("signal_loss", vehicle_of(sim, "buffered_gap")),
                            ("speeding", vehicle_of(sim, "off_road_speeding"))}
    frame = MetricFrame(121.0, 32.0)
    # the buffered log: one upload after it parks, with a silence of 20 minutes inside
    buffered = [i for i, f in enumerate(sim.fixes) if f.vehicle_id == vehicle_of(sim, "buffered_gap")]
    sync = max(sim.arrival(i) for i in buffered if sim.arrival(i) != sim.fixes[i].ts)
    logged = [sim.fixes[i].ts for i in buffered if sim.arrival(i) == sync]
    assert max(b - a for a, b in pairwise(logged)) >= 1200 and sync > logged[0] + 1200
    # the back-dated report: 500 s before its vehicle's newest, 625 m away, sent after it
    (late,) = [i for i, why in sim.refuse.items() if why == "late"]
    vid = sim.fixes[late].vehicle_id
    sent_before = [i for i, f in enumerate(sim.fixes) if f.vehicle_id == vid and sim.arrival(i) < sim.arrival(late)]
    newest = max(sent_before, key=lambda i: sim.fixes[i].ts)
    assert sim.fixes[newest].ts - sim.fixes[late].ts == pytest.approx(500)
    a, b = sim.fixes[newest], sim.fixes[late]
    xa, ya = frame.to_metric(a.lon, a.lat)
    xb, yb = frame.to_metric(b.lon, b.lat)
    assert math.hypot(xb - xa, yb - ya) == pytest.approx(625, abs=1)
    # the stale upload: a trip 75 days old, all of it arriving at once during the run
    stale = [i for i, why in sim.refuse.items() if why == "too_old"]
    assert len({sim.arrival(i) for i in stale}) == 1
    assert all(sim.arrival(i) - sim.fixes[i].ts >= STALE_AGE_S - 3600 for i in stale)


def test_the_simulator_cases_are_deterministic_and_checked(district, cases_only):
    again = simulate(district.roads, district.zones, seed=3, normal=1, anomalies=(), unregistered=False,
                     cases=CASES)
    assert (again.fixes, again.arrivals, again.refuse) == (cases_only.fixes, cases_only.arrivals, cases_only.refuse)
    plain = simulate(district.roads, district.zones, seed=3, normal=1, anomalies=(), unregistered=False)
    assert plain.arrivals == [] and plain.refuse == {} and plain.arrival(0) == plain.fixes[0].ts
    with pytest.raises(ValueError, match="unknown case"):
        simulate(district.roads, district.zones, cases=("teleport",))


@pytest.mark.parametrize("guard", ["off_road_limit", "late", "horizon"])
def test_each_guard_closes_its_own_gap(cases_only, places, guard):
    """Turned off one at a time, each guard lets its case through again (the horizon twice over:
    the gate's, and the signal-loss rule's own, which alone keeps the stale upload silent)."""
    sim, model, make_gate = cases_only, load_model(), None
    if guard == "off_road_limit":
        data = model.model_dump(mode="json")
        next(r for r in data["rules"] if r["kind"] == "speeding")["off_road_limit_kmh"] = None
        model = parse_model(data)
    elif guard == "late":
        make_gate = lambda clock: TelemetryGate(clock=clock, max_reorder_s=math.inf)
    else:
        make_gate = lambda clock: TelemetryGate(clock=clock, max_age_s=None)
    score = run_backtest(sim, places, model, make_gate=make_gate)
    if guard == "off_road_limit":
        assert score.missed == [f"speeding:{vehicle_of(sim, 'off_road_speeding')}"]
        assert score.gate.bad_refused == score.gate.bad
    else:
        assert (score.missed, score.false) == ([], [])
        assert score.gate.bad - score.gate.bad_refused == (1 if guard == "late" else score.gate.bad - 1)


def test_uploads_group_reports_by_arrival(cases_only):
    batches = uploads(cases_only, every_s=10.0)
    assert sum(len(ix) for _, ix in batches) == len(cases_only.fixes)
    assert all(a < b for (a, _), (b, _) in pairwise(batches))
    for sent, indexes in batches:
        assert all(sent - 10.0 <= cases_only.arrival(i) < sent for i in indexes)
    (late,) = [i for i, why in cases_only.refuse.items() if why == "late"]
    indexes = next(ix for _, ix in batches if late in ix)  # in the upload of its newer reports, after them
    fix = cases_only.fixes[late]
    newer = [i for i in indexes[: indexes.index(late)] if cases_only.fixes[i].vehicle_id == fix.vehicle_id]
    assert newer and max(cases_only.fixes[i].ts for i in newer) == pytest.approx(fix.ts + 500)


def test_an_alert_opens_only_for_a_warning_first_seen_active():
    def event(vid: str, active: bool) -> WarningEvent:
        return WarningEvent(rule="signal_loss", rule_id="loss", severity="yellow", source="telemetry", lon=121.0,
                            lat=32.0, first_ts=1.0, last_ts=2.0, active=active, details={"vehicle_id": vid})

    assert alerts_opened([event("A", True), event("A", False), event("B", False)]) == {("signal_loss", "A")}


def test_the_command_line_prints_the_score(capsys):
    score = main(["--seed", "5", "--grids", "64", "--normal", "1"])
    out = capsys.readouterr().out
    assert '"precision": 1.0' in out and score.recall == 1.0 and score.gate.bad_refused == score.gate.bad
