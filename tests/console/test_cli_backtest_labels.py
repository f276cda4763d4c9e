"""``zhizhi backtest --dataset labels:false-alarms`` end to end: labels stored through the
console's ``LabelStore`` in a real SQLite database, evidence tracks written by a real recorder
into the console's evidence folder, the dataset written under the data folder and backtested."""

from __future__ import annotations

import json
import os
import time
from types import SimpleNamespace

import pytest
import yaml
from typer.testing import CliRunner

from tests.labels_support import FALSE_STOP_S, RULE, TRUE_STOP_S, record_stop, stop_model

TOWN = "320612001"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    data = tmp_path_factory.mktemp("cli-labels") / "var"
    false_alarm = record_stop(data.parent, data / "evidence", FALSE_STOP_S, seed=1)
    true_stop = record_stop(data.parent, data / "evidence", TRUE_STOP_S, seed=2)
    return data, false_alarm, true_stop


@pytest.fixture
def cli(recorded, monkeypatch, tmp_path):
    from zhizhi.alerts.labels import AlertLabel, LabelStore
    from zhizhi.console.cli import app
    from zhizhi.layers import make_engine

    data, false_alarm, true_stop = recorded
    for key in [k for k in os.environ if k.startswith("ZHIZHI_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ZHIZHI_DATA_DIR", str(data))
    (data / "zhizhi.db").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{data / 'zhizhi.db'}")
    store = LabelStore(engine)

    def add(*labels: dict) -> None:
        for label in labels:
            store.add(AlertLabel.model_validate(label))

    def invoke(*args: str):
        return CliRunner().invoke(app, ["backtest", *args, "--cache", str(tmp_path / "cache")])

    yield SimpleNamespace(data=data, false_alarm=false_alarm, true_stop=true_stop, add=add, invoke=invoke)
    engine.dispose()


def _model_file(tmp_path, min_duration_s: float):
    path = tmp_path / f"stop-{int(min_duration_s)}.yaml"
    path.write_text(yaml.safe_dump(stop_model(min_duration_s).model_dump(mode="json"), allow_unicode=True))
    return path


def test_false_alarm_labels_reach_a_backtest_and_a_rule_change_shows(cli, tmp_path):
    yesterday = time.time() - 86400
    cli.add(cli.false_alarm.label("false_alarm", yesterday), cli.true_stop.label("confirmed", yesterday + 60))
    cli.add(cli.true_stop.label("duplicate", yesterday - 60) | {"alert_id": "abcdefghjk23"})  # not asked for

    shipped = cli.invoke("--dataset", "labels:false-alarms", "--json")
    assert shipped.exit_code == 0, shipped.output
    result = json.loads(shipped.stdout)
    assert result["dataset"] == "labels:false-alarms" and result["clips"] == 2
    assert (result["rules"][RULE]["tp"], result["rules"][RULE]["fp"]) == (1, 1)
    assert {k: result["labels"][k] for k in ("false_alarms", "still_firing", "confirmed", "caught")} == {
        "false_alarms": 1, "still_firing": 1, "confirmed": 1, "caught": 1}
    folder = cli.data / "labels" / "false-alarms"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [
        f"confirmed-{cli.true_stop.alert_id}", f"false-alarm-{cli.false_alarm.alert_id}"]

    longer = cli.invoke("--dataset", "labels:false-alarms", "--model", str(_model_file(tmp_path, 60.0)))
    assert longer.exit_code == 0, longer.output
    lines = longer.stdout.splitlines()
    row = next(line.split() for line in lines if line.startswith(RULE))
    assert row[2:5] == ["1", "0", "0"]  # tp, fp, fn
    assert "false alarms still firing: 0 of 1 (prevented 1)" in lines
    assert "true events still caught:  1 of 1 (missed 0)" in lines
    assert any(line.startswith("labels since ") and ": 2, replayed 2" in line for line in lines)


def test_scope_and_since_choose_the_labels(cli, tmp_path):
    week_ago = time.time() - 7 * 86400
    cli.add(cli.false_alarm.label("false_alarm", week_ago),
            cli.true_stop.label("confirmed", week_ago) | {"assignee_unit": TOWN})
    town = cli.invoke("--dataset", "labels:false-alarms", "--scope", TOWN, "--json")
    assert town.exit_code == 0, town.output
    labels = json.loads(town.stdout)["labels"]
    assert (labels["false_alarms"], labels["confirmed"], labels["caught"]) == (0, 1, 1)
    recent = cli.invoke("--dataset", "labels:false-alarms", "--since",
                        time.strftime("%Y-%m-%d", time.localtime(time.time() - 86400)))
    assert recent.exit_code == 2 and "labels:false-alarms: no labels since" in recent.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--dataset", "labels:false-alarms"), "labels:false-alarms: no labels since"),
        (("--dataset", "labels:nope"), "unknown label dataset 'labels:nope'; known: labels:false-alarms"),
        (("--dataset", "labels:false-alarms", "--truth"), "--truth does not apply"),
        (("--dataset", "labels:false-alarms", "--since", "last week"), "--since 'last week': expected a date"),
        (("--dataset", "data/stops", "--since", "2026-01-01"), "--since and --scope go with a labels:"),
    ],
)
def test_no_labels_or_an_unknown_form_is_a_clear_error(cli, args, message):
    result = cli.invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr and "Traceback" not in result.output


def test_labels_none_of_which_can_be_replayed_are_a_clear_error(cli):
    label = cli.false_alarm.label("false_alarm", time.time() - 60) | {"camera": None}
    cli.add(label)
    result = cli.invoke("--dataset", "labels:false-alarms")
    assert result.exit_code == 2, result.output
    assert "none of the 1 labels since" in result.stderr and "1 no camera config" in result.stderr


def test_alerts_closed_on_the_alert_service_become_the_labels_it_replays(cli, tmp_path):
    """The whole way: the shipped engine's warnings raise alerts on a real alert service, a real
    recorder on its bus attaches their evidence (the track too), the officer closes the 35-s stop
    as a false alarm and resolves the 120-s one; the labels the service stored go through the CLI."""
    from tests.alerts_support import locator, small_district
    from zhizhi.alerts.service import AlertService
    from zhizhi.alerts.store import AlertStore
    from zhizhi.bus import InProcessBus
    from zhizhi.layers import make_engine

    cameras = {}
    params = stop_model(20.0).rules[0].model_dump(mode="json")
    bus = InProcessBus()
    engine = make_engine(f"sqlite:///{cli.data / 'zhizhi.db'}")
    j = small_district()
    service = AlertService(AlertStore(engine), locator(j), bus=bus, district=j.district_code,
                           describe=lambda alert: (params, cameras.get(alert.camera_id)))
    try:
        evidence = cli.data / "evidence"
        false_alarm = record_stop(tmp_path, evidence, FALSE_STOP_S, seed=1, service=service)
        cameras[false_alarm.first.camera_id] = false_alarm.camera
        assert service.get(false_alarm.alert_id).evidence.track == false_alarm.files["track"]
        service.transition(false_alarm.alert_id, "closed", "duty-1", "a tanker waiting at the gate",
                           verdict="false_alarm")
        true_stop = record_stop(tmp_path, evidence, TRUE_STOP_S, seed=2, service=service)
        cameras[true_stop.first.camera_id] = true_stop.camera
        service.transition(true_stop.alert_id, "resolved", "duty-1", "tanker broke down; towed")
    finally:
        bus.stop()
        engine.dispose()

    for model, still_firing in ((None, 1), (_model_file(tmp_path, 60.0), 0)):
        result = cli.invoke("--dataset", "labels:false-alarms", "--json", *(("--model", str(model)) if model else ()))
        assert result.exit_code == 0, result.output
        labels = json.loads(result.stdout)["labels"]
        assert (labels["false_alarms"], labels["still_firing"], labels["confirmed"], labels["caught"]) == (
            1, still_firing, 1, 1)
        assert {c["alert_id"] for c in labels["cases"]} == {false_alarm.alert_id, true_stop.alert_id}
