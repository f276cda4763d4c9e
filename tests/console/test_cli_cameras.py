"""``zhizhi cameras import`` and ``zhizhi cameras list``: a VMS export checked, stored or refused
as a whole, and the registry printed with stream passwords masked."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from zhizhi.console.cli import app

SECRET = "Adm1n#2024"
STREAM = f"rtsp://admin:{SECRET}@192.168.8.21:554/cam/realmonitor?channel=1&subtype=0"


@pytest.fixture
def workdir(monkeypatch, tmp_path):
    """A data folder of its own (the default ./var of the working directory)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _anchor(town_index: int) -> tuple[float, float]:
    """A point inside a town of the default demo district (what the command installs when empty)."""
    from zhizhi.console.settings import Settings
    from zhizhi.console.state import load_jurisdictions, open_store

    engine, layers = open_store(Settings())
    try:
        jurisdictions, _ = load_jurisdictions(layers)
        town = jurisdictions.children(jurisdictions.district_code)[town_index]
        grid = next(g for g in jurisdictions.grid_codes if g.startswith(town.code))
        return jurisdictions.get(grid).anchor
    finally:
        engine.dispose()


def _run(*args: str):
    return CliRunner().invoke(app, ["cameras", *args])


def test_an_export_is_checked_stored_and_listed(workdir):
    lon, lat = _anchor(0)
    data = "\n".join([
        "设备ID,名称,经度,纬度,朝向,视场角,rtsp",
        f"34020000001320000201,南门,{lon},{lat},120,75,{STREAM}",
        f"34020000001320000202,北门,{lon + 0.001},{lat},300,60,",
    ]).encode("gbk")
    (workdir / "vms.csv").write_bytes(data)
    dry = _run("import", "vms.csv", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.output)
    assert report["dry_run"] and not report["stored"] and report["added"] == 2 and SECRET not in dry.output
    listed = _run("list", "--json")
    assert "34020000001320000201" not in listed.output  # a dry run stores nothing
    stored = _run("import", "vms.csv")
    assert stored.exit_code == 0 and "imported" in stored.output, stored.output
    listed = _run("list", "--json")
    cameras = {c["id"]: c for c in map(json.loads, listed.output.splitlines())}
    assert cameras["34020000001320000201"]["heading_deg"] == 120
    assert cameras["34020000001320000201"]["stream_main"].startswith("rtsp://admin:***@192.168.8.21")
    assert SECRET not in listed.output and len(cameras) == 122  # the demo's 120, seeded, and the two
    plain = _run("list")
    assert plain.exit_code == 0 and "122 cameras" in plain.output and SECRET not in plain.output


def test_a_bad_row_refuses_the_whole_file(workdir):
    lon, lat = _anchor(1)
    (workdir / "bad.csv").write_text(
        f"id,name,lon,lat,heading\nOK-1,ok,{lon},{lat},10\nBAD-1,bad,{lon},95.5,10\n", encoding="utf-8")
    refused = _run("import", "bad.csv")
    assert refused.exit_code == 2, refused.output
    assert "error: row 2 (BAD-1): lat:" in refused.output and "nothing was changed" in refused.output
    assert "OK-1" not in _run("list", "--json").output


@pytest.mark.parametrize(("args", "says"), [
    (["import", "missing.csv"], "file not found"),
    (["import", "cams.csv", "--crs", "epsg:2385"], "--crs must be one of"),
    (["import", "cams.csv"], "no column for id"),
])
def test_unusable_input_is_refused_saying_why(workdir, args, says):
    (workdir / "cams.csv").write_text("名称,地址\n东门,x\n", encoding="utf-8")
    result = _run(*args)
    assert result.exit_code == 2 and says in result.output, result.output
