"""The offline basemap: ``zhizhi basemap import`` (run as a user runs it) and the console's
``/api/basemap`` and tile routes on the session console."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient

from tests.basemap_support import write_mbtiles

ZHIZHI = shutil.which("zhizhi", path=str(Path(sys.executable).parent)) or "zhizhi"


def zhizhi(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZHIZHI_DATA_DIR": str(data_dir)}
    return subprocess.run([ZHIZHI, *args], capture_output=True, text=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.fixture(scope="module")
def district_box(console_state) -> tuple[float, float, float, float]:
    j = console_state.jurisdictions
    return tuple(shapely.bounds(j.get(j.district_code).geometry).tolist())


@pytest.fixture(scope="module")
def imported(console_settings, district_box, tmp_path_factory):
    """A three-zoom PNG basemap over the demo district, imported into the session console's data
    folder through the CLI: (summary, tiles by XYZ, the file)."""
    path = tmp_path_factory.mktemp("basemap") / "county.mbtiles"
    tiles = write_mbtiles(path, district_box, (9, 10, 11))
    result = zhizhi("basemap", "import", str(path), "--name", "县域底图", data_dir=console_settings.data_dir)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), tiles, path


def test_import_prints_a_summary(imported, district_box, console_settings):
    summary, tiles, _ = imported
    assert summary["name"] == "县域底图" and summary["format"] == "png" and summary["kind"] == "mbtiles"
    assert (summary["minzoom"], summary["maxzoom"], summary["tiles"]) == (9, 11, len(tiles))
    assert summary["bounds"] == pytest.approx(list(district_box)) and summary["gcj02"] is False
    assert summary["tile_url"] == f"/api/basemap/tiles/{{z}}/{{x}}/{{y}}.png?v={summary['id']}"
    assert (console_settings.data_dir / "basemap" / f"{summary['id']}.mbtiles").is_file()
    shown = zhizhi("basemap", "show", data_dir=console_settings.data_dir)
    assert json.loads(shown.stdout) == summary


@pytest.mark.parametrize(("content", "extra", "message"), [
    ("notsqlite", [], "not an MBTiles file (not an SQLite database)"),
    ("notiles", [], "no tiles table"),
    ("vector", [], "vector tiles (pbf) are not supported yet"),
    ("empty", [], "holds no tiles"),
])
def test_import_refuses_broken_files(tmp_path, district_box, content, extra, message):
    path = tmp_path / "bad.mbtiles"
    if content == "notsqlite":
        path.write_text("<html>not a map</html>")
    elif content == "notiles":
        import sqlite3

        con = sqlite3.connect(path)
        con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        con.commit()
        con.close()
    else:
        write_mbtiles(path, district_box, (9,), fmt="pbf" if content == "vector" else "png",
                      tiles=content != "empty")
    data_dir = tmp_path / "data"
    result = zhizhi("basemap", "import", str(path), *extra, data_dir=data_dir)
    assert result.returncode == 2 and result.stdout == ""
    assert message in result.stderr and "bad.mbtiles" in result.stderr
    assert not (data_dir / "basemap" / "basemap.json").exists()


def test_pmtiles_is_not_supported_yet(tmp_path):
    path = tmp_path / "county.pmtiles"
    path.write_bytes(b"PMTiles\x03")
    result = zhizhi("basemap", "import", str(path), data_dir=tmp_path / "data")
    assert result.returncode == 2 and "PMTiles is not supported yet" in result.stderr


def test_gcj02_tiles_are_served_redrawn_in_wgs84(tmp_path, district_box):
    from zhizhi.console.basemap import BasemapSource
    from zhizhi.gis.crs import gcj02_to_wgs84

    path = tmp_path / "gcj.mbtiles"
    tiles = write_mbtiles(path, district_box, (11,))
    data_dir = tmp_path / "data"
    result = zhizhi("basemap", "import", str(path), "--gcj02", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["gcj02"] is True and summary["source_bounds"] == pytest.approx(list(district_box))
    lon, lat = gcj02_to_wgs84(district_box[0], district_box[1])
    assert summary["bounds"][:2] == pytest.approx([float(lon), float(lat)], abs=1e-3)
    assert summary["bounds"][0] < district_box[0] - 0.002  # GCJ-02 lies east of WGS-84 here
    basemap = BasemapSource(data_dir).current()
    (z, x, y) = next(iter(tiles))
    served = basemap.tile(z, x, y)
    assert served is not None and served != tiles[(z, x, y)] and served[:4] == b"\x89PNG"
    assert basemap.tile(z, x, y) is served  # kept in memory once redrawn


def test_api_describes_the_basemap(client, imported):
    summary, _, _ = imported
    assert client.get("/api/basemap").json() == {"basemap": summary}


def test_tiles_are_served_with_the_tms_flip_and_caching(client, imported):
    summary, tiles, _ = imported
    for (z, x, y), data in tiles.items():
        resp = client.get(f"/api/basemap/tiles/{z}/{x}/{y}.png", params={"v": summary["id"]})
        assert resp.status_code == 200 and resp.content == data
        assert resp.headers["content-type"] == "image/png"
        assert "max-age" in resp.headers["cache-control"] and "private" in resp.headers["cache-control"]
    (z, x, y) = max(tiles)
    resp = client.get(f"/api/basemap/tiles/{z}/{x}/{y}.png")
    etag = resp.headers["etag"]
    again = client.get(f"/api/basemap/tiles/{z}/{x}/{y}.png", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get(f"/api/basemap/tiles/{z}/{x}/{(1 << z) - 1 - y}.png").status_code == 404  # the TMS row
    assert client.get("/api/basemap/tiles/3/0/0.png").status_code == 404
    assert client.get(f"/api/basemap/tiles/{z}/{x}/{y}.jpg").status_code == 404
    assert client.get("/api/basemap/tiles/31/0/0.png").status_code == 422


def test_without_login_nothing(client, imported, console_settings, console_state):
    from zhizhi.console.app import create_app

    (z, x, y) = next(iter(imported[1]))
    with TestClient(create_app(console_settings, state=console_state)) as anonymous:
        assert anonymous.get("/api/basemap").status_code == 401
        assert anonymous.get(f"/api/basemap/tiles/{z}/{x}/{y}.png").status_code == 401
        assert anonymous.get(f"/api/basemap/tiles/{z}/{x}/{y}.png?ticket=x").status_code == 401


def test_csp_allows_images_from_the_console_only(client, imported):
    csp = client.get("/api/basemap").headers["content-security-policy"]
    img_src = next(d for d in csp.split("; ") if d.startswith("img-src"))
    assert img_src.split()[1:] == ["'self'", "data:", "blob:"]


def test_a_new_import_reaches_the_running_console(client, imported, console_settings, district_box, tmp_path):
    path = tmp_path / "second.mbtiles"
    write_mbtiles(path, district_box, (10,), metadata={"name": "second"})
    try:
        result = zhizhi("basemap", "import", str(path), data_dir=console_settings.data_dir)
        assert result.returncode == 0, result.stderr
        assert client.get("/api/basemap").json()["basemap"]["name"] == "second"
    finally:  # the module's own basemap back
        result = zhizhi("basemap", "import", str(imported[2]), "--name", "县域底图", data_dir=console_settings.data_dir)
        assert json.loads(result.stdout) == imported[0]
        assert client.get("/api/basemap").json() == {"basemap": imported[0]}


def test_the_situation_report_carries_the_basemap(client, imported, console_state):
    import re

    from zhizhi.alerts.incidents.sitrep import external_refs

    j = console_state.jurisdictions
    lon, lat = j.get(j.grid_codes[0]).anchor
    opened = client.post("/api/incidents", json={
        "type": "fire", "title": "底图报告", "area": {"point": [lon, lat], "radius_m": 800}})
    assert opened.status_code == 201, opened.text
    page = client.get(f"/api/incidents/{opened.json()['id']}/report.html").text
    assert "L.imageOverlay(" in page and external_refs(page) == []
    image = re.search(r'L\.imageOverlay\(\s*"data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert image is not None and len(image.group(1)) > 1000  # tiles, not an empty image
