"""Per-camera multi-object tracking with ultralytics' own ByteTrack / BoT-SORT.

Each camera gets its own tracker instance, built from ultralytics' bundled
``cfg/trackers/<name>.yaml`` the same way ``model.track()`` builds it, and is fed the frame's
detections exactly as ``ultralytics/trackers/track.py`` does: ``tracker.update(dets, img)``
returns rows ``[x1, y1, x2, y2, track_id, conf, cls, det_idx]``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from zhizhi.video.detectors.base import DetectorError, TrackedBoxes
from zhizhi.video.masks import FrameMasks, PixelPolygon
from zhizhi.video.observation import VEHICLES

# The console runs on closed networks: stop ultralytics' import-time DNS probe and any online
# checks or telemetry unless the operator opted in explicitly.
os.environ.setdefault("YOLO_OFFLINE", "1")

TRACKERS = ("bytetrack", "botsort")
#: The default matching margin of :class:`TrackerPool` (of box width and height, each side).
TRACK_MARGIN = 0.0


class Detections:
    """Numpy detections with the interface ultralytics trackers read from ``Boxes``.

    ``BYTETracker.update`` needs ``conf``, ``cls``, ``xywh`` (and ``xyxy`` for BoT-SORT's camera
    motion compensation), ``len()`` and boolean-mask indexing.
    """

    def __init__(self, xyxy: ArrayLike, conf: ArrayLike, cls: ArrayLike) -> None:
        self.xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        self.conf = np.asarray(conf, dtype=np.float32).reshape(-1)
        self.cls = np.asarray(cls, dtype=np.float32).reshape(-1)
        if not len(self.xyxy) == len(self.conf) == len(self.cls):
            raise ValueError("xyxy, conf and cls must have the same number of rows")

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0))

    @property
    def xywh(self) -> np.ndarray:
        """Centre x, centre y, width, height."""
        wh = self.xyxy[:, 2:] - self.xyxy[:, :2]
        return np.concatenate([self.xyxy[:, :2] + wh / 2, wh], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: Any) -> Detections:
        return Detections(self.xyxy[index], self.conf[index], self.cls[index])


def tracker_config(tracker: str | Path) -> Any:
    """The tracker settings: a bundled name (``bytetrack``/``botsort``) or a local YAML file."""
    import ultralytics
    from ultralytics.utils import YAML, IterableSimpleNamespace

    name = str(tracker)
    if name.removesuffix(".yaml") in TRACKERS:
        path = (
            Path(ultralytics.__file__).parent
            / "cfg"
            / "trackers"
            / f"{name.removesuffix('.yaml')}.yaml"
        )
    else:
        path = Path(tracker)
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            raise DetectorError(
                f"unknown tracker {name!r}; use one of {TRACKERS} or a tracker YAML file"
            )
    cfg = IterableSimpleNamespace(**YAML.load(path))
    if cfg.tracker_type not in TRACKERS:
        raise DetectorError(f"tracker_type {cfg.tracker_type!r} in {path} is not one of {TRACKERS}")
    if getattr(cfg, "with_reid", False):
        raise DetectorError(
            "ReID (with_reid: True) is not supported: it needs extra downloaded models"
        )
    return cfg


def grown(xyxy: np.ndarray, margin: float) -> np.ndarray:
    """Boxes grown by ``margin`` times their width and height on every side."""
    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    pad = (xyxy[:, 2:] - xyxy[:, :2]) * margin
    return np.concatenate([xyxy[:, :2] - pad, xyxy[:, 2:] + pad], axis=1)


#: The trackers' distance (1 - overlap x score) above which a pair is not matched: ByteTrack
#: confirms a new track below 0.7 and follows one below 0.8 (ultralytics' match_thresh).
WEAK_MATCH = 0.7
#: Updates after which a track's Kalman filter knows its speed well enough for the plain overlap.
YOUNG_UPDATES = 5


def with_buffered_confirmation(tracker_cls: type, margin: float, fast: frozenset[int]) -> type:
    """``tracker_cls`` whose young vehicle tracks are also matched on buffered boxes.

    ByteTrack and BoT-SORT follow a track to the box that overlaps its Kalman prediction. A new
    track's speed is not known yet (the filter starts at rest), so a vehicle that moves more than
    its own length between analysed frames — a car on a highway at 5 frames/s — never overlaps
    its prediction: it is never confirmed, or is dropped and restarted under a new id every
    frame. For a track with fewer than :data:`YOUNG_UPDATES` updates, of one of the ``fast``
    classes, a box of the same class that it overlaps too little to be matched (distance at least
    :data:`WEAK_MATCH`) is matched on both boxes grown by ``margin`` (the buffered IoU of C-BIoU,
    Yang et al., WACV 2023). Older tracks, people, and boxes that overlap well keep the trackers'
    plain overlap, so neighbours are not swapped.
    """
    from ultralytics.trackers.utils import matching

    class BufferedConfirmation(tracker_cls):  # type: ignore[misc, valid-type]
        def get_dists(self, tracks: list, detections: list) -> np.ndarray:
            dists = super().get_dists(tracks, detections)
            rows = [i for i, track in enumerate(tracks) if int(track.cls) in fast
                    and (not track.is_activated or track.tracklet_len < YOUNG_UPDATES)]
            if not rows or not detections:
                return dists
            young = [tracks[i] for i in rows]
            apart = dists[rows] >= WEAK_MATCH  # the plain overlap would not (surely) match them
            same = np.array([[int(t.cls) == int(d.cls) for d in detections] for t in young])
            buffered = matching.iou_distance(list(grown(np.array([t.xyxy for t in young]), margin)),
                                             list(grown(np.array([d.xyxy for d in detections]), margin)))
            if self.args.fuse_score:
                buffered = matching.fuse_score(buffered, detections)
            dists[rows] = np.where(apart & same, np.minimum(dists[rows], buffered), dists[rows])
            return dists

    BufferedConfirmation.__name__ = f"Buffered{tracker_cls.__name__}"
    return BufferedConfirmation


class TrackerPool:
    """One ultralytics tracker per camera, created on first use.

    A camera's masks (:meth:`set_masks`) drop the detections whose foot point lies in them
    before the tracker sees them (:mod:`video.masks`).

    ``margin`` (of box width and height, each side) buffers the overlap a new track is confirmed
    on (:func:`with_buffered_confirmation`); 0 keeps the trackers as ultralytics ships them.
    """

    def __init__(self, tracker: str | Path, names: tuple[str, ...], *, margin: float = TRACK_MARGIN,
                 **overrides: Any) -> None:
        from ultralytics.trackers.bot_sort import BOTSORT
        from ultralytics.trackers.byte_tracker import BYTETracker

        self.cfg = tracker_config(tracker)
        for key, value in overrides.items():
            setattr(self.cfg, key, value)
        if margin < 0:
            raise DetectorError(f"the tracker's margin must be >= 0, got {margin}")
        self.margin = float(margin)
        plain = {"bytetrack": BYTETracker, "botsort": BOTSORT}[self.cfg.tracker_type]
        fast = frozenset(i for i, name in enumerate(names) if name in VEHICLES)
        self._cls = with_buffered_confirmation(plain, self.margin, fast) if self.margin and fast else plain
        self.names = names
        self._trackers: dict[str, Any] = {}
        self._masks: dict[str, FrameMasks] = {}

    def set_masks(self, camera_id: str, masks: Sequence[PixelPolygon]) -> None:
        """Ignore ``camera_id``'s detections whose foot point lies in one of ``masks`` (pixel
        polygons); an empty list lifts them. Kept across :meth:`reset` (a stream reconnect)."""
        prepared = FrameMasks(masks)
        if prepared:
            self._masks[camera_id] = prepared
        else:
            self._masks.pop(camera_id, None)

    def update(
        self, camera_id: str, dets: Detections, img: np.ndarray | None = None
    ) -> TrackedBoxes:
        """Feed one frame's detections to the camera's tracker; the confirmed tracks.

        Boxes are the tracker's (Kalman-filtered) boxes, clipped to ``img`` like ``model.track``'s.
        """
        tracker = self._trackers.get(camera_id)
        if tracker is None:
            tracker = self._trackers[camera_id] = self._cls(args=self.cfg)
        masks = self._masks.get(camera_id)
        if masks is not None and len(dets):
            dets = dets[masks.keep(dets.xyxy)]
        tracks = tracker.update(dets, img)
        if len(tracks) == 0:
            return TrackedBoxes.empty(self.names)
        xyxy = tracks[:, :4]
        if img is not None:
            h, w = img.shape[:2]
            xyxy = np.clip(xyxy, 0, [w, h, w, h])
        return TrackedBoxes(xyxy, tracks[:, 5], tracks[:, 6], tracks[:, 4], self.names)

    def reset(self, camera_id: str) -> None:
        """Forget a camera's tracks; its ids restart at 1."""
        self._trackers.pop(camera_id, None)

    def clear(self) -> None:
        """Forget every camera (its masks too)."""
        self._trackers.clear()
        self._masks.clear()

    def __contains__(self, camera_id: str) -> bool:
        return camera_id in self._trackers
