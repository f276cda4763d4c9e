"""GCJ-02-shifted tiles redrawn in WGS-84 (gis/tile_shift.py): a mark drawn at a point's GCJ-02
place in the source tiles lands on the point's WGS-84 place in the served tile."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from zhizhi.gis.crs import wgs84_to_gcj02
from zhizhi.gis.tile_shift import shifted_tile

Z = 15
POINT = (121.1234, 32.0567)  # WGS-84, in the demo district


def global_px(lon: float, lat: float, z: int = Z) -> tuple[float, float]:
    world = 256 * 2**z
    return (lon + 180) / 360 * world, (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * world


def gcj_pyramid(fmt: str = "png"):
    """Source tiles (XYZ, GCJ-02) that are dark except for a bright 3x3 mark at POINT's GCJ-02 place."""
    glon, glat = (float(v) for v in wgs84_to_gcj02(*POINT))
    gx, gy = global_px(glon, glat)

    def fetch(z: int, x: int, y: int) -> bytes | None:
        img = np.full((256, 256, 3), 30, np.uint8)
        cx, cy = int(gx) - x * 256, int(gy) - y * 256
        if 0 <= cx < 256 and 0 <= cy < 256:
            img[max(cy - 1, 0):cy + 2, max(cx - 1, 0):cx + 2] = 255
        return cv2.imencode(f".{fmt}", img)[1].tobytes()

    return fetch, (gx, gy)


def brightest(data: bytes) -> tuple[float, float]:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE).astype(float)
    ys, xs = np.nonzero(img > 120)
    w = img[ys, xs]
    return float((xs * w).sum() / w.sum()), float((ys * w).sum() / w.sum())


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_a_gcj02_mark_lands_on_its_wgs84_place(fmt):
    fetch, (gx, gy) = gcj_pyramid(fmt)
    wx, wy = global_px(*POINT)
    assert math.hypot(gx - wx, gy - wy) > 40  # the shift is tens of pixels at this zoom
    tx, ty = int(wx // 256), int(wy // 256)
    data = shifted_tile(Z, tx, ty, fetch, fmt)
    assert data is not None
    x, y = brightest(data)
    # The mark's centre is the 3x3 block's centre (its top-left pixel + 1.5 px, as pixel edges).
    expect = (int(gx) + 0.5 - gx) + wx - tx * 256, (int(gy) + 0.5 - gy) + wy - ty * 256
    assert math.hypot(x - expect[0] + 0.5, y - expect[1] + 0.5) < 1.0


def test_no_source_tiles_no_tile():
    assert shifted_tile(Z, 100, 100, lambda z, x, y: None, "png") is None
