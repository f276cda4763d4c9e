"""Partitioning a region into cells and grouping cells into contiguous regions.

The demo district is built bottom-up: grid cells tile the district (a relaxed Voronoi
partition clipped to the boundary), towns are contiguous groups of grids, villages contiguous
groups of a town's grids. Union of a group's cells then gives exact nesting with no gaps.
All geometry here is planar, in metres of a :class:`gis.metric.MetricFrame`.
"""

from __future__ import annotations

from collections import Counter, deque

import numpy as np
import shapely
from scipy.cluster.vq import kmeans2


def sample_points_in(region: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniformly random points inside ``region``, as an (n, 2) array."""
    minx, miny, maxx, maxy = region.bounds
    shapely.prepare(region)
    found: list[np.ndarray] = []
    count = 0
    while count < n:
        xy = rng.uniform((minx, miny), (maxx, maxy), size=(max(2 * n, 64), 2))
        keep = xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])]
        found.append(keep)
        count += len(keep)
    return np.concatenate(found)[:n]


def voronoi_cells(seeds: np.ndarray, region: shapely.Geometry) -> np.ndarray:
    """Voronoi cells of ``seeds`` clipped to ``region``, in the order of the seeds."""
    minx, miny, maxx, maxy = region.bounds
    pad = max(maxx - minx, maxy - miny)
    envelope = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    cells = shapely.voronoi_polygons(
        shapely.multipoints(seeds), extend_to=envelope, ordered=True
    )
    return shapely.intersection(shapely.get_parts(cells), region)


def relaxed_partition(
    region: shapely.Geometry, n: int, rng: np.random.Generator, iterations: int = 4
) -> np.ndarray:
    """``n`` cells of similar size tiling ``region`` (Lloyd-relaxed Voronoi partition)."""
    seeds = sample_points_in(region, n, rng)
    cells = voronoi_cells(seeds, region)
    for _ in range(iterations):
        centroids = shapely.get_coordinates(shapely.point_on_surface(cells))
        moved = shapely.get_coordinates(shapely.centroid(cells))
        inside = shapely.contains_xy(region, moved[:, 0], moved[:, 1])
        seeds = np.where(inside[:, None], moved, centroids)
        cells = voronoi_cells(seeds, region)
    return cells


def adjacency(cells: np.ndarray, min_shared_m: float = 1.0) -> list[set[int]]:
    """For each cell, the cells that share a border of at least ``min_shared_m`` metres."""
    tree = shapely.STRtree(cells)
    left, right = tree.query(cells, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    shared = shapely.length(
        shapely.intersection(shapely.boundary(cells[left]), shapely.boundary(cells[right]))
    )
    neighbours: list[set[int]] = [set() for _ in range(len(cells))]
    for a, b in zip(left[shared >= min_shared_m], right[shared >= min_shared_m]):
        neighbours[a].add(int(b))
        neighbours[b].add(int(a))
    return neighbours


def cluster(points: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Group points into ``k`` clusters (k-means); labels 0..k-1, every label used."""
    k = min(k, len(points))
    if k <= 1:
        return np.zeros(len(points), dtype=int)
    _, labels = kmeans2(points, k, minit="++", seed=seed)
    _, labels = np.unique(labels, return_inverse=True)  # drop clusters left empty
    return labels


def _components(members: list[int], neighbours: list[set[int]]) -> list[list[int]]:
    pending = set(members)
    parts: list[list[int]] = []
    while pending:
        start = pending.pop()
        part, queue = [start], deque([start])
        while queue:
            for nxt in neighbours[queue.popleft()] & pending:
                pending.discard(nxt)
                part.append(nxt)
                queue.append(nxt)
        parts.append(part)
    return sorted(parts, key=len, reverse=True)


def make_contiguous(
    labels: np.ndarray, neighbours: list[set[int]], allowed: np.ndarray | None = None, rounds: int = 20
) -> np.ndarray:
    """Move cells cut off from their group's main part to the neighbouring group they touch most.

    ``allowed`` (optional, one value per cell) restricts moves to groups with the same value,
    e.g. villages may only take cells from their own town.
    """
    labels = labels.copy()
    for _ in range(rounds):
        moved = False
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label).tolist()
            for part in _components(members, neighbours)[1:]:
                for cell in part:
                    votes = Counter(
                        int(labels[n])
                        for n in neighbours[cell]
                        if labels[n] != label and (allowed is None or allowed[n] == allowed[cell])
                    )
                    if votes:
                        labels[cell] = votes.most_common(1)[0][0]
                        moved = True
        if not moved:
            break
    _, labels = np.unique(labels, return_inverse=True)
    return labels
