"""Video to the console's REST API in one process: a simulated hazmat stop's frames on the
console's bus, the configured warning model, the alert service, evidence recorded from the
clip's frames, and what each jurisdiction sees (FastAPI TestClient, real SQLite, real threads)."""

from __future__ import annotations

import logging

import cv2
import pytest
from fastapi.testclient import TestClient

from tests.alerts_support import T0
from tests.auth_support import Logins, bearer, create_test_users, login
from tests.db_support import database
from tests.warning_support import facts, frame_messages, hazmat_stop_scene
from zhizhi.bus import Topic
from zhizhi.console.app import create_app
from zhizhi.console.settings import (
    AlertSettings,
    DemoSettings,
    Settings,
    WarningSettings,
    WorkerSettings,
)
from zhizhi.console.state import open_console
from zhizhi.models.warning.config import ModelConfigError
from zhizhi.models.warning.record import WarningEvent
from zhizhi.video.annotate import annotate, to_jpeg
from zhizhi.video.camera_config import CameraConfigError

SMALL_DEMO = DemoSettings(seed=7, grids=64, towns=3, villages_per_town=2, cameras=0)


def console_settings(data_dir, cameras_file=None, **changes) -> Settings:
    return Settings(
        data_dir=data_dir,
        demo=SMALL_DEMO,
        worker=WorkerSettings(cameras_file=cameras_file, evidence_pre_s=2.0, evidence_post_s=2.0),
        alerts=AlertSettings(check_interval_s=0),
        **changes,
    )


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return hazmat_stop_scene(tmp_path_factory)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def settings(request, tmp_path_factory, scene):
    """The flow on each storage backend (SQLite, and PostgreSQL with PostGIS)."""
    folder = tmp_path_factory.mktemp(f"console-flow-{request.param}")
    with database(request.param, folder) as url:
        yield console_settings(folder, scene.camera_path, database_url=url)


@pytest.fixture(scope="module")
def flow(settings, scene):
    """A console whose bus received the scene frame by frame, as an in-process worker sends it;
    the client is logged in as the district duty officer."""
    with TestClient(create_app(settings)) as client:
        state = client.app.state.console
        client.users = create_test_users(state)
        client.logins = Logins(client)
        client.headers.update(bearer(login(client, client.users.district)))
        recorder = state.evidence_recorder()
        video = cv2.VideoCapture(str(scene.clip))
        for batch in frame_messages(scene):
            ok, image = video.read()
            assert ok
            recorder.add(batch.camera_id, batch.ts, to_jpeg(annotate(image, batch)))
            state.bus.publish(Topic.FRAMES, batch)
            assert state.warnings.wait_idle(10)  # paced like a live camera
        video.release()
        assert recorder.wait_idle(30)
        (alert,) = [a for a in client.get("/api/alerts").json() if a["camera_id"] == scene.camera.id]
        yield client, state, alert


def town_codes(state) -> list[str]:
    return [t.code for t in state.jurisdictions.children(state.jurisdictions.district_code)]


def operator_of(client, town: str) -> dict[str, str]:
    """The Authorization header of a town's operator (a user made for that town if needed)."""
    from tests.auth_support import PASSWORD

    name = f"operator-{town}"
    if client.app.state.console.auth.get_user(name) is None:
        client.app.state.console.auth.add_user(name, "town_operator", town, PASSWORD)
    return client.logins[name]


def test_a_simulated_stop_on_the_bus_is_an_alert_of_its_town_only(flow, scene):
    client, state, alert = flow
    stop = facts(scene)
    where = state.jurisdictions.locate(*stop["stop_lonlat"])
    assert alert["category"] == "abnormal_stop" and alert["track_id"] == stop["tanker_track_id"]
    assert alert["grid"] == where.grid and alert["town"] == where.town
    assert abs(alert["first_ts"] - (T0 + stop["stop_start_ts"])) < 1.0 and alert["active"] is False
    assert state.warnings.stats()["frames"] == scene.frames and state.warnings.stats()["malformed"] == 0

    def ids(code: str) -> list[str]:
        headers = {} if code == state.jurisdictions.district_code else operator_of(client, code)
        response = client.get("/api/alerts", headers=headers)
        assert response.status_code == 200
        return [a["id"] for a in response.json()]

    other = next(code for code in town_codes(state) if code != where.town)
    assert alert["id"] in ids(state.jurisdictions.district_code)
    assert alert["id"] in ids(where.town)
    assert alert["id"] not in ids(other)
    assert client.get(f"/api/alerts/{alert['id']}", headers=operator_of(client, where.town)).status_code == 200
    assert client.get(f"/api/alerts/{alert['id']}", headers=operator_of(client, other)).status_code == 404


def test_the_alerts_evidence_is_served_to_those_who_see_it(flow, scene, tmp_path):
    client, state, alert = flow
    files = {k: v for k, v in alert["evidence"].items() if v is not None}
    assert files == {"snapshot": f"{alert['id']}/snapshot.jpg", "clip": f"{alert['id']}/clip.webm"}
    snapshot = client.get(f"/api/alerts/{alert['id']}/evidence/snapshot", headers=operator_of(client, alert["town"]))
    assert snapshot.status_code == 200 and snapshot.headers["content-type"] == "image/jpeg"
    assert snapshot.content.startswith(b"\xff\xd8")
    clip = client.get(f"/api/alerts/{alert['id']}/evidence/clip")
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/webm"
    saved = tmp_path / "clip.webm"
    saved.write_bytes(clip.content)
    video = cv2.VideoCapture(str(saved))
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, image = video.read()
    video.release()
    assert ok and image.shape == (scene.height, scene.width, 3)
    assert 2 * 5 + 1 + 2 * 5 - 2 <= frames <= 2 * 5 + 1 + 2 * 5  # 2 s before, 2 s after at 5 fps
    other = next(code for code in town_codes(state) if code != alert["town"])
    for kind in ("snapshot", "clip"):
        response = client.get(f"/api/alerts/{alert['id']}/evidence/{kind}", headers=operator_of(client, other))
        assert response.status_code == 404
    assert client.get(f"/api/alerts/{alert['id']}/evidence/audio").status_code == 422
    assert client.get("/api/alerts/zzzzzzzzzzzz/evidence/snapshot").status_code == 404


def test_missing_or_escaping_evidence_files_are_404(flow):
    client, state, alert = flow
    lon, lat = alert["lon"], alert["lat"]
    bare = state.alerts.ingest(WarningEvent(
        rule="abnormal_stop", rule_id="test-stop", severity="yellow", camera_id="CAM-NONE", track_id=1,
        lon=lon, lat=lat, first_ts=T0, last_ts=T0 + 30,
    ))
    response = client.get(f"/api/alerts/{bare.id}/evidence/snapshot")
    assert response.status_code == 404 and "no snapshot" in response.json()["detail"]
    state.alerts.attach_evidence(bare.id, snapshot=f"{bare.id}/snapshot.jpg", clip="../zhizhi.db")
    purged = client.get(f"/api/alerts/{bare.id}/evidence/snapshot")
    assert purged.status_code == 404 and "no longer kept" in purged.json()["detail"]
    assert client.get(f"/api/alerts/{bare.id}/evidence/clip").status_code == 404  # never outside the folder


def test_a_bad_model_file_stops_start_up_naming_file_and_fields(tmp_path, caplog):
    bad = tmp_path / "model.yaml"
    bad.write_text(
        "name: broken\nversion: 1\nrules:\n"
        "  - {id: stop, kind: abnormal_stop, classes: [hazmat_tanker], min_duration_s: -5}\n",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    settings = console_settings(data, warning=WarningSettings(model=bad))
    with caplog.at_level(logging.ERROR, logger="zhizhi.console.state"), pytest.raises(ModelConfigError) as raised:
        open_console(settings)
    assert str(bad) in str(raised.value) and "min_duration_s" in str(raised.value)
    assert any(str(bad) in r.getMessage() and "min_duration_s" in r.getMessage() for r in caplog.records)
    assert not (data / "zhizhi.db").exists()  # refused before storage was touched
    with pytest.raises(ModelConfigError), TestClient(create_app(settings)):
        pass
    missing = console_settings(data, warning=WarningSettings(model=tmp_path / "nope.yaml"))
    with pytest.raises(ModelConfigError, match="file not found"):
        open_console(missing)
    cameras = tmp_path / "cameras.json"
    cameras.write_text('{"cameras": [{"id": "CAM-1", "source": {"url": "a.mp4"}, "analysis_fps": -1}]}')
    with pytest.raises(CameraConfigError, match="analysis_fps"):  # its lanes and zones feed the model
        open_console(console_settings(data, cameras))
    assert not (data / "zhizhi.db").exists()


def test_the_runner_stops_with_the_console_and_can_be_disabled(settings):
    with TestClient(create_app(settings)) as client:
        runner = client.app.state.console.warnings
        assert runner is not None and runner._thread.is_alive()
    assert not runner._thread.is_alive()
    disabled = settings.model_copy(update={"warning": WarningSettings(enabled=False)})
    state = open_console(disabled)
    try:
        assert state.warnings is None
    finally:
        state.close()
