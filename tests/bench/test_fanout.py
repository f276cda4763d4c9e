"""Smoke run of the websocket fan-out bench (``zhizhi bench fanout``): a real console subprocess on
the small district, 20 screens, 10 alerts; the contract's keys and not one lost message."""

from __future__ import annotations

from zhizhi.bench.fanout import FanoutConfig, run_fanout_bench, summary_lines


def test_fanout_smoke_run_loses_no_message():
    result = run_fanout_bench(FanoutConfig(clients=20, messages=10, rate=10.0, drain_s=15.0, settle_s=0.0))

    assert {"clients", "messages", "p50_ms", "p99_ms"} <= set(result)  # the contract
    assert result["clients"] == 20 and result["messages"] == 10
    assert result["lost"] == 0 and result["received"] == result["expected"] == 200
    assert result["delivered"] == 1.0 and result["connect_failed"] == 0 and result["resyncs"] == 0
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"] < 10_000
    assert result["from_post_ms"]["p50"] >= result["p50_ms"]  # the POST is sent before the alert exists
    assert result["post_failed"] == {} and result["connect_s"] >= 0
    assert result["server"]["rss_mb_max"] > 0 and result["server"]["cpu_pct_mean_publish"] is not None
    assert result["server"]["cpu_ms_per_message"] >= 0 and result["machine"]["load_avg_1m_start"] >= 0
    assert len(summary_lines(result)) == 5
