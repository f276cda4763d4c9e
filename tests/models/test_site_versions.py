"""Camera-scoped detector versions (a site adaptation's): stored with their camera as scope,
promoted and rolled back beside the district-wide detector, and run by the workers for that camera
alone (video.detectors.per_camera, models.detector.site.serving)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from tests.db_support import upgrade_with_rows
from zhizhi.layers import make_engine
from zhizhi.models.detector.site.serving import SiteDetectorFeed, camera_weights
from zhizhi.models.versions.errors import ModelConflict
from zhizhi.models.versions.store import ModelStore
from zhizhi.models.versions.watch import ModelWatch
from zhizhi.video.detectors.base import TrackedBoxes
from zhizhi.video.detectors.per_camera import PerCameraDetector

NAMES = ("car", "bus", "truck", "hazmat_tanker", "person")


def _manifest(tmp_path, stem: str, camera_id: str | None = None, payload: bytes = b"w") -> str:
    weights = tmp_path / f"{stem}.pt"
    weights.write_bytes(payload * 64)
    data = {"name": stem.rsplit("-v", 1)[0] if stem.startswith("site-") else stem, "weights_path": str(weights),
            "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(), "report": {"map50": 0.5}}
    if camera_id is not None:
        data["camera_id"] = camera_id
    return json.dumps(data)


@pytest.fixture
def store(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'models.db'}")
    yield ModelStore(engine)
    engine.dispose()


def test_a_cameras_version_goes_into_production_beside_the_district_wide_one(store, tmp_path):
    shipped = store.add("detector", _manifest(tmp_path, "zhizhi-det-v2"), "system", "shipped")
    store.promote("detector", shipped.name, shipped.version, "system", "shipped")
    a1 = store.add("detector", _manifest(tmp_path, "site-C1-v1", "C1", b"a"), "ops", "adapted")
    a2 = store.add("detector", _manifest(tmp_path, "site-C1-v2", "C1", b"b"), "ops", "adapted again")
    b1 = store.add("detector", _manifest(tmp_path, "site-C2-v1", "C2", b"c"), "ops", "adapted")
    assert (a1.scope, a1.camera_id, a1.label, a2.label, shipped.scope) == ("C1", "C1", "site-C1@1", "site-C1@2", "")
    store.promote("detector", "site-C1", 1, "chief", "fewer phantom tankers")
    store.promote("detector", "site-C2", 1, "chief", "fewer phantom tankers")
    assert store.production("detector").label == "zhizhi-det-v2@1"  # the district-wide one stays
    assert store.production("detector", scope="C1").label == "site-C1@1"
    assert {c: v.label for c, v in store.scoped_productions("detector").items()} == {"C1": "site-C1@1",
                                                                                      "C2": "site-C2@1"}
    store.promote("detector", "site-C1", 2, "chief", "longer recording")
    assert store.get("detector", "site-C1", 1).status == "retired"
    assert store.production("detector", scope="C2").label == b1.label  # another camera's untouched
    assert store.production("detector").label == "zhizhi-det-v2@1"
    assert store.rollback("detector", "chief", "worse at night", scope="C1").label == "site-C1@1"
    with pytest.raises(ModelConflict, match="camera C2"):
        store.rollback("detector", "chief", "x", scope="C2")
    with pytest.raises(ModelConflict):  # the district-wide history has one promotion only
        store.rollback("detector", "chief", "x")
    assert [v.label for v in store.list("detector", scope="C1")] == ["site-C1@1", "site-C1@2"]


def test_a_cameras_promotion_is_not_taken_for_the_district_wide_one(store, tmp_path):
    shipped = store.add("detector", _manifest(tmp_path, "zhizhi-det-v2"), "system", "shipped")
    store.promote("detector", shipped.name, shipped.version, "system", "shipped")
    heard = []
    watch = ModelWatch(store, lambda version, action: heard.append(version.label), interval_s=0)
    store.add("detector", _manifest(tmp_path, "site-C1-v1", "C1", b"a"), "ops", "adapted")
    store.promote("detector", "site-C1", 1, "chief", "go")
    assert watch.check() == [] and heard == []


def test_versions_stored_before_the_scope_are_every_cameras(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade_with_rows(engine, "0007", (
            "INSERT INTO model_versions (kind, name, version, content, status, author, reason, created_ts, "
            "checksum) VALUES ('detector', 'old', 1, '{}', 'production', 'a', 'r', 0, 'x')"))
        store = ModelStore(engine)
        assert store.production("detector").name == "old" and store.production("detector").scope == ""
        store.add("detector", _manifest(tmp_path, "site-C1-v1", "C1"), "ops", "adapted")
        store.promote("detector", "site-C1", 1, "chief", "go")  # beside the old production one
        assert store.production("detector").name == "old"
    finally:
        engine.dispose()


class FakeDetector:
    """Answers every frame with one box whose confidence tells which detector it came from."""

    def __init__(self, mark: float, names=NAMES) -> None:
        self.mark, self.names = mark, tuple(names)
        self.calls: list[list[str]] = []
        self.masks: dict[str, list] = {}
        self.resets: list[str] = []
        self.closed = False

    def update(self, frames):
        self.calls.append([c for c, _ in frames])
        return [TrackedBoxes([[0, 0, 1, 1]], [self.mark], [0], [1], self.names) for _ in frames]

    def set_masks(self, camera_id, masks):
        self.masks[camera_id] = masks

    def reset(self, camera_id):
        self.resets.append(camera_id)

    def close(self):
        self.closed = True


def test_each_camera_runs_its_own_weights_and_the_rest_the_shared_detector():
    shared = FakeDetector(0.1)
    built: dict[str, FakeDetector] = {}

    def make(weights: str) -> FakeDetector:
        if weights.endswith("broken.pt"):
            raise OSError("cannot read")
        if weights.endswith("other-classes.pt"):
            return FakeDetector(0.9, names=("moving_object",))
        built[weights] = FakeDetector(0.5 + len(built) / 10)
        return built[weights]

    per = PerCameraDetector(shared, make)
    image = np.zeros((4, 4, 3), np.uint8)
    per.set_masks("C1", [[(0, 0), (2, 0), (2, 2)]])
    assert per.set_weights("C1", "/w/site-C1.pt") is True
    assert built["/w/site-C1.pt"].masks["C1"] == [[(0, 0), (2, 0), (2, 2)]]  # the masks follow the camera
    assert per.set_weights("C1", "/w/site-C1.pt") is False  # the same weights: nothing to do
    out = per.update([("C2", image), ("C1", image), ("C3", image)])
    assert [round(float(b.conf[0]), 3) for b in out] == [0.1, 0.5, 0.1]
    assert shared.calls == [["C2", "C3"]] and built["/w/site-C1.pt"].calls == [["C1"]]  # one call each
    assert per.set_weights("C2", "/w/broken.pt") is False and per.weights_of("C2") is None
    assert per.set_weights("C2", "/w/other-classes.pt") is False and per.weights_of("C2") is None
    assert per.set_weights("C1", None) is True and built["/w/site-C1.pt"].closed
    assert [round(float(b.conf[0]), 3) for b in per.update([("C1", image)])] == [0.1]
    per.close()
    assert shared.closed


def test_the_feed_follows_the_stores_camera_productions(store, tmp_path):
    shared = FakeDetector(0.1)
    per = PerCameraDetector(shared, lambda weights: FakeDetector(0.7))
    feed = SiteDetectorFeed(store, per, interval_s=0)
    assert feed.refresh() == {}
    one = store.add("detector", _manifest(tmp_path, "site-C1-v1", "C1", b"a"), "ops", "adapted")
    store.promote("detector", "site-C1", 1, "chief", "go")
    weights = json.loads(one.content)["weights_path"]
    assert feed.refresh() == {"C1": weights} == camera_weights(store)
    assert per.weights_of("C1") == weights
    store.add("detector", _manifest(tmp_path, "site-C1-v2", "C1", b"b"), "ops", "again")
    store.promote("detector", "site-C1", 2, "chief", "go")
    feed.refresh()
    assert per.weights_of("C1").endswith("site-C1-v2.pt")
    store.rollback("detector", "chief", "back", scope="C1")
    feed.refresh()
    assert per.weights_of("C1") == weights
    (tmp_path / "site-C1-v1.pt").write_bytes(b"changed")  # weights that no longer match: not used
    assert camera_weights(store) == {}
    feed.refresh()
    assert per.weights_of("C1") is None


def test_models_commands_show_the_camera_and_roll_back_its_versions(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from zhizhi.console.cli_models import models_app
    from zhizhi.console.settings import Settings

    monkeypatch.delenv("ZHIZHI_DATABASE_URL", raising=False)
    data = tmp_path / "var"
    data.mkdir()
    settings = Settings()
    settings.data_dir = data
    engine = make_engine(settings.resolved_database_url)
    store = ModelStore(engine)
    for n, payload in ((1, b"a"), (2, b"b")):
        store.add("detector", _manifest(tmp_path, f"site-C1-v{n}", "C1", payload), "ops", "adapted")
        store.promote("detector", "site-C1", n, "chief", "go")
    engine.dispose()
    runner = CliRunner()
    listed = runner.invoke(models_app, ["list", "--kind", "detector", "--data-dir", str(data)])
    assert listed.exit_code == 0 and "(camera C1)" in listed.output
    refused = runner.invoke(models_app, ["rollback", "detector", "--reason", "x", "--author", "chief",
                                         "--data-dir", str(data)])
    assert refused.exit_code == 2 and "no earlier detector production version to roll back" in refused.output
    back = runner.invoke(models_app, ["rollback", "detector", "--camera", "C1", "--reason", "worse at night",
                                      "--author", "chief", "--data-dir", str(data)])
    assert back.exit_code == 0 and "site-C1@1" in back.output


def test_a_worker_runs_a_cameras_promoted_weights_for_that_camera_alone(store, tmp_path):
    import shutil

    from zhizhi.console.settings import Settings
    from zhizhi.models.detector import SHIPPED_WEIGHTS
    from zhizhi.models.detector.site.serving import serve_site_detectors
    from zhizhi.video.detectors import UltralyticsDetector

    weights = tmp_path / "site-C1-v1.pt"
    shutil.copyfile(SHIPPED_WEIGHTS, weights)
    manifest = {"name": "site-C1", "weights_path": str(weights), "camera_id": "C1", "report": {},
                "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
    store.add("detector", json.dumps(manifest), "ops", "adapted")
    store.promote("detector", "site-C1", 1, "chief", "go")
    settings = Settings(data_dir=tmp_path)
    shared = UltralyticsDetector(SHIPPED_WEIGHTS, imgsz=settings.detector.imgsz, conf=settings.detector.conf)
    detector, feed = serve_site_detectors(shared, store, settings, interval_s=60)
    try:
        assert isinstance(detector, PerCameraDetector) and detector.shared is shared
        assert detector.weights_of("C1") == str(weights) and detector.weights_of("C2") is None
        image = np.full((216, 384, 3), 120, np.uint8)
        out = detector.update([("C1", image), ("C2", image)])
        assert len(out) == 2 and all(isinstance(b, TrackedBoxes) for b in out)
    finally:
        feed.stop()
        detector.close()
    # a motion detector has no weights to swap: it is left as it is
    from zhizhi.video.detectors import MotionDetector

    motion = MotionDetector()
    assert serve_site_detectors(motion, store, settings) == (motion, None)
