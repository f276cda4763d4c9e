"""Point -> grid lookup: the raster-accelerated GridIndex against geopandas.sjoin.

Both locate the same random points (uniform over the district's bounding box, so some fall
outside) in the same run; a 10,000-point sample is checked against a brute-force scan.
"""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np

from zhizhi.gis.district import DistrictSpec, generate_district
from zhizhi.gis.grid_index import GridIndex


def _best_of(repeats: int, fn):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def run_spatial_bench(points: int = 1_000_000, seed: int = 0, repeats: int = 3, sample: int = 10_000) -> dict:
    """Measure and return the figures (the ``zhizhi bench spatial --json`` contract)."""
    district = generate_district(DistrictSpec(cameras=0))
    grids = district.grids[["code", "geometry"]].sort_values("code").reset_index(drop=True)
    start = time.perf_counter()
    index = GridIndex(grids.geometry.values)
    build_s = time.perf_counter() - start

    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = grids.total_bounds
    lon = rng.uniform(minx, maxx, points)
    lat = rng.uniform(miny, maxy, points)

    ours_s, ours = _best_of(repeats, lambda: index.locate(lon, lat))

    def sjoin():
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=grids.crs)
        return gpd.sjoin(pts, grids, how="left", predicate="intersects")

    sjoin_s, _ = _best_of(max(1, repeats - 1), sjoin)
    sample_idx = rng.choice(points, size=min(sample, points), replace=False)
    reference = index.locate_brute_force(lon[sample_idx], lat[sample_idx])
    mismatches = int(np.count_nonzero(reference != ours[sample_idx]))
    return {
        "points": points,
        "grids": len(grids),
        "inside": int(np.count_nonzero(ours >= 0)),
        "ours_s": round(ours_s, 4),
        "sjoin_s": round(sjoin_s, 4),
        "ours_pts_per_s": round(points / ours_s),
        "sjoin_pts_per_s": round(points / sjoin_s),
        "ratio_vs_sjoin": round(sjoin_s / ours_s, 2),
        "index_build_s": round(build_s, 3),
        "raster_cells": int(index.table.size),
        "mixed_cell_fraction": round(index.mixed_fraction, 4),
        "mismatches": mismatches,
        "mismatch_sample": len(sample_idx),
    }
