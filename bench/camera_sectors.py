"""Camera fields of view at county scale: the vectorised sectors against one-by-one shapely.

``fov_sectors`` builds every camera's sector in one batch; the baseline in the same run is
``fov_sector`` per camera (what a loop over the registry would do), on the same random cameras.
The camera index's ``covering_pairs`` ("which cameras see these points") is timed beside it.
"""

from __future__ import annotations

import time

import numpy as np
import shapely

from zhizhi.gis.cameras import Camera, CameraIndex, fov_sector, fov_sectors

LON, LAT = 120.86, 32.01


def random_cameras(n: int, seed: int = 9) -> tuple[list[Camera], np.ndarray]:
    """``n`` cameras scattered over about 60 km around the demo district, and their columns."""
    rng = np.random.default_rng(seed)
    cols = np.column_stack([
        LON + rng.uniform(-0.3, 0.3, n), LAT + rng.uniform(-0.3, 0.3, n), rng.uniform(0, 360, n),
        rng.choice([55.0, 70.0, 90.0, 360.0], n), rng.uniform(50, 400, n),
    ])
    cams = [Camera(id=f"C{i}", lon=a, lat=b, heading_deg=h, hfov_deg=f, range_m=r)
            for i, (a, b, h, f, r) in enumerate(cols.tolist())]
    return cams, cols


def run_camera_sectors_bench(cameras: int = 20_000, points: int = 5_000, seed: int = 9) -> dict:
    """Measure and return the figures (the ``zhizhi bench camera-sectors --json`` contract)."""
    cams, cols = random_cameras(cameras, seed)
    start = time.perf_counter()
    batch = fov_sectors(cams)
    batch_s = time.perf_counter() - start
    start = time.perf_counter()
    single = [fov_sector(c.lon, c.lat, c.heading_deg, c.hfov_deg, c.range_m) for c in cams]
    single_s = time.perf_counter() - start
    same = all(batch[i].equals_exact(single[i], 1e-12) for i in range(0, cameras, max(1, cameras // 100)))
    start = time.perf_counter()
    index = CameraIndex(cams)
    index_s = time.perf_counter() - start
    start = time.perf_counter()
    pairs = index.covering_pairs(cols[:points, 0], cols[:points, 1])
    covering_s = time.perf_counter() - start
    return {
        "cameras": cameras,
        "sectors_s": round(batch_s, 4),
        "one_by_one_s": round(single_s, 4),
        "ratio_vs_one_by_one": round(single_s / batch_s, 2) if batch_s else None,
        "valid": bool(shapely.is_valid(batch).all()),
        "same_as_one_by_one": same,
        "index_build_s": round(index_s, 4),
        "points": points,
        "covering_pairs_s": round(covering_s, 4),
        "pairs": len(pairs[0]),
    }
