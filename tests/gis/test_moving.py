"""Moving-object index: upsert / move / delete semantics, queries vs brute force, bad telemetry."""

from __future__ import annotations

import doctest
import threading

import numpy as np
import pytest

import zhizhi.gis.moving
from zhizhi.gis.metric import MetricFrame, geodesic_distance_m
from zhizhi.gis.moving import MovingObjectIndex

LON, LAT = 120.8640, 32.0110
FRAME = MetricFrame.around(LON, LAT)


@pytest.fixture
def index() -> MovingObjectIndex:
    return MovingObjectIndex(FRAME)


@pytest.fixture(scope="module")
def fleet():
    """2,000 objects scattered over about 60 km x 60 km around the frame centre."""
    rng = np.random.default_rng(11)
    n = 2000
    lons, lats = LON + rng.uniform(-0.3, 0.3, n), LAT + rng.uniform(-0.27, 0.27, n)
    ids = [f"V{i:04d}" for i in range(n)]
    index = MovingObjectIndex(FRAME)
    index.upsert_many(ids, lons, lats)
    x, y = FRAME.to_metric(lons, lats)
    return index, np.array(ids), lons, lats, x, y


def snapshot(index: MovingObjectIndex) -> dict:
    everything = index.within_bbox(-180, -90, 180, 90)
    return {i: index.get(i) for i in everything} | {"__len__": len(index)}


def test_doctests():
    assert doctest.testmod(zhizhi.gis.moving).failed == 0


def test_insert_get_update_delete(index):
    index.upsert("car", LON, LAT, kind="police", speed=0)
    assert len(index) == 1 and "car" in index and "bus" not in index
    got = index.get("car")
    assert (got.id, got.lon, got.lat, got.attrs) == (
        "car",
        LON,
        LAT,
        {"kind": "police", "speed": 0},
    )
    index.upsert("car", LON + 0.01, LAT, speed=40)  # a move: attributes merge
    got = index.get("car")
    assert (got.lon, got.attrs) == (LON + 0.01, {"kind": "police", "speed": 40})
    assert len(index) == 1
    index.delete("car")
    assert len(index) == 0 and "car" not in index
    assert index.nearest(LON, LAT) == []
    with pytest.raises(KeyError, match="car"):
        index.get("car")


def test_update_moves_the_object(index):
    index.upsert("uav", LON, LAT)
    index.upsert("other", LON + 0.02, LAT)
    index.upsert("uav", LON + 0.05, LAT + 0.05)
    assert index.within_radius(LON, LAT, 500) == []
    assert index.within_bbox(LON - 0.001, LAT - 0.001, LON + 0.001, LAT + 0.001) == []
    assert index.nearest(LON, LAT)[0].id == "other"
    moved = index.within_radius(LON + 0.05, LAT + 0.05, 1)
    assert [m.id for m in moved] == ["uav"] and moved[0].distance_m < 1e-6
    assert len(index) == 2


def test_delete_unknown_id(index):
    index.upsert("a", LON, LAT)
    with pytest.raises(KeyError, match="no moving object 'ghost'"):
        index.delete("ghost")
    index.delete("a")
    with pytest.raises(KeyError, match="'a'"):
        index.delete("a")


@pytest.mark.parametrize(
    "lon, lat",
    [
        (float("nan"), LAT),
        (LON, float("nan")),
        (float("inf"), LAT),
        (200.0, LAT),
        (LON, 95.0),
        (LON, -90.5),
        ("abc", LAT),
        (None, LAT),
    ],
)
def test_bad_telemetry_leaves_state_intact(index, lon, lat):
    index.upsert("car", LON, LAT, speed=10)
    index.upsert("bus", LON + 0.01, LAT)
    before = snapshot(index)
    with pytest.raises(ValueError):
        index.upsert("car", lon, lat, speed=99)
    with pytest.raises(ValueError):
        index.upsert("new", lon, lat)
    with pytest.raises(ValueError):
        index.upsert_many(["car", "bus", "new"], [LON + 0.001, lon, LON], [LAT, lat, LAT])
    assert snapshot(index) == before
    assert "new" not in index
    assert index.nearest(LON, LAT)[0].id == "car"
    assert index.within_radius(LON, LAT, 1)[0].attrs == {"speed": 10}


def test_bad_ids_and_arguments(index):
    with pytest.raises(ValueError, match="non-empty string"):
        index.upsert("", LON, LAT)
    with pytest.raises(ValueError, match="non-empty string"):
        index.upsert(7, LON, LAT)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one length"):
        index.upsert_many(["a", "b"], [LON], [LAT])
    with pytest.raises(ValueError, match="k must be"):
        index.nearest(LON, LAT, k=0)
    with pytest.raises(ValueError, match="empty box"):
        index.within_bbox(LON + 1, LAT, LON, LAT)
    assert len(index) == 0


def test_upsert_many_last_position_wins(index):
    index.upsert_many(
        ["a", "b", "a"],
        [LON, LON + 0.01, LON + 0.02],
        [LAT, LAT, LAT],
        attrs=[{"n": 1}, {}, {"n": 3}],
    )
    assert len(index) == 2
    assert (index.get("a").lon, index.get("a").attrs) == (LON + 0.02, {"n": 3})
    assert index.within_radius(LON, LAT, 10) == []


@pytest.mark.parametrize("k", [1, 5, 25])
def test_k_nearest_matches_brute_force(fleet, k):
    index, ids, _, _, x, y = fleet
    rng = np.random.default_rng(k)
    for qlon, qlat in zip(LON + rng.uniform(-0.3, 0.3, 30), LAT + rng.uniform(-0.3, 0.3, 30)):
        qx, qy = FRAME.to_metric(qlon, qlat)
        dist = np.hypot(x - qx, y - qy)
        want = ids[np.lexsort((ids, dist))[:k]]
        got = index.nearest(qlon, qlat, k=k)
        assert [n.id for n in got] == want.tolist()
        got_d = np.array([n.distance_m for n in got])
        np.testing.assert_allclose(got_d, np.sort(dist)[:k], rtol=1e-12, atol=1e-9)
        # Frame metres are ground metres: within 0.05 % of the geodesic distance.
        geo = geodesic_distance_m(qlon, qlat, [n.lon for n in got], [n.lat for n in got])
        np.testing.assert_allclose(got_d, geo, rtol=5e-4, atol=0.01)


def test_nearest_with_max_distance_and_radius(fleet):
    index, ids, _, _, x, y = fleet
    qx, qy = FRAME.to_metric(LON, LAT)
    dist = np.hypot(x - qx, y - qy)
    for r in (500.0, 2_000.0, 5_000.0):
        inside = ids[dist <= r][np.argsort(dist[dist <= r], kind="stable")]
        assert [n.id for n in index.within_radius(LON, LAT, r)] == inside.tolist()
        got = index.nearest(LON, LAT, k=10, max_distance_m=r)
        assert [n.id for n in got] == inside[:10].tolist()
    assert dist.min() > 1.0
    assert index.nearest(LON, LAT, k=3, max_distance_m=1.0) == []


def test_within_bbox_matches_brute_force(fleet):
    index, ids, lons, lats, *_ = fleet
    for box in [
        (120.7, 31.9, 120.9, 32.1),
        (120.6, 31.75, 121.2, 32.3),
        (120.86, 32.0, 120.87, 32.02),
    ]:
        minlon, minlat, maxlon, maxlat = box
        mask = (lons >= minlon) & (lons <= maxlon) & (lats >= minlat) & (lats <= maxlat)
        assert index.within_bbox(*box) == sorted(ids[mask].tolist())


def test_concurrent_feeds_and_queries():
    index = MovingObjectIndex(FRAME)
    errors: list[BaseException] = []

    def feed(worker: int) -> None:
        rng = np.random.default_rng(worker)
        try:
            for step in range(300):
                obj = f"W{worker}-{step % 20}"
                index.upsert(obj, LON + rng.uniform(-0.05, 0.05), LAT + rng.uniform(-0.05, 0.05))
                index.nearest(LON, LAT, k=3)
                if step % 7 == 0 and obj in index:
                    index.delete(obj)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=feed, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    everything = index.within_bbox(-180, -90, 180, 90)
    assert len(everything) == len(index) == len(set(everything))
    assert len(index.within_radius(LON, LAT, 50_000)) == len(index)
