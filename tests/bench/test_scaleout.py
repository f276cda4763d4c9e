"""The scale-out benchmarks' commands, on tiny parameters: they run and keep their JSON contract.

``zhizhi bench spatial-db`` (needs the machine's PostgreSQL with PostGIS, as the store tests do),
``zhizhi bench workers`` and ``zhizhi bench alert-latency`` (private ``redis-server``s of their
own). The figures themselves are in docs/benchmarks.md; here only their shape and sanity.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str, timeout: float = 240) -> dict:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "zhizhi.console.cli", "bench", *args, "--json"], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"bench {args[0]}: {time.monotonic() - started:.1f} s")
    return result


def test_bench_spatial_db_contract():
    from tests.db_support import ADMIN_URL

    r = _bench("spatial-db", "--features", "3000", "--queries", "30", "--database-url", ADMIN_URL)
    assert r["features"] == 3000 and r["queries"] == 30
    assert set(r["methods"]) == {"memory", "postgis", "postgis_bbox", "sqlite", "sqlite_bbox"}
    for name, m in r["methods"].items():
        assert m["p50_ms"] > 0 and m["p99_ms"] >= m["p50_ms"] and m["queries_per_s"] > 0
        if name != "memory":
            assert m["ratio_vs_memory"] > 0
    assert r["same_fids"] is True and not any(r["mismatches"].values())


def test_bench_workers_contract():
    r = _bench("workers", "--seconds", "12", "--cameras", "2", "--detector", "motion", "--counts", "1,2")
    assert r["cpu_count"] == os.cpu_count() and r["cameras"] == 2 and r["detector"] == "motion"
    assert [run["workers"] for run in r["runs"]] == [1, 2]
    for run in r["runs"]:
        assert run["exit_codes"] == [0] * run["workers"]
        assert run["cameras_seen"] == 2 and run["frames_total"] > 0
        assert run["fps"] is None or run["fps"] > 0
    assert r["runs"][0]["fps"] and r["ratio_vs_1"]["1"] == 1.0


def test_bench_alert_latency_contract():
    r = _bench("alert-latency", "--seconds", "8", "--streams", "2", "--workers", "1", "--detector", "motion")
    assert r["streams"] == 2 and r["workers"] == 1 and r["cpu_count"] == os.cpu_count()
    for key in ("count", "p50_ms", "p99_ms", "max_ms", "frames", "by_event", "exit_codes"):
        assert key in r
    assert r["exit_codes"] == [None, None]  # console and worker still running when the window ended
    assert r["ws_connects"] >= 1
    assert r["frames"]["count"] > 0 and 0 < r["frames"]["p50_ms"] < 10_000
    if r["count"]:
        assert r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
