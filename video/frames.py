"""A frame as it leaves a camera's source runner: who, which, when, and the BGR picture.

>>> import numpy as np
>>> frame = Frame("CAM-0001", 0, 1_700_000_000.0, np.zeros((4, 6, 3), np.uint8))
>>> frame.camera_id, frame.index, frame.image.shape
('CAM-0001', 0, (4, 6, 3))
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(slots=True)
class Frame:
    """One frame of one camera.

    ``index`` counts the frames read from the source (0, 1, 2 ... across reconnects and loops);
    ``ts`` is seconds since the epoch and strictly increasing per camera.
    """

    camera_id: str
    index: int
    ts: float
    image: np.ndarray


def as_bgr(image: np.ndarray) -> np.ndarray:
    """``image`` as BGR uint8, HxWx3 (gray, BGRA and 16-bit pictures are converted).

    >>> as_bgr(np.zeros((2, 3), np.uint16)).shape, as_bgr(np.zeros((2, 3, 4), np.uint8)).dtype
    ((2, 3, 3), dtype('uint8'))
    """
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise ValueError(f"not an image: {type(image).__name__} {getattr(image, 'shape', '')}")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.shape[2] != 3:
        raise ValueError(f"not an image: shape {image.shape}")
    return image
