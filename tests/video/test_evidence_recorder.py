"""Evidence from a worker's frames: real JPEGs, a real evidence store and alert service, real
threads; and the worker publishing frame batches and feeding the recorder."""

from __future__ import annotations

import logging
import threading
import time

import cv2
import numpy as np

from tests.alerts_support import T0, Recorder, grids_of, warning
from tests.clip_support import frame_count
from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.video.annotate import annotate, to_jpeg
from zhizhi.video.evidence import EvidenceRecorder
from zhizhi.video.evidence_store import EvidenceStore

W, H = 160, 120
STEP = 0.25  # seconds between frames (exact in binary: no rounding at the buffer's edge)


def jpeg(i: int, camera: str = "CAM-E") -> bytes:
    """An annotated frame that shows its index."""
    image = np.zeros((H, W, 3), np.uint8)
    image[:] = (i * 9 % 256, 90, 160)
    cv2.putText(image, str(i), (60, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    box = ObservationBatch(camera, T0 + i * STEP, track_id=[7], cls=["hazmat_tanker"], conf=[0.9],
                           xyxy=[(20 + i, 30, 70 + i, 80)])
    return to_jpeg(annotate(image, box, label=camera))


def feed(recorder: EvidenceRecorder, indices, camera: str = "CAM-E") -> None:
    for i in indices:
        recorder.add(camera, T0 + i * STEP, jpeg(i, camera))


def test_a_new_alert_gets_a_snapshot_and_a_clip_of_before_and_after(bus, service, store):
    messages = Recorder(bus)
    recorder = EvidenceRecorder(store, service.attach_evidence, pre_s=2.0, post_s=1.0).attach(bus)
    feed(recorder, range(20))  # t = 0 .. 4.75 s; the last 2 s are frames 11..19
    assert recorder.buffered("CAM-E")[0] == 9
    alert = service.ingest(warning(grids_of(0)[0], camera="CAM-E", first=T0 + 3.0, last=T0 + 4.75))
    assert recorder.wait_idle(10)
    with_snapshot = service.get(alert.id)
    assert with_snapshot.evidence.snapshot == f"{alert.id}/snapshot.jpg" and with_snapshot.evidence.clip is None
    assert (store.root / with_snapshot.evidence.snapshot).read_bytes() == jpeg(12)  # nearest first_ts

    feed(recorder, range(20, 30))  # 5.0 .. 5.75 s belong to the clip, 6.0 s completes it
    assert recorder.wait_idle(10)
    done = service.get(alert.id)
    assert done.evidence.clip == f"{alert.id}/clip.webm"
    assert frame_count(store.root / done.evidence.clip, (W, H)) == 9 + 4
    assert messages.events == ["new", "updated", "updated"]
    assert messages.messages[-1].evidence.model_dump() == {"snapshot": f"{alert.id}/snapshot.jpg",
                                                 "clip": f"{alert.id}/clip.webm", "track": None}
    assert recorder.stats()["snapshots"] == 1 and recorder.stats()["clips"] == 1
    assert recorder.stop()


def test_only_new_alerts_of_its_own_cameras_make_evidence(bus, service, store):
    recorder = EvidenceRecorder(store, service.attach_evidence, pre_s=2.0, post_s=0.0).attach(bus)
    feed(recorder, range(8))
    other = service.ingest(warning(grids_of(1)[0], camera="CAM-ELSEWHERE", track=8))  # elsewhere: its own alert
    mine = service.ingest(warning(grids_of(0)[0], camera="CAM-E", track=9, last=T0))
    assert recorder.wait_idle(10)
    service.ingest(warning(grids_of(0)[0], camera="CAM-E", track=9, last=T0 + 10))  # an update
    assert recorder.wait_idle(10)
    assert not store.path_of(other.id, "snapshot").exists()
    assert service.get(other.id).evidence.snapshot is None
    assert store.path_of(mine.id, "snapshot").is_file() and store.path_of(mine.id, "clip").is_file()
    assert recorder.stats()["snapshots"] == 1 and recorder.stats()["clips"] == 1
    recorder.stop()


def test_the_ring_buffer_stays_bounded_by_age_count_and_bytes(store):
    size = len(jpeg(0))
    by_age = EvidenceRecorder(store, lambda *a, **k: None, pre_s=1.0, max_frames=1000)
    by_count = EvidenceRecorder(store, lambda *a, **k: None, pre_s=1000.0, max_frames=10)
    by_bytes = EvidenceRecorder(store, lambda *a, **k: None, pre_s=1000.0, max_bytes=int(3.5 * size))
    for recorder in (by_age, by_count, by_bytes):
        feed(recorder, range(200))
    assert by_age.buffered("CAM-E")[0] == 5  # 48.75 - 1.0 .. 48.75 s
    assert by_count.buffered("CAM-E")[0] == 10
    frames, nbytes = by_bytes.buffered("CAM-E")
    assert frames <= 4 and nbytes <= 3.5 * size
    assert by_count.stats()["cameras"] == 1 and by_count.buffered("CAM-UNKNOWN") == (0, 0)
    for recorder in (by_age, by_count, by_bytes):
        recorder.stop()


def test_a_camera_that_stops_still_gets_its_clip(bus, service, store):
    recorder = EvidenceRecorder(store, service.attach_evidence, pre_s=2.0, post_s=0.5, grace_s=0.2).attach(bus)
    feed(recorder, range(6))
    alert = service.ingest(warning(grids_of(1)[0], camera="CAM-E", track=11))
    deadline = time.monotonic() + 10
    while service.get(alert.id).evidence.clip is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert frame_count(store.root / service.get(alert.id).evidence.clip, (W, H)) == 6
    recorder.stop()


def test_stop_writes_the_clips_being_collected(bus, service, store):
    recorder = EvidenceRecorder(store, service.attach_evidence, pre_s=2.0, post_s=60.0).attach(bus)
    feed(recorder, range(4))
    alert = service.ingest(warning(grids_of(1)[0], camera="CAM-E", track=12))
    feed(recorder, range(4, 7))
    assert recorder.stop()
    assert frame_count(store.path_of(alert.id, "clip"), (W, H)) == 7
    assert service.get(alert.id).evidence.clip == f"{alert.id}/clip.webm"


def test_failures_to_write_or_report_are_logged_and_never_raise(tmp_path, bus, service, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the evidence folder should be")
    broken = EvidenceRecorder(EvidenceStore(blocked, 30), service.attach_evidence, pre_s=1.0, post_s=0.0).attach(bus)

    def refuse(alert_id, **files):
        raise RuntimeError("alert service down")

    store = EvidenceStore(tmp_path / "evidence", 30)
    unreported = EvidenceRecorder(store, refuse, pre_s=1.0, post_s=0.0).attach(bus)
    with caplog.at_level(logging.ERROR, logger="zhizhi.video.evidence"):
        for recorder in (broken, unreported):
            feed(recorder, range(5))
        alert = service.ingest(warning(grids_of(2)[0], camera="CAM-E", track=13))
        for recorder in (broken, unreported):
            assert recorder.wait_idle(10)
            feed(recorder, range(5, 10))  # frames keep flowing after the failure
    assert broken.stats()["errors"] == 2 and broken.stats()["snapshots"] == 0
    assert unreported.stats()["errors"] == 2 and unreported.stats()["clips"] == 1  # written, not reported
    assert store.path_of(alert.id, "clip").is_file()
    assert service.get(alert.id).evidence.snapshot is None
    assert any("writing evidence failed" in r.getMessage() for r in caplog.records)
    assert any("reporting evidence" in r.getMessage() for r in caplog.records)
    assert broken.buffered("CAM-E")[0] == 5
    broken.stop()
    unreported.stop()


def test_the_worker_publishes_every_frame_as_a_batch_and_feeds_the_recorder(tmp_path, store):
    from zhizhi.video.camera_config import CameraConfig, SourceConfig
    from zhizhi.video.detectors import make_detector
    from zhizhi.video.worker import Worker

    clip = tmp_path / "street.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 20.0, (320, 240))
    for i in range(60):
        image = np.full((240, 320, 3), 90, np.uint8)
        if i >= 20:  # an empty street first, then something moves through
            x = 10 + 6 * (i - 20)
            cv2.rectangle(image, (x, 100), (x + 40, 130), (240, 240, 240), -1)
        writer.write(image)
    writer.release()
    bus = InProcessBus()
    frames, published = [], []
    bus.subscribe(Topic.FRAMES, frames.append)

    def publish(topic, message) -> None:
        published.append(topic)
        bus.publish(topic, message)

    recorder = EvidenceRecorder(store, lambda *a, **k: None, pre_s=30.0)
    camera = CameraConfig(id="street", source=SourceConfig(url=str(clip)), analysis_fps=20)
    worker = Worker([camera], make_detector("motion"), publish, evidence=recorder)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (len(frames) >= 40 and any(len(f) for f in frames)):
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
        worker.close()
        bus.stop()
    assert len(frames) == worker.stats()["frames"] >= 40
    # one message per analysed frame, nothing else but camera statuses
    assert published.count(Topic.FRAMES) == len(frames) and set(published) <= {Topic.FRAMES, Topic.CAMERA_STATUS}
    assert all(isinstance(f, ObservationBatch) and f.camera_id == "street" for f in frames)
    assert [f.ts for f in frames] == sorted(f.ts for f in frames)
    assert any(f.is_empty() for f in frames)  # empty frames are published too
    assert sum(len(f) for f in frames) == worker.stats()["observations"] > 0
    count, nbytes = recorder.buffered("street")
    # a picture of every frame with objects and of the one after; of the empty street one a second
    pictured, last = 0, None
    for f in frames:
        if len(f) or last is None or last[1] or f.ts - last[0] >= worker.idle_picture_s:
            pictured, last = pictured + 1, (f.ts, bool(len(f)))
    assert count == pictured < len(frames) and nbytes > 0
    # and hands the recorder each frame's batch: those with objects are kept for alerts' tracks
    assert recorder.buffered_observations("street") == (sum(1 for f in frames if len(f)), sum(len(f) for f in frames))
    recorder.stop()
