"""False boxes and kept positives of a detector on the held-out slice of a recording.

Every box the weights fire (raw detections at the console's size and threshold, before any
tracking) on a held-out frame is put in one of these bins, using the mining's background mask
and its boxes of that frame:

* ``on_background``: at most ``static_fg`` of the box is moving foreground — nothing moves
  there, so a box there is a false one unless a still object was really meant (the site's
  mined negatives are such boxes); ``vehicles_on_background`` are those of a vehicle class;
* ``on_negatives``: boxes matching (IoU >= 0.3) a mined negative of the starting detector;
* ``vehicles``: every box of a vehicle class (a count, false or not: where no vehicle can be, as
  indoors, all of them are false).

Kept positives: of the mined positives of the held-out frames (moving objects confirmed by the
background model), those the weights still find (a box with IoU >= 0.5), of any class and of
the positive's own class.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, Field

from zhizhi.models.detector.site.mining import MinedFrame, MiningOptions, box_foreground, iou
from zhizhi.video.observation import CLASSES, VEHICLES

NEGATIVE_IOU = 0.3
POSITIVE_IOU = 0.5


class BoxCounts(BaseModel):
    """What one set of weights fires on the held-out frames (see the module)."""

    weights: str
    frames: int
    boxes: int
    by_class: dict[str, int]
    vehicles: int
    on_background: int
    vehicles_on_background: int
    on_negatives: int
    positives: int = Field(description="Mined positives in these frames.")
    positives_found: int
    positives_found_same_class: int
    seconds: float

    @property
    def false_boxes(self) -> int:
        """The headline: boxes on the static background."""
        return self.on_background


def count_boxes(
    detector,
    frames: Sequence[MinedFrame],
    folder: Path,
    options: MiningOptions,
    *,
    weights: str,
    width: int,
) -> tuple[BoxCounts, dict[int, list[tuple[list[float], str, float]]]]:
    """Run ``detector`` (:class:`video.detectors.UltralyticsDetector`) on ``frames`` (their images
    and masks under ``folder``): the counts, and each frame's boxes ``(xyxy, class, conf)`` by index."""
    import time

    started = time.perf_counter()
    by_class = dict.fromkeys(CLASSES, 0)
    totals = dict.fromkeys(("boxes", "vehicles", "on_background", "vehicles_on_background", "on_negatives",
                            "positives", "positives_found", "positives_found_same_class"), 0)
    scale = min(1.0, options.work_width / width)
    fired: dict[int, list[tuple[list[float], str, float]]] = {}
    for frame in frames:
        image = cv2.imread(str(folder / frame.file))
        mask = cv2.imread(str(folder / frame.mask), cv2.IMREAD_GRAYSCALE)
        dets = detector.detect([image])[0]
        names = [detector.names[int(c)] for c in dets.cls]
        fg = box_foreground(mask, dets.xyxy, scale)
        fired[frame.index] = [(box, name, round(float(c), 3)) for box, name, c in
                              zip(np.round(dets.xyxy, 1).tolist(), names, dets.conf)]
        vehicle = np.array([n in VEHICLES for n in names], bool)
        background = fg <= options.static_fg
        for name in names:
            by_class[name] = by_class.get(name, 0) + 1
        totals["boxes"] += len(names)
        totals["vehicles"] += int(vehicle.sum())
        totals["on_background"] += int(background.sum())
        totals["vehicles_on_background"] += int((background & vehicle).sum())
        negatives = [b.xyxy for b in frame.boxes if b.verdict == "negative"]
        if negatives and len(dets):
            totals["on_negatives"] += int((iou(dets.xyxy, negatives).max(axis=1) >= NEGATIVE_IOU).sum())
        for positive in (b for b in frame.boxes if b.verdict == "positive"):
            totals["positives"] += 1
            if not len(dets):
                continue
            overlap = iou([positive.xyxy], dets.xyxy)[0]
            found = overlap >= POSITIVE_IOU
            totals["positives_found"] += int(found.any())
            totals["positives_found_same_class"] += int(any(f and n == positive.label for f, n in zip(found, names)))
    counts = BoxCounts(weights=weights, frames=len(frames), by_class=by_class,
                       seconds=round(time.perf_counter() - started, 1), **totals)
    return counts, fired
