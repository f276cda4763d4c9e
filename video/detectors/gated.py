"""Motion-gated, region-based detection: the detector looks only where something changed.

Per camera and frame (:class:`MotionGatedDetector`):

1. a cheap motion check (:mod:`video.detectors.motion_check`) finds the boxes that moved;
2. the regions to look at are those boxes, the boxes of tracks that are moving, stopped objects
   due for their low-rate re-check (``stationary_check_s``), objects lately lost and boxes cut by a
   region's edge in the last frame — padded for context and merged (:mod:`video.detectors.regions`);
3. the frame goes whole instead at a camera's start or reset, on a scene change (camera moved,
   lights), every ``full_frame_s`` and when its regions cover most of it;
4. the regions of every camera of the batch are cut from the frame resized as a whole-frame pass
   resizes it (``imgsz / max(w, h)``: objects look as in training), started on the network's
   32-pixel grid (each pixel lies where it would in the whole frame), packed onto a few canvases
   ``imgsz`` pixels wide and detected in ONE call of the inner detector; boxes come back to frame
   pixels;
5. what the detector did not look at this frame is carried from the last: a stopped tanker keeps
   its last box, conf and class every frame, so its track (and id) lives; a check that no longer
   finds a stopped object drops it (at once where motion covers it, after ``stationary_misses``
   checks otherwise). The detections then go through the camera's tracker as usual.

A camera with no motion and nothing due costs the motion check only (``stats()["...idle_frames"]``).
Frigate's documentation describes the same idea (motion -> regions -> detection, stationary
objects re-checked at intervals); this is written for this pipeline's batches and trackers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from zhizhi.video.detectors.base import TrackedBoxes
from zhizhi.video.detectors.gate_settings import MotionGateSettings
from zhizhi.video.detectors.motion_check import Motion, MotionCheck
from zhizhi.video.detectors.regions import (
    PAD_VALUE,
    Crop,
    Letterbox,
    Placement,
    area,
    at_least,
    canvas_height,
    iou,
    merge_boxes,
    overlap,
    pack,
    padded,
)
from zhizhi.video.detectors.tracking import Detections
from zhizhi.video.detectors.ultralytics_backend import UltralyticsDetector
from zhizhi.video.masks import PixelPolygon

#: A fresh detection with this IoU to a carried one is the same object, re-checked.
SAME_OBJECT_IOU = 0.3
#: A carried box this much covered by this frame's regions was looked at (a part is no check).
LOOKED_AT = 0.9
#: A carried box this much covered by motion (or a moving track): a miss there is believed at once.
MOVED_ON = 0.3
#: Network pixels within which a box touching a region's inner edge counts as cut by it.
EDGE_PX = 2
#: Class-agnostic NMS of a frame's detections gathered from several regions.
NMS_IOU = 0.6
#: Context round a stopped object's re-check and a cut box, as a share of its size each side: a
#: network that sees the object in a tight crop scores it lower and confuses classes more often.
RECHECK_PADDING = 0.5
#: How long a dropped object's place is still re-checked (at the stationary rate), in seconds.
LOST_S = 6.0


@dataclass
class Counters:
    """Per-camera counters (see :meth:`MotionGatedDetector.stats`)."""

    frames: int = 0
    idle_frames: int = 0
    full_frames: int = 0
    region_frames: int = 0
    regions: int = 0
    canvases: int = 0


def _none() -> np.ndarray:
    return np.zeros((0, 4), np.float32)


@dataclass
class _Camera:
    motion: MotionCheck
    dets: Detections = field(default_factory=Detections.empty)  # what the tracker got last frame
    checked: np.ndarray = field(default_factory=lambda: np.zeros(0))  # ts the detector last saw each
    misses: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # checks in a row missed
    cut: np.ndarray = field(default_factory=_none)  # boxes cut by a region edge: looked at whole next
    moving: np.ndarray = field(default_factory=_none)  # moving tracks' boxes and where they head
    tracks: dict[int, np.ndarray] = field(default_factory=dict)  # last box of each track id
    lost: np.ndarray = field(default_factory=_none)  # dropped objects' boxes, still re-checked
    lost_since: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lost_checked: np.ndarray = field(default_factory=lambda: np.zeros(0))
    last_full: float = -math.inf
    regions: np.ndarray = field(default_factory=_none)  # what the detector looked at last frame
    counters: Counters = field(default_factory=Counters)


@dataclass
class _Plan:
    """One frame's detector work: its regions (frame pixels) and, after detection, what was found."""

    camera_id: str
    cam: _Camera
    image: np.ndarray
    ts: float
    scale: float
    motion: Motion
    regions: np.ndarray
    full: bool
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)


class MotionGatedDetector:
    """A :class:`~video.detectors.base.TrackingDetector` that runs ``inner`` only where needed.

    ``inner``'s ``detect(images, imgsz=)`` finds boxes on the canvases and its ``track`` follows
    them per camera; ``settings`` are the gate's (:class:`MotionGateSettings`).
    """

    #: :meth:`update` takes the frames' own times (``FrameAnalyzer`` passes ``Frame.ts``).
    takes_timestamps = True

    def __init__(self, inner: UltralyticsDetector, settings: MotionGateSettings | None = None) -> None:
        self.inner = inner
        self.settings = settings or MotionGateSettings()
        self.names = inner.names
        self.side = int(self.settings.canvas or inner.predict_args["imgsz"])
        self._cameras: dict[str, _Camera] = {}
        self._total = {"detect_calls": 0, "images": 0, "canvas_px": 0, "detect_s": 0.0, "gate_s": 0.0}

    # --- the TrackingDetector protocol ------------------------------------------------------
    def update(
        self, frames: Sequence[tuple[str, np.ndarray]], timestamps: Sequence[float] | None = None
    ) -> list[TrackedBoxes]:
        """Tracked boxes of each ``(camera_id, image)``, in order; ``timestamps``: the frames'
        times in seconds (default: now). A camera's later frames in the batch go in later rounds."""
        if timestamps is None:
            timestamps = [time.monotonic()] * len(frames)
        if len(timestamps) != len(frames):
            raise ValueError(f"{len(timestamps)} timestamps for {len(frames)} frames")
        out: list[TrackedBoxes | None] = [None] * len(frames)
        pending = list(range(len(frames)))
        while pending:
            seen: set[str] = set()
            now, later = [], []
            for i in pending:
                (later if frames[i][0] in seen else now).append(i)
                seen.add(frames[i][0])
            results = self._round([(frames[i][0], frames[i][1], float(timestamps[i])) for i in now])
            for i, boxes in zip(now, results):
                out[i] = boxes
            pending = later
        return out  # type: ignore[return-value]

    def set_masks(self, camera_id: str, masks: Sequence[PixelPolygon]) -> None:
        """Drop ``camera_id``'s detections whose foot point lies in a mask, before tracking."""
        self.inner.set_masks(camera_id, masks)

    def reset(self, camera_id: str) -> None:
        """Forget a camera's motion background, carried detections and tracks (full frame next)."""
        self._cameras.pop(camera_id, None)
        self.inner.reset(camera_id)

    def close(self) -> None:
        """Forget every camera and release the inner detector."""
        self._cameras.clear()
        self.inner.close()

    def last_regions(self, camera_id: str) -> np.ndarray:
        """The regions (``(n, 4)`` xyxy, frame pixels) the detector looked at in the camera's last
        frame: one whole-frame box for a full frame, none for a quiet one."""
        cam = self._cameras.get(camera_id)
        return _none() if cam is None else cam.regions.copy()

    # --- counters ---------------------------------------------------------------------------
    def stats(self) -> dict[str, dict]:
        """``{"cameras": {id: counters}, "total": counters + detect_calls, images, canvas_px, detect_s,
        gate_s}``: frames, idle_frames (motion check only), full_frames, region_frames, regions,
        canvases; canvas_px: the network's input pixels in all; the times are seconds."""
        cameras = {cid: asdict(cam.counters) for cid, cam in self._cameras.items()}
        total: dict[str, float] = {k: 0 for k in asdict(Counters())}
        for counters in cameras.values():
            for key, value in counters.items():
                total[key] += value
        return {"cameras": cameras, "total": {**total, **self._total}}

    def reset_stats(self) -> None:
        """Zero every counter."""
        for cam in self._cameras.values():
            cam.counters = Counters()
        self._total = {"detect_calls": 0, "images": 0, "canvas_px": 0, "detect_s": 0.0, "gate_s": 0.0}

    # --- one round: each camera at most once ------------------------------------------------
    def _round(self, items: list[tuple[str, np.ndarray, float]]) -> list[TrackedBoxes]:
        started = time.perf_counter()
        plans = [self._plan(cid, image, ts) for cid, image, ts in items]
        owners: list[tuple[_Plan, Crop, Letterbox, np.ndarray]] = []
        for plan in plans:
            if not len(plan.regions):
                continue
            lb = Letterbox.of(plan.image.shape[1], plan.image.shape[0], self.side)
            resized = lb.resize(plan.image)
            crops = [Crop.of(region, lb) for region in plan.regions]
            plan.regions = np.array([c.in_frame(lb) for c in crops], np.float32).reshape(-1, 4)
            plan.cam.regions = plan.regions
            owners += [(plan, crop, lb, resized) for crop in crops]
        detect_s = 0.0
        if owners:
            placements = pack([crop.slot(self.side) for _, crop, _, _ in owners], self.side, gap=0)
            height = canvas_height(placements, self.side)
            canvases = [np.full((height, self.side, 3), PAD_VALUE, np.uint8)
                        for _ in range(max(p.canvas for p in placements) + 1)]
            for (_, crop, _, resized), p in zip(owners, placements):
                crop.draw(canvases[p.canvas], p, resized)
            t0 = time.perf_counter()
            results = self.inner.detect(canvases, imgsz=self.side)
            detect_s = time.perf_counter() - t0
            self._total["detect_calls"] += 1
            self._total["images"] += len(canvases)
            self._total["canvas_px"] += len(canvases) * height * self.side
            self._total["detect_s"] += detect_s
            used: dict[int, set[int]] = {}
            for (plan, crop, lb, _), p in zip(owners, placements):
                used.setdefault(id(plan), set()).add(p.canvas)
                found = _found_in(results[p.canvas], p, crop, lb)
                if found is not None:
                    plan.found.append(found)
            for plan in plans:
                plan.cam.counters.canvases += len(used.get(id(plan), ()))
        dets = [self._combine(plan) for plan in plans]
        self._total["gate_s"] += time.perf_counter() - started - detect_s
        out = []
        for plan, d in zip(plans, dets):
            boxes = self.inner.track(plan.camera_id, d, plan.image)
            self._remember(plan, boxes)
            out.append(boxes)
        return out

    def _plan(self, camera_id: str, image: np.ndarray, ts: float) -> _Plan:
        s = self.settings
        cam = self._cameras.get(camera_id)
        if cam is None:
            cam = self._cameras[camera_id] = _Camera(MotionCheck(s))
        h, w = image.shape[:2]
        scale = self.side / max(w, h)
        motion = cam.motion(image)
        full = motion.scene_change or ts - cam.last_full >= s.full_frame_s
        regions = _none()
        if not full:
            context = s.context_px / scale
            age, lost_age = ts - cam.checked, ts - cam.lost_checked
            every = s.stationary_check_s
            if (age >= every).any() or (lost_age >= every).any():  # the camera's re-checks go together
                every /= 2
            due, lost_due = (age >= every) | (cam.misses > 0), lost_age >= every
            cam.lost_checked = np.where(lost_due, ts, cam.lost_checked)
            regions = merge_boxes(at_least(merge_boxes(np.concatenate([
                padded(motion.boxes, s.padding, context, w, h),
                padded(cam.moving, s.padding, context, w, h),
                padded(cam.dets.xyxy[due], max(s.padding, RECHECK_PADDING), context, w, h),
                padded(cam.lost[lost_due], max(s.padding, RECHECK_PADDING), context, w, h),
                padded(cam.cut, max(s.padding, RECHECK_PADDING), context, w, h),
            ])), s.min_region_px / scale, w, h))
            regions = np.concatenate([np.floor(regions[:, :2]), np.ceil(regions[:, 2:])], axis=1)
            regions = regions[area(regions) > 0]
            full = float(area(regions).sum()) > s.full_frame_frac * w * h
        c = cam.counters
        c.frames += 1
        if full:
            regions = np.array([[0, 0, w, h]], np.float32)
            cam.last_full = ts
            c.full_frames += 1
        elif len(regions):
            c.region_frames += 1
        else:
            c.idle_frames += 1
        c.regions += len(regions)
        cam.regions = regions
        return _Plan(camera_id, cam, image, ts, scale, motion, regions, full)

    def _combine(self, plan: _Plan) -> Detections:
        """The frame's detections: what was found in its regions, and what was carried."""
        cam, ts, s = plan.cam, plan.ts, self.settings
        if plan.found:
            xyxy, conf, cls, cut = (np.concatenate(parts) for parts in zip(*plan.found))
        else:
            xyxy, conf, cls, cut = _none(), np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(0, bool)
        if len(xyxy) and cut.any() and (~cut).any():  # a part of an object that another region saw whole
            inside = overlap(xyxy[cut], xyxy[~cut]) / np.maximum(area(xyxy[cut])[:, None], 1e-6)
            part = np.zeros(len(xyxy), bool)
            part[np.flatnonzero(cut)] = inside.max(axis=1) >= 0.6
            xyxy, conf, cls, cut = xyxy[~part], conf[~part], cls[~part], cut[~part]
        if cut.any():  # a part of something seen where nothing moved and nothing was before: an artefact
            on_motion = overlap(xyxy, plan.motion.boxes).max(axis=1, initial=0) / np.maximum(area(xyxy), 1e-6)
            known = iou(xyxy, cam.dets.xyxy).max(axis=1, initial=0) >= SAME_OBJECT_IOU
            artefact = cut & (on_motion < MOVED_ON) & ~known
            # a part of a carried object (a region's edge crossed it): the carried box stays, and the
            # object is looked at whole next frame
            part_of = overlap(xyxy, cam.dets.xyxy).max(axis=1, initial=0) / np.maximum(area(xyxy), 1e-6)
            partial = cut & (part_of >= 0.6)
            cam.cut = xyxy[partial]
            drop = artefact | partial
            xyxy, conf, cls, cut = xyxy[~drop], conf[~drop], cls[~drop], cut[~drop]
        else:
            cam.cut = _none()
        checked = np.full(len(xyxy), ts)
        misses = np.zeros(len(xyxy), np.int64)
        old = cam.dets
        if not plan.full and len(old):
            same = iou(old.xyxy, xyxy).max(axis=1) >= SAME_OBJECT_IOU if len(xyxy) else np.zeros(len(old), bool)
            old_area = np.maximum(area(old.xyxy), 1e-6)
            looked = overlap(old.xyxy, plan.regions).sum(axis=1) / old_area >= LOOKED_AT
            moving = np.concatenate([plan.motion.boxes, cam.moving])  # a moving track's old box: gone
            moved_on = (overlap(old.xyxy, moving).max(axis=1, initial=0) / old_area) >= MOVED_ON
            missed = looked & ~same
            carry = ~same & (~looked | (~moved_on & (cam.misses + 1 < s.stationary_misses)))
            dropped = missed & ~carry
            if dropped.any():
                self._lose(cam, old.xyxy[dropped], ts)
            xyxy = np.concatenate([xyxy, old.xyxy[carry]])
            conf = np.concatenate([conf, old.conf[carry]])
            cls = np.concatenate([cls, old.cls[carry]])
            cut = np.concatenate([cut, np.zeros(int(carry.sum()), bool)])
            checked = np.concatenate([checked, cam.checked[carry]])
            misses = np.concatenate([misses, (cam.misses + missed)[carry]])
        if len(xyxy) > 1:  # duplicates across regions, class-agnostic; fresh whole boxes first
            fresh = checked == ts  # carried boxes were last checked on an earlier frame
            rank = conf + 2.0 * (fresh & ~cut) + 1.0 * fresh
            wh = xyxy[:, 2:] - xyxy[:, :2]
            keep = cv2.dnn.NMSBoxes(np.concatenate([xyxy[:, :2], wh], axis=1).tolist(), rank.tolist(), 0.0, NMS_IOU)
            keep = np.sort(np.asarray(keep, np.int64).reshape(-1))
            xyxy, conf, cls, cut, checked, misses = (a[keep] for a in (xyxy, conf, cls, cut, checked, misses))
        if len(cam.lost) and len(xyxy):  # found again: no longer lost
            found = iou(cam.lost, xyxy[checked == ts]).max(axis=1, initial=0) >= SAME_OBJECT_IOU
            self._keep_lost(cam, ~found)
        if len(cam.lost):
            self._keep_lost(cam, ts - cam.lost_since <= LOST_S)
        cam.cut = np.concatenate([cam.cut, xyxy[cut]])
        cam.dets, cam.checked, cam.misses = Detections(xyxy, conf, cls), checked, misses
        return cam.dets

    @staticmethod
    def _lose(cam: _Camera, boxes: np.ndarray, ts: float) -> None:
        cam.lost = np.concatenate([cam.lost, boxes])
        cam.lost_since = np.concatenate([cam.lost_since, np.full(len(boxes), ts)])
        cam.lost_checked = np.concatenate([cam.lost_checked, np.full(len(boxes), ts)])

    @staticmethod
    def _keep_lost(cam: _Camera, keep: np.ndarray) -> None:
        cam.lost, cam.lost_since, cam.lost_checked = cam.lost[keep], cam.lost_since[keep], cam.lost_checked[keep]

    @staticmethod
    def _remember(plan: _Plan, boxes: TrackedBoxes) -> None:
        """Moving tracks (their box and where it heads next) are looked at next frame."""
        cam = plan.cam
        moving, tracks = [], {}
        for box, tid in zip(boxes.xyxy, boxes.track_id.tolist()):
            tracks[tid] = box
            prev = cam.tracks.get(tid)
            if prev is None:
                continue
            step = (box - prev)[[0, 1]] / 2 + (box - prev)[[2, 3]] / 2
            size = float(max(box[2] - box[0], box[3] - box[1]))
            if float(np.hypot(*step)) > 0.02 * size + 1.0:
                ahead = box + np.concatenate([step, step])
                moving.append(np.concatenate([np.minimum(box[:2], ahead[:2]), np.maximum(box[2:], ahead[2:])]))
        cam.tracks = tracks
        cam.moving = np.asarray(moving, np.float32).reshape(-1, 4)


def _found_in(
    dets: Detections, p: Placement, crop: Crop, lb: Letterbox
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The detections of one placed crop in frame pixels, and which an inner edge of it cuts."""
    if not len(dets):
        return None
    x, y, w, h = p.x + crop.ox, p.y + crop.oy, crop.x2 - crop.x1, crop.y2 - crop.y1
    centre = (dets.xyxy[:, :2] + dets.xyxy[:, 2:]) / 2
    inside = (centre[:, 0] >= x) & (centre[:, 0] < x + w) & (centre[:, 1] >= y) & (centre[:, 1] < y + h)
    if not inside.any():
        return None
    box = np.clip(dets.xyxy[inside], [x, y, x, y], [x + w, y + h, x + w, y + h])
    cut = np.zeros(len(box), bool)
    for axis, edge, inner, low in ((0, x, crop.x1 > 0, True), (1, y, crop.y1 > 0, True),
                                   (2, x + w, crop.x2 < lb.width, False), (3, y + h, crop.y2 < lb.height, False)):
        if inner:
            cut |= box[:, axis] <= edge + EDGE_PX if low else box[:, axis] >= edge - EDGE_PX
    xyxy = (box - np.float32([x, y, x, y]) + np.float32([crop.x1, crop.y1, crop.x1, crop.y1])) / np.float32(lb.gain)
    return xyxy.astype(np.float32), dets.conf[inside], dets.cls[inside], cut
