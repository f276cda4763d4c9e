"""Weights-free backend: background subtraction finds moving blobs, ByteTrack gives them ids.

Per camera: OpenCV MOG2 (with shadow detection; shadow pixels are dropped), morphology to turn
the foreground mask into solid blobs, contours to boxes, box merging (one vehicle often splits
into windscreen / body / roof blobs) and size/shape filtering. Confidence grows with the blob's
fill of its box and its size. Ids come from the same ultralytics BYTETracker as the YOLO backend.
Only moving objects are found: a vehicle that stops fades into the background.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from zhizhi.video.detectors.base import DetectorError, TrackedBoxes
from zhizhi.video.detectors.tracking import Detections, TrackerPool
from zhizhi.video.masks import PixelPolygon

_SHADOW = 127  # MOG2 marks shadow pixels 127 and foreground 255
_SCENE_CHANGE = 0.5  # foreground fraction above which the background model is rebuilt


@dataclass
class _Camera:
    subtractor: cv2.BackgroundSubtractorMOG2
    frames: int = 0
    shape: tuple[int, ...] = ()  # work image shape the model was learnt on
    window: np.ndarray | None = None  # Hanning window for phase correlation


class MotionDetector:
    """Moving-object detection by background subtraction, tracked per camera.

    Sizes (``min_area_px``, ``merge_gap_px``) are in full-image pixels; the mask itself is
    computed on a copy scaled to ``work_width``. ``stabilize`` compensates small camera shake
    (translation against the background model, by phase correlation). A track only starts from a
    blob with confidence >= ``new_track_conf``; weaker blobs can only continue a track.
    """

    #: Everything it finds moves (the frame analyzer need not wait for motion to believe a track).
    moving_only = True

    def __init__(
        self,
        *,
        history: int = 300,
        var_threshold: float = 25.0,
        shadow_threshold: float = 0.8,
        min_area_px: int = 400,
        max_area_frac: float = 0.25,
        aspect_range: tuple[float, float] = (0.2, 5.0),
        merge_gap_px: int = 4,
        warmup_frames: int = 24,
        work_width: int = 640,
        stabilize: bool = True,
        max_shift_frac: float = 0.05,
        class_name: str = "moving_object",
        tracker: str = "bytetrack",
        new_track_conf: float = 0.6,
    ) -> None:
        if min_area_px <= 0 or not 0 < max_area_frac <= 1 or warmup_frames < 0 or work_width < 64:
            raise DetectorError("invalid motion detector options")
        self.history = history
        self.var_threshold = var_threshold
        self.shadow_threshold = shadow_threshold
        self.min_area_px = min_area_px
        self.max_area_frac = max_area_frac
        self.aspect_range = aspect_range
        self.merge_gap_px = merge_gap_px
        self.warmup_frames = warmup_frames
        self.work_width = work_width
        self.stabilize = stabilize
        self.max_shift_frac = max_shift_frac
        self.names: tuple[str, ...] = (class_name,)
        self.trackers = TrackerPool(tracker, self.names, new_track_thresh=new_track_conf)
        self._cameras: dict[str, _Camera] = {}

    def update(self, frames: Sequence[tuple[str, np.ndarray]]) -> list[TrackedBoxes]:
        """Detect and track each frame with its camera's background model and tracker, in order."""
        out = []
        for camera_id, image in frames:
            dets = self.detect(camera_id, image)
            if self.warming_up(camera_id):
                out.append(TrackedBoxes.empty(self.names))
            else:
                out.append(self.trackers.update(camera_id, dets, image))
        return out

    def warming_up(self, camera_id: str) -> bool:
        """Whether the camera's background model is still being learnt (no boxes yet)."""
        cam = self._cameras.get(camera_id)
        return cam is None or cam.frames <= self.warmup_frames

    def set_masks(self, camera_id: str, masks: Sequence[PixelPolygon]) -> None:
        """Drop ``camera_id``'s detections whose foot point lies in a mask, before tracking."""
        self.trackers.set_masks(camera_id, masks)

    def reset(self, camera_id: str) -> None:
        """Forget a camera's background model and tracks."""
        self._cameras.pop(camera_id, None)
        self.trackers.reset(camera_id)

    def close(self) -> None:
        """Forget every camera."""
        self._cameras.clear()
        self.trackers.clear()

    def detect(self, camera_id: str, image: np.ndarray) -> Detections:
        """Moving blobs of one frame in full-image pixels (and update the background model)."""
        cam = self._cameras.get(camera_id)
        if cam is None:
            cam = self._cameras[camera_id] = _Camera(self._subtractor())
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        h, w = image.shape[:2]
        scale = min(1.0, self.work_width / w)
        small = (
            image
            if scale == 1.0
            else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        small = cv2.GaussianBlur(small, (5, 5), 0)
        if small.shape != cam.shape:  # first frame or new resolution
            cam.subtractor, cam.frames, cam.shape = self._subtractor(), 0, small.shape
        dx, dy = self._shift(cam, small) if self.stabilize and cam.frames else (0.0, 0.0)
        if dx or dy:  # align the frame with the background model
            m = np.float32([[1, 0, -dx], [0, 1, -dy]])
            small = cv2.warpAffine(small, m, small.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
        fg = cam.subtractor.apply(small)
        cam.frames += 1
        if cam.frames <= self.warmup_frames:
            return Detections.empty()
        mask = foreground_mask(fg)
        if np.count_nonzero(mask) > _SCENE_CHANGE * mask.size:  # camera moved / lights: relearn
            cam.subtractor, cam.frames = self._subtractor(), 0
            return Detections.empty()
        if dx or dy:  # replicated borders are not evidence of motion
            bx, by = int(np.ceil(abs(dx))) + 1, int(np.ceil(abs(dy))) + 1
            mask[:by], mask[-by:], mask[:, :bx], mask[:, -bx:] = 0, 0, 0, 0
        boxes = _merge(_blob_boxes(mask), self.merge_gap_px * scale)
        dets = self._score(boxes, mask, scale, w * h)
        dets.xyxy += np.float32([dx, dy, dx, dy]) / scale
        return dets

    def _subtractor(self) -> cv2.BackgroundSubtractorMOG2:
        sub = cv2.createBackgroundSubtractorMOG2(
            self.history, self.var_threshold, detectShadows=True
        )
        sub.setShadowThreshold(self.shadow_threshold)
        return sub

    def _shift(self, cam: _Camera, small: np.ndarray) -> tuple[float, float]:
        """Camera shake: translation of ``small`` against the background model (0 if unsure)."""
        a = np.float32(cv2.cvtColor(cam.subtractor.getBackgroundImage(), cv2.COLOR_BGR2GRAY))
        b = np.float32(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        if cam.window is None or cam.window.shape != a.shape:
            cam.window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
        (dx, dy), response = cv2.phaseCorrelate(a, b, cam.window)
        limit = self.max_shift_frac * max(a.shape)
        if response < 0.1 or abs(dx) > limit or abs(dy) > limit:
            return 0.0, 0.0
        return float(dx), float(dy)

    def _score(
        self, boxes: np.ndarray, mask: np.ndarray, scale: float, frame_area: int
    ) -> Detections:
        """Keep plausibly sized/shaped boxes (in full pixels); conf from mask fill and size."""
        if len(boxes) == 0:
            return Detections.empty()
        full = boxes / scale
        wh = full[:, 2:] - full[:, :2]
        area = wh[:, 0] * wh[:, 1]
        aspect = wh[:, 0] / np.maximum(wh[:, 1], 1e-6)
        lo, hi = self.aspect_range
        keep = (area >= self.min_area_px) & (area <= self.max_area_frac * frame_area)
        keep &= (aspect >= lo) & (aspect <= hi)
        if not keep.any():
            return Detections.empty()
        boxes, full, area = boxes[keep], full[keep], area[keep]
        # fill: share of the box the blob covers (solid vehicle ~0.8, ragged noise ~0.3)
        fill = np.array([mask[y1:y2, x1:x2].mean() / 255.0 for x1, y1, x2, y2 in boxes.astype(int)])
        size = np.clip(area / (4.0 * self.min_area_px), 0.0, 1.0)  # tiny blobs are less certain
        conf = np.clip(0.2 + 0.5 * fill + 0.3 * size, 0.0, 1.0)
        return Detections(full, conf, np.zeros(len(full)))


def foreground_mask(fg: np.ndarray) -> np.ndarray:
    """Foreground mask without shadows and speckle, with vehicle bodies filled in."""
    _, mask = cv2.threshold(fg, _SHADOW + 1, 255, cv2.THRESH_BINARY)
    mask = cv2.morphologyEx(
        mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    )
    mask = cv2.morphologyEx(
        mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    )
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))


def _blob_boxes(mask: np.ndarray) -> np.ndarray:
    """``(n, 4)`` xyxy boxes of the mask's outer contours."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    rects = [cv2.boundingRect(c) for c in contours]
    if not rects:
        return np.zeros((0, 4), np.float32)
    r = np.asarray(rects, np.float32)
    return np.concatenate([r[:, :2], r[:, :2] + r[:, 2:]], axis=1)


def _merge(boxes: np.ndarray, gap: float) -> np.ndarray:
    """Union boxes that overlap or lie within ``gap`` pixels of each other, until none do."""
    boxes = [b for b in boxes]
    merged = True
    while merged and len(boxes) > 1:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if (
                    a[0] - gap <= b[2]
                    and b[0] - gap <= a[2]
                    and a[1] - gap <= b[3]
                    and b[1] - gap <= a[3]
                ):
                    boxes[i] = np.concatenate([np.minimum(a[:2], b[:2]), np.maximum(a[2:], b[2:])])
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return np.asarray(boxes, np.float32).reshape(-1, 4)
