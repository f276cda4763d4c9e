"""POST /api/layers: imports, precise 4xx for bad files, nothing stored is lost."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from fastapi.testclient import TestClient

from tests.auth_support import Logins, bearer, create_test_users, login


@pytest.fixture(scope="module")
def upload_client(tmp_path_factory):
    """A console of its own (small upload limit) so uploads don't disturb other tests, logged
    in as its district duty officer; ``upload_client.logins`` logs in the other test users."""
    from zhizhi.console.app import create_app
    from zhizhi.console.settings import DemoSettings, LayerLimits, Settings

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("upload-data"),
        demo=DemoSettings(seed=11, grids=64, towns=3, villages_per_town=2, cameras=10),
        layers=LayerLimits(max_upload_bytes=200_000),
    )
    with TestClient(create_app(settings)) as client:
        client.users = create_test_users(client.app.state.console)
        client.logins = Logins(client)
        client.headers.update(bearer(login(client, client.users.district)))
        yield client


def _fc(*geometries, **props):
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": dict(props, n=i), "geometry": g} for i, g in enumerate(geometries)
            ],
        }
    ).encode()


def _point(lon=121.06, lat=32.09):
    return {"type": "Point", "coordinates": [lon, lat]}


def _post(client, name, content, filename="layer.geojson", headers=None, **form):
    return client.post(
        "/api/layers",
        files={"file": (filename, content, "application/octet-stream")},
        data={"name": name, **{k: str(v) for k, v in form.items()}},
        headers=headers or {},
    )


def _features(client, name, headers=None):
    return client.get(f"/api/layers/{name}/features", headers=headers or {}).json()


def test_upload_and_read_back(upload_client):
    response = _post(upload_client, "wells", _fc(_point(), _point(121.07, 32.1)))
    assert response.status_code == 201, response.text
    assert response.json()["feature_count"] == 2
    fc = _features(upload_client, "wells")
    assert len(fc["features"]) == 2 and all(f["properties"]["code"].startswith("320612") for f in fc["features"])


def test_upload_gcj02_is_converted(upload_client):
    from zhizhi.gis.crs import gcj02_to_wgs84

    response = _post(upload_client, "amap-points", _fc(_point(121.06, 32.09)), crs="gcj02")
    assert response.status_code == 201, response.text
    lon, lat = _features(upload_client, "amap-points")["features"][0]["geometry"]["coordinates"]
    want = gcj02_to_wgs84(121.06, 32.09)
    assert abs(lon - want[0]) < 1e-9 and abs(lat - want[1]) < 1e-9


BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[121.0, 32.0], [121.1, 32.1], [121.1, 32.0], [121.0, 32.1], [121.0, 32.0]]],
}
UNCLOSED = {"type": "Polygon", "coordinates": [[[121.0, 32.0], [121.1, 32.0], [121.1, 32.1], [121.0, 32.1]]]}
METRES = {"type": "Point", "coordinates": [351000.0, 3543000.0]}


@pytest.mark.parametrize(
    "content, filename, status, code",
    [
        (_fc(_point(), BOWTIE), "bad.geojson", 422, "invalid_geometry"),
        (_fc(UNCLOSED), "bad.geojson", 422, "malformed"),
        (_fc(METRES), "bad.geojson", 422, "projected_as_degrees"),
        (b"", "empty.geojson", 422, "empty"),
        (b'{"type": "FeatureCollection", "features": [', "broken.geojson", 422, "malformed"),
        (b"x" * 300_000, "huge.geojson", 413, "too_large"),
        (b"plain text", "notes.txt", 422, "unsupported_format"),
    ],
    ids=["bowtie", "unclosed-ring", "metres-as-degrees", "empty", "malformed-json", "oversized", "unknown-format"],
)
def test_bad_uploads_are_refused_and_lose_nothing(upload_client, content, filename, status, code):
    assert _post(upload_client, "keep-me", _fc(_point())).status_code == 201
    before = _features(upload_client, "keep-me")
    response = _post(upload_client, "keep-me", content, filename=filename)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["detail"]
    assert _features(upload_client, "keep-me") == before


def test_bowtie_reports_index_and_reason_and_can_be_repaired(upload_client):
    body = _post(upload_client, "parcels", _fc(_point(), BOWTIE)).json()
    assert body["errors"] and body["errors"][0]["index"] == 1
    assert "Self-intersection" in body["errors"][0]["reason"]
    fixed = _post(upload_client, "parcels", _fc(BOWTIE), make_valid="true")
    assert fixed.status_code == 201, fixed.text
    geometry = _features(upload_client, "parcels")["features"][0]["geometry"]
    assert geometry["type"] == "MultiPolygon"


def test_zip_slip_refused(upload_client):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.shp", b"x")
        archive.writestr("ok.dbf", b"x")
    response = _post(upload_client, "slip", buffer.getvalue(), filename="evil.zip")
    assert response.status_code == 422 and response.json()["code"] == "unsafe_archive"


def test_hierarchy_layers_cannot_be_replaced_by_upload(upload_client):
    response = _post(upload_client, "grids", _fc(_point()))
    assert response.status_code == 409
    assert len(_features(upload_client, "grids")["features"]) == 64


def test_town_uploads_only_for_itself(upload_client):
    users = upload_client.users
    mine, other = users.town_a, users.town_b
    headers = upload_client.logins[users.operator_a]
    other_headers = upload_client.logins[users.operator_b]
    refused = _post(upload_client, "town-layer", _fc(_point()), headers=headers, jurisdiction=other)
    assert refused.status_code == 403
    inside_mine = _point(*upload_client.get("/api/config", headers=headers).json()["scope"]["center"])
    inside_other = _point(*upload_client.get("/api/config", headers=other_headers).json()["scope"]["center"])
    foreign = _post(upload_client, "town-layer", _fc(inside_other), headers=headers)
    assert foreign.status_code == 422 and foreign.json()["errors"][0]["index"] == 0
    created = _post(upload_client, "town-layer", _fc(inside_mine), headers=headers)
    assert created.status_code == 201 and created.json()["owner_code"] == mine
    # A sibling town cannot see that layer at all.
    assert "town-layer" not in {
        layer["name"] for layer in upload_client.get("/api/layers", headers=other_headers).json()
    }
    assert upload_client.get("/api/layers/town-layer/features", headers=other_headers).status_code == 404


def test_export_round_trip(upload_client):
    for fmt in ("geojson", "gpkg", "shp.zip"):
        response = upload_client.get("/api/layers/wells/export", params={"format": fmt})
        assert response.status_code == 200, (fmt, response.text)
        assert len(response.content) > 100


def test_gbk_shapefile_upload_keeps_chinese_names(upload_client, tmp_path):
    from tests.layers.test_encoding import NAMES, _shapefile_zip

    archive = _shapefile_zip(tmp_path, "GBK", keep_cpg=False)
    response = _post(upload_client, "gbk-towns", archive.read_bytes(), filename="towns.zip")
    assert response.status_code == 201, response.text
    assert [f["properties"]["name"] for f in _features(upload_client, "gbk-towns")["features"]] == NAMES
    wrong = _post(upload_client, "gbk-towns", archive.read_bytes(), filename="towns.zip", encoding="UTF-8")
    assert wrong.status_code == 422 and "encoding" in wrong.json()["detail"]
