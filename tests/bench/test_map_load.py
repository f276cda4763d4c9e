"""Smoke run of the map-load bench (``zhizhi bench map``): a real console subprocess on the small
district, one cold load of the wall's map screen per way and condition in Chromium; the result's
keys, and the new way moving fewer bytes than the old (no timing asserted)."""

from __future__ import annotations

import pytest

from zhizhi.bench.map_load import run_map_bench

pytestmark = pytest.mark.browser


def test_map_bench_smoke_run():
    result = run_map_bench(runs=1, small=True)

    assert result["runs"] == 1 and result["district_grids"] == 64 and result["basemap"] is True
    for condition in ("idle", "loaded"):
        for variant in ("new", "old"):
            figures = result[condition][variant]
            assert figures["ms"] > 0 and figures["kb"] > 0 and figures["requests"] > 10, (condition, variant)
            assert len(figures["ms_all"]) == 1
            assert 0 < figures["kb_layers"] < figures["kb"], (condition, variant)
        assert result[condition]["new"]["kb_layers"] < result[condition]["old"]["kb_layers"] / 3, condition
        assert result[condition]["new"]["kb"] < result[condition]["old"]["kb"], condition
        assert result[f"ratio_kb_{condition}"] > 1 and result[f"ratio_ms_{condition}"] > 0
