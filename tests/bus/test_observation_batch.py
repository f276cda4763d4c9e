"""The one observation batch: columns, masks, records, the one codec, and the pipeline that
builds it once per frame (classes voted there, and only there); the telemetry batch beside it."""

from __future__ import annotations

import doctest
import json
import math

import numpy as np
import pytest

import zhizhi.bus.messages.frames
import zhizhi.bus.messages.telemetry
from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages import decode, encode
from zhizhi.bus.messages.frames import ROW_FIELDS, ObservationBatch
from zhizhi.bus.messages.telemetry import Fix, FixBatch
from zhizhi.video.camera_config import CameraConfig, SourceConfig
from zhizhi.video.detectors import TrackedBoxes
from zhizhi.video.frames import Frame
from zhizhi.video.pipeline import FrameAnalyzer

T0 = 1_750_000_000.0


def three() -> ObservationBatch:
    """A car located and moving, a person located without a speed yet, a truck not located."""
    return ObservationBatch(
        "CAM-1", T0,
        track_id=[1, 2, 3],
        cls=["car", "person", "truck"],
        conf=[0.9, 0.6, 0.7],
        xyxy=[[10, 20, 110, 80], [200, 50, 220, 120], [300, 10, 500, 200]],
        lon=[120.9, 120.91, np.nan],
        lat=[32.0, 32.01, np.nan],
        speed_kmh=[42.5, np.nan, np.nan],
        heading_deg=[90.0, np.nan, np.nan],
    )


@pytest.mark.parametrize("module", [zhizhi.bus.messages.frames, zhizhi.bus.messages.telemetry])
def test_docstring_examples(module):
    assert doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_columns_are_row_aligned_typed_and_read_only():
    batch = three()
    assert len(batch) == 3 and not batch.is_empty()
    assert batch.track_id.dtype == np.int64 and batch.conf.dtype == np.float32
    assert batch.xyxy.shape == (3, 4) and batch.xyxy.dtype == np.float32
    assert batch.cls.tolist() == ["car", "person", "truck"]
    with pytest.raises(ValueError):
        batch.lon[0] = 0.0  # the in-process bus hands the same object to every subscriber
    with pytest.raises(ValueError, match="rows"):
        ObservationBatch("CAM-1", T0, track_id=[1, 2], cls=["car"], conf=[0.9], xyxy=[[0, 0, 1, 1]])


def test_masks_select_rows_of_the_same_frame():
    batch = three()
    assert batch.located.tolist() == [True, True, False]
    located = batch[batch.located]
    assert (located.camera_id, located.ts, located.track_id.tolist()) == ("CAM-1", T0, [1, 2])
    assert batch[batch.cls == "truck"].track_id.tolist() == [3]
    assert batch[np.isfinite(batch.speed_kmh) & (batch.speed_kmh > 40)].cls.tolist() == ["car"]
    assert batch[np.array([2, 0])].track_id.tolist() == [3, 1]
    nothing = batch[np.zeros(3, bool)]
    assert nothing.is_empty() and nothing.xyxy.shape == (0, 4) and nothing.camera_id == "CAM-1"
    with pytest.raises(TypeError):
        batch[0]


def test_rows_are_the_observation_records_with_none_where_unknown():
    rows = three().rows()
    assert [list(r) for r in rows] == [list(ROW_FIELDS)] * 3
    assert rows[0] == {"camera_id": "CAM-1", "ts": T0, "track_id": 1, "cls": "car", "conf": pytest.approx(0.9),
                       "bbox": [10.0, 20.0, 110.0, 80.0], "lon": 120.9, "lat": 32.0, "speed_kmh": 42.5,
                       "heading_deg": 90.0}
    assert (rows[1]["speed_kmh"], rows[1]["heading_deg"]) == (None, None)
    assert (rows[2]["lon"], rows[2]["lat"]) == (None, None)
    assert all(type(r["track_id"]) is int and type(r["conf"]) is float for r in rows)
    again = ObservationBatch.from_rows("CAM-1", T0, rows)
    assert again == three() and again.rows() == rows
    assert ObservationBatch.empty("CAM-1", T0).rows() == []


@pytest.mark.parametrize("batch", [three(), ObservationBatch.empty("CAM-9", T0 + 0.2)], ids=["three", "empty"])
def test_the_codec_round_trips_through_json(batch):
    wire = json.loads(json.dumps(encode(Topic.FRAMES, batch), allow_nan=False))  # JSON has no NaN
    back = decode(Topic.FRAMES, wire)
    assert isinstance(back, ObservationBatch) and back == batch
    assert back.rows() == batch.rows()
    assert (back.camera_id, back.ts) == (batch.camera_id, batch.ts)


def test_the_wire_form_is_columnar_with_none_for_nan():
    wire = three().to_wire()
    assert wire["type"] == "frame" and wire["track_id"] == [1, 2, 3]
    assert wire["lon"][2] is None and wire["speed_kmh"] == [42.5, None, None]


@pytest.mark.parametrize("change", [
    {"camera_id": 5},
    {"camera_id": ""},
    {"ts": "soon"},
    {"ts": float("nan")},
    {"type": "observation"},
    {"track_id": [1, 2]},
    {"track_id": [-1, 2, 3]},
    {"track_id": [1.5, 2, 3]},
    {"cls": ["car", 2, "truck"]},
    {"conf": [0.9, 1.5, 0.7]},
    {"xyxy": [[1, 2, 3]] * 3},
    {"xyxy": "none"},
    {"speed_kmh": [-1.0, None, None]},
    {"observations": []},
])
def test_a_malformed_wire_form_is_a_value_error(change):
    with pytest.raises(ValueError):
        decode(Topic.FRAMES, {**three().to_wire(), **change})


def test_the_bus_takes_batches_only_and_hands_the_object_itself():
    bus, got = InProcessBus(), []
    bus.subscribe(Topic.FRAMES, got.append)
    batch = three()
    bus.publish(Topic.FRAMES, batch)
    assert got == [batch] and got[0] is batch
    with pytest.raises(TypeError):
        bus.publish(Topic.FRAMES, batch.to_wire())
    with pytest.raises(TypeError):
        bus.publish("observations", batch)  # no topic of the bus
    bus.stop()


class FlickeringDetector:
    """One object driving 25 px a frame whose class flickers (a car called a bus every fourth frame)."""

    names = ("bus", "car")

    def __init__(self) -> None:
        self.calls = 0

    def update(self, frames):
        out = []
        for _ in frames:
            cls = 0 if self.calls % 4 == 0 else 1
            self.calls += 1
            x = 5 + 25 * (self.calls - 1)
            out.append(TrackedBoxes([[x, 100, x + 20, 120]], [0.8], [cls], [5], self.names))
        return out

    def reset(self, camera_id: str) -> None:
        pass

    def close(self) -> None:
        pass


def test_the_pipeline_builds_one_batch_per_frame_with_the_tracks_voted_class():
    camera = CameraConfig(id="CAM-U", source=SourceConfig(url="unused.mp4"))  # not calibrated
    analyzer = FrameAnalyzer(FlickeringDetector(), [camera])
    image = np.zeros((240, 320, 3), np.uint8)
    batches = [analyzer.analyze([Frame("CAM-U", i, T0 + i * 0.2, image)])[0] for i in range(12)]
    assert all(isinstance(b, ObservationBatch) for b in batches)
    # frame 0: seen once, not yet seen to move (video.track_verify), an empty batch of that frame
    assert [len(b) for b in batches] == [0] + [1] * 11
    # frame 1: a tie of "bus" (frame 0) and "car"; from frame 2 the car's votes lead and the
    # flickers (frames 4 and 8 say "bus") move nothing
    assert [str(c) for b in batches for c in b.cls] == ["bus"] + ["car"] * 10
    assert [b.ts for b in batches] == [T0 + i * 0.2 for i in range(12)]
    located = batches[-1].located
    assert not located.any() and math.isnan(batches[-1].lon[0])  # no calibration: NaN, not 0
    assert batches[-1].rows()[0]["lon"] is None
    assert batches[-1].conf.dtype == np.float32 and batches[-1].rows()[0]["conf"] == float(np.float32(0.8))


def test_a_frame_without_objects_is_an_empty_batch_of_that_frame():
    class Nothing(FlickeringDetector):
        def update(self, frames):
            return [TrackedBoxes.empty(self.names) for _ in frames]

    camera = CameraConfig(id="CAM-U", source=SourceConfig(url="unused.mp4"))
    (batch,) = FrameAnalyzer(Nothing(), [camera]).analyze([Frame("CAM-U", 0, T0, np.zeros((8, 8, 3), np.uint8))])
    assert batch.is_empty() and (batch.camera_id, batch.ts) == ("CAM-U", T0)


def test_a_telemetry_batch_is_handed_on_as_is_and_round_trips_the_codec():
    batch = FixBatch((Fix("苏F-1", T0, 120.9, 32.0, speed_kmh=40.0), Fix("苏F-2", T0 + 1, 120.8, 32.1, heading=90.0)))
    bus, got = InProcessBus(), []
    bus.subscribe(Topic.TELEMETRY, got.append)
    bus.publish(Topic.TELEMETRY, batch)
    assert got[0] is batch
    bus.stop()
    wire = json.loads(json.dumps(encode(Topic.TELEMETRY, batch)))
    assert wire == {"type": "fixes", "fixes": [
        {"vehicle_id": "苏F-1", "ts": T0, "lon": 120.9, "lat": 32.0, "speed_kmh": 40.0, "heading": None},
        {"vehicle_id": "苏F-2", "ts": T0 + 1, "lon": 120.8, "lat": 32.1, "speed_kmh": None, "heading": 90.0},
    ]}
    assert decode(Topic.TELEMETRY, wire) == batch
    assert decode(Topic.TELEMETRY, {"type": "fixes", "fixes": []}) == FixBatch(())
    for bad in ({"fixes": [{"vehicle_id": "x"}]}, {"fixes": "none"}, {"type": "fix", "fixes": []},
                {"fixes": [{"vehicle_id": "x", "ts": 1.0, "lon": float("inf"), "lat": 0.0}]}):
        with pytest.raises(ValueError):
            decode(Topic.TELEMETRY, bad)


def test_the_batch_owns_its_arrays():
    track_id, lon = np.array([1, 2]), np.array([120.9, 121.0])
    batch = ObservationBatch("CAM-1", T0, track_id=track_id, cls=["car", "bus"], conf=[0.9, 0.8],
                             xyxy=np.zeros((2, 4), np.float32), lon=lon, lat=lon)
    track_id[0], lon[0] = 99, 0.0  # the producer goes on with its arrays
    assert batch.track_id.tolist() == [1, 2] and batch.lon[0] == 120.9
    assert track_id.flags.writeable  # and they stay writable for it
