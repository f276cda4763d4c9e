"""False alarms teach the model: closed alerts' labels as a backtest dataset.

Two simulated hazmat stops go through the shipped warning engine and a real evidence recorder
(tests/labels_support.py): a 35-s stop closed as a false alarm and a 120-s stop resolved as a
true event. The shipped 20-s rule (and a 30-s one) raise both: FP 1, TP 1. A 60-s rule would
have prevented the false alarm and still catches the true stop: FP 0, TP 1. A 130-s rule
prevents it too, but misses the true stop.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.labels_support import EPOCH, FALSE_STOP_S, RULE, TRUE_STOP_S, record_stop, stop_model
from zhizhi.models.backtest import BacktestError
from zhizhi.models.backtest.dataset import load_dataset
from zhizhi.models.backtest.labels import (
    LabelledCase,
    label_dataset_verdicts,
    run_label_backtest,
    write_label_dataset,
)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    base = tmp_path_factory.mktemp("labels")
    evidence = base / "evidence"
    false_alarm = record_stop(base, evidence, FALSE_STOP_S, seed=1)
    true_stop = record_stop(base, evidence, TRUE_STOP_S, seed=2)
    return evidence, false_alarm, true_stop


@pytest.fixture(scope="module")
def dataset(recorded, tmp_path_factory) -> Path:
    evidence, false_alarm, true_stop = recorded
    out = tmp_path_factory.mktemp("labels-dataset")
    summary = write_label_dataset(
        [false_alarm.label("false_alarm", EPOCH + 1000), true_stop.label("confirmed", EPOCH + 2000)], evidence, out)
    assert (summary.false_alarms, summary.confirmed, summary.skipped) == (1, 1, {})
    return out


def test_the_labels_form_a_dataset_of_the_usual_kind(recorded, dataset):
    _, false_alarm, true_stop = recorded
    clips = {clip.name: clip for clip in load_dataset(dataset).clips}
    assert set(clips) == {f"false-alarm-{false_alarm.alert_id}", f"confirmed-{true_stop.alert_id}"}
    fa, ok = clips[f"false-alarm-{false_alarm.alert_id}"], clips[f"confirmed-{true_stop.alert_id}"]
    assert fa.events == [] and fa.observations is not None and fa.video is None
    assert fa.camera.id == false_alarm.first.camera_id
    (event,) = ok.events
    assert (event.rule, event.track_id, event.lon, event.lat) == (
        "abnormal_stop", true_stop.first.track_id, true_stop.first.lon, true_stop.first.lat)
    assert (event.start_ts, event.end_ts) == (true_stop.first.first_ts, true_stop.last.last_ts)
    label = json.loads((ok.folder / "label.json").read_text())
    assert label["verdict"] == "confirmed" and label["params"]["min_duration_s"] == 20.0 and "camera" not in label


@pytest.mark.parametrize(
    ("min_duration_s", "fp", "tp", "still_firing", "caught"),
    [
        (None, 1, 1, 1, 1),  # the shipped model (20 s): the false alarm fires again
        (30.0, 1, 1, 1, 1),
        (60.0, 0, 1, 0, 1),  # prevents the false alarm and still catches the true stop
        (130.0, 0, 0, 0, 0),  # prevents it, and misses the true one
    ],
)
def test_a_rule_change_shows_what_it_prevents_and_what_it_still_catches(
    dataset, min_duration_s, fp, tp, still_firing, caught, tmp_path
):
    model = None if min_duration_s is None else stop_model(min_duration_s)
    result = run_label_backtest(model, dataset, cache_dir=tmp_path, name="labels:false-alarms")
    assert list(result.rules) == [RULE]  # only the rule the labels speak of is scored
    scores = result.rules[RULE]
    assert (scores.tp, scores.fp, scores.fn) == (tp, fp, 1 - tp)
    labels = result.labels
    assert (labels.false_alarms, labels.still_firing, labels.prevented) == (1, still_firing, 1 - still_firing)
    assert (labels.confirmed, labels.caught, labels.missed) == (1, caught, 1 - caught)
    assert result.dataset == "labels:false-alarms" and result.sources == {"observations": 2}
    assert [c.verdict for c in labels.cases] == ["confirmed", "false_alarm"]  # clips in name order


def test_labels_that_cannot_be_replayed_are_skipped_and_counted(recorded, tmp_path):
    evidence, false_alarm, true_stop = recorded
    base = false_alarm.label("false_alarm", EPOCH + 10)
    no_track = {**base, "alert_id": "abcdefghjk23", "evidence": {"track": None}}
    purged = {**base, "alert_id": "abcdefghjk24", "evidence": {"track": "abcdefghjk24/observations.jsonl"}}
    escaping = {**base, "alert_id": "abcdefghjk25", "evidence": {"track": "../../etc/passwd"}}
    cases = [
        {**base, "camera": None},
        no_track,
        purged,
        escaping,
        {**base, "alert_id": "abcdefghjk26", "camera": {"id": "X", "analysis_fps": -1}},
        {**base, "alert_id": "abcdefghjk27", "verdict": "duplicate"},
        {**base, "alert_id": "abcdefghjk28", "rule": "geofence_exit", "source": "telemetry"},
        {**base, "alert_id": "abcdefghjk29", "rule": None, "rule_id": None, "source": "hotline"},
        # an alert closed, reopened and resolved: its latest label counts
        true_stop.label("false_alarm", EPOCH + 5),
        true_stop.label("confirmed", EPOCH + 50),
    ]
    out = tmp_path / "out"
    (out / "confirmed-stale").mkdir(parents=True)
    (out / "confirmed-stale" / "label.json").write_text("{}")  # an earlier run's clip: removed
    (out / "notes").mkdir()  # not ours: left alone
    summary = write_label_dataset(cases, evidence, out)
    assert summary.clips == [f"confirmed-{true_stop.alert_id}"] and (summary.false_alarms, summary.confirmed) == (0, 1)
    assert summary.skipped == {
        "camera config invalid": 1, "no camera config": 1, "no track file": 3, "not a rule's alert": 1,
        "rule kind geofence_exit is not replayed on video": 1, "superseded by a later label of the same alert": 1,
        "verdict duplicate": 1,
    }
    assert sorted(p.name for p in out.iterdir()) == [f"confirmed-{true_stop.alert_id}", "labels.json", "notes"]
    assert json.loads((out / "labels.json").read_text())["skipped"] == summary.skipped
    # a track attached after the label was taken is found where the recorder writes it
    late = {**base, "evidence": {}}
    assert write_label_dataset([late], evidence, tmp_path / "late").clips == [f"false-alarm-{false_alarm.alert_id}"]
    # the skipped labels are reported with the result
    result = run_label_backtest(None, out, cache_dir=tmp_path / "cache")
    assert result.labels.skipped == summary.skipped and result.labels.caught == 1


def test_the_label_fields_are_those_of_the_alert_label():
    """The alert service's ``AlertLabel`` validates as a case, field for field."""
    from zhizhi.alerts.labels import AlertLabel

    case_fields = set(LabelledCase.model_fields) - {"id"}
    assert case_fields <= set(AlertLabel.model_fields)


def test_label_dataset_names():
    assert label_dataset_verdicts("labels:false-alarms") == ("false_alarm", "confirmed")
    assert label_dataset_verdicts("data/stops") is None
    with pytest.raises(BacktestError, match=r"unknown label dataset 'labels:nope'; known: labels:false-alarms"):
        label_dataset_verdicts("labels:nope")
