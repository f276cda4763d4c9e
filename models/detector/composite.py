"""Simulator objects pasted onto real pictures, under the picture's light, with their YOLO labels.

A *cutout* is one of the simulator's models (:func:`video.simulator.objects.make_model`) drawn by
its own renderer (:func:`video.simulator.draw.draw_projected`) from a random camera height, pitch
and heading, twice: over black and over white. Where the two differ the object is transparent,
so the pair gives the exact alpha matte, anti-aliased edges included; the label box is the
projected extent of the model (the one :mod:`video.simulator.dataset` labels), in the cutout's
pixels.

Pasting scales the cutout to a random height in the picture, matches it to the light around the
place it goes (brightness and colour cast of the background there), blurs it as much as the
picture is soft, blends it by its matte and returns the box. :func:`composite_image` pastes a few
objects without covering each other much and finishes the whole picture as a camera would:
sensor noise and JPEG compression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from zhizhi.video.observation import CLASSES
from zhizhi.video.simulator.camera import PinholeCamera
from zhizhi.video.simulator.draw import Pose, draw_projected, project_pose
from zhizhi.video.simulator.objects import make_model
from zhizhi.video.simulator.variation import Lighting, Variation

Image = NDArray[np.uint8]
CLASS_INDEX = {name: i for i, name in enumerate(CLASSES)}
#: How often each class is pasted: the large vehicles most, they are the ones confused.
PASTE_WEIGHTS = {"car": 0.22, "bus": 0.16, "truck": 0.2, "hazmat_tanker": 0.24, "person": 0.18}
#: Pasted box height as a share of the picture's height (drawn log-uniformly).
HEIGHT_RANGE = {"person": (0.1, 0.55), "car": (0.06, 0.35), "bus": (0.08, 0.45), "truck": (0.08, 0.45),
                "hazmat_tanker": (0.08, 0.45)}
MIN_BOX_PX = 10
#: Cutouts are drawn on a canvas of this size (then scaled down when pasted).
CANVAS = (640, 480)


@dataclass
class Cutout:
    """An object with its matte: ``colour`` (BGR, premultiplied by nothing), ``alpha`` in [0, 1]."""

    cls: str
    colour: NDArray[np.float32]
    alpha: NDArray[np.float32]
    box: tuple[float, float, float, float]  # the label box (x1, y1, x2, y2) in the cutout's pixels


def render_cutout(cls: str, rng: np.random.Generator) -> Cutout:
    """One randomised object of ``cls`` seen from a random surveillance-like camera, with its matte."""
    for _attempt in range(20):
        model = make_model(cls, rng)
        cam = PinholeCamera(height_m=float(rng.uniform(3.0, 14.0)), heading_deg=0.0,
                            pitch_deg=float(rng.uniform(5.0, 35.0)), hfov_deg=float(rng.uniform(40.0, 75.0)),
                            width=CANVAS[0], height=CANVAS[1])
        x, y = cam.ground_point(float(rng.uniform(200, 440)), float(rng.uniform(0.55, 0.85) * CANVAS[1]))
        if not (math.isfinite(float(x)) and math.isfinite(float(y))):
            continue
        pose = Pose(1, cls, model, float(x), float(y), float(rng.uniform(0, 2 * math.pi)),
                    phase=float(rng.uniform(0, 2 * math.pi)))
        proj = project_pose(cam, pose, max_range_m=2000.0)
        if proj is None or proj.visible < 0.999 or proj.height_px < 40:
            continue
        lighting = Lighting.from_variation(Variation(night=False, rain=0.0).resolve(rng), rng)
        black = np.zeros((CANVAS[1], CANVAS[0], 3), np.uint8)
        white = np.full_like(black, 255)
        draw_projected(black, proj, cam, lighting)
        draw_projected(white, proj, cam, lighting)
        alpha = 1.0 - (white.astype(np.float32) - black.astype(np.float32)).mean(axis=2) / 255.0
        alpha = np.clip(alpha, 0.0, 1.0)
        ys, xs = np.nonzero(alpha > 0.02)
        if len(xs) == 0:
            continue
        x0, y0 = int(xs.min()), int(ys.min())
        x1, y1 = int(xs.max()) + 1, int(ys.max()) + 1
        a = alpha[y0:y1, x0:x1]
        colour = black[y0:y1, x0:x1].astype(np.float32) / np.maximum(a, 1e-3)[..., None]
        bx1, by1, bx2, by2 = (float(v) for v in proj.bbox)
        return Cutout(cls, np.clip(colour, 0, 255), a.copy(), (bx1 - x0, by1 - y0, bx2 - x0, by2 - y0))
    raise RuntimeError(f"could not draw a {cls} cutout in 20 tries")


def paste(image: Image, cutout: Cutout, at: tuple[float, float], height_px: float,
          rng: np.random.Generator) -> tuple[float, float, float, float] | None:
    """Paste ``cutout`` into ``image`` (in place) with its label box's top-left at ``at`` and its
    box ``height_px`` high, matched to the light around it; returns the label box (x1, y1, x2, y2)
    clipped to the image, or None when too little of it would be in view."""
    bx1, by1, bx2, by2 = cutout.box
    scale = height_px / max(by2 - by1, 1e-6)
    h, w = image.shape[:2]
    ch, cw = cutout.alpha.shape
    new_w, new_h = max(round(cw * scale), 1), max(round(ch * scale), 1)
    colour = cv2.resize(cutout.colour, (new_w, new_h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(cutout.alpha, (new_w, new_h), interpolation=cv2.INTER_AREA)
    ox, oy = round(at[0] - bx1 * scale), round(at[1] - by1 * scale)  # the cutout's origin in the image
    box = (ox + bx1 * scale, oy + by1 * scale, ox + bx2 * scale, oy + by2 * scale)
    clipped = (max(box[0], 0.0), max(box[1], 0.0), min(box[2], w - 1.0), min(box[3], h - 1.0))
    if clipped[2] - clipped[0] < MIN_BOX_PX or clipped[3] - clipped[1] < MIN_BOX_PX:
        return None
    if (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) < 0.7 * (box[2] - box[0]) * (box[3] - box[1]):
        return None
    x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + new_w, w), min(oy + new_h, h)
    colour = colour[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    alpha = alpha[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    colour = match_light(colour, alpha, image, (x0, y0, x1, y1), rng)
    sigma = float(rng.uniform(0.0, 0.9)) * max(1.0, height_px / 120.0)
    if sigma > 0.3:
        colour = cv2.GaussianBlur(colour, (0, 0), sigma)
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigma * 0.7)
    roi = image[y0:y1, x0:x1].astype(np.float32)
    a = alpha[..., None]
    image[y0:y1, x0:x1] = np.clip(colour * a + roi * (1.0 - a), 0, 255).astype(np.uint8)
    return clipped


def match_light(colour: NDArray[np.float32], alpha: NDArray[np.float32], image: Image,
                region: tuple[int, int, int, int], rng: np.random.Generator) -> NDArray[np.float32]:
    """The object's colours brought towards the light of the background around ``region``.

    Brightness: the object's mean is moved part of the way to the surround's mean (real objects
    are neither lit like the simulator's sun nor as bright as whatever is behind them, so the
    gain is limited); colour: the surround's cast (its channel balance) is applied in part.
    """
    x0, y0, x1, y1 = region
    h, w = image.shape[:2]
    mx, my = max((x1 - x0) // 2, 4), max((y1 - y0) // 2, 4)
    around = image[max(y0 - my, 0):min(y1 + my, h), max(x0 - mx, 0):min(x1 + mx, w)].astype(np.float32)
    bg = around.reshape(-1, 3).mean(axis=0) + 1.0
    weights = alpha.reshape(-1)
    if weights.sum() < 1e-3:
        return colour
    obj = (colour.reshape(-1, 3) * weights[:, None]).sum(axis=0) / weights.sum() + 1.0
    k = float(rng.uniform(0.4, 0.8))
    gain = float(np.clip((bg.mean() / obj.mean()) ** k, 0.45, 1.6))
    cast = (bg / bg.mean()) ** float(rng.uniform(0.3, 0.7))
    return np.clip(colour * gain * cast.astype(np.float32), 0, 255).astype(np.float32)


def composite_image(background: Image, rng: np.random.Generator, *, objects: tuple[int, int] = (1, 4),
                    cutouts: dict[str, list[Cutout]] | None = None,
                    avoid: list[tuple[float, float, float, float]] | tuple = (),
                    jpeg_quality: tuple[int, int] = (45, 92)) -> tuple[Image, list[str]]:
    """``background`` with ``objects`` (an inclusive range) simulator objects pasted onto it, then
    camera noise and JPEG; returns the picture and the YOLO rows (``cls cx cy w h``, normalised)
    of what was pasted.

    ``cutouts`` (by class) are reused when given, else drawn here; nothing is pasted over the
    boxes in ``avoid`` (objects already labelled in the background).
    """
    image = background.copy()
    h, w = image.shape[:2]
    names = list(PASTE_WEIGHTS)
    p = np.array([PASTE_WEIGHTS[n] for n in names])
    n = int(rng.integers(objects[0], objects[1] + 1))
    boxes: list[tuple[int, tuple[float, float, float, float]]] = []
    for _ in range(n):
        cls = names[int(rng.choice(len(names), p=p / p.sum()))]
        pool = (cutouts or {}).get(cls)
        cutout = pool[int(rng.integers(len(pool)))] if pool else render_cutout(cls, rng)
        lo, hi = HEIGHT_RANGE[cls]
        for _attempt in range(10):
            height = h * math.exp(rng.uniform(math.log(lo), math.log(hi)))
            bh = cutout.box[3] - cutout.box[1]
            bw = (cutout.box[2] - cutout.box[0]) * height / max(bh, 1e-6)
            if bw >= w * 0.95 or height >= h * 0.95:
                continue
            at = (float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - height)))
            planned = (at[0], at[1], at[0] + bw, at[1] + height)
            others = [other for _, other in boxes] + list(avoid)
            if any(_covered(planned, other) > 0.3 or _covered(other, planned) > 0.3 for other in others):
                continue
            box = paste(image, cutout, at, height, rng)
            if box is not None:
                boxes.append((CLASS_INDEX[cls], box))
            break
    if rng.random() < 0.5:
        sigma = float(rng.uniform(1.0, 5.0))
        image = np.clip(image.astype(np.float32) + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)
    quality = int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1))
    _ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    rows = [yolo_row(c, b, w, h) for c, b in boxes]
    return image, rows


def yolo_row(cls_id: int, box: tuple[float, float, float, float], w: int, h: int) -> str:
    """One YOLO label line for a pixel box (x1, y1, x2, y2) in a ``w`` x ``h`` image."""
    x1, y1, x2, y2 = box
    return f"{cls_id} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"


def _covered(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Share of box ``a`` that box ``b`` covers."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / max((a[2] - a[0]) * (a[3] - a[1]), 1e-6)
