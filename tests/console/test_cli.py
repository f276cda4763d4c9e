"""The zhizhi command line, run as a user runs it (the installed console script)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ZHIZHI = shutil.which("zhizhi", path=str(Path(sys.executable).parent)) or "zhizhi"


def run(*args: str, data_dir: Path, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZHIZHI_DATA_DIR": str(data_dir)}
    result = subprocess.run(
        [ZHIZHI, *args], check=False, capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-data")


def test_gis_locate_inside_and_outside(data_dir):
    out = json.loads(run("gis", "locate", "121.06", "32.09", data_dir=data_dir).stdout)
    assert set(out) == {"grid", "village", "town", "district", "dedicated_grids", "micro_grid"}
    assert out["district"] == "320612" and out["grid"].startswith(out["village"])
    outside = run("gis", "locate", "100.0", "30.0", data_dir=data_dir, check=False)
    assert outside.returncode == 1 and "outside district 320612" in outside.stderr
    gcj = json.loads(run("gis", "locate", "121.06", "32.09", "--crs", "gcj02", data_dir=data_dir).stdout)
    assert gcj["district"] == "320612"


def test_layers_import_good_and_bad(data_dir, tmp_path):
    good = tmp_path / "points.geojson"
    good.write_text(json.dumps({
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {"name": "测试点"},
                      "geometry": {"type": "Point", "coordinates": [121.06, 32.09]}}],
    }))
    info = json.loads(run("layers", "import", str(good), "--layer", "test-points", data_dir=data_dir).stdout)
    assert info["name"] == "test-points" and info["feature_count"] == 1
    bowtie = tmp_path / "bowtie.geojson"
    bowtie.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [
                                [[121.0, 32.0], [121.1, 32.1], [121.1, 32.0], [121.0, 32.1], [121.0, 32.0]]
                            ],
                        },
                    }
                ],
            }
        )
    )
    bad = run("layers", "import", str(bowtie), "--layer", "test-points", data_dir=data_dir, check=False)
    assert bad.returncode == 2 and "invalid_geometry" in bad.stderr and "feature 0" in bad.stderr
    listed = [json.loads(line) for line in run("layers", "list", data_dir=data_dir).stdout.splitlines()]
    kept = next(layer for layer in listed if layer["name"] == "test-points")
    assert kept["feature_count"] == 1  # the failed import left the stored layer intact
    fixed = json.loads(
        run("layers", "import", str(bowtie), "--layer", "bowtie", "--make-valid", data_dir=data_dir).stdout
    )
    assert fixed["feature_count"] == 1


def test_bench_spatial_json(data_dir):
    out = json.loads(run("bench", "spatial", "--json", "--points", "50000", data_dir=data_dir).stdout)
    for key in ("points", "grids", "ours_pts_per_s", "sjoin_pts_per_s", "ratio_vs_sjoin", "mismatches"):
        assert key in out
    assert out["points"] == 50000 and out["grids"] == 1024 and out["mismatches"] == 0


@pytest.mark.parametrize("boundary", [False, True], ids=["synthetic", "tongzhou"])
def test_demo_serves_until_stopped(tmp_path, boundary):
    from tests.conftest import NANTONG

    extra = ["--boundary", str(NANTONG), "--adcode", "320612"] if boundary else []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ZHIZHI_DATA_DIR": str(tmp_path), "CI": "true", "ZHIZHI_DEMO_PASSWORD": "Demo-pass-2026"}
    proc = subprocess.Popen(  # the live cameras have a test of their own (test_demo.py)
        [ZHIZHI, "demo", "--port", str(port), "--no-open", "--cameras", "0", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "demo did not come up"
            time.sleep(0.2)
        base = f"http://127.0.0.1:{port}"
        token = httpx.post(f"{base}/api/auth/login", json={"username": "district", "password": "Demo-pass-2026"}).json()
        auth = {"Authorization": f"Bearer {token['token']}"}
        assert httpx.get(f"{base}/api/layers").status_code == 401
        assert len(httpx.get(f"{base}/api/layers", headers=auth).json()) == 8  # with the facilities
        # the demo fleet: registered hazmat vehicles reporting, and the patrol drone
        deadline = time.monotonic() + 30
        while not (httpx.get(f"{base}/api/vehicles", headers=auth).json()
                   and httpx.get(f"{base}/api/drones", headers=auth).json()):
            assert time.monotonic() < deadline, "the demo fleet did not report"
            time.sleep(0.5)
        assert httpx.get(f"{base}/api/hazmat/vehicles", headers=auth).json()
        district = httpx.get(f"{base}/api/config", headers=auth).json()["district"]
        assert district["code"] == "320612"
        assert (district["name"] == "通州区") is boundary  # the real name only from the file
        # A point in Nantong's urban core (Chongchuan) lies outside Tongzhou: 404 there.
        outside = httpx.get(f"{base}/api/grids/locate", params={"lon": 120.87, "lat": 32.0}, headers=auth)
        assert outside.status_code == 404 if boundary else True
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_demo_refuses_boundary_without_adcode(tmp_path):
    result = run("demo", "--boundary", str(tmp_path / "x.geojson"), "--no-open", data_dir=tmp_path, check=False)
    assert result.returncode == 2 and "--adcode" in result.stderr


def test_layers_export_round_trip(data_dir, tmp_path):
    import pyogrio

    out = tmp_path / "grids.gpkg"
    run("layers", "export", "grids", "--format", "gpkg", "--out", str(out), data_dir=data_dir)
    table = pyogrio.read_dataframe(out)
    assert len(table) == 1024 and table.crs.to_epsg() == 4326
    missing = run("layers", "export", "nope", "--out", str(tmp_path / "x.geojson"), data_dir=data_dir, check=False)
    assert missing.returncode == 2 and "not_found" in missing.stderr
