"""Smoke run of the typhoon-night surge bench (``zhizhi bench surge``): a real console subprocess on
the small district, 15 s at reduced rates; the report's shape and not one lost event."""

from __future__ import annotations

from zhizhi.bench.surge import SurgeConfig, run_surge_bench, summary_lines


def test_surge_smoke_run_loses_no_event():
    config = SurgeConfig(duration_s=15, telemetry_rate=1_000, events_per_min=120, vehicles=1_000,
                         batch=250, senders=2, hazmat=2, small_district=True)
    result = run_surge_bench(config, progress=False)

    events, telemetry = result["events"], result["telemetry"]
    assert events["posted"] >= 25 and events["failed"] == {}
    assert events["lost"] == 0
    assert events["alert_on_ws"] == events["posted"] == events["in_api"]
    latency = events["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"] < 10_000
    assert telemetry["accepted"] > 0 and telemetry["generated"] >= telemetry["sent"] >= telemetry["accepted"]
    assert telemetry["http_errors"] == {} and telemetry["gate_rejected_total"] == 0
    assert {"retries_503", "accepted_per_s", "target_held", "post_ms", "rules_backlog_max"} <= set(telemetry)
    assert result["telemetry_alerts"]["unexpected"] == 0  # the synthetic traffic keeps every rule
    assert set(result["telemetry_alerts"]["latency_ms"]) == {"p50", "p99", "max"}
    assert result["server"]["rss_mb_max"] > 0 and result["server"]["cpu_pct_mean"] is not None
    assert result["ws"]["snapshots"] >= 1 and result["ws"]["reconnects"] == 0
    assert len(summary_lines(result)) >= 8
