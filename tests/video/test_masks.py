"""Masks drop the detections whose foot point lies in them, before tracking, on the real highway clip.

The clip (1280x720, 161 frames) runs through one motion detector as two cameras that see the same
frames: ``open`` without masks, ``masked`` with one mask over the near left lanes. Measured: the
open camera has 170 boxes with their feet in the masked area, the masked one none; elsewhere
both find the same boxes.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pydantic import ValidationError

import tests.video.test_detectors  # noqa: F401  (sets the ultralytics settings folder before the import)
from tests.video.test_detectors import _read_clip
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.video.camera_config import CameraConfig, SourceConfig
from zhizhi.video.detectors import MotionDetector, TrackedBoxes
from zhizhi.video.frames import Frame
from zhizhi.video.masks import FrameMasks, MaskError, mask_polygons
from zhizhi.video.pipeline import FrameAnalyzer

NEAR_LEFT = [(0.0, 360.0), (640.0, 360.0), (640.0, 720.0), (0.0, 720.0)]
POLE = [(900.0, 0.0), (930.0, 0.0), (930.0, 200.0), (900.0, 200.0)]  # a second mask where nothing drives


@pytest.fixture(scope="module")
def feet():
    """Each camera's foot points over the clip, through FrameAnalyzer with CameraConfig.masks."""
    cameras = [CameraConfig(id="open", source=SourceConfig(url="x.mp4")),
               CameraConfig(id="masked", source=SourceConfig(url="x.mp4"), masks=[NEAR_LEFT, POLE])]
    analyzer = FrameAnalyzer(MotionDetector(), cameras)
    out: dict[str, list] = {"open": [], "masked": []}
    for i, image in enumerate(_read_clip()):
        for batch in analyzer.analyze([Frame("open", i, 1e9 + i / 24, image), Frame("masked", i, 1e9 + i / 24, image)]):
            out[batch.camera_id].extend(_feet(batch))
    return {k: np.asarray(v, dtype=np.float64).reshape(-1, 2) for k, v in out.items()}


def _feet(batch: ObservationBatch) -> list:
    xyxy = np.asarray(batch.xyxy, dtype=np.float64).reshape(-1, 4)
    return np.column_stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]]).tolist()


def _depth_inside(points: np.ndarray, ring) -> np.ndarray:
    """How far each point lies inside the polygon (0 outside), pixels."""
    polygon = shapely.Polygon(ring)
    pts = shapely.points(points)
    return np.where(shapely.contains(polygon, pts), shapely.distance(polygon.exterior, pts), 0.0)


def test_detections_in_a_mask_are_dropped_before_tracking(feet):
    open_depth, masked_depth = _depth_inside(feet["open"], NEAR_LEFT), _depth_inside(feet["masked"], NEAR_LEFT)
    assert (open_depth > 20).sum() >= 100  # vehicles do drive there (measured 170 feet)
    # The tracker's filtered boxes may reach a few pixels over the edge as a vehicle enters; no more.
    assert (masked_depth > 20).sum() == 0, masked_depth.max()
    # Away from the mask nothing changes: the same boxes (same count) on both cameras.
    away = shapely.Polygon(NEAR_LEFT).buffer(60)
    far_open = ~shapely.intersects_xy(away, feet["open"][:, 0], feet["open"][:, 1])
    far_masked = ~shapely.intersects_xy(away, feet["masked"][:, 0], feet["masked"][:, 1])
    assert far_open.sum() > 300 and abs(int(far_open.sum()) - int(far_masked.sum())) <= 0.05 * far_open.sum()


def test_masks_survive_a_reconnect_and_go_with_the_camera():
    det = MotionDetector()
    analyzer = FrameAnalyzer(det, [CameraConfig(id="C", source=SourceConfig(url="x.mp4"), masks=[NEAR_LEFT])])
    assert "C" in det.trackers._masks
    det.reset("C")  # a stream reconnect forgets tracks, not masks
    assert "C" in det.trackers._masks
    analyzer.remove_camera("C")
    assert "C" not in det.trackers._masks


class _NoMasking:
    """A detector without ``set_masks``: FrameAnalyzer drops the masked boxes after tracking."""

    names = ("car",)
    calls = 0

    def update(self, frames):
        self.calls += 1
        # feet (30,400) (650,500) (910,100), driving up the picture 5 px a frame (shown once they move)
        boxes = np.array([[10, 300, 50, 400], [600, 300, 700, 500], [900, 10, 920, 100]], float)
        shift = [0, 5 * self.calls, 0, 5 * self.calls]
        return [TrackedBoxes(boxes - shift, [0.9] * 3, [0] * 3, [1, 2, 3], self.names) for _ in frames]

    def reset(self, camera_id):
        pass

    def close(self):
        pass


def test_a_detector_without_masking_has_its_boxes_dropped_by_the_analyzer():
    analyzer = FrameAnalyzer(_NoMasking(), [CameraConfig(id="C", source=SourceConfig(url="x.mp4"),
                                                         masks=[NEAR_LEFT, POLE])])
    image = np.zeros((720, 1280, 3), np.uint8)
    batches = [analyzer.analyze([Frame("C", seq, 1e9 + seq * 0.2, image)])[0] for seq in range(10)]
    assert batches[-1].track_id.tolist() == [2]


def test_masks_are_checked():
    assert len(mask_polygons([NEAR_LEFT, POLE])) == 2
    for masks, reason in (([[(0, 0), (10, 0)]], "mask 1 needs at least 3"),
                          ([NEAR_LEFT, [(0, 0), (10, 10), (10, 0), (0, 5)]], "mask 2 is not a simple polygon"),
                          ([[(0, 0), (float("nan"), 0), (5, 5)]], "mask 1 has a vertex that is not a finite"),
                          ([[(0, 0), (5, 5), (10, 10)]], "mask 1 encloses no area")):
        with pytest.raises(MaskError, match=reason):
            FrameMasks(masks)
        with pytest.raises(ValidationError, match=reason):
            CameraConfig(id="C", source=SourceConfig(url="x.mp4"), masks=masks)
    edge = FrameMasks([POLE])
    assert edge.covers([900, 915, 899.9], [100, 200, 100]).tolist() == [True, True, False]
