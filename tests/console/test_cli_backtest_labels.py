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
