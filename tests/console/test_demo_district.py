"""The demo district as the console installs it: grid counts from the boundary's area unless
``--grids`` / ``demo.grids`` is given (gis.district.resolve_spec)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import SHARED

ZHIZHI = shutil.which("zhizhi", path=str(Path(sys.executable).parent)) or "zhizhi"
SUZHOU = SHARED / "data" / "gis" / "suzhou_320500.geojson"


def _grids_stored(data_dir: Path, **demo: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIZHI_DEMO__")}
    env |= {"ZHIZHI_DATA_DIR": str(data_dir), **{f"ZHIZHI_DEMO__{k.upper()}": v for k, v in demo.items()}}
    result = subprocess.run(
        [ZHIZHI, "layers", "list"], capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    layers = {info["name"]: info for info in map(json.loads, result.stdout.splitlines())}
    return layers["grids"]["feature_count"]


def test_a_real_boundary_gets_grids_by_area_and_given_grids_win(tmp_path):
    gusu = {"boundary": str(SUZHOU), "adcode": "320508", "cameras": "0"}  # Gusu, 82 km²
    assert _grids_stored(tmp_path, **gusu, grids="20") == 20
    assert _grids_stored(tmp_path, **gusu) == 68  # regenerated: one grid per 1.2 km²


@pytest.mark.parametrize("command", ["demo", "cluster"])
def test_the_grids_option_reaches_the_demo_settings(command, monkeypatch, tmp_path):
    from zhizhi.console import cli, cluster

    seen = {}

    def capture(settings_or_plan, **_):
        seen["grids"] = settings_or_plan.demo.grids
        raise typer.Exit(0)

    monkeypatch.delenv("ZHIZHI_DEMO__GRIDS", raising=False)
    monkeypatch.setattr(cli, "_start", capture)
    monkeypatch.setattr(cluster, "run", capture)
    runner = CliRunner()
    args = [command, "--data-dir", str(tmp_path)] + (["--no-open"] if command == "demo" else [])
    assert runner.invoke(cli.app, [*args, "--grids", "300"]).exit_code == 0 and seen["grids"] == 300
    seen.clear()
    assert runner.invoke(cli.app, args).exit_code == 0 and seen["grids"] is None  # from the boundary
    seen.clear()
    refused = runner.invoke(cli.app, [*args, "--grids", "0"])
    assert refused.exit_code == 2 and not seen
