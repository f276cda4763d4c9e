"""Model versions: the store (add, validate, diff, promote, roll back, audit), a promotion
reaching a running console's warning and trajectory runners without a restart, the API's
permissions and the ``zhizhi models`` commands."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from tests.auth_support import PASSWORD, Logins, create_test_users
from tests.redis_support import wait_until
from zhizhi.bus import Topic
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.bus.messages.models import ModelPromoted
from zhizhi.bus.messages.telemetry import Fix, FixBatch
from zhizhi.console.app import create_app
from zhizhi.console.settings import AlertSettings, DemoSettings, Settings
from zhizhi.layers import Scope, make_engine
from zhizhi.models.config_file import ModelConfigError
from zhizhi.models.trajectory.config import SHIPPED_MODEL as SHIPPED_TRAJECTORY
from zhizhi.models.versions.content import normalised_yaml
from zhizhi.models.versions.errors import ModelConflict, ModelVersionError, UnknownModel
from zhizhi.models.versions.store import ModelStore, versions_table
from zhizhi.models.versions.watch import ModelWatch
from zhizhi.models.warning.config import SHIPPED_MODEL as SHIPPED_WARNING

#: This module's console runs on SQLite and on PostgreSQL/PostGIS (tests/conftest.py).
CONSOLE_BACKENDS = ("sqlite", "postgresql")

SHIPPED = SHIPPED_WARNING.read_text(encoding="utf-8")
STOP_RULE = "hazmat-abnormal-stop"


def variant(text: str, version: int, rule: str = STOP_RULE, **changes) -> str:
    """The YAML ``text`` at ``version`` with fields of rule ``rule`` changed."""
    data = yaml.safe_load(text)
    data["version"] = version
    for r in data["rules"]:
        if r["id"] == rule:
            r.update(changes)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@pytest.fixture
def store(db_url):
    return ModelStore(make_engine(db_url))


# --- the store ------------------------------------------------------------------------------------


def test_add_validates_and_names_the_version_after_the_config(store):
    added = store.add("warning", SHIPPED, "ana", "shipped")
    assert (added.kind, added.label, added.status, added.author, added.reason) == (
        "warning", "default@1", "draft", "ana", "shipped")
    assert added.checksum == hashlib.sha256(SHIPPED.encode()).hexdigest()
    assert store.get("warning", "default", 1).content == SHIPPED  # the text as written, comments kept
    bad = variant(SHIPPED, 2, min_duration_s=-5, max_speed_kmh=500)
    bad = bad.replace("merge_within_m: 30", "merge_within_m: 30\ncolour: blue")
    with pytest.raises(ModelConfigError) as raised:
        store.add("warning", bad, "ana", "broken")
    paths = {path for path, _ in raised.value.errors}
    assert {"rules.0.abnormal_stop.min_duration_s", "rules.0.abnormal_stop.max_speed_kmh", "colour"} <= paths
    assert "min_duration_s" in str(raised.value) and "max_speed_kmh" in str(raised.value)
    with pytest.raises(ModelConfigError, match="not valid YAML"):
        store.add("warning", "name: [unclosed", "ana", "x")
    with pytest.raises(ModelConfigError):  # a warning model is not a trajectory model
        store.add("trajectory", SHIPPED, "ana", "wrong kind")
    assert store.add("trajectory", SHIPPED_TRAJECTORY.read_text(), "ana", "shipped").label == "hazmat-telemetry@1"
    with pytest.raises(UnknownModel, match="unknown model kind"):
        store.add("radar", SHIPPED, "ana", "x")
    with pytest.raises(ModelVersionError, match="reason is required"):
        store.add("warning", variant(SHIPPED, 3), "ana", "  ")
    assert [v.label for v in store.list("warning")] == ["default@1"]  # nothing stored by a refusal


def test_the_same_version_twice_is_idempotent_and_another_text_is_refused(store):
    first = store.add("warning", SHIPPED, "ana", "shipped")
    assert store.add("warning", SHIPPED, "bo", "again") == first
    with pytest.raises(ModelConflict, match="default@1 exists with a different text"):
        store.add("warning", variant(SHIPPED, 1, min_duration_s=5), "bo", "sneaky")
    assert [(a.action, a.actor) for a in store.audit()] == [("add", "ana")]


def test_diff_shows_the_normalised_text_and_the_changed_paths(store):
    store.add("warning", SHIPPED, "ana", "shipped")
    data = yaml.safe_load(variant(SHIPPED, 2, min_duration_s=5, severity="red", upgrades=[]))
    data["rules"] = [r for r in data["rules"] if r["id"] != "crowd"]
    data["rules"].append({"id": "night-trucks", "kind": "prohibited_hours", "classes": ["truck"],
                          "hours": {"windows": ["23:00-05:00"]}})
    store.add("warning", yaml.safe_dump(data, sort_keys=False), "ana", "quicker stop")
    diff = store.diff("warning", "default", 1, 2)
    lines = [str(c) for c in diff.changes]
    assert "version: 1 -> 2" in lines
    assert f"rules.{STOP_RULE}.min_duration_s: 20 -> 5" in lines
    assert f"rules.{STOP_RULE}.severity: orange -> red" in lines
    assert any(line.startswith(f"rules.{STOP_RULE}.upgrades.0: ") and line.endswith("-> (absent)") for line in lines)
    assert any(line.startswith("rules.crowd: {") and line.endswith("-> (absent)") for line in lines)
    assert any(line.startswith("rules.night-trucks: (absent) -> {") for line in lines)
    assert "--- default@1" in diff.unified and "+++ default@2" in diff.unified
    assert "-  min_duration_s: 20.0\n" in diff.unified and "+  min_duration_s: 5.0\n" in diff.unified
    assert "- id: hazmat-abnormal-stop\n  kind: abnormal_stop\n" in normalised_yaml("warning", SHIPPED)
    assert f"rules.{STOP_RULE}.min_duration_s: 20 -> 5" in str(diff)
    same = store.diff("warning", "default", 1, 1)
    assert same.changes == [] and same.unified == "" and "(no changes)" in str(same)
    with pytest.raises(UnknownModel, match="no warning model default@9"):
        store.diff("warning", "default", 1, 9)


def test_promote_and_rollback_keep_one_production_and_audit_every_change(store):
    heard = []
    store.on_promoted(lambda v, action: heard.append((v.label, action)))
    for version, minimum in ((1, 20), (2, 10), (3, 5)):
        store.add("warning", variant(SHIPPED, version, min_duration_s=minimum), "ana", f"stop after {minimum}s")
    assert store.production("warning") is None
    with pytest.raises(ModelConflict, match="no earlier warning production version"):
        store.rollback("warning", "ana", "nothing yet")
    for version in (1, 2, 3):
        promoted = store.promote("warning", "default", version, "chief", f"go v{version}")
        assert promoted.status == "production"
    with pytest.raises(ModelConflict, match="in production already"):
        store.promote("warning", "default", 3, "chief", "again")
    assert {v.version: v.status for v in store.list("warning")} == {1: "retired", 2: "retired", 3: "production"}
    assert store.rollback("warning", "duty", "v3 too noisy").label == "default@2"
    assert store.rollback("warning", "duty", "v2 too").label == "default@1"
    with pytest.raises(ModelConflict, match="roll back"):
        store.rollback("warning", "duty", "no more")
    assert store.production("warning").label == "default@1"
    assert store.production("warning", "other") is None and store.production("trajectory") is None
    assert heard == [("default@1", "promote"), ("default@2", "promote"), ("default@3", "promote"),
                     ("default@2", "rollback"), ("default@1", "rollback")]
    changes = [(a.action, a.actor, a.version, a.from_version, a.reason) for a in store.audit("warning")][:5]
    assert changes == [
        ("rollback", "duty", 1, 2, "v2 too"),
        ("rollback", "duty", 2, 3, "v3 too noisy"),
        ("promote", "chief", 3, 2, "go v3"),
        ("promote", "chief", 2, 1, "go v2"),
        ("promote", "chief", 1, None, "go v1"),
    ]
    assert [a.action for a in store.audit("warning")][5:] == ["add", "add", "add"]
    # A promotion after a rollback is undone by the next rollback.
    store.promote("warning", "default", 3, "chief", "v3 fixed")
    assert store.rollback("warning", "duty", "still noisy").label == "default@1"
    with pytest.raises(IntegrityError), store.engine.begin() as conn:  # two productions of a kind: refused
        conn.execute(update(versions_table).where(versions_table.c.version == 2).values(status="production"))


def test_one_production_per_kind_across_names_and_drafts_can_be_retired(store):
    store.add("warning", SHIPPED, "ana", "shipped")
    store.add("warning", variant(SHIPPED, 1).replace("name: default", "name: night"), "ana", "night model")
    store.promote("warning", "default", 1, "chief", "day")
    store.promote("warning", "night", 1, "chief", "night shift")
    assert {v.name: v.status for v in store.list("warning")} == {"default": "retired", "night": "production"}
    assert store.audit("warning")[0].from_name == "default"
    assert store.rollback("warning", "chief", "morning").name == "default"
    store.add("warning", variant(SHIPPED, 7), "ana", "draft")
    assert store.retire("warning", "default", 7, "ana", "abandoned").status == "retired"
    with pytest.raises(ModelConflict, match="not a draft"):
        store.retire("warning", "default", 1, "ana", "in production")
    with pytest.raises(UnknownModel):
        store.promote("warning", "default", 99, "chief", "missing")


def test_a_detector_is_a_checked_manifest(store, tmp_path):
    weights = tmp_path / "det-night.pt"
    weights.write_bytes(b"weights" * 100)
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    manifest = {"weights_path": str(weights), "sha256": sha, "report": {"map50": 0.81}}
    first = store.add("detector", json.dumps(manifest), "trainer", "night data")
    assert first.label == "det-night@1" and json.loads(first.content)["report"] == {"map50": 0.81}
    assert store.add("detector", json.dumps(manifest), "trainer", "again") == first
    second = store.add("detector", json.dumps(manifest | {"report": {"map50": 0.84}}), "trainer", "re-evaluated")
    assert second.version == 2
    with pytest.raises(ModelConfigError) as wrong:
        store.add("detector", json.dumps(manifest | {"sha256": "0" * 64}), "trainer", "x")
    assert wrong.value.errors[0][0] == "sha256"
    with pytest.raises(ModelConfigError) as missing:
        store.add("detector", json.dumps(manifest | {"weights_path": str(tmp_path / "nope.pt")}), "trainer", "x")
    assert missing.value.errors[0][0] == "weights_path"
    with pytest.raises(ModelConfigError) as bad:
        store.add("detector", json.dumps({"sha256": "xyz", "extra": 1}), "trainer", "x")
    assert {p for p, _ in bad.value.errors} == {"weights_path", "sha256", "extra"}
    store.promote("detector", "det-night", 2, "chief", "better mAP")
    assert [c.path for c in store.diff("detector", "det-night", 1, 2).changes] == ["version", "report.map50"]


def test_a_watch_notices_a_promotion_made_by_another_process(store, db_url):
    store.seed("warning", SHIPPED)
    store.add("warning", variant(SHIPPED, 2, min_duration_s=5), "ana", "quick")
    heard = []
    watch = ModelWatch(store, lambda v, action: heard.append(v.label), interval_s=0)
    assert watch.check() == []
    other = ModelStore(make_engine(db_url))
    other.promote("warning", "default", 2, "cli-user", "from the command line")
    assert [v.label for v in watch.check()] == ["default@2"] and heard == ["default@2"]
    assert watch.check() == []
    store.rollback("warning", "ana", "here")  # made through this store: noted, not reported again
    assert watch.check() == [] and heard == ["default@2"]


def test_a_rollback_that_overtakes_a_watch_check_is_announced_last(store, db_url):
    """A watch check reads another process's promotion (v2); before it announces it, a rollback
    through this console's store (v1) commits and is announced. The console must end on v1."""
    store.seed("warning", SHIPPED)
    store.add("warning", variant(SHIPPED, 2, min_duration_s=5), "ana", "quick")
    announced = []
    store.on_promoted(lambda v, action: announced.append(v.label))  # the console's own announcement
    watch = ModelWatch(store, lambda v, action: announced.append(v.label), interval_s=0)
    ModelStore(make_engine(db_url)).promote("warning", "default", 2, "cli-user", "from the command line")
    read_production = store.production
    raced = []

    def production_then_rollback(kind):
        found = read_production(kind)
        if kind == "warning" and not raced:  # the rollback lands between the read and the announcement
            raced.append(store.rollback("warning", "admin", "back").label)
        return found

    store.production = production_then_rollback
    watch.check()
    assert raced == ["default@1"] and read_production("warning").label == "default@1"
    assert announced[-1] == "default@1", announced  # what the runners apply last is what is in production


# --- a running console ------------------------------------------------------------------------------


def console_settings(data_dir, **changes) -> Settings:
    """A small console of its own with the warning model and the trajectory rules on."""
    return Settings(
        data_dir=data_dir,
        demo=DemoSettings(seed=7, grids=64, towns=3, villages_per_town=2, cameras=0),
        alerts=AlertSettings(check_interval_s=0),
        **changes,
    )


@pytest.fixture(scope="module")
def console(tmp_path_factory, module_database_url):
    settings = console_settings(tmp_path_factory.mktemp("models-console"), database_url=module_database_url)
    app = create_app(settings)
    with TestClient(app) as client:
        state = app.state.console
        users = create_test_users(state)
        town = users.town_a
        for name, role, code in [("analyst-d", "analyst", users.district_code), ("analyst-town", "analyst", town),
                                 ("admin-d", "admin", users.district_code)]:
            state.auth.add_user(name, role, code, PASSWORD)
        yield client, state, Logins(client)


def _free_point(state, nth: int = 0) -> tuple[float, float]:
    """The ``nth`` grid anchor outside every zone of the district (nowhere a stop is allowed or
    upgraded); tests whose stops must not be one event take different ones."""
    places = state.warnings.engine.places
    everywhere = places.select(kinds={z.kind for z in places.zones})
    found = 0
    for grid in state.jurisdictions.grid_codes:
        lon, lat = state.jurisdictions.get(grid).anchor
        x, y = places.to_metric([lon], [lat])
        if not places.inside(everywhere, x, y, within_m=250)[0]:
            if found == nth:
                return lon, lat
            found += 1
    raise AssertionError("no grid anchor outside the zones")


def stopped_tanker_frames(camera: str, lon: float, lat: float, start: float, seconds: int) -> list[ObservationBatch]:
    """A hazmat tanker standing still at (lon, lat), one frame a second."""
    return [ObservationBatch(camera, start + i, track_id=[7], cls=["hazmat_tanker"], conf=[0.9],
                             xyxy=[[10, 10, 80, 60]], lon=[lon], lat=[lat], speed_kmh=[0.0])
            for i in range(seconds + 1)]


def _alerts_of(state, **filters) -> list:
    return [a for a in state.alerts.list(Scope.everything(), limit=10_000)
            if all(getattr(a, k, None) == v or a.details.get(k) == v for k, v in filters.items())]


def test_the_console_seeds_the_shipped_models_once(console, tmp_path):
    _, state, _ = console
    assert state.models.production("warning").label == "default@1"
    assert state.models.production("trajectory").label == "hazmat-telemetry@1"
    seeded = [(a.action, a.actor) for a in state.models.audit() if a.actor == "system"]
    assert sorted(seeded) == [("add", "system")] * 2 + [("promote", "system")] * 2
    # A console started again on the same database seeds nothing more and runs production.
    settings = console_settings(tmp_path / "again")
    first = create_app(settings)
    with TestClient(first):
        first.state.console.models.add("warning", variant(SHIPPED, 2, min_duration_s=5), "ana", "quick")
        first.state.console.models.promote("warning", "default", 2, "ana", "quick")
    second = create_app(settings)
    with TestClient(second):
        again = second.state.console
        assert len(again.models.audit()) == 6
        assert again.warnings.model_label == "default@2"


def test_a_settings_file_pins_the_model_at_start(tmp_path):
    pinned = tmp_path / "pinned.yaml"
    pinned.write_text(variant(SHIPPED, 1, min_duration_s=5).replace("name: default", "name: pinned"))
    from zhizhi.console.settings import WarningSettings

    app = create_app(console_settings(tmp_path / "data", warning=WarningSettings(model=pinned)))
    with TestClient(app):
        state = app.state.console
        assert state.warnings.model_label == "pinned@1"  # the file runs ...
        assert state.models.production("warning").label == "default@1"  # ... the store is unchanged
        state.models.add("warning", variant(SHIPPED, 2), "ana", "v2")
        state.models.promote("warning", "default", 2, "ana", "a promotion still reaches it")
        assert state.warnings.wait_idle() and state.warnings.model_label == "default@2"


def test_a_promotion_reaches_the_running_warning_runner(console):
    """Done when: the same replayed frames raise an alert after a promotion, not before."""
    client, state, logins = console
    heard = []
    state.bus.subscribe(Topic.MODELS, heard.append)
    runner = state.warnings
    lon, lat = _free_point(state)
    start = time.time() - 600
    camera = "CAM-MODELS-1"
    for message in stopped_tanker_frames(camera, lon, lat, start, 12):  # 12 s < the shipped 20 s
        state.bus.publish(Topic.FRAMES, message)
    assert runner.wait_idle() and not _alerts_of(state, camera_id=camera)
    assert runner.model_label == "default@1"

    analyst = logins["analyst-d"]
    quick = variant(SHIPPED, 2, min_duration_s=5)
    added = client.post("/api/models", json={"kind": "warning", "content": quick, "reason": "stops of 5 s"},
                        headers=analyst)
    assert added.status_code == 201 and added.json()["status"] == "draft", added.text
    promoted = client.post("/api/models/warning/default/2/promote", json={"reason": "night shift wants it"},
                           headers=analyst)
    assert promoted.status_code == 200 and promoted.json()["status"] == "production", promoted.text
    assert heard[-1] == ModelPromoted(kind="warning", name="default", version=2, content=quick, action="promote")
    assert heard[-1].to_wire() == {"type": "model_promoted", "kind": "warning", "name": "default",
                                   "version": 2, "content": quick, "action": "promote"}
    assert runner.wait_idle() and runner.model_label == "default@2" and runner.stats()["swaps"] >= 1
    assert runner._thread.is_alive()  # the same runner, not restarted

    for message in stopped_tanker_frames(camera, lon, lat, start + 100, 12):  # the same frames again
        state.bus.publish(Topic.FRAMES, message)
    assert runner.wait_idle()
    (alert,) = _alerts_of(state, camera_id=camera)
    assert alert.rule_id == STOP_RULE and alert.model == "default@2"
    assert abs(alert.first_ts - (start + 100)) < 1.5

    listed = {(m["name"], m["version"]): m for m in client.get("/api/models?kind=warning", headers=analyst).json()}
    assert listed[("default", 2)]["running"] and listed[("default", 2)]["status"] == "production"
    assert not listed[("default", 1)]["running"] and listed[("default", 1)]["status"] == "retired"
    back = client.post("/api/models/warning/rollback", json={"reason": "too many alerts"}, headers=analyst)
    assert back.status_code == 200 and back.json()["version"] == 1
    assert _runs(runner, "default@1")
    entry = client.get("/api/models/audit", params={"kind": "warning"}, headers=analyst).json()[0]
    assert (entry["action"], entry["actor"], entry["version"], entry["from_version"], entry["reason"]) == (
        "rollback", "analyst-d", 1, 2, "too many alerts")


def test_a_promotion_reaches_the_running_trajectory_runner(console):
    client, state, logins = console
    runner = state.trajectory
    lon, lat = _free_point(state, 1)  # not where the video test's tanker stopped: that would join its alert
    vehicle = "MODELS-TANKER-1"
    now = time.time()

    def stopped(start: float) -> list[Fix]:
        return [Fix(vehicle, start + 10 * i, lon, lat, speed_kmh=0.0) for i in range(7)]  # 60 s standing still

    def publish(fixes: list[Fix]) -> None:
        state.bus.publish(Topic.TELEMETRY, FixBatch(tuple(fixes)))

    publish(stopped(now - 140))  # 60 s < the shipped 300 s
    assert runner.wait_idle() and not _alerts_of(state, vehicle_id=vehicle)
    data = yaml.safe_load(SHIPPED_TRAJECTORY.read_text())
    data["version"] = 2
    next(r for r in data["rules"] if r["id"] == STOP_RULE)["min_duration_s"] = 30
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    analyst = logins["analyst-d"]
    assert client.post("/api/models", json={"kind": "trajectory", "content": text, "reason": "30 s"},
                       headers=analyst).status_code == 201
    diff = client.get("/api/models/trajectory/hazmat-telemetry/diff", params={"a": 1, "b": 2}, headers=analyst)
    assert f"rules.{STOP_RULE}.min_duration_s: 300 -> 30" in [
        f"{c['path']}: {c['old']:g} -> {c['new']:g}"
        for c in diff.json()["changes"]
        if c["path"].endswith("min_duration_s")
    ]
    assert client.post("/api/models/trajectory/hazmat-telemetry/2/promote", json={"reason": "30 s"},
                       headers=analyst).status_code == 200
    publish(stopped(now - 70))  # the same stop again
    assert runner.wait_idle() and runner.model_label == "hazmat-telemetry@2"
    alerts = _alerts_of(state, vehicle_id=vehicle)
    assert [a.rule_id for a in alerts] == [STOP_RULE] and alerts[0].model == "hazmat-telemetry@2"
    state.models.rollback("trajectory", "analyst-d", "back")
    assert _runs(runner, "hazmat-telemetry@1")


def test_a_promotion_from_the_command_line_reaches_the_running_console(console, tmp_path):
    _, state, _ = console
    db_url = state.settings.resolved_database_url
    runner = state.warnings
    cli_store = ModelStore(make_engine(db_url))
    cli_store.add("warning", variant(SHIPPED, 3, min_duration_s=8), "cli-user", "from the shell")
    cli_store.promote("warning", "default", 3, "cli-user", "from the shell")
    state.model_watch.check()  # what the console's watch does every few seconds
    assert _runs(runner, "default@3")  # (the watch's own thread may have applied it first)
    state.models.rollback("warning", "admin", "back")
    assert _runs(runner, "default@1")


def _runs(runner, label: str) -> bool:
    """Whether the runner comes to run ``label``: a swap queued by the model watch's own thread
    may still be on its way when ``wait_idle`` first returns."""
    return wait_until(lambda: runner.wait_idle(1.0) and runner.model_label == label, timeout=15, interval=0.05)


# --- the API's permissions ----------------------------------------------------------------------------


def test_reading_needs_read_and_changing_needs_a_district_model_manager(console):
    client, state, logins = console
    for user in ("operator-a", "duty-district", "analyst-town"):
        listed = client.get("/api/models", headers=logins[user])
        assert listed.status_code == 200 and {"warning", "trajectory"} <= {m["kind"] for m in listed.json()}
        shown = client.get("/api/models/warning/default/1", headers=logins[user])
        assert shown.status_code == 200 and shown.json()["content"] == SHIPPED
    text = variant(SHIPPED, 40, min_duration_s=9)
    body = {"kind": "warning", "content": text, "reason": "try"}
    refused = client.post("/api/models", json=body, headers=logins["duty-district"])
    assert refused.status_code == 403 and "needs permission models.manage" in refused.json()["detail"]
    town = client.post("/api/models", json=body, headers=logins["analyst-town"])
    assert town.status_code == 403 and "district-wide" in town.json()["detail"]
    assert client.post("/api/models/warning/rollback", json={"reason": "x"},
                       headers=logins["analyst-town"]).status_code == 403
    assert client.post("/api/models/warning/default/1/promote", json={"reason": "x"},
                       headers=logins["operator-a"]).status_code == 403
    assert all(v.version != 40 for v in state.models.list("warning"))
    admin = logins["admin-d"]
    assert client.post("/api/models", json=body, headers=admin).status_code == 201
    assert client.post("/api/models", json=body | {"content": variant(SHIPPED, 40, min_duration_s=8)},
                       headers=admin).status_code == 409
    invalid = client.post("/api/models", json=body | {"content": variant(SHIPPED, 41, min_duration_s=-1, max_gap_s=-1)},
                          headers=admin)
    assert invalid.status_code == 422
    assert {e["path"] for e in invalid.json()["detail"]["errors"]} == {
        "rules.0.abnormal_stop.min_duration_s", "rules.0.abnormal_stop.max_gap_s"}
    assert client.get("/api/models/warning/default/999", headers=admin).status_code == 404
    assert client.get("/api/models/radar/default/1", headers=admin).status_code == 422
    assert (
        client.post("/api/models/warning/default/999/promote", json={"reason": "x"}, headers=admin).status_code == 404
    )
    assert client.post("/api/models/warning/default/40/promote", json={"reason": ""}, headers=admin).status_code == 422
    assert client.get("/api/models").status_code == 401


# --- the command line -------------------------------------------------------------------------------------


def test_the_models_commands(tmp_path, monkeypatch):
    from zhizhi.console.cli import app

    monkeypatch.setenv("ZHIZHI_CONFIG", str(tmp_path / "none.toml"))
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]

    def run(*args: str) -> str:
        result = runner.invoke(app, ["models", *args, *data])
        assert result.exit_code == 0, result.output
        return result.output

    one, two = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    one.write_text(SHIPPED)
    two.write_text(variant(SHIPPED, 2, min_duration_s=60))
    assert "default@1" in run("add", str(one), "--reason", "shipped", "--author", "ana")
    assert "warning" in run("add", str(two), "--reason", "slower")  # the kind read from the file
    run("add", str(SHIPPED_TRAJECTORY), "--reason", "shipped")
    assert f"rules.{STOP_RULE}.min_duration_s: 20 -> 60" in run("diff", "warning", "default", "1", "2")
    assert "in production: warning    default@1" in run("promote", "warning", "default", "1", "--reason", "r1")
    run("promote", "warning", "default", "2", "--reason", "r2", "--author", "bo")
    assert "rolled back to: warning    default@1" in run("rollback", "warning", "--reason", "too slow")
    listed = run("list", "--kind", "warning")
    assert "default@1" in listed and "production" in listed and "retired" in listed
    assert run("show", "warning", "default", "2") == two.read_text()
    audit = run("audit").splitlines()
    assert "rollback" in audit[0] and "too slow" in audit[0] and "(was default@2)" in audit[0]
    assert "bo" in audit[1] and "r2" in audit[1]
    bad = tmp_path / "bad.yaml"
    bad.write_text(variant(SHIPPED, 3, min_duration_s=-1))
    refused = runner.invoke(app, ["models", "add", str(bad), "--reason", "x", "--kind", "warning", *data])
    assert refused.exit_code == 2 and "rules.0.abnormal_stop.min_duration_s" in refused.output
    again = runner.invoke(app, ["models", "promote", "warning", "default", "1", "--reason", "x", *data])
    assert again.exit_code == 2 and "in production already" in again.output
