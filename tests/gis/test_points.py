"""Points files placed in their grids: parsing (encodings, aliases, bad rows), the vectorised
lookup against the one-point ``locate``, and ``zhizhi gis locate --points`` as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zhizhi.gis.crs import wgs84_to_bd09, wgs84_to_gcj02
from zhizhi.gis.district import DistrictSpec, generate_district
from zhizhi.gis.jurisdiction import Jurisdictions, OutsideDistrictError
from zhizhi.gis.points import PointsFileError, decode, json_lines, locate_points, parse_points, read_points

ZHIZHI = shutil.which("zhizhi", path=str(Path(sys.executable).parent)) or "zhizhi"


@pytest.fixture(scope="module")
def small() -> Jurisdictions:
    return Jurisdictions.from_district(
        generate_district(DistrictSpec(seed=3, grids=64, towns=3, villages_per_town=2, cameras=0))
    )


def test_encodings_bom_and_gbk():
    text = "编号,经度,纬度\n甲,121.06,32.09\n"
    assert decode(text.encode("utf-8-sig")) == text  # Excel's BOM dropped
    assert decode(text.encode("utf-8")) == text
    assert decode(text.encode("gbk")) == text
    table = parse_points(decode(text.encode("gbk")))
    assert table.ids.tolist() == ["甲"] and table.lon.tolist() == [121.06]


def test_bad_rows_are_named_and_the_others_kept():
    text = (
        "lon,lat,crs\n"
        "121.06,32.09,\n"  # row 2: the default crs
        "x,32.0,wgs84\n"  # row 3: not a number
        "\n"  # row 4: blank, skipped silently
        "181,32.0,\n"  # row 5: out of range
        "121.0,32.0,utm\n"  # row 6: unknown crs
        "121.0\n"  # row 7: short row, lat missing
        " 121.1 , 32.1 ,GCJ-02\n"  # row 8: spaces and a crs alias
    )
    table = parse_points(text, default_crs="bd09")
    assert table.rows.tolist() == [2, 8] and table.ids is None
    assert [str(c) for c in table.crs] == ["bd09", "gcj02"]
    assert [(e.row, e.message.split()[0]) for e in table.errors] == [(3, "lon"), (5, "lon"), (6, "unknown"), (7, "lat")]
    assert "out of range" in str(table.errors[1]) and "'x'" in str(table.errors[0])


def test_a_file_without_lon_lat_is_refused(tmp_path):
    with pytest.raises(PointsFileError, match="lon and lat"):
        parse_points("x,y\n1,2\n")
    with pytest.raises(PointsFileError, match="not found"):
        read_points(tmp_path / "missing.csv")


def test_batch_matches_one_point_locate_in_every_crs(small):
    rng = np.random.default_rng(5)
    minx, miny, maxx, maxy = small.get(small.district_code).geometry.bounds
    lon = rng.uniform(minx - 0.05, maxx + 0.05, 600)  # some outside
    lat = rng.uniform(miny - 0.05, maxy + 0.05, 600)
    systems = np.array(["wgs84", "gcj02", "bd09"])[np.arange(600) % 3]
    given_lon, given_lat = lon.copy(), lat.copy()
    for system, convert in (("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)):
        hit = systems == system
        given_lon[hit], given_lat[hit] = convert(lon[hit], lat[hit])
    text = "id,lon,lat,crs\n" + "".join(
        f"p{i},{x!r},{y!r},{s}\n" for i, (x, y, s) in enumerate(zip(given_lon.tolist(), given_lat.tolist(), systems))
    )
    table = parse_points(text)
    chains = locate_points(small, table)
    outside = 0
    for i in range(600):
        try:
            hit = small.locate(given_lon[i], given_lat[i], systems[i])
        except OutsideDistrictError:
            outside += 1
            assert all(chains[level][i] is None for level in ("grid", "village", "town", "district"))
            continue
        assert [chains[level][i] for level in ("grid", "village", "town", "district")] == [
            hit.grid, hit.village, hit.town, hit.district
        ]
    assert len(table) == 600 and 0 < outside < 600
    lines = [json.loads(line) for line in json_lines(table, chains)]
    assert lines[0]["row"] == 2 and lines[0]["id"] == "p0" and lines[-1]["id"] == "p599"
    assert set(lines[0]) == {"row", "id", "lon", "lat", "crs", "grid", "village", "town", "district",
                             "dedicated_grids", "micro_grid"}


# --- the command line -------------------------------------------------------------------------
def _run(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZHIZHI_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [ZHIZHI, *args], capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL, check=False
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("points-cli")


def test_cli_points_bom_gcj02_outside_and_bad_rows(data_dir, tmp_path):
    single = json.loads(_run("gis", "locate", "121.06", "32.09", data_dir=data_dir).stdout)
    gcj_lon, gcj_lat = (float(v) for v in wgs84_to_gcj02(121.06, 32.09))
    csv = tmp_path / "hotline.csv"
    csv.write_text(
        "工单号,id,lon,lat,crs\n"
        "x,h1,121.06,32.09,\n"
        f"x,h2,{gcj_lon!r},{gcj_lat!r},gcj02\n"
        "x,h3,100.0,30.0,wgs84\n"
        "x,h4,121.06,abc,\n",
        encoding="utf-8-sig",
    )
    result = _run("gis", "locate", "--points", str(csv), "--json", data_dir=data_dir)
    assert result.returncode == 1  # a refused row; the others printed
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["h1", "h2", "h3"] and [line["row"] for line in lines] == [2, 3, 4]
    for line in lines[:2]:
        assert {k: line[k] for k in single} == single
    assert lines[1]["crs"] == "gcj02" and lines[1]["lon"] == gcj_lon
    assert lines[2]["grid"] is None and lines[2]["district"] is None
    assert result.stderr.strip() == "error: row 5: lat 'abc' is not a number"


def test_cli_points_gbk_all_good_and_file_errors(data_dir, tmp_path):
    gbk = tmp_path / "addresses.csv"
    gbk.write_bytes("名称,经度,纬度\n通州某地,121.06,32.09\n".encode("gbk"))
    result = _run("gis", "locate", "--points", str(gbk), "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["row"] == 2 and "id" not in line and line["district"] == "320612"
    missing = _run("gis", "locate", "--points", str(tmp_path / "none.csv"), "--json", data_dir=data_dir)
    assert missing.returncode == 2 and "not found" in missing.stderr
    no_columns = tmp_path / "no_columns.csv"
    no_columns.write_text("a,b\n1,2\n")
    refused = _run("gis", "locate", "--points", str(no_columns), "--json", data_dir=data_dir)
    assert refused.returncode == 2 and "lon and lat columns" in refused.stderr and not refused.stdout
    both = _run("gis", "locate", "121.06", "32.09", "--points", str(gbk), data_dir=data_dir)
    assert both.returncode == 2 and "not both" in both.stderr
    neither = _run("gis", "locate", data_dir=data_dir)
    assert neither.returncode == 2 and "--points" in neither.stderr
