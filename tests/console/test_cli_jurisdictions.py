"""``zhizhi jurisdictions import``: the JSON report and the exit codes, on files built from the real
Tongzhou boundary (tests/hierarchy_files_support.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.hierarchy_files_support import DEDICATED, hierarchy_tables, write_hierarchy
from zhizhi.console.cli import app

ZHIZHI = shutil.which("zhizhi", path=str(Path(sys.executable).parent)) or "zhizhi"
KEYS = {"towns", "villages", "grids", "errors", "warnings", "gap_m2", "overlap_m2"}


@pytest.fixture(scope="module")
def tables(tongzhou):
    return hierarchy_tables(tongzhou)


@pytest.fixture(scope="module")
def files(tables, tmp_path_factory) -> dict[str, Path]:
    return write_hierarchy(tables, tmp_path_factory.mktemp("hierarchy"))


def _args(files: dict[str, Path], *extra: str) -> list[str]:
    return ["jurisdictions", "import", "--towns", str(files["towns"]), "--villages", str(files["villages"]),
            "--grids", str(files["grids"]), "--crs", "gcj02", "--district", "320612", *extra]


def test_a_valid_dry_run_prints_the_report_and_exits_0(files, tongzhou):
    result = subprocess.run([ZHIZHI, *_args(files, "--dry-run", "--json")], capture_output=True, text=True,
                            timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == KEYS
    assert (report["towns"], report["villages"], report["grids"]) == (
        len(tongzhou.towns), len(tongzhou.villages), len(tongzhou.grids) + DEDICATED)
    assert report["errors"] == [] and report["warnings"] == []


def test_a_refused_import_names_the_codes_and_exits_2(tables, tmp_path):
    grids = tables.grids.copy()
    grids.loc[1, "网格编码"] = grids.loc[0, "网格编码"]
    grids.loc[2, "所属村居"] = "320612999999"
    files = write_hierarchy(type(tables)(tables.towns, tables.villages, grids), tmp_path)
    result = CliRunner().invoke(app, _args(files, "--dry-run", "--json"))
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert set(report) == KEYS
    reasons = {issue["reason"]: issue["codes"] for issue in report["errors"]}
    assert reasons["duplicate code (2 features)"] == [grids.loc[0, "网格编码"]]
    assert reasons["parent 320612999999 is not among the villages"] == [grids.loc[2, "网格编码"]]
    text = CliRunner().invoke(app, _args(files, "--dry-run"))  # the same, for people
    assert text.exit_code == 2 and "refused: 2 errors" in text.stdout


def test_a_refused_import_stores_nothing(tables, tmp_path, monkeypatch):
    """Without --dry-run, refused files leave the store as it was (here: empty)."""
    from zhizhi.layers import LayerRegistry, Scope, make_engine

    monkeypatch.setenv("ZHIZHI_DATA_DIR", str(tmp_path / "data"))
    grids = tables.grids.copy()
    grids.loc[2, "所属村居"] = "320612999999"
    files = write_hierarchy(type(tables)(tables.towns, tables.villages, grids), tmp_path / "files")
    result = CliRunner().invoke(app, _args(files, "--json"))
    assert result.exit_code == 2 and json.loads(result.stdout)["errors"]
    registry = LayerRegistry(make_engine(f"sqlite:///{tmp_path / 'data' / 'zhizhi.db'}"))
    assert registry.list_layers(Scope.everything()) == []


def test_bad_field_option_and_missing_crs(files):
    bad = CliRunner().invoke(app, _args(files, "--dry-run", "--field", "grids.colour=X"))
    assert bad.exit_code == 2 and "LEVEL.ROLE=NAME" in bad.stderr
    bad = CliRunner().invoke(app, [*_args(files, "--dry-run"), "--district", "3206"])
    assert bad.exit_code == 2 and "6-digit" in bad.stderr
    args = _args(files, "--dry-run", "--json")
    no_crs = CliRunner().invoke(app, args[: args.index("--crs")] + args[args.index("--crs") + 2:])
    assert no_crs.exit_code == 2
    (error,) = json.loads(no_crs.stdout)["errors"]
    assert error["level"] == "towns" and str(files["towns"]) in error["reason"]
