"""Regions of a frame for the detector: padded, merged, packed onto canvases, boxes mapped back.

A region is an integer ``[x1, y1, x2, y2]`` rectangle of its frame. It is drawn onto a canvas at
the scale the whole frame would be analysed at, so objects look to the network as in training.

>>> merge_boxes(np.array([[0, 0, 10, 10], [2, 2, 12, 12], [40, 40, 50, 50]], np.float32)).tolist()
[[0.0, 0.0, 12.0, 12.0], [40.0, 40.0, 50.0, 50.0]]
>>> len(merge_boxes(np.array([[0, 0, 10, 10], [5, 5, 20, 20]], np.float32)))  # a diagonal pair stays two
2
>>> [(p.canvas, p.x, p.y) for p in pack([(200, 100), (200, 100), (300, 300), (300, 300)], 416)]
[(0, 0, 304), (0, 204, 304), (0, 0, 0), (1, 0, 0)]
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Grey of ultralytics' letterbox padding: the canvas background.
PAD_VALUE = 114
#: Pixels left empty between regions on a canvas, so no detection spans two of them.
GAP = 4
#: The network's stride: canvas heights are rounded up to it.
STRIDE = 32


def padded(boxes: np.ndarray, share: float, px: float, width: int, height: int) -> np.ndarray:
    """``boxes`` grown by ``share`` of their size plus ``px`` on each side, clipped to the frame."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    pad = (boxes[:, 2:] - boxes[:, :2]).max(axis=1, keepdims=True) * share + px
    out = np.concatenate([boxes[:, :2] - pad, boxes[:, 2:] + pad], axis=1)
    return np.clip(out, 0, [width, height, width, height]).astype(np.float32)


def at_least(boxes: np.ndarray, side: float, width: int, height: int) -> np.ndarray:
    """``boxes`` grown about their centres to at least ``side`` on each axis (as far as the frame
    allows), shifted back inside the frame where growing pushed them out.

    >>> at_least(np.array([[10, 10, 20, 60]], np.float32), 40, 100, 100).tolist()
    [[0.0, 10.0, 40.0, 60.0]]
    """
    out = np.asarray(boxes, np.float32).reshape(-1, 4).copy()
    for axis, limit in ((0, width), (1, height)):
        lo, hi = out[:, axis], out[:, axis + 2]
        grow = np.maximum(min(side, limit) - (hi - lo), 0) / 2
        lo, hi = lo - grow, hi + grow
        lo, hi = lo + np.clip(-lo, 0, None), hi + np.clip(-lo, 0, None)
        lo, hi = lo - np.clip(hi - limit, 0, None), hi - np.clip(hi - limit, 0, None)
        out[:, axis], out[:, axis + 2] = np.clip(lo, 0, limit), np.clip(hi, 0, limit)
    return out


def merge_boxes(boxes: np.ndarray, waste: float = 1.25) -> np.ndarray:
    """Overlapping boxes replaced by their union where the union is at most ``waste`` times the
    area the two cover (so two boxes on a diagonal stay two), until no such pair is left."""
    out = [b for b in np.asarray(boxes, np.float32).reshape(-1, 4)]
    merged = True
    while merged and len(out) > 1:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]):
                    continue
                union = np.concatenate([np.minimum(a[:2], b[:2]), np.maximum(a[2:], b[2:])])
                both = area(a) + area(b) - overlap(a[None], b[None])[0, 0]
                if area(union) <= waste * both:
                    out[i] = union
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return np.asarray(out, np.float32).reshape(-1, 4)


def area(boxes: np.ndarray) -> np.ndarray:
    """Area of each box."""
    wh = np.clip(boxes[..., 2:] - boxes[..., :2], 0, None)
    return wh[..., 0] * wh[..., 1]


def overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` intersection areas."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    return wh[..., 0] * wh[..., 1]


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` intersection over union."""
    inter = overlap(a, b)
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-6)


@dataclass(frozen=True)
class Placement:
    """Where a region of ``(w, h)`` network pixels lies: canvas index and top-left corner."""

    canvas: int
    x: int
    y: int
    w: int
    h: int


def pack(sizes: list[tuple[int, int]], side: int, gap: int = GAP) -> list[Placement]:
    """Shelf packing of ``(w, h)`` rectangles (each at most ``side``) onto ``side`` x ``side`` canvases.

    Tallest first, left to right on shelves, a new shelf below when a row is full, a new canvas
    when a shelf does not fit, ``gap`` pixels apart; placements come back in the order of ``sizes``.
    """
    order = sorted(range(len(sizes)), key=lambda i: (-sizes[i][1], -sizes[i][0]))
    shelves: list[list[int]] = []  # per canvas: [shelf top, shelf height, next x] of its open shelf
    out: list[Placement | None] = [None] * len(sizes)
    for i in order:
        w, h = sizes[i]
        if w > side or h > side:
            raise ValueError(f"a region of {w}x{h} does not fit a {side}-pixel canvas")
        for c, (top, shelf_h, x) in enumerate(shelves):
            if x + w <= side and h <= shelf_h:  # fits on the open shelf
                shelves[c][2] = x + w + gap
                out[i] = Placement(c, x, top, w, h)
                break
            new_top = top + shelf_h + gap
            if new_top + h <= side:  # a new shelf below
                shelves[c] = [new_top, h, w + gap]
                out[i] = Placement(c, 0, new_top, w, h)
                break
        else:
            shelves.append([0, h, w + gap])
            out[i] = Placement(len(shelves) - 1, 0, 0, w, h)
    return out  # type: ignore[return-value]


def canvas_height(placements: list[Placement], side: int) -> int:
    """The smallest stride multiple (at most ``side``) every placement fits in."""
    used = max((p.y + p.h for p in placements), default=STRIDE)
    return min(side, -(-used // STRIDE) * STRIDE)


@dataclass(frozen=True)
class Letterbox:
    """How the network sees a whole frame (as ultralytics' ``LetterBox`` with rectangular batches):
    resized by ``gain`` to ``width`` x ``height``, ``left`` and ``top`` pixels into its input."""

    gain: float
    width: int
    height: int
    left: int
    top: int

    @classmethod
    def of(cls, width: int, height: int, side: int) -> Letterbox:
        gain = min(side / height, side / width)
        w, h = round(width * gain), round(height * gain)
        return cls(gain, w, h, round((side - w) % STRIDE / 2 - 0.1), round((side - h) % STRIDE / 2 - 0.1))

    def resize(self, image: np.ndarray) -> np.ndarray:
        """The frame as the network's input holds it (BGR)."""
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if image.shape[1::-1] == (self.width, self.height):
            return image
        return cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True)
class Crop:
    """A region of the resized frame, ``[x1, x2) x [y1, y2)``, started on the network's grid: drawn
    ``ox``, ``oy`` into a slot placed at a multiple of the stride, every pixel lies where it lies
    in a whole-frame pass, so the network sees the same input there."""

    x1: int
    y1: int
    x2: int
    y2: int
    ox: int
    oy: int

    @classmethod
    def of(cls, region: np.ndarray, lb: Letterbox) -> Crop:
        """The crop of a frame ``region`` (frame pixels), grown back to the grid where it can."""
        x1, y1 = (int(np.floor(v * lb.gain)) for v in region[:2])
        x2, y2 = (int(np.ceil(v * lb.gain)) for v in region[2:])
        x1, x2 = min(max(x1, 0), lb.width - 1), min(max(x2, x1 + 1), lb.width)
        y1, y2 = min(max(y1, 0), lb.height - 1), min(max(y2, y1 + 1), lb.height)
        ax1, ay1 = max(0, x1 - (x1 + lb.left) % STRIDE), max(0, y1 - (y1 + lb.top) % STRIDE)
        return cls(ax1, ay1, x2, y2, (ax1 + lb.left) % STRIDE, (ay1 + lb.top) % STRIDE)

    def slot(self, side: int) -> tuple[int, int]:
        """The slot's size: whole strides, with room for a gap."""
        w = -(-(self.ox + self.x2 - self.x1 + GAP) // STRIDE) * STRIDE
        h = -(-(self.oy + self.y2 - self.y1 + GAP) // STRIDE) * STRIDE
        return min(w, side), min(h, side)

    def in_frame(self, lb: Letterbox) -> np.ndarray:
        """The crop in frame pixels."""
        return np.float32([self.x1, self.y1, self.x2, self.y2]) / np.float32(lb.gain)

    def draw(self, canvas: np.ndarray, p: Placement, resized: np.ndarray) -> None:
        """Draw the crop of ``resized`` into its slot ``p`` on ``canvas``."""
        x, y = p.x + self.ox, p.y + self.oy
        canvas[y:y + self.y2 - self.y1, x:x + self.x2 - self.x1] = resized[self.y1:self.y2, self.x1:self.x2]
