"""The telemetry gate: every kind of bad report is refused for its reason, and a refused report
never moves a vehicle's track."""

from __future__ import annotations

import math
import threading
import time

import pytest

from zhizhi.gis.crs import wgs84_to_gcj02
from zhizhi.telemetry.gate import MAX_ERRORS, Reason, TelemetryGate, haversine_m
from zhizhi.telemetry.record import DroneState

NOW = 1_800_000_000.0
LON, LAT = 120.86, 32.01  # Tongzhou
M_PER_DEG_LON = 111_195 * math.cos(math.radians(LAT))


def rep(ts: float = NOW - 60, lon: float = LON, lat: float = LAT, vid: str = "苏F-00001", **extra):
    return {"vehicle_id": vid, "ts": ts, "lon": lon, "lat": lat, **extra}


def east(metres: float) -> float:
    """The longitude ``metres`` east of LON."""
    return LON + metres / M_PER_DEG_LON


@pytest.fixture
def gate() -> TelemetryGate:
    return TelemetryGate(clock=lambda: NOW)


def reasons(result) -> list[tuple[int, str]]:
    return [(e.index, e.reason.value) for e in result.report.errors]


# --- the good path ---------------------------------------------------------------------------


def test_good_batch_accepted_in_time_order(gate):
    items = [rep(NOW - 10, east(100), speed_kmh=36, heading=90), rep(NOW - 20, east(0)),
             rep(NOW - 15, vid="苏F-00002"), rep(NOW - 15, east(50))]
    result = gate.check(items)
    assert result.report.received == 4 and result.report.accepted == 4
    assert result.report.rejected == {} and result.report.errors == []
    assert [(f.vehicle_id, f.ts) for f in result.fixes] == [
        ("苏F-00001", NOW - 20), ("苏F-00002", NOW - 15), ("苏F-00001", NOW - 15), ("苏F-00001", NOW - 10)]
    last = result.fixes[-1]
    assert (last.lon, last.lat, last.speed_kmh, last.heading) == (pytest.approx(east(100)), LAT, 36, 90)


def test_iso_timestamps_and_empty_batch(gate):
    assert gate.check([]).report.model_dump() == {"received": 0, "accepted": 0, "rejected": {}, "errors": []}
    result = gate.check([rep("2027-01-15T08:00:00+08:00")])
    assert [f.ts for f in result.fixes] == [NOW - 8 * 3600]  # NOW is 2027-01-15T08:00:00Z


# --- invalid ---------------------------------------------------------------------------------

INVALID = {
    "nan lon": (rep(lon=float("nan")), "lon"),
    "inf lat": (rep(lat=float("inf")), "lat"),
    "-inf ts": (rep(ts=float("-inf")), "ts"),
    "lon > 180": (rep(lon=180.5), "lon"),
    "lon < -180": (rep(lon=-181), "lon"),
    "lat > 90": (rep(lat=90.01), "lat"),
    "lat < -90": (rep(lat=-91), "lat"),
    "negative speed": (rep(speed_kmh=-1), "speed_kmh"),
    "speed too high": (rep(speed_kmh=251), "speed_kmh"),
    "nan speed": (rep(speed_kmh=float("nan")), "speed_kmh"),
    "heading > 360": (rep(heading=361), "heading"),
    "negative heading": (rep(heading=-5), "heading"),
    "missing ts": ({"vehicle_id": "苏F-00001", "lon": LON, "lat": LAT}, "ts"),
    "missing lon": ({"vehicle_id": "苏F-00001", "ts": NOW, "lat": LAT}, "lon"),
    "missing vehicle_id": ({"ts": NOW, "lon": LON, "lat": LAT}, "vehicle_id"),
    "empty vehicle_id": (rep(vid="  "), "vehicle_id"),
    "text lon": (rep(lon="east"), "lon"),
    "unreadable ts": (rep(ts="yesterday"), "ts"),
    "ts without offset": (rep(ts="2027-01-15T08:00:00"), "ts"),
    "ts in 1970": (rep(ts=5), "ts"),
    "unknown crs": (rep(crs="bd09"), "crs"),
    "number": (42, "not an object"),
    "string": ("苏F-00001,120.86,32.01", "not an object"),
    "list": ([LON, LAT], "not an object"),
    "null": (None, "not an object"),
}


@pytest.mark.parametrize("bad, field", INVALID.values(), ids=INVALID.keys())
def test_invalid_report_refused_with_a_short_reason(gate, bad, field):
    result = gate.check([rep(NOW - 30), bad, rep(NOW - 20)])
    assert result.report.accepted == 2 and result.report.rejected == {"invalid": 1}
    (error,) = result.report.errors
    assert (error.index, error.reason) == (1, Reason.INVALID)
    assert error.detail.startswith(field) and len(error.detail) <= 160
    assert [f.ts for f in result.fixes] == [NOW - 30, NOW - 20]
    if isinstance(bad, dict) and isinstance(bad.get("vehicle_id"), str) and bad["vehicle_id"].strip():
        assert error.vehicle_id == "苏F-00001"


def test_several_errors_in_one_report_are_one_rejection(gate):
    result = gate.check([rep(lon=float("nan"), lat=100, heading=-1)])
    (error,) = result.report.errors
    assert error.detail.endswith("(+2 more)")
    assert result.report.rejected == {"invalid": 1}


def test_fallback_path_gives_the_same_fixes_as_the_fast_path():
    items = [rep(NOW - 100 + i, east(10 * i), vid=f"v{i % 7}") for i in range(50)]
    clean = TelemetryGate(clock=lambda: NOW).check(items).fixes
    dirty = TelemetryGate(clock=lambda: NOW).check(items[:20] + [{"ts": "x"}, 7] + items[20:])
    assert dirty.fixes == clean
    assert reasons(dirty) == [(20, "invalid"), (21, "invalid")]


# --- future, unknown vehicle -----------------------------------------------------------------


def test_future_beyond_the_allowance_refused(gate):
    result = gate.check([rep(NOW + 200), rep(NOW + 301, vid="苏F-00002")])
    assert reasons(result) == [(1, "future")]
    assert TelemetryGate(max_future_s=0, clock=lambda: NOW).check([rep(NOW + 1)]).report.rejected == {"future": 1}


def test_a_refused_future_report_does_not_move_the_track(gate):
    assert gate.check([rep(NOW + 3600)]).report.rejected == {"future": 1}
    assert gate.check([rep(NOW - 5)]).report.accepted == 1  # not "stale" against the refused one


def test_unknown_vehicle_refused_and_asked_once_per_batch():
    asked: list[str] = []

    def known(vid: str) -> bool:
        asked.append(vid)
        return vid.startswith("苏F")

    gate = TelemetryGate(known, clock=lambda: NOW)
    result = gate.check([rep(NOW - 3), rep(NOW - 3, vid="沪A-1"), rep(NOW - 2, vid="沪A-1"), rep(NOW - 2)])
    assert reasons(result) == [(1, "unknown_vehicle"), (2, "unknown_vehicle")]
    assert result.report.errors[0].vehicle_id == "沪A-1"
    assert sorted(asked) == ["沪A-1", "苏F-00001"]


# --- order, stale, duplicates ----------------------------------------------------------------


def test_out_of_order_batch_is_sorted_not_stale(gate):
    items = [rep(NOW - t, east(10 * (60 - t))) for t in (10, 50, 30, 40, 20)]
    result = gate.check(items)
    assert result.report.accepted == 5
    assert [f.ts for f in result.fixes] == [NOW - 50, NOW - 40, NOW - 30, NOW - 20, NOW - 10]


def test_time_going_backwards_across_batches_is_stale(gate):
    gate.check([rep(NOW - 30), rep(NOW - 20)])
    result = gate.check([rep(NOW - 25), rep(NOW - 21.5), rep(NOW - 10)])
    assert reasons(result) == [(0, "stale"), (1, "stale")]
    assert [f.ts for f in result.fixes] == [NOW - 10]
    assert "not after last accepted" in result.report.errors[0].detail


def test_duplicates_within_a_batch(gate):
    result = gate.check([rep(NOW - 20), rep(NOW - 10), rep(NOW - 20), rep(NOW - 20, vid="苏F-00002")])
    assert reasons(result) == [(2, "duplicate")]  # the later copy; another vehicle may share the ts
    assert len(result.fixes) == 3


def test_duplicates_across_batches_also_of_an_older_fix(gate):
    gate.check([rep(NOW - 30), rep(NOW - 20), rep(NOW - 10)])
    result = gate.check([rep(NOW - 10), rep(NOW - 30), rep(NOW - 5)])  # a device re-sending a batch
    assert reasons(result) == [(0, "duplicate"), (1, "duplicate")]
    assert [f.ts for f in result.fixes] == [NOW - 5]


def test_iso_and_epoch_of_the_same_instant_are_duplicates():
    gate = TelemetryGate(clock=lambda: 1_795_996_860.0)
    result = gate.check([rep(1_795_996_800), rep("2026-11-30T08:00:00+08:00")])
    assert reasons(result) == [(1, "duplicate")]


# --- late and too old ------------------------------------------------------------------------


def trip(start: float, n: int, every_s: float = 30.0, kmh: float = 45.0) -> list[dict]:
    """``n`` reports every ``every_s`` driving east at ``kmh`` from east(0), the first at ``start``."""
    return [rep(start + k * every_s, east(kmh / 3.6 * every_s * k)) for k in range(n)]


def test_a_back_dated_report_after_newer_ones_in_the_same_batch_is_late(gate):
    """The held-back case: a report 500 s older than the vehicle's newest, 625 m off its track,
    sent after it in one upload. Sorted into the track it would be a fake earlier position (a
    zig-zag at 56-113 km/h, under the jump limit); it is refused and the track never moves."""
    items = trip(NOW - 1200, 40)  # 20 minutes, newest at NOW - 30
    newest = items[-1]
    late_ts = newest["ts"] - 500
    items.append(rep(late_ts, east(45 / 3.6 * (late_ts - (NOW - 1200))), LAT + 625 / 111_195))
    result = gate.check(items)
    assert reasons(result) == [(40, "late")] and result.report.rejected == {"late": 1}
    assert "500 s before a report sent earlier in the batch" in result.report.errors[0].detail
    assert [f.ts for f in result.fixes] == [r["ts"] for r in items[:40]]
    assert all(f.lat == LAT for f in result.fixes)  # no fake position among the accepted
    nxt = gate.check([rep(NOW - 20, east(45 / 3.6 * 1180 + 125))])  # judged against the newest
    assert nxt.report.accepted == 1
    assert gate.counts()["late"] == 1


def test_a_back_dated_report_is_refused_whichever_way_the_gateway_cuts_its_batches(gate):
    items = trip(NOW - 1200, 40)
    late = rep(NOW - 530, east(10), LAT + 0.005)
    across = TelemetryGate(clock=lambda: NOW)
    across.check(items)
    assert across.check([late]).report.rejected == {"stale": 1}  # after its batch: stale
    assert gate.check([*items, late]).report.rejected == {"late": 1}  # in it, after newer ones: late
    first = TelemetryGate(clock=lambda: NOW).check([items[-1], late])  # a vehicle's first upload too
    assert first.report.rejected == {"late": 1} and [f.ts for f in first.fixes] == [items[-1]["ts"]]


def test_reordering_within_the_tolerance_is_sorted_beyond_it_late():
    gate = TelemetryGate(clock=lambda: NOW, max_reorder_s=60)
    items = [rep(NOW - 10, east(300)), rep(NOW - 70, east(0)), rep(NOW - 71, east(-5))]
    result = gate.check(items)
    assert reasons(result) == [(2, "late")]  # 61 s before the report sent first
    assert [f.ts for f in result.fixes] == [NOW - 70, NOW - 10]
    # a backlog sent after the live report counts as late too, as it would in the next batch
    backlog = TelemetryGate(clock=lambda: NOW).check([rep(NOW - 5, east(600)), *trip(NOW - 600, 19, kmh=3)])
    assert backlog.report.rejected == {"late": 16} and backlog.report.accepted == 4  # 120 s: 4 kept


def test_reports_older_than_the_horizon_are_too_old_and_never_move_the_track(gate):
    gate.check([rep(NOW - 60, east(0))])
    old = NOW - 75 * 86_400
    result = gate.check([rep(old + k * 5, east(k * 50), vid=vid) for vid in ("苏F-00001", "苏F-00002")
                         for k in range(3)])
    assert result.report.accepted == 0 and result.report.rejected == {"too_old": 6}
    assert "the horizon is 86400 s" in result.report.errors[0].detail
    assert gate.check([rep(NOW - 55, east(40))]).report.accepted == 1  # judged against NOW - 60
    assert gate.check([rep(NOW - 86_399, vid="苏F-00003")]).report.accepted == 1  # just inside
    assert gate.counts()["too_old"] == 6


def test_the_horizon_is_configurable_or_off():
    short = TelemetryGate(clock=lambda: NOW, max_age_s=3600)
    assert short.check([rep(NOW - 3601)]).report.rejected == {"too_old": 1}
    off = TelemetryGate(clock=lambda: NOW, max_age_s=None)
    assert off.check([rep(NOW - 75 * 86_400)]).report.accepted == 1
    with pytest.raises(ValueError, match="max_age_s"):
        TelemetryGate(max_age_s=0)


# --- jumps -----------------------------------------------------------------------------------


def test_teleport_is_a_jump_and_the_next_fix_is_judged_against_the_last_accepted(gate):
    gate.check([rep(NOW - 60, east(0))])
    # 10 km in 10 s (3600 km/h): refused; then 200 m further along after 20 s: fine
    result = gate.check([rep(NOW - 50, east(10_000)), rep(NOW - 40, east(200))])
    assert reasons(result) == [(0, "jump")]
    assert "km/h" in result.report.errors[0].detail
    assert [f.lon for f in result.fixes] == [pytest.approx(east(200))]
    # the teleport position is still a teleport from the accepted track
    assert gate.check([rep(NOW - 39, east(10_050))]).report.rejected == {"jump": 1}


def test_jump_inside_one_batch_does_not_move_the_track(gate):
    items = [rep(NOW - 40, east(0)), rep(NOW - 30, east(5_000)), rep(NOW - 20, east(5_100)),
             rep(NOW - 10, east(300))]
    result = gate.check(items)
    assert reasons(result) == [(1, "jump"), (2, "jump")]
    assert [f.ts for f in result.fixes] == [NOW - 40, NOW - 10]


def test_speed_just_below_the_limit_passes():
    gate = TelemetryGate(max_speed_kmh=120, clock=lambda: NOW)
    gate.check([rep(NOW - 100, east(0))])
    assert gate.check([rep(NOW - 90, east(330))]).report.accepted == 1  # 118.8 km/h
    assert gate.check([rep(NOW - 80, east(680))]).report.rejected == {"jump": 1}  # 126 km/h


def test_a_rejected_report_of_any_kind_never_moves_the_track(gate):
    gate.check([rep(NOW - 100, east(0))])
    bad = [rep(NOW - 90, east(50_000)), rep(NOW + 999, east(0)), rep(NOW - 150, east(0)),
           rep(NOW - 80, lat=float("nan"))]
    assert gate.check(bad).report.accepted == 0
    result = gate.check([rep(NOW - 95, east(50))])  # judged against NOW - 100 at east(0)
    assert result.report.accepted == 1


# --- GCJ-02 ----------------------------------------------------------------------------------


def test_gcj02_report_converted_to_wgs84_within_a_metre(gate):
    truth = [(120.86, 32.01), (121.05, 31.93), (120.56, 32.39)]
    items = []
    for i, (lon, lat) in enumerate(truth):
        g_lon, g_lat = wgs84_to_gcj02(lon, lat)
        items.append(rep(NOW - 10, float(g_lon), float(g_lat), vid=f"g{i}", crs="gcj02"))
        assert haversine_m(lon, lat, float(g_lon), float(g_lat)) > 100  # the offset is real
    items.append(rep(NOW - 10, 120.7, 32.1, vid="w"))
    fixes = {f.vehicle_id: f for f in gate.check(items).fixes}
    for i, (lon, lat) in enumerate(truth):
        assert haversine_m(lon, lat, fixes[f"g{i}"].lon, fixes[f"g{i}"].lat) < 1.0
    assert (fixes["w"].lon, fixes["w"].lat) == (120.7, 32.1)


def test_switching_crs_is_not_a_jump(gate):
    g_lon, g_lat = wgs84_to_gcj02(LON, LAT)
    gate.check([rep(NOW - 2, LON, LAT)])
    result = gate.check([rep(NOW - 1, float(g_lon), float(g_lat), crs="gcj02")])
    assert result.report.accepted == 1


# --- transport vehicle id, report cap, counters ----------------------------------------------


def test_vehicle_id_from_the_transport_fills_and_checks(gate):
    items = [{"ts": NOW - 3, "lon": LON, "lat": LAT}, rep(NOW - 2), rep(NOW - 1, vid="苏F-99999")]
    result = gate.check(items, vehicle_id="苏F-00001")
    assert [f.vehicle_id for f in result.fixes] == ["苏F-00001", "苏F-00001"]
    assert reasons(result) == [(2, "invalid")]
    assert "differs" in result.report.errors[0].detail


def test_errors_listed_up_to_the_cap_counted_in_full(gate):
    items = [rep(lat=100 + i % 5) for i in range(MAX_ERRORS + 50)] + [rep()]
    report = gate.check(items).report
    assert report.rejected == {"invalid": MAX_ERRORS + 50} and report.accepted == 1
    assert [e.index for e in report.errors] == list(range(MAX_ERRORS))


def test_counts_are_cumulative_and_forget_starts_a_new_track(gate):
    gate.check([rep(NOW - 10), rep(NOW - 10), rep(lon=999)])
    gate.check([rep(NOW - 20), rep(NOW + 900)])
    counts = gate.counts()
    assert {k: counts[k] for k in ("received", "accepted", "invalid", "duplicate", "stale", "future")} == {
        "received": 5, "accepted": 1, "invalid": 1, "duplicate": 1, "stale": 1, "future": 1}
    assert counts["jump"] == counts["unknown_vehicle"] == counts["drone_received"] == 0
    gate.forget("苏F-00001")
    assert gate.check([rep(NOW - 20)]).report.accepted == 1


def test_concurrent_batches_keep_counts_and_tracks_consistent(gate):
    def feed(worker: int) -> None:
        for k in range(20):
            gate.check([rep(NOW - 1000 + k * 10 + v, east(v), vid=f"v{v}") for v in range(10)])

    threads = [threading.Thread(target=feed, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = gate.counts()
    assert counts["received"] == 800
    assert counts["accepted"] == 200  # each fix accepted exactly once, by one of the threads
    assert counts["accepted"] + counts["duplicate"] + counts["stale"] == 800


def test_ten_thousand_reports_well_within_a_second():
    gate = TelemetryGate(clock=lambda: NOW)
    items = []
    for i in range(10_000):
        v, step = i % 1000, i // 1000
        lon, lat = 120.5 + v * 1e-3 + step * 1e-4, 32.0 + v * 1e-3
        if v % 2:
            g = wgs84_to_gcj02(lon, lat)
            lon, lat = float(g[0]), float(g[1])
        items.append(rep(NOW - 100 + step, lon, lat, vid=f"v{v}", speed_kmh=30, crs="gcj02" if v % 2 else "wgs84"))
    start = time.perf_counter()
    result = gate.check(items)
    elapsed = time.perf_counter() - start
    assert result.report.accepted == 10_000
    assert elapsed < 1.0, f"{10_000 / elapsed:.0f} reports/s"


# --- drones ----------------------------------------------------------------------------------


def drone(ts: float, sn: str = "1581F5BKD") -> DroneState:
    return DroneState(drone_id=sn, ts=ts, lon=LON, lat=LAT, height_m=80, heading_deg=10, gimbal_yaw_deg=10)


def test_drone_poses_stale_duplicate_future(gate):
    assert gate.accept_drone(drone(NOW - 10)) is None
    assert gate.accept_drone(drone(NOW - 8)) is None
    assert gate.accept_drone(drone(NOW - 8)).reason is Reason.DUPLICATE
    assert gate.accept_drone(drone(NOW - 10)).reason is Reason.DUPLICATE
    stale = gate.accept_drone(drone(NOW - 9))
    assert (stale.reason, stale.vehicle_id) == (Reason.STALE, "1581F5BKD")
    assert gate.accept_drone(drone(NOW + 301)).reason is Reason.FUTURE
    assert gate.accept_drone(drone(NOW - 7)) is None  # the future pose did not move it
    assert gate.accept_drone(drone(NOW - 9, sn="other")) is None
    assert gate.accept_drone(drone(NOW - 86_401, sn="old")).reason is Reason.TOO_OLD
    counts = gate.counts()
    assert {k: v for k, v in counts.items() if k.startswith("drone_")} == {
        "drone_received": 9, "drone_accepted": 4, "drone_future": 1, "drone_too_old": 1, "drone_stale": 1,
        "drone_duplicate": 2}
    assert counts["received"] == 0
    gate.forget_drone("1581F5BKD")
    assert gate.accept_drone(drone(NOW - 9)) is None
