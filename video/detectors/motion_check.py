"""The gate's cheap per-camera motion check: where in a frame something moved.

A grey copy of the frame, ``work_width`` pixels wide and blurred against sensor and compression
noise, is compared with a running-average background (learnt slowly where things move, so a
passing vehicle leaves no trail); the frame's mean brightness shift is taken
out first, so a global light change does not read as motion. Pixels that differ by more than
``threshold`` are dilated into blobs and the blobs' boxes returned in full-frame pixels. When most
of the frame moved (camera shake or moved, lights switched) the check reports a scene change and
learns the background afresh.

>>> import numpy as np
>>> check = MotionCheck(MotionGateSettings())
>>> frame = np.full((180, 320, 3), 90, np.uint8)
>>> check(frame).scene_change  # the first frame: nothing known yet
True
>>> check(frame + 40).boxes.shape  # all brighter: no motion
(0, 4)
>>> frame[60:120, 100:160] = 250
>>> check(frame).boxes.round().tolist()
[[94.0, 54.0, 166.0, 126.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from zhizhi.video.detectors.gate_settings import MotionGateSettings

_DILATE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


@dataclass(frozen=True)
class Motion:
    """One frame's motion: blob boxes (``(n, 4)`` xyxy, frame pixels) and the moved share."""

    boxes: np.ndarray
    moved: float
    scene_change: bool


class MotionCheck:
    """Running-average background of one camera (see the module)."""

    def __init__(self, settings: MotionGateSettings) -> None:
        self.settings = settings
        self.background: np.ndarray | None = None

    def __call__(self, image: np.ndarray) -> Motion:
        s = self.settings
        h, w = image.shape[:2]
        scale = min(1.0, s.work_width / w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        grey_full = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image  # then 1 channel to shrink
        small = cv2.resize(grey_full, size, interpolation=cv2.INTER_AREA) if scale < 1 else grey_full
        grey = cv2.GaussianBlur(small, (5, 5), 0).astype(np.float32)
        bg = self.background
        if bg is None or bg.shape != grey.shape:
            self.background = grey
            return Motion(np.zeros((0, 4), np.float32), 1.0, True)
        diff = np.abs(grey - bg - float(grey.mean() - bg.mean()))
        mask = (diff > s.threshold).astype(np.uint8)
        moved = float(mask.mean())
        if moved > s.scene_change_frac:
            self.background = grey
            return Motion(np.zeros((0, 4), np.float32), moved, True)
        # still pixels are learnt at alpha, moving ones at a quarter of it: a passing vehicle leaves
        # no trail in the background, a stopped one fades into it (its track is kept by the gate)
        cv2.accumulateWeighted(grey, bg, s.background_alpha, mask=1 - mask)
        cv2.accumulateWeighted(grey, bg, s.background_alpha / 4, mask=mask)
        mask = cv2.dilate(mask, _DILATE, iterations=2)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_area = s.min_area_frac * mask.size
        rects = [r for r in map(cv2.boundingRect, contours) if r[2] * r[3] >= min_area]
        if not rects:
            return Motion(np.zeros((0, 4), np.float32), moved, False)
        r = np.asarray(rects, np.float32)
        boxes = np.concatenate([r[:, :2], r[:, :2] + r[:, 2:]], axis=1) / np.float32(scale)
        return Motion(np.clip(boxes, 0, [w, h, w, h]).astype(np.float32), moved, False)
