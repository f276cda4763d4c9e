"""The evidence track: a camera's observation batches around an alert, written as the
``observations.jsonl`` a backtest clip reads — real recorder, store, alert service and bus."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.alerts_support import T0, grids_of, warning
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.models.backtest.dataset import load_dataset
from zhizhi.models.backtest.frames import read_observations
from zhizhi.video.evidence import EvidenceRecorder

STEP = 0.25
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")  # never decoded: no clip asked for


def batch(i: int, camera: str = "CAM-E") -> ObservationBatch:
    """Frame ``i``: a tanker slowing to a stop and a car passing (every 8th frame is empty)."""
    ts = T0 + i * STEP
    if i % 8 == 7:
        return ObservationBatch.empty(camera, ts)
    return ObservationBatch(
        camera, ts, track_id=[7, 100 + i // 40], cls=["hazmat_tanker", "car"], conf=[0.9, 0.75],
        xyxy=[(20 + i, 30, 70 + i, 80), (5, 5, 15, 12)], lon=[121.01 + i * 1e-6, np.nan],
        lat=[32.02, np.nan], speed_kmh=[max(0.0, 30.0 - i), np.nan], heading_deg=[90.0, np.nan],
    )


class Calls:
    """``on_evidence``: what the recorder reported, passed on to the alert service."""

    def __init__(self, service) -> None:
        self.files: list[tuple[str, dict]] = []
        self.service = service

    def __call__(self, alert_id: str, **files) -> None:
        self.files.append((alert_id, files))
        self.service.attach_evidence(alert_id, **files)

    def track(self, alert_id: str) -> str | None:
        return next((f["track"] for a, f in self.files if a == alert_id and f.get("track")), None)


def feed(recorder: EvidenceRecorder, indices, camera: str = "CAM-E") -> None:
    for i in indices:
        recorder.add(camera, T0 + i * STEP, JPEG, batch(i, camera))


def test_the_track_spans_the_condition_and_is_a_backtest_clip_file(bus, service, store, tmp_path):
    calls = Calls(service)
    recorder = EvidenceRecorder(store, calls, pre_s=2.0, post_s=1.0, track_pre_s=20.0, track_lead_s=2.0).attach(bus)
    feed(recorder, range(48))  # 0 .. 11.75 s
    assert recorder.buffered_observations("CAM-E") == (42, 84)  # empty frames are not kept
    # the condition began at 6 s; the alert fires at 11.75 s
    alert = service.ingest(warning(grids_of(0)[0], camera="CAM-E", first=T0 + 6.0, last=T0 + 11.75))
    for start, last in ((48, 12.75), (52, 13.75)):  # the alert's updates while the condition lasts
        feed(recorder, range(start, start + 4))
        service.ingest(warning(grids_of(0)[0], camera="CAM-E", first=T0 + 6.0, last=T0 + last))
    feed(recorder, range(56, 70))  # 14 .. 17.25 s: after 14.75 s (the last sighting + post_s) the track ends
    assert recorder.wait_idle(10)
    assert recorder.stats()["tracks"] == 1 and recorder.stats()["collecting_tracks"] == 0
    relative = calls.track(alert.id)
    assert relative == f"{alert.id}/observations.jsonl" and store.path_of(alert.id, "track") == store.root / relative
    assert service.get(alert.id).evidence.track == relative  # on the alert, as the label will keep it

    # it reads as a backtest clip's observations: the same frames, from 4 s (first_ts - lead) to 14.75 s
    frames = read_observations(store.root / relative, "CAM-E")
    expected = [batch(i) for i in range(16, 60) if i % 8 != 7]
    assert frames == expected
    lines = [json.loads(line) for line in (store.root / relative).read_text(encoding="utf-8").splitlines()]
    assert {line["type"] for line in lines} == {"observation"} and len(lines) == 2 * len(expected)
    assert lines[1]["lon"] is None and lines[0]["speed_kmh"] == 14.0  # unknown values are null
    clip = tmp_path / "dataset" / "clip-1"
    clip.mkdir(parents=True)
    (clip / "camera.json").write_text(json.dumps({"id": "CAM-E", "source": {"url": "rtsp://10.0.0.9/live"}}))
    (clip / "events.jsonl").write_text("")
    (clip / "observations.jsonl").write_bytes((store.root / relative).read_bytes())
    dataset = load_dataset(tmp_path / "dataset")
    assert dataset.clips[0].observations == clip / "observations.jsonl"
    assert recorder.stop()


def test_closing_an_alert_ends_its_track_and_stop_writes_the_rest(bus, service, store):
    calls = Calls(service)
    recorder = EvidenceRecorder(store, calls, pre_s=2.0, post_s=60.0, track_lead_s=1.0).attach(bus)
    feed(recorder, range(20))
    first = service.ingest(warning(grids_of(0)[0], camera="CAM-E", track=7, first=T0 + 2.0, last=T0 + 4.75))
    second = service.ingest(warning(grids_of(2)[0], camera="CAM-E", track=8, first=T0 + 4.0, last=T0 + 4.75))
    feed(recorder, range(20, 24))
    service.transition(first.id, "closed", "duty-1", "a parked tanker, not a stop", scope=None)
    assert recorder.wait_idle(10)
    assert calls.track(first.id) is not None and calls.track(second.id) is None  # the open one goes on
    closed = read_observations(store.path_of(first.id, "track"), "CAM-E")
    assert closed[0].ts == T0 + 1.0 and closed[-1].ts == T0 + 22 * STEP  # frame 23 is empty
    feed(recorder, range(24, 30))
    assert recorder.stop()
    assert read_observations(store.path_of(second.id, "track"), "CAM-E")[-1].ts == T0 + 29 * STEP
    assert recorder.stats()["tracks"] == 2


def test_a_track_stays_bounded_and_frames_without_batches_make_none(store):
    by_batches = EvidenceRecorder(store, lambda *a, **k: None, track_pre_s=1000.0, max_track_batches=10)
    by_rows = EvidenceRecorder(store, lambda *a, **k: None, track_pre_s=1000.0, max_track_rows=7)
    by_age = EvidenceRecorder(store, lambda *a, **k: None, track_pre_s=2.0)
    for recorder in (by_batches, by_rows, by_age):
        feed(recorder, range(200))
    assert by_batches.buffered_observations("CAM-E") == (10, 20)
    assert by_rows.buffered_observations("CAM-E")[1] <= 7
    assert by_age.buffered_observations("CAM-E")[0] == 8 - 1  # 47.75 - 2.0 .. 47.75 s, one empty frame
    without = EvidenceRecorder(store, lambda *a, **k: None)
    without.add("CAM-E", T0, JPEG)
    assert without.buffered_observations("CAM-E") == (0, 0)
    for recorder in (by_batches, by_rows, by_age, without):
        assert recorder.stop()
    with pytest.raises(ValueError, match="max_track_batches"):
        EvidenceRecorder(store, lambda *a, **k: None, max_track_batches=0)
