"""``zhizhi bench capacity`` shrunk to seconds: both pipelines run through a real worker, the search
stops where frames start to drop, and the result keeps issue 19's JSON contract. Figures are the
benchmark's (docs/benchmarks.md), not asserted here."""

from __future__ import annotations

import threading
import time

import numpy as np

from zhizhi.bench.capacity import MemorySource, find_capacities, run_capacity_bench, scene_of

CONTRACT = {"cameras_new", "cameras_baseline", "ratio", "recall_new", "recall_baseline", "geo_error_m_new"}


def test_the_mix_is_mostly_quiet_with_one_tanker():
    scenes = [scene_of(i) for i in range(100)]
    assert scenes[0] == "hazmat-stop" and scenes.count("hazmat-stop") == 1
    assert scenes.count("busy") == 10 and scenes.count("light") == 20 and scenes.count("quiet") == 69


def test_a_memory_source_loops_at_its_rate_and_stops_at_once():
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(3)]
    stop = threading.Event()
    source = MemorySource(frames, fps=20.0, start=2, stop=stop)
    source.open()
    started = time.monotonic()
    seen = [int(source.read()[0, 0, 0]) for _ in range(6)]
    assert seen == [2, 0, 1, 2, 0, 1]  # from its start frame, round and round, the same arrays
    assert time.monotonic() - started >= 5 / 20.0 * 0.9  # paced: the sixth frame a quarter second on
    stop.set()
    assert source.read() is None


def test_the_searches_find_the_largest_counts_sustained_in_turn(monkeypatch):
    from zhizhi.bench import capacity

    tried: list[tuple[str, int]] = []
    limits = {"a": 11, "b": 3}

    def trial(detector, scenes, count, *args, **options):
        tried.append((detector, count))
        return {"analysed_share": 1.0 if count <= limits[detector] else 0.5}

    monkeypatch.setattr(capacity, "run_trial", trial)
    found = find_capacities({"a": "a", "b": "b"}, {}, 5.0, 1.0, 256, [], lambda line: None)
    assert found == {"a": 11, "b": 3}
    assert tried[:4] == [("a", 2), ("b", 2), ("a", 4), ("b", 4)]  # interleaved
    assert [c for d, c in tried if d == "a"][:4] == [2, 4, 8, 16]  # doubling, then bisection


def test_bench_capacity_keeps_its_contract_on_a_tiny_run():
    lines: list[str] = []
    result = run_capacity_bench(rate=5.0, trial_s=3.0, search_s=2.0, max_cameras=2, progress=lines.append,
                                size=(640, 360), clip_s=6.0, warmup_s=1.5)
    assert CONTRACT <= set(result)
    assert 1 <= result["cameras_baseline"] <= 2 and 1 <= result["cameras_new"] <= 2
    assert result["ratio"] == round(result["cameras_new"] / result["cameras_baseline"], 2)
    for key in ("recall_new", "recall_baseline"):
        assert result[key] is None or 0.0 <= result[key] <= 1.0
    finals = [t for t in result["trials"] if t.get("final")]
    assert [t["pipeline"] for t in finals] == ["baseline", "new"]
    assert all(t["scores"]["frames"] > 0 for t in finals)  # analysed frames were matched to the clips
    assert any("cameras ->" in line for line in lines)
