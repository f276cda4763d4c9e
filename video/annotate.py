"""Annotated frames for the wall: boxes, track ids, classes and speeds drawn on the image."""

from __future__ import annotations

import math

import cv2
import numpy as np

from zhizhi.bus.messages.frames import ObservationBatch

# BGR colours per class; hazardous-chemical tankers stand out in orange.
COLOURS: dict[str, tuple[int, int, int]] = {
    "car": (80, 200, 120),
    "bus": (240, 180, 60),
    "truck": (200, 120, 240),
    "hazmat_tanker": (0, 140, 255),
    "person": (230, 230, 90),
}
_DEFAULT = (200, 200, 200)


def annotate(image: np.ndarray, batch: ObservationBatch, label: str | None = None) -> np.ndarray:
    """A copy of ``image`` with each row's box and a short label (class, track, speed)."""
    out = image.copy()
    scale = max(out.shape[1] / 1280.0, 0.5)
    thickness = max(round(2 * scale), 1)
    for box, cls, track_id, speed in zip(
        batch.xyxy.tolist(), batch.cls.tolist(), batch.track_id.tolist(), batch.speed_kmh.tolist()
    ):
        x1, y1, x2, y2 = (round(v) for v in box)
        colour = COLOURS.get(cls, _DEFAULT)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        text = f"{cls} #{track_id}"
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
