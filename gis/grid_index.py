"""Batch point -> polygon lookup for tilings (grids), several times faster than a spatial join.

A plain STRtree query does the same work as ``geopandas.sjoin``. This index precomputes more:
the tiling's bounding box is rasterised into small cells, and each cell is labelled with the
one polygon that contains it entirely, "outside" when it touches no polygon, or "mixed" when
some polygon edge passes through or next to it. Most points are then answered by one array
lookup; only the few points in mixed cells take the exact STRtree path.

Semantics match a brute-force scan exactly: a point gets the lowest index among the polygons
that cover it (so a point on a shared edge belongs to the lower-coded grid), or -1.

>>> import shapely
>>> idx = GridIndex([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
>>> idx.locate([0.5, 1.0, 1.5, 3.0], [0.5, 0.5, 0.5, 0.5]).tolist()
[0, 0, 1, -1]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from rasterio.features import rasterize
from rasterio.transform import from_origin

OUTSIDE = -1
_MIXED = -2
Int = NDArray[np.int64]


class GridIndex:
    """Locate many points in a set of non-overlapping polygons (any coordinates, e.g. lon/lat)."""

    def __init__(
        self,
        polygons: Sequence[shapely.Geometry] | NDArray,
        cells_per_polygon_side: float = 96.0,
        max_cells: int = 16_000_000,
    ) -> None:
        self.polygons = np.asarray(polygons, dtype=object)
        if len(self.polygons) == 0:
            raise ValueError("GridIndex needs at least one polygon")
        if not np.all(shapely.get_type_id(self.polygons) >= 0):
            raise ValueError("GridIndex polygons must not be None")
        shapely.prepare(self.polygons)
        self._tree = shapely.STRtree(self.polygons)
        minx, miny, maxx, maxy = shapely.total_bounds(self.polygons)
        mean_side = np.sqrt(np.mean(shapely.area(self.polygons)))
        cell = mean_side / cells_per_polygon_side
        width, height = (maxx - minx) / cell, (maxy - miny) / cell
        if width * height > max_cells:
            cell *= np.sqrt(width * height / max_cells)
        self.cell = float(cell)
        # One spare cell around the bounds so edge points never fall off the raster.
        self.x0, self.y1 = minx - cell, maxy + cell
        self.width = int(np.ceil((maxx - minx) / cell)) + 2
        self.height = int(np.ceil((maxy - miny) / cell)) + 2
        self.table = self._build_table()

    def _build_table(self) -> NDArray[np.signedinteger]:
        transform = from_origin(self.x0, self.y1, self.cell, self.cell)
        shape = (self.height, self.width)
        labels = rasterize(
            zip(self.polygons, range(1, len(self.polygons) + 1)),
            out_shape=shape,
            transform=transform,
            fill=0,
            dtype="int32",
        )
        edges = rasterize(
            ((line, 1) for line in shapely.boundary(self.polygons)),
            out_shape=shape,
            transform=transform,
            fill=0,
            all_touched=True,
            dtype="uint8",
        ).astype(bool)
        # Widen the edge band by one cell each way: a cell whose label comes from its centre is
        # then certain to lie wholly inside that polygon (or wholly outside all of them).
        band = edges.copy()
        band[1:, :] |= edges[:-1, :]
        band[:-1, :] |= edges[1:, :]
        widened = band.copy()
        widened[:, 1:] |= band[:, :-1]
        widened[:, :-1] |= band[:, 1:]
        dtype = np.int16 if len(self.polygons) < np.iinfo(np.int16).max else np.int32
        table = (labels - 1).astype(dtype)
        table[widened] = _MIXED
        return table

    @property
    def mixed_fraction(self) -> float:
        """Share of raster cells that need the exact path."""
        return float(np.mean(self.table == _MIXED))

    def locate(self, x: ArrayLike, y: ArrayLike) -> Int:
        """Index of the polygon covering each point (lowest index on shared edges), or -1."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.shape != y.shape:
            raise ValueError(f"x and y shapes differ: {x.shape} vs {y.shape}")
        flat_x, flat_y = x.ravel(), y.ravel()
        col = np.floor((flat_x - self.x0) / self.cell)
        row = np.floor((self.y1 - flat_y) / self.cell)
        on_raster = (col >= 0) & (col < self.width) & (row >= 0) & (row < self.height)
        result = np.full(flat_x.shape, OUTSIDE, dtype=np.int64)
        r, c = row[on_raster].astype(np.intp), col[on_raster].astype(np.intp)
        result[on_raster] = self.table[r, c]
        mixed = np.flatnonzero(result == _MIXED)
        if len(mixed):
            result[mixed] = self.locate_exact(flat_x[mixed], flat_y[mixed])
        return result.reshape(x.shape)

    def locate_exact(self, x: ArrayLike, y: ArrayLike) -> Int:
        """The exact STRtree path (what the raster shortcut must agree with)."""
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        result = np.full(len(x), np.iinfo(np.int64).max, dtype=np.int64)
        points = shapely.points(x, y)
        point_idx, poly_idx = self._tree.query(points, predicate="intersects")
        np.minimum.at(result, point_idx, poly_idx)
        result[result == np.iinfo(np.int64).max] = OUTSIDE
        return result

    def locate_brute_force(self, x: ArrayLike, y: ArrayLike) -> Int:
        """Reference answer by testing every polygon in index order (for checks only)."""
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        result = np.full(len(x), OUTSIDE, dtype=np.int64)
        for i, polygon in enumerate(self.polygons):
            hit = (result == OUTSIDE) & shapely.intersects_xy(polygon, x, y)
            result[hit] = i
        return result
