"""A county's own hierarchy imported into a running console, through the API and the CLI.

The files are built from the real Tongzhou boundary (tests/hierarchy_files_support.py: GBK
Shapefile grids without ``.cpg`` in EPSG:4490, GeoPackage villages, GCJ-02 GeoJSON towns), here
with grid codes that do not extend their village's (``TZWG-0001``, parent explicit), dedicated
grids, and micro-grids below some grids. The console starts on a small demo of another district
(320685), so the import also moves the district. After the import, locate, scoping and routing
are checked through the API; broken variants are refused naming the codes, the store unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient

from tests.auth_support import PASSWORD, bearer, login
from tests.hierarchy_files_support import DEDICATED, HierarchyTables, hierarchy_tables, write_hierarchy
from zhizhi.console.app import create_app
from zhizhi.console.runtime import Runtime
from zhizhi.console.settings import DemoSettings, Settings
from zhizhi.gis.codes import install_book
from zhizhi.layers import Scope

ZHIZHI = shutil.which("zhizhi", path=str(Path(sys.executable).parent)) or "zhizhi"
MICRO_PARENTS = 12  # grids split into four micro-grids each
ADMIN = "county-admin"


def _irregular(tables: HierarchyTables) -> HierarchyTables:
    """Comprehensive grids renamed ``TZWG-0001`` ... (the parent column keeps them placed)."""
    grids = tables.grids.copy()
    comprehensive = grids["网格类型"] == "综合网格"
    grids.loc[comprehensive, "网格编码"] = [f"TZWG-{i:04d}" for i in range(1, int(comprehensive.sum()) + 1)]
    return HierarchyTables(tables.towns, tables.villages, grids)


def _micro_grids(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The first grids cut into four quadrants each (their centroid's axes)."""
    rows = []
    for row in grids[grids["网格类型"] == "综合网格"].head(MICRO_PARENTS).itertuples():
        geom = row.geometry
        c = geom.centroid
        minx, miny, maxx, maxy = geom.bounds
        quads = [(minx, miny, c.x, c.y), (c.x, miny, maxx, c.y), (minx, c.y, c.x, maxy), (c.x, c.y, maxx, maxy)]
        for k, box in enumerate(quads, start=1):
            part = shapely.intersection(geom, shapely.box(*box))
            if not part.is_empty and part.area > 0:
                rows.append({"微网格编码": f"{row.网格编码}-{k}", "微网格名称": f"{row.网格名称}{k}号微网格",
                             "所属网格": row.网格编码, "geometry": part})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


@pytest.fixture(scope="module")
def county(tongzhou, tmp_path_factory) -> dict:
    """The irregular county files and the tables they were written from."""
    tables = _irregular(hierarchy_tables(tongzhou))
    folder = tmp_path_factory.mktemp("county")
    files = write_hierarchy(tables, folder)
    micro = _micro_grids(tables.grids)
    files["micro_grids"] = folder / "micro.gpkg"
    pyogrio.write_dataframe(micro, files["micro_grids"], driver="GPKG")
    return {"tables": tables, "files": files, "micro": micro}


@pytest.fixture(scope="module")
def consoles(tmp_path_factory):
    """Two consoles on one SQLite database: the demo of district 320685, 3 towns, 24 grids."""
    folder = tmp_path_factory.mktemp("import-console")
    demo = DemoSettings(seed=3, adcode="320685", grids=24, towns=3, villages_per_town=2, cameras=4)
    settings = Settings(data_dir=folder, demo=demo)
    with Runtime(settings) as first, Runtime(settings) as second:
        first.state.auth.add_user(ADMIN, "admin", "320685", PASSWORD)
        yield settings, first.state, second.state
    install_book(None)  # the process's code book was this county's: later modules start their own


@pytest.fixture(scope="module")
def api(consoles):
    settings, state, _ = consoles
    with TestClient(create_app(settings, state=state)) as client:
        client.headers.update(bearer(login(client, ADMIN)))
        yield client


def _post(api, files: dict[str, Path], **form) -> tuple[int, dict]:
    uploads = {level: (path.name, path.read_bytes()) for level, path in files.items()}
    data = {"crs": "gcj02", "district": "320612", **form}
    answer = api.post("/api/jurisdictions/import", files=uploads, data=data)
    return answer.status_code, answer.json()


def _grids_stored(state) -> tuple[int, object]:
    info = state.registry.get_layer("grids", Scope.everything())
    return info.feature_count, info.updated_at


def test_a_dry_run_reports_and_changes_nothing(api, consoles, county):
    _, state, _ = consoles
    before = _grids_stored(state)
    status, report = _post(api, county["files"])
    assert status == 200, report
    grids = len(county["tables"].grids)
    assert (report["towns"], report["grids"], report["micro_grids"]) == (14, grids, len(county["micro"]))
    assert report["errors"] == []
    assert _grids_stored(state) == before and state.jurisdictions.district_code == "320685"


@pytest.mark.parametrize("broken", ["overlap", "outside", "orphan", "duplicate"])
def test_broken_hierarchies_are_refused_naming_the_codes(api, consoles, county, tmp_path, broken):
    _, state, _ = consoles
    tables = county["tables"]
    grids = tables.grids.copy()
    first, second = grids.index[0], grids.index[1]
    if broken == "overlap":  # the first grid swells over its neighbours
        grids.loc[first, "geometry"] = shapely.buffer(grids.loc[first, "geometry"], 0.003)
        expected = "comprehensive grids overlap"
    elif broken == "outside":  # a grid moved 5 km east, out of its village
        grids.loc[first, "geometry"] = shapely.affinity.translate(grids.loc[first, "geometry"], 0.05, 0)
        expected = "lies outside its parent"
    elif broken == "orphan":
        grids.loc[first, "所属村居"] = "320612999999"
        expected = "parent 320612999999 is not among the villages"
    else:
        grids.loc[second, "网格编码"] = grids.loc[first, "网格编码"]
        expected = "duplicate code"
    files = write_hierarchy(HierarchyTables(tables.towns, tables.villages, grids), tmp_path)
    before = _grids_stored(state)
    status, report = _post(api, files, dry_run="false")
    assert status == 422
    hits = [e for e in report["errors"] if expected in e["reason"]]
    assert hits and grids.loc[first, "网格编码"] in {c for e in hits for c in e["codes"]}
    assert _grids_stored(state) == before and state.jurisdictions.district_code == "320685"


def test_only_a_district_admin_imports(api, consoles, county):
    _, state, _ = consoles
    town = state.jurisdictions.children("320685")[0].code
    state.auth.add_user("town-admin", "admin", town, PASSWORD)
    state.auth.add_user("duty-320685", "duty_officer", "320685", PASSWORD)
    for user in ("town-admin", "duty-320685"):
        headers = bearer(login(api, user))
        answer = api.get("/api/jurisdictions", headers=headers)
        assert answer.status_code == 403
        files = {k: (p.name, p.read_bytes()) for k, p in county["files"].items()}
        assert api.post("/api/jurisdictions/import", files=files, headers=headers).status_code == 403
    bad = api.post("/api/jurisdictions/import", files={
        "towns": ("towns.txt", b"x"), "villages": ("v.gpkg", b"x"), "grids": ("g.zip", b"x")})
    assert bad.status_code == 422 and "towns.txt" in bad.json()["errors"][0]["reason"]


@pytest.fixture(scope="module")
def imported(api, consoles, county):
    """The irregular county imported through the API (the second console applies it by polling)."""
    _, _, other = consoles
    status, report = _post(api, county["files"], dry_run="false", district_name="通州区")
    assert status == 200, report
    assert report["errors"] == []
    other.hierarchy_watch.check()  # what its poll does within seconds (unless it has just done it)
    assert other.jurisdictions.district_code == "320612"
    return report


def test_the_import_reaches_both_consoles(imported, consoles, county, api):
    _, state, other = consoles
    for console in (state, other):
        j = console.jurisdictions
        assert j.district_code == "320612" and j.get("320612").name == "通州区"
        assert len(j.grid_codes) == len(county["tables"].grids) - DEDICATED
        assert all(code.startswith("TZWG-") for code in j.grid_codes)
    summary = api.get("/api/jurisdictions").json()  # the admin followed the district
    assert summary["district"] == {"code": "320612", "name": "通州区"}
    assert (summary["towns"], summary["dedicated_grids"], summary["micro_grids"]) == (
        14, DEDICATED, len(county["micro"]))
    assert summary["imported"] and not summary["synthetic"]


def test_locate_returns_the_county_codes_with_dedicated_and_micro_grids(imported, api, county):
    tables = county["tables"]
    micro = county["micro"].iloc[0]
    point = shapely.point_on_surface(micro.geometry)
    hit = api.get("/api/grids/locate", params={"lon": point.x, "lat": point.y}).json()
    grid = tables.grids.set_index("网格编码").loc[micro["所属网格"]]
    village = tables.villages.set_index("村居代码").loc[grid["所属村居"]]
    assert hit["grid"] == micro["所属网格"] and hit["micro_grid"] == micro["微网格编码"]
    assert hit["village"] == grid["所属村居"] and hit["town"] == village["上级代码"] and hit["district"] == "320612"
    school = tables.grids[tables.grids["网格类型"] == "专属网格"].iloc[0]
    centre = shapely.point_on_surface(school.geometry)
    at_school = api.get("/api/grids/locate", params={"lon": centre.x, "lat": centre.y}).json()
    assert at_school["dedicated_grids"] == [school["网格编码"]]
    assert at_school["village"] == school["所属村居"] and at_school["grid"].startswith("TZWG-")


def test_scoping_and_routing_follow_the_imported_parents(imported, api, consoles, county):
    _, state, _ = consoles
    j = state.jurisdictions
    town_a, town_b = (t.code for t in j.children("320612")[:2])
    state.auth.add_user("op-a", "town_operator", town_a, PASSWORD)
    state.auth.add_user("op-b", "town_operator", town_b, PASSWORD)
    as_a, as_b = bearer(login(api, "op-a")), bearer(login(api, "op-b"))
    grid = next(g for g in j.grid_codes if j.chain(g)[1].code == town_a)
    village = j.get(grid).parent
    lon, lat = j.get(grid).anchor
    event = {"category": "fire", "text": "smoke", "lon": lon, "lat": lat, "reporter": "hotline",
             "channel": "hotline"}
    made = api.post("/api/events", json=event, headers=as_a)
    assert made.status_code == 201, made.text
    alert = made.json()
    assert (alert["grid"], alert["village"], alert["town"]) == (grid, village, town_a)
    assert api.get(f"/api/alerts/{alert['id']}", headers=as_a).status_code == 200
    assert api.get(f"/api/alerts/{alert['id']}", headers=as_b).status_code == 404
    assert alert["id"] not in {a["id"] for a in api.get("/api/alerts", headers=as_b).json()}
    assert alert["id"] in {a["id"] for a in api.get("/api/alerts", headers=as_a).json()}
    assert api.post("/api/events", json=event, headers=as_b).status_code == 403  # not town B's place
    other_village = next(v.code for v in j.children(town_b))
    refused = api.post(f"/api/alerts/{alert['id']}/hand_down", json={"unit": other_village})
    assert refused.status_code in (403, 422)
    if alert["assignee_unit"] != "320612":
        assert api.post(f"/api/alerts/{alert['id']}/escalate", json={}, headers=as_a).status_code == 200
    down = api.post(f"/api/alerts/{alert['id']}/hand_down", json={"unit": grid, "note": "grid worker"})
    assert down.status_code == 200, down.text
    assert down.json()["assignee_unit"] == grid
    assert api.get(f"/api/alerts/{alert['id']}", headers=as_a).status_code == 200


def test_other_layers_were_placed_in_the_new_units(imported, consoles):
    _, state, _ = consoles
    roads = state.registry.read_features("roads", Scope.everything())
    codes = set(roads["code"])
    assert codes and all(c == "320612" or c in state.jurisdictions for c in codes)
    cameras = state.camera_registry.list()  # the demo's cameras now belong to the new units
    assert cameras and all(camera.owner_code in state.jurisdictions for camera in cameras)
    assert all(camera.grid in state.jurisdictions for camera in state.cameras.cameras)


def test_the_cli_reimports_and_the_running_console_applies_it(imported, consoles, tongzhou, tmp_path):
    """The standard-coded files through ``zhizhi jurisdictions import``: codes nest by prefix again."""
    settings, state, _ = consoles
    files = write_hierarchy(hierarchy_tables(tongzhou), tmp_path)
    env = {**os.environ, "ZHIZHI_DATA_DIR": str(settings.data_dir)}
    args = [ZHIZHI, "jurisdictions", "import", "--towns", str(files["towns"]), "--villages",
            str(files["villages"]), "--grids", str(files["grids"]), "--crs", "gcj02", "--json"]
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, check=False,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["errors"] == [] and report["grids"] == len(tongzhou.grids) + DEDICATED
    state.hierarchy_watch.check()
    assert state.jurisdictions.grid_codes[0] == min(tongzhou.grids["code"])
    lon, lat = state.jurisdictions.get(state.jurisdictions.grid_codes[0]).anchor
    assert state.jurisdictions.locate(lon, lat).micro_grid is None  # the micro-grids went with the import
    assert not np.any([c.startswith("TZWG") for c in state.jurisdictions.grid_codes])
