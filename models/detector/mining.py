"""Hard negatives mined from real footage: what the detector fires on that never moves.

The background model of a clip is its per-pixel median over the whole clip (the scene without
whatever moves through it); a pixel moves in a frame where it differs from that median by more
than ``motion_threshold`` grey levels, and the cleaned mask's blobs are the moving things. (A
short clip's MOG2, :class:`video.detectors.motion.MotionDetector`, learns a slow walker's
places into its background in its first frames: the median does not, as long as each place is
free more than half of the time.) On every ``every``-th frame the detector runs, and each of its
boxes is sorted by how much of it moves:

- **static** (at most ``static_cover``): it sits on background and does not move. Whatever
  class it was given, it is a *negative*: the frame goes into training with that place left
  unlabelled, so it is learned as background (a bar table, a median strip, a tree).
- **moving** (at least ``moving_cover``) and of a trusted class with a score at or above its
  threshold (``trusted``, e.g. ``person: 0.5``): a *positive*, labelled with that class, unless
  it is only a small part of a moving blob that no positive explains (a leg, a hand);
- a static detection of a trusted class at or above ``static_trusted_share`` of its threshold
  (a person standing or sitting still) is not a negative: it is painted out (below);
- in a clip where only one class ever moves (``movers``, e.g. ``person`` in a corridor), a moving
  blob that no positive explains and that has that class's shape (``mover_aspect``,
  ``mover_min_height_px``) is itself a positive of that class, its box the blob's: motion finds
  the whole walker where the detector saw a head or a hand;
- anything else (moving but untrusted, or in between) is not evidence either way: its box is
  *painted out* (filled with a heavy blur of itself: its colours stay, its shapes go), and so is
  every moving blob that no positive covers, grown by a quarter on each side, so nothing that
  might be a real object is taught as background. (The clip's median frame would be the cleaner
  fill, but where people linger in view it still shows them.)

A frame is kept when it has at least one negative or positive. The rule works without any
ground truth, so it also serves a site's own footage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from zhizhi.video.detectors.motion import foreground_mask
from zhizhi.video.detectors.tracking import Detections

Image = NDArray[np.uint8]
#: Detections of a batch of frames, with the detector's class names.
DetectFn = Callable[[Sequence[Image]], list[Detections]]


class MiningOptions(BaseModel):
    """How negatives and positives are told apart in real footage."""

    model_config = ConfigDict(extra="forbid")

    every: int = Field(2, ge=1, description="Mine every n-th frame (after the learning pass).")
    conf: float = Field(0.25, gt=0, lt=1, description="The detector's score threshold when mining.")
    imgsz: int = Field(416, gt=0, description="The detector's input size when mining.")
    trusted: dict[str, float] = Field(
        default_factory=lambda: {"person": 0.5},
        description="Classes whose moving detections at or above the score are labelled as positives.",
    )
    static_cover: float = Field(0.05, ge=0, le=1, description="At most this share of a static box moves.")
    moving_cover: float = Field(0.35, ge=0, le=1, description="At least this share of a moving box moves.")
    min_motion_px: int = Field(120, gt=0, description="Smallest moving blob (pixels) that counts.")
    motion_threshold: float = Field(30.0, gt=0, description="Grey levels from the clip's median that are motion.")
    mover_aspect: tuple[float, float] = Field((1.3, 4.5), description="Height / width of a blob taken as a mover.")
    mover_min_height_px: int = Field(40, gt=0, description="Smallest blob height taken as a mover.")
    static_trusted_share: float = Field(
        0.7, ge=0, le=1, description="A static trusted-class box at this share of its threshold is painted out."
    )


@dataclass
class MinedFrame:
    """A frame ready for training: the picture (with unsure places painted out) and its boxes."""

    image: Image
    index: int
    positives: list[tuple[str, tuple[float, float, float, float]]] = field(default_factory=list)
    negatives: list[tuple[str, tuple[float, float, float, float]]] = field(default_factory=list)
    painted: list[tuple[float, float, float, float]] = field(default_factory=list)


def read_frames(path: Path, max_frames: int | None = None) -> list[Image]:
    """The frames of a clip or animated GIF (BGR), at most ``max_frames``."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"{path}: OpenCV cannot open this clip")
    frames: list[Image] = []
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    if not frames:
        raise ValueError(f"{path}: no frames could be read")
    return frames


def coverage(box: Sequence[float], mask: NDArray[np.uint8]) -> float:
    """Share of the pixels of ``box`` (x1, y1, x2, y2) that are set in ``mask``."""
    h, w = mask.shape
    x1, y1 = max(int(box[0]), 0), max(int(box[1]), 0)
    x2, y2 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
    if x2 <= x1 or y2 <= y1:
        return 0.0
    return float(np.count_nonzero(mask[y1:y2, x1:x2])) / ((x2 - x1) * (y2 - y1))


def sort_detections(
    dets: Detections, names: Sequence[str], motion_boxes: NDArray[np.float32], shape: tuple[int, int],
    options: MiningOptions, movers: str | None = None,
) -> tuple[list, list, list]:
    """Positives, negatives and boxes to paint out of one frame (see the module's rule).

    ``motion_boxes`` are the background model's moving blobs (x1, y1, x2, y2) in the frame's pixels;
    ``movers`` the one class that moves in this clip, if there is one.
    """
    h, w = shape
    moving = np.zeros((h, w), np.uint8)
    for x1, y1, x2, y2 in np.asarray(motion_boxes, np.float32).reshape(-1, 4):
        moving[max(int(y1), 0):max(int(np.ceil(y2)), 0), max(int(x1), 0):max(int(np.ceil(x2)), 0)] = 1
    positives, negatives, painted = [], [], []
    for box, conf, cls in zip(dets.xyxy, dets.conf, dets.cls):
        name = names[int(cls)]
        b = tuple(float(v) for v in box)
        cover = coverage(b, moving)
        if cover <= options.static_cover:
            if name in options.trusted and conf >= options.static_trusted_share * options.trusted[name]:
                painted.append(b)  # someone standing still: not evidence of background
            else:
                negatives.append((name, b))
        elif cover >= options.moving_cover and name in options.trusted and conf >= options.trusted[name]:
            positives.append((name, b))
        else:
            painted.append(b)
    labelled = np.zeros((h, w), np.uint8)
    for _, b in positives:
        labelled[max(int(b[1]), 0):int(np.ceil(b[3])), max(int(b[0]), 0):int(np.ceil(b[2]))] = 1
    for x1, y1, x2, y2 in np.asarray(motion_boxes, np.float32).reshape(-1, 4):
        if coverage((x1, y1, x2, y2), labelled) < 0.5:  # a moving thing no positive explains
            blob = (float(x1), float(y1), float(x2), float(y2))
            gx, gy = 0.25 * (x2 - x1), 0.25 * (y2 - y1)
            grown = (float(x1 - gx), float(y1 - gy), float(x2 + gx), float(y2 + gy))
            # a positive inside a much larger unexplained blob is a part of something (a leg, a
            # hand): the blob replaces it when it is a mover, else both are painted out
            inside = [p for p in positives if _share_inside(p[1], grown) > 0.8 and _area(grown) > 2.5 * _area(p[1])]
            positives = [p for p in positives if p not in inside]
            if movers is not None and _mover_shaped(blob, options):
                positives.append((movers, (blob[0] + 1, blob[1] + 1, blob[2] - 1, blob[3] - 1)))  # the mask's dilation
            else:
                painted.append(grown)
                painted += [b for _, b in inside]
    return positives, negatives, painted


def _mover_shaped(box: Sequence[float], options: MiningOptions) -> bool:
    w, h = box[2] - box[0], box[3] - box[1]
    lo, hi = options.mover_aspect
    return h >= options.mover_min_height_px and w > 0 and lo <= h / w <= hi


def _area(box: Sequence[float]) -> float:
    return max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)


def _share_inside(box: Sequence[float], outer: Sequence[float]) -> float:
    iw = min(box[2], outer[2]) - max(box[0], outer[0])
    ih = min(box[3], outer[3]) - max(box[1], outer[1])
    return max(iw, 0.0) * max(ih, 0.0) / max(_area(box), 1e-6)


def paint_out(image: Image, boxes: Sequence[Sequence[float]], *, keep: Sequence[Sequence[float]] = ()) -> Image:
    """``image`` with ``boxes`` (grown a little) filled with a heavy blur of the image, feathered
    at the edges; the boxes in ``keep`` (positives) are left as they are."""
    if not boxes:
        return image
    h, w = image.shape[:2]
    background = cv2.GaussianBlur(cv2.resize(image, (max(w // 8, 1), max(h // 8, 1)), interpolation=cv2.INTER_AREA),
                                  (0, 0), 2.0)
    background = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    mask = np.zeros((h, w), np.float32)
    for x1, y1, x2, y2 in boxes:
        gx, gy = 0.1 * (x2 - x1) + 2, 0.1 * (y2 - y1) + 2
        cv2.rectangle(mask, (int(x1 - gx), int(y1 - gy)), (int(np.ceil(x2 + gx)), int(np.ceil(y2 + gy))), 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 3.0)
    for x1, y1, x2, y2 in keep:
        mask[max(int(y1), 0):int(np.ceil(y2)), max(int(x1), 0):int(np.ceil(x2))] = 0.0
    m = mask[..., None]
    return np.clip(image * (1.0 - m) + background * m, 0, 255).astype(np.uint8)


def moving_blobs(frame: Image, background: Image, options: MiningOptions) -> NDArray[np.float32]:
    """Boxes (x1, y1, x2, y2) of the blobs where ``frame`` differs from the clip's ``background``."""
    diff = cv2.absdiff(cv2.GaussianBlur(frame, (5, 5), 0), cv2.GaussianBlur(background, (5, 5), 0)).max(axis=2)
    mask = foreground_mask((diff > options.motion_threshold).astype(np.uint8) * 255)  # the motion backend's cleaning
    # one walker often splits at the belt (clothes of the background's colour): join blobs a few
    # pixels apart vertically
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 15)))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    boxes = [(x, y, x + bw, y + bh) for x, y, bw, bh, area in stats[1:count] if area >= options.min_motion_px]
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def mine_frames(frames: Sequence[Image], detect: DetectFn, names: Sequence[str], options: MiningOptions,
                *, batch: int = 8, movers: str | None = None) -> list[MinedFrame]:
    """Mine a clip's frames (see the module's rule); ``detect`` runs the detector on a batch;
    ``movers`` is the one class that moves in the clip, if there is one."""
    if not frames:
        return []
    h, w = frames[0].shape[:2]
    background = np.median(np.stack(frames[:: max(1, len(frames) // 120)]), axis=0).astype(np.uint8)
    picked = list(range(0, len(frames), options.every))
    blobs = {i: moving_blobs(frames[i], background, options) for i in picked}
    out: list[MinedFrame] = []
    for start in range(0, len(picked), batch):
        chunk = picked[start:start + batch]
        for i, dets in zip(chunk, detect([frames[i] for i in chunk])):
            positives, negatives, painted = sort_detections(dets, names, blobs[i], (h, w), options, movers)
            if not positives and not negatives:
                continue
            image = paint_out(frames[i], painted, keep=[b for _, b in positives])
            out.append(MinedFrame(image, i, positives, negatives, painted))
    return out


def ultralytics_detect(weights: Path, options: MiningOptions, device: str = "cpu") -> tuple[DetectFn, list[str]]:
    """A batch detector over the given weights (the project's YOLO backend) and its class names."""
    from zhizhi.video.detectors.ultralytics_backend import UltralyticsDetector

    detector = UltralyticsDetector(weights, device=device, imgsz=options.imgsz, conf=options.conf)
    return detector.detect, list(detector.names)
