"""Evidence grows when another camera joins an alert (issue 17): the recorder writes a snapshot,
a clip and a track of the joining camera — real JPEGs, a real evidence store, alert service and
bus, real threads — each camera once per alert, never outside the alert's folder."""

from __future__ import annotations

import cv2
import numpy as np

from tests.alerts_support import T0, Recorder, grids_of, warning
from tests.clip_support import frame_count
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.models.backtest.frames import read_observations
from zhizhi.video.annotate import annotate, to_jpeg
from zhizhi.video.evidence import EvidenceRecorder
from zhizhi.video.evidence_store import camera_slug

W, H = 160, 120
STEP = 0.25  # seconds between frames
GRID = grids_of(0)[0]
TRACKS = {"CAM-1": 7, "CAM-2": 8, "CAM-3": 9, "../x": 10}


def jpeg(i: int, camera: str) -> bytes:
    """An annotated frame of ``camera`` that shows its index (each camera its own colour)."""
    image = np.zeros((H, W, 3), np.uint8)
    image[:] = (i * 9 % 256, 40 + 50 * sorted(TRACKS).index(camera), 160)
    cv2.putText(image, str(i), (60, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    return to_jpeg(annotate(image, batch(i, camera), label=camera))


def batch(i: int, camera: str) -> ObservationBatch:
    return ObservationBatch(camera, T0 + i * STEP, track_id=[TRACKS[camera]], cls=["hazmat_tanker"], conf=[0.9],
                            xyxy=[(20 + i, 30, 70 + i, 80)])


def feed(recorder: EvidenceRecorder, indices, cameras=("CAM-1", "CAM-2")) -> None:
    for i in indices:
        for camera in cameras:
            recorder.add(camera, T0 + i * STEP, jpeg(i, camera), batch(i, camera))


def test_a_camera_that_joins_an_alert_gets_its_snapshot_clip_and_track(bus, service, store):
    messages = Recorder(bus)
    recorder = EvidenceRecorder(store, service.attach_evidence, pre_s=2.0, post_s=1.0, track_pre_s=20.0,
                                track_lead_s=1.0).attach(bus)
    feed(recorder, range(20))  # both cameras, 0 .. 4.75 s
    alert = service.ingest(warning(GRID, camera="CAM-1", track=7, first=T0 + 3.0, last=T0 + 4.75))
    assert recorder.wait_idle(10)
    assert service.get(alert.id).evidence.views == []  # CAM-2 is not the alert's (yet)

    # CAM-2 sees the same stopped tanker: its warning joins the alert, and its evidence with it
    joined = service.ingest(warning(GRID, camera="CAM-2", track=8, first=T0 + 4.0, last=T0 + 4.5))
    assert joined.id == alert.id and joined.cameras == ["CAM-1", "CAM-2"]
    assert recorder.wait_idle(10)
    slug = camera_slug("CAM-2")
    view = service.get(alert.id).evidence.view("CAM-2")
    assert view is not None and view.snapshot == f"{alert.id}/snapshot-{slug}.jpg" and view.clip is None
    assert (store.root / view.snapshot).read_bytes() == jpeg(18, "CAM-2")  # nearest CAM-2's sighting, 4.5 s

    # its later sightings (and the evidence's own updates) make no second view
    service.ingest(warning(GRID, camera="CAM-2", track=8, first=T0 + 4.0, last=T0 + 4.75))
    feed(recorder, range(20, 30))  # 5 .. 7.25 s: the clips and tracks end at 5.75 s
    assert recorder.wait_idle(10)
    evidence = service.get(alert.id).evidence
    assert [v.camera_id for v in evidence.views] == ["CAM-2"]
    view = evidence.views[0]
    assert (view.clip, view.track) == (f"{alert.id}/clip-{slug}.webm", f"{alert.id}/observations-{slug}.jsonl")
    for path in (view.snapshot, view.clip, view.track):
        assert store.contains(path, alert.id) and (store.root / path).is_file()
    assert cv2.imread(str(store.root / view.snapshot)).shape == (H, W, 3)
    assert frame_count(store.root / view.clip, (W, H)) == 9 + 4  # 2 s before (3.0 .. 5.0) and what followed
    observed = read_observations(store.root / view.track, "CAM-2")
    assert observed and {b.camera_id for b in observed} == {"CAM-2"}
    assert [b.ts for b in observed] == [T0 + i * STEP for i in range(11, 24)]  # the clip's first frame .. 5.75 s

    # the first camera's files stay CAM-1's
    assert (evidence.snapshot, evidence.clip, evidence.track) == (
        f"{alert.id}/snapshot.jpg", f"{alert.id}/clip.webm", f"{alert.id}/observations.jsonl")
    assert (store.root / evidence.snapshot).read_bytes() == jpeg(12, "CAM-1")
    assert {b.camera_id for b in read_observations(store.root / evidence.track, "CAM-1")} == {"CAM-1"}
    stats = recorder.stats()
    assert (stats["snapshots"], stats["clips"], stats["tracks"], stats["views"]) == (2, 2, 2, 1)
    assert stats["errors"] == 0 and stats["skipped_views"] == 0
    assert messages.messages[-1].evidence == evidence  # the wall hears of every file
    assert recorder.stop()


def test_a_hostile_camera_id_stays_inside_the_alerts_folder(bus, service, store, tmp_path):
    recorder = EvidenceRecorder(store, service.attach_evidence, pre_s=2.0, post_s=0.0, track_lead_s=1.0).attach(bus)
    feed(recorder, range(12), cameras=("CAM-1", "../x"))
    alert = service.ingest(warning(GRID, camera="CAM-1", track=7, first=T0 + 1.0, last=T0 + 2.75))
    service.ingest(warning(GRID, camera="../x", track=10, first=T0 + 2.0, last=T0 + 2.75))
    assert recorder.wait_idle(10)
    view = service.get(alert.id).evidence.view("../x")
    assert view is not None and None not in (view.snapshot, view.clip, view.track)
    folder = store.root / alert.id
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in {".jpg", ".webm", ".jsonl"})
    assert len(written) == 6 and all(p.parent == folder for p in written)
    assert {p.name for p in written} >= {f"snapshot-{camera_slug('../x')}.jpg", "snapshot.jpg"}
    assert all(store.contains(path, alert.id) for path in (view.snapshot, view.clip, view.track))
    assert not store.contains("../alerts.db") and not store.contains(f"{alert.id}/../../x", alert.id)
    # the purge finds them where it looks
    assert sorted(store.purge(now=T0 + 10**9)) == sorted(store.relative(p) for p in written)
    assert recorder.stop()


def test_views_are_bounded_and_an_old_sighting_or_another_workers_camera_gets_none(bus, service, store):
    """At most ``max_views`` cameras a recorder; a worker holding only a joining camera records
    its view (never the first camera's files); one whose frames begin after the sighting (it
    started later) records none."""
    one_view = EvidenceRecorder(store, service.attach_evidence, pre_s=2.0, post_s=0.0, max_views=1).attach(bus)
    feed(one_view, range(12), cameras=("CAM-1", "CAM-2", "CAM-3"))
    other_worker = EvidenceRecorder(store, lambda *a, **k: None, pre_s=2.0, post_s=0.0).attach(bus)
    feed(other_worker, range(12), cameras=("CAM-2",))
    late = EvidenceRecorder(store, lambda *a, **k: None, pre_s=2.0, post_s=0.0).attach(bus)
    feed(late, range(40, 48), cameras=("CAM-2",))  # 10 .. 11.75 s: the sighting at 2.5 s is long gone

    alert = service.ingest(warning(GRID, camera="CAM-1", track=7, first=T0 + 1.0, last=T0 + 2.75))
    assert other_worker.wait_idle(10) and other_worker.stats()["snapshots"] == 0  # not its camera
    service.ingest(warning(GRID, camera="CAM-2", track=8, first=T0 + 2.0, last=T0 + 2.5))
    service.ingest(warning(GRID, camera="CAM-3", track=9, first=T0 + 2.0, last=T0 + 2.75))
    for recorder in (one_view, other_worker, late):
        assert recorder.wait_idle(10)
    assert [v.camera_id for v in service.get(alert.id).evidence.views] == ["CAM-2"]
    assert one_view.stats()["views"] == 1 and one_view.stats()["skipped_views"] == 1  # said once
    assert other_worker.stats()["views"] == other_worker.stats()["snapshots"] == 1
    assert late.stats()["snapshots"] == 0 and late.stats()["errors"] == 0
    for recorder in (one_view, other_worker, late):
        assert recorder.stop()
