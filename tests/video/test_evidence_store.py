"""Evidence files: snapshot and MP4 clip written and read back, ids checked, old files purged."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from tests.alerts_support import T0, FakeClock, grids_of, open_service, warning
from zhizhi.layers.ids import new_alert_id
from zhizhi.video.evidence_store import EvidenceError


def _frames(n=12, w=160, h=96):
    frames = []
    for i in range(n):
        frame = np.zeros((h, w, 3), np.uint8)
        cv2.rectangle(frame, (5 + 8 * i, 30), (35 + 8 * i, 60), (0, 140, 255), -1)
        frames.append(frame)
    return frames


def test_snapshot_round_trip(store):
    alert_id = new_alert_id()
    encoded, jpeg = cv2.imencode(".jpg", _frames(1)[0])
    assert encoded
    rel = store.save_snapshot(alert_id, jpeg.tobytes())
    assert rel == f"{alert_id}/snapshot.jpg"
    assert store.path_of(alert_id, "snapshot") == store.root / rel
    image = cv2.imread(str(store.root / rel))
    assert image.shape == (96, 160, 3)
    assert not [p for p in (store.root / alert_id).iterdir() if p.name.startswith(".")]


def test_clip_round_trip(store):
    alert_id = new_alert_id()
    rel = store.save_clip(alert_id, _frames(), fps=12.5)
    capture = cv2.VideoCapture(str(store.root / rel))
    try:
        assert capture.isOpened()
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
        assert (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (160, 96)
        ok, frame = capture.read()
        assert ok and frame.shape == (96, 160, 3)
    finally:
        capture.release()
    assert rel.endswith("clip.webm") and (store.root / rel).stat().st_size < 100_000


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "..", "", "a/b", "ABCDEFGHJKMN", "abc", "k3v9q2m7xa1b/..", "k3v9q2m7xa1b\x00"]
)
def test_ids_cannot_escape_the_folder(store, bad):
    with pytest.raises(EvidenceError, match="invalid alert id"):
        store.save_snapshot(bad, b"\xff\xd8\xff")
    with pytest.raises(EvidenceError, match="invalid alert id"):
        store.path_of(bad, "clip")
    assert not store.root.exists()


@pytest.mark.parametrize(
    "frames, fps, fragment",
    [
        ([], 10, "1..1800 frames"),
        ([np.zeros((10, 10), np.uint8)], 10, "BGR"),
        ([np.zeros((10, 10, 3), np.float32)], 10, "BGR"),
        ([np.zeros((10, 10, 3), np.uint8), np.zeros((12, 10, 3), np.uint8)], 10, "frame 1"),
        ([np.zeros((10, 10, 3), np.uint8)], 0, "fps"),
    ],
)
def test_bad_clips_are_refused(store, frames, fps, fragment):
    with pytest.raises(EvidenceError, match=fragment):
        store.save_clip(new_alert_id(), frames, fps)


def test_snapshot_must_be_a_jpeg(store):
    with pytest.raises(EvidenceError, match="not a JPEG"):
        store.save_snapshot(new_alert_id(), b"\x89PNG\r\n")


def test_purge_removes_only_expired_files(store):
    old, fresh = new_alert_id(), new_alert_id()
    store.save_snapshot(old, b"\xff\xd8old")
    store.save_clip(old, _frames(3), fps=5)
    store.save_snapshot(fresh, b"\xff\xd8new")
    now = T0 + 100 * 86400
    for path in (store.root / old).iterdir():
        os.utime(path, (now - 31 * 86400, now - 31 * 86400))
    os.utime(store.path_of(fresh, "snapshot"), (now - 29 * 86400,) * 2)
    (store.root / "not-an-alert").mkdir()
    assert sorted(store.purge(now)) == [f"{old}/clip.webm", f"{old}/snapshot.jpg"]
    assert not (store.root / old).exists() and store.path_of(fresh, "snapshot").is_file()
    assert (store.root / "not-an-alert").is_dir()
    assert store.purge(now) == []


def test_evidence_recorded_on_the_alert(tmp_path, store):
    service = open_service(tmp_path / "a.db", FakeClock())
    alert = service.ingest(warning(grids_of(0)[0]))
    snapshot = store.save_snapshot(alert.id, b"\xff\xd8jpeg")
    clip = store.save_clip(alert.id, _frames(2), fps=5)
    updated = service.attach_evidence(alert.id, snapshot=snapshot, clip=clip)
    assert updated.evidence.snapshot == snapshot and updated.evidence.clip == clip
    assert service.history(alert.id)[-1].note == "evidence: clip, snapshot"
    assert updated.to_message()["evidence"] == {"snapshot": snapshot, "clip": clip, "track": None}
