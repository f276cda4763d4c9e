"""Backtesting warning models (``zhizhi backtest``) on simulator datasets with known answers.

The dataset: four hazmat-stop clips whose tanker stands 10 s, 45 s, 90 s and 320 s on the
shoulder (1 fps, tiny frames, almost no traffic: seconds to render). Every stop is a
ground-truth event, whatever a rule's threshold; an abnormal-stop rule of 30 s must find the
three stops of 45 s and more (recall 3/4, precision 3/3), one of 300 s only the 320 s stop
(recall 1/4, precision 1/1).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from zhizhi.console.cli import app
from zhizhi.models.backtest import BacktestError, run_backtest, run_sweep
from zhizhi.models.backtest.cache import DetectorSpec
from zhizhi.models.backtest.dataset import load_dataset
from zhizhi.models.backtest.matching import Prediction, match
from zhizhi.models.backtest.metrics import score
from zhizhi.models.warning.config import load_model, parse_model
from zhizhi.video.simulator import simulate
from zhizhi.video.simulator.events import TruthEvent

STOPS_S = (10.0, 45.0, 90.0, 320.0)
RULE = "hazmat-abnormal-stop"
CONTRACT = {"tp", "fp", "fn", "precision", "recall", "f1", "mean_delay_s"}


def _stop_model(min_duration_s: float):
    data = load_model().model_dump(mode="json")
    for rule in data["rules"]:
        if rule["id"] == RULE:
            rule["min_duration_s"] = min_duration_s
    return parse_model(data)


@pytest.fixture(scope="module")
def stops(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stops")
    for seed, stop in enumerate(STOPS_S, 1):
        simulate("hazmat-stop", seed, root / f"stop-{int(stop):03d}s", fps=1.0, width=160, height=90,
                 params={"stop_s": stop, "mean_gap_m": 2000.0})
    return root


def _cli(*args: str):
    result = CliRunner().invoke(app, ["backtest", *args])
    return result


# --- ground truth from the simulator -------------------------------------------------------
def test_the_simulator_writes_each_stop_as_an_event(stops):
    for stop in STOPS_S:
        folder = stops / f"stop-{int(stop):03d}s"
        (event,) = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
        facts = json.loads((folder / "scene.json").read_text())["facts"]
        assert event == {"rule": "abnormal_stop", "track_id": facts["tanker_track_id"], "cls": "hazmat_tanker",
                         "start_ts": 12.0, "end_ts": 12.0 + stop, "lon": facts["stop_lonlat"][0],
                         "lat": facts["stop_lonlat"][1]}


# --- the done-when: exact recall and precision for 30 s and 300 s --------------------------
@pytest.mark.parametrize(("min_duration_s", "tp", "recall", "delay"), [(30.0, 3, 0.75, 30.0), (300.0, 1, 0.25, 300.0)])
def test_abnormal_stop_recall_is_exact(stops, min_duration_s, tp, recall, delay):
    result = run_backtest(_stop_model(min_duration_s), stops, truth=True)
    s = result.rules[RULE]
    assert (s.rule, s.tp, s.fp, s.fn) == ("abnormal_stop", tp, 0, 4 - tp)
    assert s.recall == recall and s.precision == 1.0
    assert s.f1 == pytest.approx(2 * recall / (1 + recall), abs=1e-6)
    assert s.mean_delay_s == pytest.approx(delay, abs=1.0)
    assert result.clips == 4 and result.sources == {"truth": 4} and result.model == "default@1"
    # the other rules have nothing to find and find nothing: scores undefined, not zero
    assert result.rules["speeding"].model_dump() == {"rule": "speeding", "tp": 0, "fp": 0, "fn": 0, "precision": None,
                                                     "recall": None, "f1": None, "mean_delay_s": None}
    assert (result.totals.tp, result.totals.fp, result.totals.fn) == (tp, 0, 4 - tp)


def test_cli_prints_the_contract(stops, tmp_path):
    model = tmp_path / "stop30.yaml"
    model.write_text(yaml.safe_dump(_stop_model(30.0).model_dump(mode="json")), encoding="utf-8")
    result = _cli("--model", str(model), "--dataset", str(stops), "--truth", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {"model", "dataset", "clips", "rules", "totals"} <= set(out)
    assert out["model"] == "default@1" and out["clips"] == 4
    assert set(out["rules"][RULE]) == {"rule", *CONTRACT} and set(out["totals"]) == CONTRACT
    assert out["rules"][RULE]["recall"] == 0.75 and out["rules"][RULE]["precision"] == 1.0
    assert out["rules"]["crowd"]["precision"] is None


# --- sweeps --------------------------------------------------------------------------------
def test_sweep_writes_table_plots_and_page(stops, tmp_path):
    out = tmp_path / "sweep"
    result = _cli("--dataset", str(stops), "--truth", "--json", "--jobs", "2", "--out", str(out),
                  "--sweep", f"{RULE}.min_duration_s=5:305:100")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["combinations"] == 4 and summary["out"] == str(out)
    files = {name: Path(p) for name, p in summary["files"].items()}
    assert files["csv"] == out / "sweep.csv" and files["html"] == out / "sweep.html"
    for path in files.values():
        assert path.is_file() and path.stat().st_size > 0
    assert files["pr_png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert files[f"f1_png:{RULE}.min_duration_s"].read_bytes()[:4] == b"\x89PNG"
    page = files["html"].read_text()
    assert "data:image/png;base64," in page and "http://" not in page and "https://" not in page
    rows = json.loads(files["json"].read_text())["rows"]
    assert [r["params"][f"{RULE}.min_duration_s"] for r in rows] == [5.0, 105.0, 205.0, 305.0]
    assert [r["result"]["rules"][RULE]["recall"] for r in rows] == [1.0, 0.25, 0.25, 0.25]
    data = files["csv"].read_bytes()  # as a spreadsheet opens it: a BOM, CRLF (layers/spreadsheet.py)
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\r\n") == data.count(b"\n")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith(f"combination,{RULE}.min_duration_s,rule_id,rule,tp,fp,fn,precision,recall,f1")
    assert len(lines) == 1 + 4 * (len(load_model().rules) + 1)


def test_sweep_of_two_axes_runs_every_combination(stops):
    result = run_sweep(None, stops, [f"{RULE}.min_duration_s=30:300:270", "crowd.min_count=10:20:10"], truth=True)
    assert [tuple(r.params.values()) for r in result.rows] == [(30.0, 10.0), (30.0, 20.0), (300.0, 10.0), (300.0, 20.0)]
    assert [r.result.rules[RULE].tp for r in result.rows] == [3, 3, 1, 1]


@pytest.mark.parametrize(("spec", "message"), [
    ("nope.min_duration_s=1:2:1", "no rule 'nope'"),
    (f"{RULE}.colour=1:2:1", "no numeric parameter 'colour'"),
    (f"{RULE}.min_duration_s=30:10:5", "START <= STOP"),
    (f"{RULE}.min_duration_s=a:b:c", "START:STOP:STEP"),
    (f"{RULE}.min_duration_s=0:20:10", "greater than 0"),
    ("crowd.min_count=10.5:12:1", "whole numbers"),
    (f"{RULE}min_duration_s", "RULE.PARAM=START:STOP:STEP"),
])
def test_bad_sweeps_are_refused(stops, spec, message):
    result = _cli("--dataset", str(stops), "--truth", "--sweep", spec)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert "Traceback" not in result.output


# --- the detector cache --------------------------------------------------------------------
def test_detector_output_is_cached(tmp_path, monkeypatch):
    from zhizhi.models.backtest import frames

    root = tmp_path / "data"
    simulate("hazmat-stop", 5, root / "short", duration_s=3.0, fps=5.0, width=320, height=180,
             params={"mean_gap_m": 2000.0})
    calls = []
    real = frames.build_detector
    monkeypatch.setattr(frames, "build_detector", lambda spec: calls.append(spec) or real(spec))
    spec, cache = DetectorSpec(kind="motion"), tmp_path / "cache"
    first = run_backtest(None, root, detector=spec, cache_dir=cache)
    assert len(calls) == 1 and first.sources == {"detector": 1}
    assert len(list(cache.rglob("*.jsonl.gz"))) == 1
    second = run_backtest(_stop_model(1.0), root, detector=spec, cache_dir=cache)
    assert len(calls) == 1 and second.sources == {"cache": 1}  # no detector call the second time
    third = run_backtest(None, root, detector=spec, cache_dir=cache)
    assert third.model_dump(exclude={"sources"}) == first.model_dump(exclude={"sources"})
    (root / "short" / "clip.mp4").write_bytes((root / "short" / "clip.mp4").read_bytes() + b"\0")
    run_backtest(None, root, detector=spec, cache_dir=cache)
    assert len(calls) == 2  # another clip file, another key


# --- invalid inputs ------------------------------------------------------------------------
@pytest.fixture
def one_clip(stops, tmp_path) -> Path:
    root = tmp_path / "ds"
    shutil.copytree(stops / "stop-045s", root / "clip-a")
    return root


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (
            '{"rule": "abnormal_stop", "start_ts": 1, "end_ts": 5, "lon": 121, "lat": 32}\nnot json\n',
            "events.jsonl:2: not valid JSON",
        ),
        (
            '{"rule": "abnormal_stop", "start_ts": 9, "end_ts": 5, "lon": 121, "lat": 32}\n',
            "end_ts 5.0 is before start_ts 9.0",
        ),
        ('{"rule": "loitering", "start_ts": 1, "end_ts": 5, "lon": 121, "lat": 32}\n', "unknown rule kind 'loitering'"),
        ('{"rule": "crowd", "start_ts": 1, "end_ts": 5, "lon": 500, "lat": 32}\n', "events.jsonl:1: lon"),
        ("[1, 2]\n", "events.jsonl:1: expected a JSON object"),
    ],
)
def test_bad_events_are_refused_with_file_and_line(one_clip, events, message):
    (one_clip / "clip-a" / "events.jsonl").write_text(events, encoding="utf-8")
    result = _cli("--dataset", str(one_clip), "--truth")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and str(one_clip / "clip-a" / "events.jsonl") in result.stderr
    assert "Traceback" not in result.output


def test_bad_datasets_and_models_are_refused(one_clip, tmp_path):
    def refused(message: str, *args: str) -> None:
        result = _cli(*args)
        assert result.exit_code == 2 and message in result.stderr, (args, result.output)
        assert "Traceback" not in result.output

    clip = one_clip / "clip-a"
    refused("detector weights not found", "--dataset", str(one_clip), "--detector", "ultralytics",
            "--weights", str(tmp_path / "nope.pt"), "--cache", str(tmp_path / "cache"))
    (clip / "clip.mp4").write_bytes(b"not a video")
    refused(f"{clip / 'clip.mp4'}: OpenCV cannot read", "--dataset", str(one_clip), "--detector", "motion")
    (clip / "truth.jsonl").unlink()
    refused("--truth needs truth.jsonl", "--dataset", str(one_clip), "--truth")
    (clip / "events.jsonl").unlink()
    refused(f"{clip / 'events.jsonl'}: missing", "--dataset", str(one_clip), "--truth")
    refused("dataset not found", "--dataset", str(tmp_path / "nowhere"), "--truth")
    empty = tmp_path / "empty"
    empty.mkdir()
    refused("no clips", "--dataset", str(empty), "--truth")
    bad_model = tmp_path / "bad.yaml"
    bad_model.write_text("name: bad\nversion: 1\nrules:\n  - {id: s, kind: abnormal_stop, classes: [car], "
                         "min_duration_s: 0}\n", encoding="utf-8")
    refused("rules.0.abnormal_stop.min_duration_s", "--dataset", str(empty), "--truth", "--model", str(bad_model))
    with pytest.raises(BacktestError, match="no clips"):
        load_dataset(empty)


def test_observations_file_replaces_the_clip(one_clip):
    """Pre-computed tracks (``zhizhi analyze --jsonl`` lines) instead of a video; ids are comparable."""
    clip = one_clip / "clip-a"
    lines = []
    for frame in map(json.loads, (clip / "truth.jsonl").read_text().splitlines()):
        for obj in frame["objects"]:
            lines.append(json.dumps({"type": "observation", "ts": frame["ts"], "track_id": obj["track_id"],
                                     "cls": obj["cls"], "conf": 0.9, "bbox": obj["bbox"], "lon": obj["lon"],
                                     "lat": obj["lat"], "speed_kmh": obj["speed_kmh"],
                                     "heading_deg": obj["heading_deg"]}))
    lines.append(json.dumps({"type": "summary", "frames": 1}))
    (clip / "observations.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (clip / "clip.mp4").unlink()
    (clip / "truth.jsonl").unlink()
    result = run_backtest(_stop_model(30.0), one_clip)
    assert result.sources == {"observations": 1} and result.rules[RULE].tp == 1


# --- matching and scores -------------------------------------------------------------------
def _p(ts: float, track_id: int | None = 1, lon: float = 121.0, rule: str = "abnormal_stop") -> Prediction:
    return Prediction(rule_id="r", rule=rule, track_id=track_id, ts=ts, first_ts=ts - 1, lon=lon, lat=32.0)


def _e(start: float, end: float, track_id: int | None = 1, lon: float = 121.0) -> TruthEvent:
    return TruthEvent(rule="abnormal_stop", track_id=track_id, start_ts=start, end_ts=end, lon=lon, lat=32.0)


def test_matching_rules():
    kw = {"kind": "abnormal_stop", "tolerance_s": 5.0, "radius_m": 30.0}
    # inside the window and same track; a second prediction of the same event is a false positive
    m = match([_p(20), _p(25)], [_e(10, 30)], **kw)
    assert [x.delay_s for x in m.matched] == [10.0] and len(m.false_positives) == 1 and not m.false_negatives
    # before the start, or after end + tolerance: no match
    m = match([_p(9), _p(35.5)], [_e(10, 30)], **kw)
    assert not m.matched and len(m.false_positives) == 2 and len(m.false_negatives) == 1
    assert match([_p(34.9)], [_e(10, 30)], **kw).matched
    # another track: only by place (about 94 m per 0.001 deg of longitude here)
    assert match([_p(20, track_id=7, lon=121.0002)], [_e(10, 30)], **kw).matched
    assert not match([_p(20, track_id=7, lon=121.001)], [_e(10, 30)], **kw).matched
    # detector ids are not the labels' ids: same id far away does not count
    assert not match([_p(20, lon=121.001)], [_e(10, 30)], compare_tracks=False, **kw).matched
    # other kinds are not this rule's to find
    assert not match([_p(20)], [_e(10, 30)], **{**kw, "kind": "crowd"}).false_negatives
    # two events, two predictions: each event at most once, same track preferred
    m = match([_p(20, track_id=2), _p(21, track_id=1)], [_e(10, 30, 1), _e(12, 30, 2)], **kw)
    assert sorted((x.prediction.track_id, x.event.track_id) for x in m.matched) == [(1, 1), (2, 2)]


def test_scores_are_undefined_without_predictions_or_events():
    assert score(0, 0, 0, []).model_dump() == {"tp": 0, "fp": 0, "fn": 0, "precision": None, "recall": None,
                                              "f1": None, "mean_delay_s": None}
    s = score(0, 2, 3, [])
    assert (s.precision, s.recall, s.f1) == (0.0, 0.0, 0.0)
    s = score(2, 0, 0, [4.0, 6.0])
    assert (s.precision, s.recall, s.f1, s.mean_delay_s) == (1.0, 1.0, 1.0, 5.0)
