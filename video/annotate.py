"""Annotated frames for the wall: boxes coloured by class, with track ids and speeds.

No words are burned into the frames. OpenCV draws only ASCII (its Hershey fonts), so a class
name would be an English identifier (``hazmat_tanker``) on a Chinese-first wall, and drawing
Chinese needs a CJK font on every worker (optional on a fresh offline machine:
scripts/install_fonts.sh) and a PIL pass per frame in the worker's hot path. The wall's pages
name the classes in Chinese (console/static/lib/classes.js) and colour them the same way; a
frame carries the box colour, the track number and the speed, which read in any language.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from zhizhi.bus.messages.frames import ObservationBatch

# BGR colours per class, those the wall's pages use (console/static/lib/classes.js).
COLOURS: dict[str, tuple[int, int, int]] = {
    "car": (250, 247, 224),  # #e0f7fa
    "bus": (255, 196, 64),  # #40c4ff
    "truck": (255, 136, 179),  # #b388ff
    "hazmat_tanker": (0, 109, 255),  # #ff6d00: tankers stand out in orange
    "person": (174, 240, 105),  # #69f0ae
}
_DEFAULT = (197, 190, 176)  # #b0bec5, "其他"


def annotate(image: np.ndarray, batch: ObservationBatch, label: str | None = None) -> np.ndarray:
    """A copy of ``image`` with each row's box (its class's colour) and a short label: the track
    number and, when known, the speed ("#12 45km/h"); ``label`` (the camera's id) top left."""
    out = image.copy()
    scale = max(out.shape[1] / 1280.0, 0.5)
    thickness = max(round(2 * scale), 1)
    for box, cls, track_id, speed in zip(
        batch.xyxy.tolist(), batch.cls.tolist(), batch.track_id.tolist(), batch.speed_kmh.tolist()
    ):
        x1, y1, x2, y2 = (round(v) for v in box)
        colour = COLOURS.get(cls, _DEFAULT)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        text = f"#{track_id}"
        if not math.isnan(speed):  # known
            text += f" {speed:.0f}km/h"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, thickness)
        top = max(y1 - th - base - 2, 0)
        cv2.rectangle(out, (x1, top), (x1 + tw + 4, top + th + base + 2), colour, -1)
        cv2.putText(out, text, (x1 + 2, top + th), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (20, 20, 20), thickness)
    if label:
        cv2.putText(
            out, label, (10, int(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (255, 255, 255), thickness + 1
        )
    return out


def to_jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    """JPEG bytes of a BGR image."""
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("could not encode the frame as JPEG")
    return buffer.tobytes()
