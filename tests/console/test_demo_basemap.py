"""The demo's basemap rendered from its own layers (console/demo_basemap.py): at the first start
with none imported, kept while the layers stay, rendered again when they change, replaced by an
import and never replacing one, skipped when turned off or when a tile server is configured."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from tests.auth_support import bearer, create_test_users, login
from tests.basemap_support import demo_basemap_data, demo_settings, tile_range, write_mbtiles

ZHIZHI = shutil.which("zhizhi", path=str(Path(sys.executable).parent)) or "zhizhi"
SMALL = (9, 10)  # zooms of the renders this module asks for itself (the start-up's are 9-15)


def zhizhi(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZHIZHI_DATA_DIR": str(data_dir), "ZHIZHI_DEMO__SEED": "7"}
    return subprocess.run([ZHIZHI, *args], capture_output=True, text=True, env=env, timeout=300,
                          stdin=subprocess.DEVNULL, check=False)


def manifest(data_dir: Path) -> dict:
    return json.loads((data_dir / "basemap" / "basemap.json").read_text(encoding="utf-8"))


def store(data_dir: Path):
    from zhizhi.layers import LayerRegistry, make_engine

    return LayerRegistry(make_engine(f"sqlite:///{(data_dir / 'zhizhi.db').resolve()}"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A data folder whose console rendered the demo basemap at its first start."""
    return demo_basemap_data(tmp_path_factory, tmp_path_factory.mktemp("demo-basemap") / "data")


@pytest.fixture
def copy(data, tmp_path) -> Path:
    """A copy of it for a test that changes things."""
    return Path(shutil.copytree(data, tmp_path / "data"))


def test_the_first_start_renders_the_district_at_zooms_9_to_15(data):
    from zhizhi.console.demo_basemap import DEMO_NAME
    from zhizhi.console.state import load_jurisdictions

    m = manifest(data)
    assert (m["name"], m["kind"], m["format"], m["minzoom"], m["maxzoom"]) == (DEMO_NAME, "mbtiles", "png", 9, 15)
    assert (data / "basemap" / m["file"]).is_file()
    rendered = m["rendered"]
    assert rendered["fingerprint"]["synthetic"] is True and rendered["fingerprint"]["labels"] is True
    assert rendered["names"] > 100 and rendered["font"]
    jurisdictions, _ = load_jurisdictions(store(data))
    box = shapely.bounds(jurisdictions.get(jurisdictions.district_code).geometry)
    assert m["bounds"] == pytest.approx(list(box), abs=1e-6)
    expected = {z: len(tile_range(box, z)[0]) * len(tile_range(box, z)[1]) for z in range(9, 16)}
    assert {int(z): n for z, n in rendered["per_zoom"].items()} == expected
    assert m["tiles"] == rendered["tiles"] == sum(expected.values())


def test_the_console_serves_it_with_roads_on_it(data, tmp_path):
    from zhizhi.console.app import create_app
    from zhizhi.console.runtime import Runtime
    from zhizhi.gis.basemap_render import DARK, TILE, world_px
    from zhizhi.layers import Scope

    before = manifest(data)
    shutil.copytree(data, tmp_path / "data")
    settings = demo_settings(tmp_path / "data")
    with Runtime(settings) as runtime:
        assert manifest(settings.data_dir) == before  # a second start keeps it
        state = runtime.state
        users = create_test_users(state)
        with TestClient(create_app(settings, state=state)) as client:
            client.headers.update(bearer(login(client, users.district)))
            described = client.get("/api/basemap").json()["basemap"]
            assert described["name"] == "demo (rendered)" and described["id"] == before["id"]
            roads = state.registry.read_features("roads", Scope.everything())
            road = roads[roads["road_class"] == "arterial"].geometry.values[0]
            mid = shapely.line_interpolate_point(road, 0.5, normalized=True)
            x, y = world_px(mid.x, mid.y, 14)
            resp = client.get(f"/api/basemap/tiles/14/{int(x // TILE)}/{int(y // TILE)}.png")
            assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
            img = cv2.imdecode(np.frombuffer(resp.content, np.uint8), cv2.IMREAD_COLOR)
            near = img[max(int(y % TILE) - 2, 0) : int(y % TILE) + 3, max(int(x % TILE) - 2, 0) : int(x % TILE) + 3]
            assert (near.reshape(-1, 3) == DARK.roads["arterial"].colour).all(axis=1).any()


def test_changed_layers_render_it_again(copy):
    from zhizhi.console.demo_basemap import render_demo_basemap
    from zhizhi.layers import Scope

    registry = store(copy)
    first = render_demo_basemap(copy, registry, seed=7, zooms=SMALL)  # other zooms: other layers' render
    assert first is not None and (first["minzoom"], first["maxzoom"]) == SMALL
    assert render_demo_basemap(copy, registry, seed=7, zooms=SMALL) is None  # nothing changed
    roads = registry.read_features("roads", Scope.everything())
    info = registry.get_layer("roads", Scope.everything())
    registry.save_layer("roads", roads.iloc[: len(roads) // 2].reset_index(drop=True), kind=info.kind,
                        owner_code=info.owner_code, title=info.title, style=info.style, visibility=info.visibility,
                        meta=info.meta, replace=True)
    second = render_demo_basemap(copy, registry, seed=7, zooms=SMALL)
    assert second is not None and second["id"] != first["id"]
    assert second["rendered"]["fingerprint"]["layers"]["roads"][0] == len(roads) // 2
    assert [p.name for p in (copy / "basemap").glob("*.mbtiles")] == [f"{second['id']}.mbtiles"]  # the old file went


def test_without_a_font_it_is_drawn_without_names_and_says_so(copy, monkeypatch, caplog):
    from zhizhi.console import demo_basemap

    monkeypatch.setattr(demo_basemap, "cjk_font", lambda: None)
    with caplog.at_level(logging.WARNING, logger="zhizhi.console.demo_basemap"):
        summary = demo_basemap.render_demo_basemap(copy, store(copy), seed=7, zooms=SMALL)
    assert summary["rendered"]["names"] == 0 and summary["rendered"]["fingerprint"]["labels"] is False
    assert "no CJK font found" in caplog.text


def test_an_import_replaces_it_and_is_never_replaced(copy, tmp_path):
    from zhizhi.console.runtime import Runtime

    path = tmp_path / "county.mbtiles"
    write_mbtiles(path, tuple(manifest(copy)["bounds"]), (10,))
    result = zhizhi("basemap", "import", str(path), "--name", "县域底图", data_dir=copy)
    assert result.returncode == 0, result.stderr
    imported = manifest(copy)
    assert imported["name"] == "县域底图" and "rendered" not in imported
    assert [p.name for p in (copy / "basemap").glob("*.mbtiles")] == [imported["file"]]
    with Runtime(demo_settings(copy)):
        pass
    assert manifest(copy) == imported  # the start did not render over it
    refused = zhizhi("basemap", "render", "--force", data_dir=copy)
    assert refused.returncode == 2 and "a basemap was imported ('县域底图'); it is kept" in refused.stderr
    assert manifest(copy) == imported


def test_render_by_hand_when_up_to_date_changes_nothing(copy):
    before = manifest(copy)
    result = zhizhi("basemap", "render", data_dir=copy)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "null" and manifest(copy) == before


@pytest.mark.parametrize("settings", [
    {"demo_basemap": False}, {"map": {"tile_url": "http://tiles.center.lan/{z}/{x}/{y}.png"}}])
def test_none_is_rendered_when_turned_off_or_with_a_tile_server(copy, settings):
    from zhizhi.console.demo_basemap import start_basemap
    from zhizhi.console.settings import DemoSettings, Settings

    shutil.rmtree(copy / "basemap")
    assert start_basemap(Settings(data_dir=copy, demo=DemoSettings(seed=7), **settings), store(copy)) is None
    assert not (copy / "basemap" / "basemap.json").exists()


def test_commands_that_only_open_the_store_render_nothing(copy):
    """``zhizhi cameras list`` and the like open the store, not a console: no basemap for them."""
    from zhizhi.console.state import open_store

    shutil.rmtree(copy / "basemap")
    engine, _ = open_store(demo_settings(copy))
    engine.dispose()
    assert not (copy / "basemap" / "basemap.json").exists()


def test_a_running_console_that_applies_new_layers_renders_it_again(copy):
    """An imported hierarchy reaches a running console (console/hierarchy.apply_hierarchy): the
    basemap drawn from the old towns is drawn again, in the background, and served."""
    import threading

    from zhizhi.console.hierarchy import apply_hierarchy
    from zhizhi.console.runtime import Runtime
    from zhizhi.layers import Scope

    before = manifest(copy)
    with Runtime(demo_settings(copy)) as runtime:
        state = runtime.state
        towns = state.registry.read_features("towns", Scope.everything())
        towns.loc[towns.index[0], "name"] = "新名镇"
        info = state.registry.get_layer("towns", Scope.everything())
        state.registry.save_layer("towns", towns.reset_index(drop=True), kind=info.kind, owner_code=info.owner_code,
                                  title=info.title, style=info.style, visibility=info.visibility, meta=info.meta,
                                  codes=towns["code"].tolist(), replace=True)
        apply_hierarchy(state)
        for thread in [t for t in threading.enumerate() if t.name == "basemap-render"]:
            thread.join()
        after = manifest(copy)
        assert after["id"] != before["id"] and after["name"] == "demo (rendered)"
        assert after["rendered"]["fingerprint"]["layers"]["towns"][1] != before["rendered"]["fingerprint"]["layers"][
            "towns"][1]
        assert [p.name for p in (copy / "basemap").glob("*.mbtiles")] == [after["file"]]
