"""``zhizhi bench camera-sectors`` on small parameters: it runs and keeps its JSON contract."""

from __future__ import annotations

from tests.bench.test_scaleout import _bench


def test_bench_camera_sectors_contract():
    r = _bench("camera-sectors", "--cameras", "2000", "--points", "500", timeout=120)
    assert r["cameras"] == 2000 and r["points"] == 500
    assert r["valid"] and r["same_as_one_by_one"]
    assert r["ratio_vs_one_by_one"] > 0 and r["pairs"] >= 0
