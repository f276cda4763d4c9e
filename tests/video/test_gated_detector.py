"""The motion gate in front of the shipped detector (``video.detectors.gated``), on a simulated scene.

Quiet frames cost no detection; moving objects are found in their regions with the boxes a
full-frame pass finds; a stopped tanker keeps its track id while the detector looks at it only at
the stationary re-check rate; the regions of several cameras go through one detect call; a
camera's start, a scene change and a reset get a full-frame pass.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from tests.warning_support import facts, hazmat_stop_scene
from zhizhi.console.settings import Settings
from zhizhi.models.detector.mining import read_frames
from zhizhi.video.detectors import (
    MotionDetector,
    MotionGatedDetector,
    MotionGateSettings,
    UltralyticsDetector,
    detector_for,
)
from zhizhi.video.detectors.regions import area, iou, overlap

FPS = 5.0  # the scene's frame rate


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return hazmat_stop_scene(tmp_path_factory)


@pytest.fixture(scope="module")
def frames(scene) -> list[np.ndarray]:
    out = read_frames(scene.clip)
    assert len(out) > 150
    return out


@pytest.fixture(scope="module")
def inner() -> UltralyticsDetector:
    det = detector_for(Settings().detector, gate=False)
    assert isinstance(det, UltralyticsDetector)
    return det


class Spy:
    """Counts the inner detector's calls and keeps the detections each frame was tracked with."""

    def __init__(self, inner: UltralyticsDetector, monkeypatch) -> None:
        self.calls: list[int] = []
        self.tracked: dict[str, list] = {}
        detect, track = inner.detect, inner.track

        def spy_detect(images, *, imgsz=None):
            self.calls.append(len(images))
            return detect(images, imgsz=imgsz)

        def spy_track(camera_id, dets, img=None):
            self.tracked.setdefault(camera_id, []).append(dets)
            return track(camera_id, dets, img)

        monkeypatch.setattr(inner, "detect", spy_detect)
        monkeypatch.setattr(inner, "track", spy_track)


def test_settings_wire_the_gate_and_have_bounds(inner):
    d = Settings().detector
    assert d.gate.enabled and isinstance(detector_for(d), MotionGatedDetector)
    off = d.model_copy(update={"gate": MotionGateSettings(enabled=False)})
    assert isinstance(detector_for(off), UltralyticsDetector)
    assert isinstance(detector_for(d, kind="motion"), MotionDetector)  # the motion backend is not gated
    with pytest.raises(ValidationError):
        MotionGateSettings(stationary_check_s=0)
    with pytest.raises(ValueError, match="timestamps"):
        MotionGatedDetector(inner).update([("Q", np.zeros((90, 160, 3), np.uint8))], timestamps=[1.0, 2.0])


def test_quiet_frames_run_no_detection(inner, monkeypatch):
    spy = Spy(inner, monkeypatch)
    gate = MotionGatedDetector(inner)
    rng = np.random.default_rng(1)
    still = rng.integers(60, 200, (270, 480, 3), dtype=np.uint8)
    still = cv2.GaussianBlur(still, (9, 9), 0)
    for i in range(30):
        noisy = np.clip(still + rng.normal(0, 3, still.shape), 0, 255).astype(np.uint8)  # sensor noise
        if i >= 20:  # the lights come up a little: not motion
            noisy = cv2.add(noisy, np.full_like(noisy, 25))
        gate.update([("quiet", noisy)], timestamps=[i / FPS])
    counters = gate.stats()["cameras"]["quiet"]
    assert counters["full_frames"] == 1 and len(spy.calls) == 1  # the camera's start only
    assert counters["idle_frames"] == 29 and counters["frames"] == 30


def _full_frame(inner: UltralyticsDetector, image: np.ndarray):
    return inner.detect([image])[0]


def test_moving_objects_found_in_regions_as_in_full_frame(inner, frames, monkeypatch):
    spy = Spy(inner, monkeypatch)
    gate = MotionGatedDetector(inner)
    checked, matched, region_frames = 0, 0, 0
    for i, image in enumerate(frames[:60]):
        gate.update([("move", image)], timestamps=[i / FPS])
        if i < 5:
            continue
        regions = gate.last_regions("move")
        full_region = len(regions) == 1 and area(regions)[0] >= image.shape[0] * image.shape[1]
        if full_region or not len(regions):
            continue
        region_frames += 1
        whole = _full_frame(inner, image)
        gated = spy.tracked["move"][-1]
        inside = overlap(whole.xyxy, regions).max(axis=1) / np.maximum(area(whole.xyxy), 1) >= 0.99
        for k in np.flatnonzero(inside & (whole.conf >= 0.6)):  # the clear ones (far ones are ~15 px)
            checked += 1
            matched += bool(len(gated.xyxy)) and iou(whole.xyxy[k:k + 1], gated.xyxy).max() >= 0.5
    assert region_frames >= 10, "the gate never analysed regions alone"
    assert checked >= 20 and matched / checked >= 0.9, (matched, checked)


def _tanker_at(boxes, tanker: int, place: np.ndarray | None):
    """The tanker row at ``place`` (the stop), or the most confident tanker row."""
    rows = np.flatnonzero(boxes.cls == tanker)
    if place is not None and len(rows):
        rows = rows[iou(boxes.xyxy[rows], place[None])[:, 0] >= 0.5]
    return rows[np.argmax(boxes.conf[rows])] if len(rows) else None


def test_a_stopped_tanker_keeps_its_id_through_the_stop(scene, inner, frames):
    gate = MotionGatedDetector(inner, MotionGateSettings(full_frame_s=3600))
    tanker = inner.names.index("hazmat_tanker")
    start, end = facts(scene)["stop_start_ts"] + 2.0, facts(scene)["stop_end_ts"] - 1.0
    ids, place, seen = set(), None, 0
    for i, image in enumerate(frames):
        ts = i / FPS
        boxes = gate.update([("stop", image)], timestamps=[ts])[0]
        if start <= ts <= end:
            row = _tanker_at(boxes, tanker, place)
            assert row is not None, f"the stopped tanker is not seen at {ts:.1f} s"
            place = boxes.xyxy[row] if place is None else place
            ids.add(int(boxes.track_id[row]))
            seen += 1
    assert seen >= 80 and len(ids) == 1, f"the stopped tanker changed track ids: {ids}"


def test_a_stopped_object_is_detected_only_at_the_low_rate(scene, inner, frames, monkeypatch):
    spy = Spy(inner, monkeypatch)
    gate = MotionGatedDetector(inner, MotionGateSettings(stationary_check_s=1.5, full_frame_s=3600))
    tanker = inner.names.index("hazmat_tanker")
    middle = int((facts(scene)["stop_start_ts"] + facts(scene)["stop_end_ts"]) / 2 * FPS)
    still = frames[middle]  # the scene frozen mid-stop: the tanker stands, nothing moves
    ids = set()
    for i in range(50):  # 10 s
        boxes = gate.update([("still", still)], timestamps=[i / FPS])[0]
        row = _tanker_at(boxes, tanker, None)
        assert row is not None, f"the stopped tanker is not seen at frame {i}"
        ids.add(int(boxes.track_id[row]))
    assert len(ids) == 1
    counters = gate.stats()["cameras"]["still"]
    # the start's full frame, then one re-check each 1.5 s (7.5 frames): about 7 calls, not 50
    assert counters["full_frames"] == 1 and 5 <= len(spy.calls) <= 9, spy.calls
    assert counters["idle_frames"] >= 40


def test_regions_of_several_cameras_go_in_one_detect_call(inner, frames, monkeypatch):
    spy = Spy(inner, monkeypatch)
    gate = MotionGatedDetector(inner)
    cams = ("A", "B", "C")
    for i in range(40):  # three cameras on the same road, 10 frames apart
        batch = [(cam, frames[20 + i + 10 * k]) for k, cam in enumerate(cams)]
        before = len(spy.calls)
        gate.update(batch, timestamps=[i / FPS] * 3)
        assert len(spy.calls) - before <= 1  # one call for the whole batch, or none
    stats = gate.stats()
    assert stats["total"]["detect_calls"] == len(spy.calls) <= 40
    regions = sum(stats["cameras"][c]["regions"] for c in cams)
    assert regions >= 2 * len(spy.calls)  # the cameras' regions went together
    assert stats["total"]["images"] == sum(spy.calls) <= regions


def test_full_frame_at_start_on_scene_change_and_after_reset(inner, frames, monkeypatch):
    Spy(inner, monkeypatch)
    gate = MotionGatedDetector(inner, MotionGateSettings(full_frame_s=3600))

    def full_frames() -> int:
        return gate.stats()["cameras"]["S"]["full_frames"]

    gate.update([("S", frames[100])], timestamps=[0.0])
    assert full_frames() == 1
    gate.update([("S", frames[101])], timestamps=[0.2])
    assert full_frames() == 1
    gate.update([("S", 255 - frames[102])], timestamps=[0.4])  # the picture changed: a scene change
    assert full_frames() == 2
    gate.reset("S")
    gate.update([("S", frames[103])], timestamps=[0.6])
    assert gate.stats()["cameras"]["S"] == {**gate.stats()["cameras"]["S"], "frames": 1, "full_frames": 1}
    gate.update([("S", frames[104])], timestamps=[3601.0])  # the safety net
    assert gate.stats()["cameras"]["S"]["full_frames"] == 2
