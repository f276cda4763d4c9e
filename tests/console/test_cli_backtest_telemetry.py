"""``zhizhi backtest-telemetry``: a trajectory model on simulated trips with the held-back cases."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from zhizhi.console.cli import app
from zhizhi.models.trajectory.config import SHIPPED_MODEL


def _run(*args: str):
    return CliRunner().invoke(app, ["backtest-telemetry", "--grids", "64", "--normal", "2", *args])


def test_the_shipped_rules_catch_every_case_and_the_gate_refuses_the_bad_reports():
    result = _run("--json")
    assert result.exit_code == 0, result.output
    score = json.loads(result.output)
    assert (score["precision"], score["recall"]) == (1.0, 1.0) and score["missed"] == score["false"] == []
    assert {r["rule"] for r in score["rules"]} >= {"signal_loss", "speeding", "abnormal_stop"}
    assert score["gate"]["bad"] > 0 and score["gate"]["bad_refused"] == score["gate"]["bad"]
    assert score["gate"]["good_refused"] == 0


def test_a_model_without_the_off_road_ceiling_misses_that_case(tmp_path):
    data = yaml.safe_load(SHIPPED_MODEL.read_text())
    for rule in data["rules"]:
        if rule["kind"] == "speeding":
            rule["off_road_limit_kmh"] = None
    path = tmp_path / "no-ceiling.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    result = _run("--model", str(path))
    assert result.exit_code == 0, result.output
    assert "missed: speeding:" in result.output and "precision 1.000" in result.output
    assert "recall 1.000" not in result.output


def test_a_broken_model_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("rules: 7\n")
    result = _run("--model", str(path))
    assert result.exit_code == 2 and "bad.yaml" in result.output
