"""Spatial queries on one large layer: an in-memory STRtree against PostGIS and SQLite.

One layer of ``features`` small rotated squares (about 25-60 m across, on a jittered lattice
over a 40 x 40 km box of the demo district's latitude) is stored through
:class:`layers.registry.LayerRegistry` twice: in a SQLite file and in a PostgreSQL/PostGIS
database of its own (created for the run, dropped after). The same random queries then run
against:

- ``memory``: a shapely ``STRtree`` over the layer's geometries (the baseline);
- ``postgis`` / ``sqlite``: :meth:`LayerRegistry.query_intersects` (``ST_Intersects`` on the
  GiST index; stored bounds plus shapely);
- ``postgis_bbox`` / ``sqlite_bbox``: :meth:`LayerRegistry.read_features` with ``bbox`` (the
  API's ``/api/layers/{name}/features?bbox=`` path, whole features decoded).

Queries: half are windows (boxes 100-600 m a side, tens of hits each), half are points (zero or
one hit). Every method's fids are compared with the baseline's, query by query. Per method:
p50/p99 ms per query, queries/s, and the ratio of its mean time to the baseline's.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import text

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
LAYER = "bench-squares"
OWNER = "320612"
CENTER = (121.06, 32.09)
SPAN_DEG = (0.42, 0.36)  # about 40 x 40 km at 32 deg N
M_PER_DEG_LAT = 111_320.0


def make_layer(features: int, seed: int = 0) -> gpd.GeoDataFrame:
    """``features`` small rotated squares on a jittered lattice (WGS-84), with a ``n`` column."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(features)))
    ix, iy = np.divmod(np.arange(features), side)
    step = (SPAN_DEG[0] / side, SPAN_DEG[1] / side)
    cx = CENTER[0] - SPAN_DEG[0] / 2 + (ix + 0.5 + rng.uniform(-0.2, 0.2, features)) * step[0]
    cy = CENTER[1] - SPAN_DEG[1] / 2 + (iy + 0.5 + rng.uniform(-0.2, 0.2, features)) * step[1]
    half = rng.uniform(0.2, 0.45, features) * step[1]  # degrees of latitude
    angle = rng.uniform(0, np.pi / 2, features)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=float)
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    dx = (corners[None, :, 0] * cos - corners[None, :, 1] * sin) * half[:, None]
    dy = (corners[None, :, 0] * sin + corners[None, :, 1] * cos) * half[:, None]
    kx = 1.0 / np.cos(np.radians(CENTER[1]))  # square on the ground, not in degrees
    coords = np.stack([cx[:, None] + dx * kx, cy[:, None] + dy], axis=-1)
    geoms = shapely.polygons(coords)
    return gpd.GeoDataFrame({"n": np.arange(features)}, geometry=geoms, crs="EPSG:4326")


def make_queries(queries: int, seed: int = 1) -> list[shapely.Geometry]:
    """Alternating windows (100-600 m boxes) and points, uniform over the layer's box."""
    rng = np.random.default_rng(seed)
    x0, y0 = CENTER[0] - SPAN_DEG[0] / 2, CENTER[1] - SPAN_DEG[1] / 2
    out = []
    kx = 1.0 / np.cos(np.radians(CENTER[1]))
    for i in range(queries):
        x, y = x0 + rng.uniform(0, SPAN_DEG[0]), y0 + rng.uniform(0, SPAN_DEG[1])
        if i % 2 == 0:
            half = rng.uniform(50, 300) / M_PER_DEG_LAT
            out.append(shapely.box(x - half * kx, y - half, x + half * kx, y + half))
        else:
            out.append(shapely.Point(x, y))
    return out


def _stats(times: list[float], baseline_mean: float | None) -> dict[str, Any]:
    arr = np.asarray(times)
    mean = float(arr.mean())
    out = {
        "queries": len(arr),
        "p50_ms": round(float(np.percentile(arr, 50)) * 1000, 4),
        "p99_ms": round(float(np.percentile(arr, 99)) * 1000, 4),
        "mean_ms": round(mean * 1000, 4),
        "queries_per_s": round(1.0 / mean, 1),
    }
    if baseline_mean is not None:
        out["ratio_vs_memory"] = round(mean / baseline_mean, 1)  # times slower than the baseline
    return out


def _time_all(fn, queries: list) -> tuple[list[float], list[np.ndarray]]:
    times, results = [], []
    for q in queries:
        start = time.perf_counter()
        result = fn(q)
        times.append(time.perf_counter() - start)
        results.append(np.sort(np.asarray(result, dtype=np.int64)))
    return times, results


class _PostgresDatabase:
    """A database of the run's own on the server of ``admin_url``; dropped on exit."""

    def __init__(self, admin_url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.name = "zhizhi_bench_" + secrets.token_hex(5)
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def run_spatial_db_bench(features: int = 100_000, queries: int = 400, database_url: str | None = None,
                         seed: int = 0) -> dict[str, Any]:
    """Measure and return the figures (the ``zhizhi bench spatial-db --json`` contract).

    ``database_url``: the PostgreSQL server's maintenance database (``.../postgres``), where a
    database of the run's own is created and dropped; default the local server.
    """
    from zhizhi.layers.db import make_engine
    from zhizhi.layers.registry import LayerRegistry
    from zhizhi.layers.scope import Scope

    gdf = make_layer(features, seed)
    qs = make_queries(queries, seed + 1)
    windows = [q for q in qs if q.geom_type == "Polygon"]
    everything = Scope.everything()
    result: dict[str, Any] = {"features": features, "queries": len(qs), "windows": len(windows),
                              "points": len(qs) - len(windows)}

    start = time.perf_counter()
    geoms = gdf.geometry.values
    tree = shapely.STRtree(np.asarray(geoms))
    result["memory_build_s"] = round(time.perf_counter() - start, 3)

    def memory(q):
        return tree.query(q, predicate="intersects")

    memory(qs[0])  # warm
    base_times, base_fids = _time_all(memory, qs)
    base_mean = float(np.mean(base_times))
    methods: dict[str, Any] = {"memory": _stats(base_times, None)}
    result["hits_mean"] = round(float(np.mean([len(f) for f in base_fids])), 2)
    window_idx = [i for i, q in enumerate(qs) if q.geom_type == "Polygon"]
    base_window_mean = float(np.mean([base_times[i] for i in window_idx]))
    mismatches: dict[str, int] = {}

    pg = _PostgresDatabase(database_url or DEFAULT_ADMIN_URL)
    tmp = tempfile.TemporaryDirectory(prefix="zhizhi-spatial-db-")
    engines = []
    try:
        for backend, url in (("postgis", pg.url), ("sqlite", f"sqlite:///{Path(tmp.name) / 'layers.db'}")):
            engine = make_engine(url)
            engines.append(engine)
            registry = LayerRegistry(engine)
            start = time.perf_counter()
            registry.save_layer(LAYER, gdf, kind="bench", owner_code=OWNER)
            result[f"{backend}_load_s"] = round(time.perf_counter() - start, 2)
            with engine.begin() as conn:  # planner statistics on both, as a deployment would have
                conn.execute(text("ANALYZE layer_features"))

            def intersects(q, registry=registry):
                return registry.query_intersects(LAYER, q, everything)

            def bbox_read(q, registry=registry):
                return registry.read_features(LAYER, everything, bbox=q.bounds).index.to_numpy()

            for name, fn, subset, ref_mean in ((backend, intersects, list(range(len(qs))), base_mean),
                                               (f"{backend}_bbox", bbox_read, window_idx, base_window_mean)):
                fn(qs[subset[0]])  # warm (connection pool, plan cache)
                times, fids = _time_all(fn, [qs[i] for i in subset])
                methods[name] = _stats(times, ref_mean)
                mismatches[name] = sum(not np.array_equal(f, base_fids[i]) for f, i in zip(fids, subset))
    finally:
        for engine in engines:
            engine.dispose()
        pg.drop()
        tmp.cleanup()
    result["methods"] = methods
    result["mismatches"] = mismatches
    result["same_fids"] = not any(mismatches.values())
    return result
