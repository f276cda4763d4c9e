"""Small clips with OpenCV: a bright box crossing a grey road written, a clip's frames counted."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_crossing_clip(path: Path, *, frames: int = 20, step: int = 8) -> Path:
    """``frames`` frames at 10 fps, 320x180: a bright 50x40 box moving ``step`` px right per frame."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (320, 180))
    for i in range(frames):
        image = np.full((180, 320, 3), 90, np.uint8)
        cv2.rectangle(image, (20 + step * i, 70), (70 + step * i, 110), (240, 240, 240), -1)
        writer.write(image)
    writer.release()
    return path


def frame_count(path: Path, size: tuple[int, int]) -> int:
    """How many frames OpenCV decodes from ``path``, each checked to be ``size`` (width, height)."""
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"OpenCV cannot open {path}"
    n = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        assert image.shape == (size[1], size[0], 3)
        n += 1
    capture.release()
    return n
