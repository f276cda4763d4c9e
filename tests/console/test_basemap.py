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

from tests.basemap_support import mvt_tile, tile_range, write_mbtiles, write_pmtiles

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
    ("vector", [], "says vector tiles (pbf) but a tile is not a Mapbox Vector Tile"),
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


def pmtiles_of(tmp_path: Path, box, zooms=(9, 10, 11), name="county.pmtiles") -> tuple[Path, dict]:
    """A raster PMTiles file over ``box`` (converted from an MBTiles one, as a county would) and its tiles."""
    from pmtiles.convert import mbtiles_to_pmtiles

    mb = tmp_path / f"{name}.mbtiles"
    tiles = write_mbtiles(mb, box, zooms)
    path = tmp_path / name
    mbtiles_to_pmtiles(str(mb), str(path), None)
    return path, tiles


def vector_pmtiles(tmp_path: Path, box, z: int = 12) -> Path:
    cols, rows = tile_range(box, z)
    path = tmp_path / "vector.pmtiles"
    write_pmtiles(path, {(z, x, y): mvt_tile(z, x, y) for x in cols for y in rows}, box, tile_type="pbf")
    return path


def test_a_pmtiles_import_is_served_through_the_same_tile_route(client, imported, console_settings, district_box,
                                                                 tmp_path):
    path, tiles = pmtiles_of(tmp_path, district_box)
    try:
        result = zhizhi("basemap", "import", str(path), data_dir=console_settings.data_dir)
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert (summary["kind"], summary["format"], summary["tiles"]) == ("pmtiles", "png", len(tiles))
        assert (summary["minzoom"], summary["maxzoom"]) == (9, 11)
        assert summary["bounds"] == pytest.approx(list(district_box), abs=1e-6)
        assert client.get("/api/basemap").json() == {"basemap": summary}
        assert (console_settings.data_dir / "basemap" / f"{summary['id']}.pmtiles").is_file()
        assert not list((console_settings.data_dir / "basemap").glob("*.mbtiles"))  # the MBTiles one went
        for (z, x, y), data in tiles.items():
            resp = client.get(f"/api/basemap/tiles/{z}/{x}/{y}.png", params={"v": summary["id"]})
            assert resp.status_code == 200 and resp.content == data and "max-age" in resp.headers["cache-control"]
        (z, x, y) = max(tiles)
        assert client.get(f"/api/basemap/tiles/{z}/{x}/{(1 << z) - 1 - y}.png").status_code == 404
    finally:  # the module's own basemap back
        result = zhizhi("basemap", "import", str(imported[2]), "--name", "县域底图", data_dir=console_settings.data_dir)
        assert json.loads(result.stdout) == imported[0]


def test_a_vector_basemap_is_served_drawn(tmp_path, district_box):
    import cv2
    import numpy as np

    from zhizhi.console.basemap import BasemapSource
    from zhizhi.gis.basemap_render import DARK

    data_dir = tmp_path / "data"
    result = zhizhi("basemap", "import", str(vector_pmtiles(tmp_path, district_box)), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["format"], summary["source_format"]) == ("png", "pbf")
    assert summary["tile_url"] == f"/api/basemap/tiles/{{z}}/{{x}}/{{y}}.png?v={summary['id']}"
    basemap = BasemapSource(data_dir).current()
    cols, rows = tile_range(district_box, 12)
    served = basemap.tile(12, cols[0], rows[0])
    img = cv2.imdecode(np.frombuffer(served, np.uint8), cv2.IMREAD_COLOR)
    assert img[128, 10].tolist() == list(DARK.roads["expressway"].colour) and img[60, 60].tolist() == list(DARK.water)
    assert basemap.tile(12, cols[0], rows[0]) is served  # drawn once, then kept
    assert basemap.tile(11, cols[0] // 2, rows[0] // 2) is None


@pytest.mark.parametrize(("make", "message"), [
    ("not-pmtiles", "not a PMTiles file (no PMTiles header)"),
    ("truncated", "lies past the end of the file (truncated?)"),
    ("bad-vector", "says vector tiles (pbf) but a tile is not a Mapbox Vector Tile"),
    ("avif", "tile type avif is not supported"),
])
def test_bad_pmtiles_are_refused_and_the_basemap_stays(tmp_path, district_box, make, message):
    data_dir = tmp_path / "data"
    good, _ = pmtiles_of(tmp_path, district_box, (10,), name="good.pmtiles")
    assert zhizhi("basemap", "import", str(good), data_dir=data_dir).returncode == 0
    folder = data_dir / "basemap"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    bad = tmp_path / "bad.pmtiles"
    if make == "not-pmtiles":
        bad.write_text("<html>" + "x" * 300 + "</html>")
    elif make == "truncated":
        bad.write_bytes(good.read_bytes()[:-200])
    elif make == "bad-vector":
        cols, rows = tile_range(district_box, 10)
        write_pmtiles(bad, {(10, cols[0], rows[0]): b"\x08\x96\x01garbage"}, district_box, tile_type="pbf")
    else:
        write_pmtiles(bad, {(10, 1, 1): b"\x00" * 50}, district_box, tile_type="avif")
    result = zhizhi("basemap", "import", str(bad), data_dir=data_dir)
    assert result.returncode == 2 and result.stdout == ""
    assert message in result.stderr and "bad.pmtiles" in result.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing changed


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
