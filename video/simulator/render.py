"""Rendering one frame: background crop, moving objects in painter's order, weather, noise.

Objects are ordered far to near by ground distance, corrected pairwise wherever two images
overlap: the object whose footprint lies on the camera's side of a separating line is in
front. Roadside props that overlap a moving object are re-drawn in that order too. Each drawn
object reports its box (projected vertices, clipped to the image), the fraction of that box
inside the image and the fraction of its silhouette hidden by nearer objects.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from zhizhi.video.observation import VEHICLES
from zhizhi.video.simulator.background import draw_prop, render_background
from zhizhi.video.simulator.camera import PinholeCamera
from zhizhi.video.simulator.draw import (
    Image,
    Pose,
    Projected,
    draw_glows,
    draw_projected,
    fill_ground,
    project_pose,
)
from zhizhi.video.simulator.scene import Site, Zone
from zhizhi.video.simulator.variation import Lighting, NoiseBank, apply_rain

Float = NDArray[np.float64]
_OCC_SCALE = 0.25
PROP_RANGE_M = 600.0


@dataclass
class Drawn:
    """One object as drawn in a frame."""

    proj: Projected
    occluded: float

    @property
    def pose(self) -> Pose:
        return self.proj.pose


@dataclass(frozen=True)
class Filters:
    """Which objects to leave out of a frame altogether (dataset rendering)."""

    min_height_px: float = 0.0
    min_visible: float = 0.0
    max_occluded: float | None = None
    class_min_height_px: tuple[tuple[str, float], ...] = ()  # overrides per class

    def too_small(self, proj: Projected) -> bool:
        limit = dict(self.class_min_height_px).get(proj.pose.cls, self.min_height_px)
        return proj.height_px < limit


class Renderer:
    """Draws frames of one site under one lighting."""

    def __init__(self, site: Site, lighting: Lighting, zones: list[Zone], *, rain: float, noise: NoiseBank | None,
                 margin: int, rng: np.random.Generator) -> None:
        self.site = site
        self.camera = site.camera
        self.lighting = lighting
        self.rain = rain
        self.noise = noise
        self.margin = margin
        self.bare = render_background(site, lighting, zones, margin, rng)
        self._props = [
            Pose(-1 - i, p.model.cls, p.model, p.x, p.y, p.yaw) for i, p in enumerate(site.props)
        ]
        self._prop_cache: dict[tuple[int, int], list[Projected]] = {}
        self.background = self.bare.copy()
        padded = self.camera.padded(margin)
        props = [p for p in (project_pose(padded, pose, PROP_RANGE_M) for pose in self._props) if p is not None]
        for i in painter_order(props):
            draw_prop(self.background, props[i], padded, lighting)

    def _projected_props(self, cam: PinholeCamera, offset: tuple[int, int]) -> list[Projected]:
        if offset not in self._prop_cache:
            found = [project_pose(cam, pose, PROP_RANGE_M) for pose in self._props]
            self._prop_cache[offset] = [p for p in found if p is not None]
        return self._prop_cache[offset]

    def render(self, poses: list[Pose], offset: tuple[int, int] = (0, 0), rng: np.random.Generator | None = None,
               filters: Filters | None = None, max_range_m: float = 250.0) -> tuple[Image, list[Drawn]]:
        """The frame and the objects drawn in it (moving objects only)."""
        filters = filters or Filters()
        ox, oy = int(offset[0]), int(offset[1])
        if max(abs(ox), abs(oy)) > self.margin:
            raise ValueError(f"shake offset {offset} exceeds the background margin {self.margin}")
        cam = self.camera.shifted(ox, oy)
        m, w, h = self.margin, cam.width, cam.height
        image = self.background[m - oy:m - oy + h, m - ox:m - ox + w].copy()
        items: list[Projected] = []
        for pose in poses:
            proj = project_pose(cam, pose, max_range_m)
            if proj is None or filters.too_small(proj) or proj.visible < filters.min_visible:
                continue
            items.append(proj)
        n_dynamic = len(items)
        if items:
            # props touching a moving object are restored from the prop-free background and
            # drawn again in painter's order (with every prop touching what was restored)
            bare = self.bare[m - oy:m - oy + h, m - ox:m - ox + w]
            props = self._projected_props(cam, (ox, oy))
            regions = [_region(p.bbox, w, h) for p in items]
            chosen: set[int] = set()
            while True:
                grown = {k for k, p in enumerate(props)
                         if k not in chosen and any(_overlap(_region(p.bbox, w, h), r) for r in regions)}
                if not grown:
                    break
                chosen |= grown
                regions += [_region(props[k].bbox, w, h) for k in grown]
            for k in sorted(chosen):
                x0, y0, x1, y1 = _region(props[k].bbox, w, h)
                image[y0:y1, x0:x1] = bare[y0:y1, x0:x1]
                items.append(props[k])
        order = painter_order(items)
        occluded, keep = _occlusion(items, order, n_dynamic, filters.max_occluded)
        glows: list = []
        night = self.lighting.night
        for i in order:
            if not keep[i]:
                continue
            if night and i < n_dynamic and items[i].pose.cls in VEHICLES:
                _beam(image, cam, items[i].pose)
            if i < n_dynamic:
                draw_projected(image, items[i], cam, self.lighting, glows if night else None)
            else:
                draw_prop(image, items[i], cam, self.lighting)
        if glows:
            draw_glows(image, glows, self.lighting)
        if rng is not None:
            apply_rain(image, self.rain, rng, night)
            if self.noise is not None:
                self.noise.apply(image, rng)
        drawn = [Drawn(items[i], occluded[i]) for i in range(n_dynamic) if keep[i]]
        return image, drawn


def _region(bbox, w: int, h: int) -> tuple[int, int, int, int]:
    """Whole-pixel region around a box, with room for anti-aliased edges."""
    return (max(math.floor(bbox[0]) - 2, 0), max(math.floor(bbox[1]) - 2, 0),
            min(math.ceil(bbox[2]) + 3, w), min(math.ceil(bbox[3]) + 3, h))


def _overlap(a, b) -> bool:
    return bool(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def _front_of(a: Projected, b: Projected) -> int:
    """+1 if ``a`` hides ``b`` where they overlap, -1 if ``b`` hides ``a``, 0 if undecided."""
    fa = a.pose.model.footprint(a.pose.x, a.pose.y, a.pose.yaw)
    fb = b.pose.model.footprint(b.pose.x, b.pose.y, b.pose.yaw)
    best_gap, verdict = 0.0, 0
    for poly in (fa, fb):
        for k in range(2):
            edge = poly[k + 1] - poly[k]
            axis = np.array([-edge[1], edge[0]])
            norm = np.hypot(*axis)
            if norm < 1e-9:
                continue
            axis /= norm
            pa, pb = fa @ axis, fb @ axis
            cam = 0.0  # the camera stands at the origin
            if pa.max() <= pb.min():
                gap, a_low = pb.min() - pa.max(), True
            elif pb.max() <= pa.min():
                gap, a_low = pa.min() - pb.max(), False
            else:
                continue
            if gap >= best_gap:
                mid = (pa.max() + pb.min()) / 2 if a_low else (pb.max() + pa.min()) / 2
                cam_low = cam < mid
                best_gap, verdict = gap, (1 if cam_low == a_low else -1)
    return verdict


def painter_order(items: list[Projected]) -> list[int]:
    """Drawing order (far first), with pairwise fixes where images overlap."""
    n = len(items)
    base = sorted(range(n), key=lambda i: (-items[i].distance, items[i].pose.track_id))
    rank = {i: r for r, i in enumerate(base)}
    after: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    for x in range(n):
        for y in range(x + 1, n):
            if not _overlap(items[x].bbox, items[y].bbox):
                continue
            verdict = _front_of(items[x], items[y])
            if verdict == 0:
                continue
            back, front = (y, x) if verdict > 0 else (x, y)
            after[back].append(front)
            indegree[front] += 1
    heap = [(rank[i], i) for i in range(n) if indegree[i] == 0]
    heapq.heapify(heap)
    order: list[int] = []
    done = [False] * n
    while len(order) < n:
        if not heap:  # a cycle: fall back to distance for what is left
            i = min((i for i in range(n) if not done[i]), key=lambda i: rank[i])
            indegree[i] = 0
            heapq.heappush(heap, (rank[i], i))
        _, i = heapq.heappop(heap)
        if done[i]:
            continue
        done[i] = True
        order.append(i)
        for j in after[i]:
            indegree[j] -= 1
            if indegree[j] == 0 and not done[j]:
                heapq.heappush(heap, (rank[j], j))
    return order


def _occlusion(items: list[Projected], order: list[int], n_dynamic: int,
               max_occluded: float | None) -> tuple[list[float], list[bool]]:
    """Hidden fraction of each silhouette (its convex hull) and which objects to keep."""
    n = len(items)
    occluded = [0.0] * n
    keep = [True] * n
    nearer: list[int] = []
    for i in reversed(order):
        box = items[i].bbox
        hits = [j for j in nearer if _overlap(box, items[j].bbox)]
        if hits:
            occluded[i] = _hidden(items[i], [items[j] for j in hits])
        if max_occluded is not None and i < n_dynamic and occluded[i] > max_occluded:
            keep[i] = False
            continue
        nearer.append(i)
    return occluded, keep


def _hidden(item: Projected, occluders: list[Projected]) -> float:
    """Fraction of the item's hull (inside its clipped box) covered by the occluders' hulls."""
    x0, y0 = np.floor(item.bbox[:2]).astype(int)
    x1, y1 = np.ceil(item.bbox[2:]).astype(int) + 1
    s = _OCC_SCALE if (x1 - x0) * (y1 - y0) > 400 else 1.0
    mw, mh = max(int((x1 - x0) * s) + 1, 1), max(int((y1 - y0) * s) + 1, 1)
    origin = np.array([x0, y0], dtype=np.float64)
    mine = np.zeros((mh, mw), np.uint8)
    cv2.fillPoly(mine, [np.round((item.hull - origin) * s).astype(np.int32)], 1)
    total = int(mine.sum())
    if total == 0:
        return 0.0
    cover = np.zeros_like(mine)
    for occ in occluders:
        cv2.fillPoly(cover, [np.round((occ.hull - origin) * s).astype(np.int32)], 1)
    return float((mine & cover).sum()) / total


def _beam(image: Image, cam: PinholeCamera, pose: Pose) -> None:
    """Headlight beams on the road ahead of a vehicle (night)."""
    model = pose.model
    hl, hw = model.length_m / 2.0, model.width_m / 2.0
    local = np.array([[hl + 0.3, -hw + 0.2], [hl + 18.0, -hw - 1.8], [hl + 18.0, hw + 1.8], [hl + 0.3, hw - 0.2]])
    s, c = np.sin(pose.yaw), np.cos(pose.yaw)
    world = np.column_stack([local[:, 0] * s - local[:, 1] * c + pose.x, local[:, 0] * c + local[:, 1] * s + pose.y])
    fill_ground(image, cam, world, (150, 200, 215), alpha=0.16)
