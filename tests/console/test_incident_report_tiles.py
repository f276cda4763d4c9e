"""The incident's HTML report over the configured tile server: with ``map.tile_url`` and no
imported basemap, the report draws those tiles under the hazard area and the affected units'
outlines (and still fetches nothing else)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.auth_support import bearer, create_test_users, login, small_console_settings
from zhizhi.alerts.incidents.sitrep import external_refs

TILES = "http://127.0.0.1:8099/tiles/{z}/{x}/{y}.png"


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    from zhizhi.console.app import create_app
    from zhizhi.console.settings import MapSettings
    from zhizhi.console.state import open_console

    settings = small_console_settings(tmp_path_factory.mktemp("report-tiles"),
                                      map=MapSettings(tile_url=TILES, tile_attribution="本地瓦片"))
    state = open_console(settings)
    users = create_test_users(state)
    with TestClient(create_app(settings, state=state)) as client:
        yield state, client, users
    state.close()


def test_the_report_draws_the_configured_tiles_and_the_outlines(console):
    state, client, users = console
    head = bearer(login(client, users.operator_a))
    point = state.jurisdictions.get(users.town_a).geometry.representative_point()
    opened = client.post("/api/incidents", headers=head, json={
        "type": "flood", "title": "低洼积水", "area": {"point": [point.x, point.y], "radius_m": 300}})
    assert opened.status_code == 201, opened.text
    incident = opened.json()
    page = client.get(f"/api/incidents/{incident['id']}/report.html", headers=head).text
    assert "L.tileLayer(" in page and "127.0.0.1:8099/tiles/{z}/{x}/{y}.png" in page
    assert '"attribution": "\\u672c\\u5730\\u74e6\\u7247"' in page  # 本地瓦片, as folium writes it
    units = [u["code"] for k in ("towns", "villages", "grids") for u in incident["impact"].get(k) or []]
    assert units and all(code in page for code in units)
    assert external_refs(page) == []
    other = client.get(f"/api/incidents/{incident['id']}/report.html", headers=bearer(login(client, users.operator_b)))
    assert other.status_code == 404
