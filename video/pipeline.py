"""Frame analysis: the tracker's boxes -> one :class:`~zhizhi.bus.messages.frames.ObservationBatch` per frame.

One :class:`FrameAnalyzer` serves all cameras of a worker: a batch of frames (one per camera,
or consecutive frames of one file) goes through the detector in one call, then each camera's
boxes are geolocated through its calibration and smoothed into speed and heading. Each row
carries its track's class (the most confident over the track's life), voted here and nowhere
else, so a class that flickers between frames moves neither the geolocation's depth correction
nor the rules. The batch is built once and every later stage takes it as it is.
A drone's camera is geolocated through the drone's pose at each frame's time (:mod:`video.drone`):
feed its poses to :attr:`FrameAnalyzer.poses`.

A camera's masks (:attr:`CameraConfig.masks <video.camera_config.CameraConfig.masks>`) drop the
detections whose foot point lies in them before tracking, through the detector's ``set_masks``
(:mod:`video.masks`); a detector without one has the tracked boxes dropped here instead.

Cameras may come and go while it runs (a worker's camera leases): :meth:`FrameAnalyzer.add_camera`
and :meth:`FrameAnalyzer.remove_camera`; a removed camera's geolocator, track smoothing, class
votes and detector state are forgotten, so re-adding it starts afresh. Not thread-safe: the
worker calls these and :meth:`FrameAnalyzer.analyze` under one lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.video.camera_config import CameraConfig
from zhizhi.video.detectors import TrackedBoxes, TrackingDetector
from zhizhi.video.drone import DroneGeolocator, DronePoses
from zhizhi.video.frames import Frame
from zhizhi.video.geolocate import Geolocator
from zhizhi.video.kinematics import Kinematics
from zhizhi.video.masks import FrameMasks
from zhizhi.video.track_class import TrackClasses
from zhizhi.video.track_identity import TrackIdentity
from zhizhi.video.track_verify import TrackVerifier

log = logging.getLogger(__name__)


#: ``(camera_id, ts, track_ids, xyxy)`` of every tracked box of a frame (see :class:`FrameAnalyzer`).
TrackHook = Callable[[str, float, np.ndarray, np.ndarray], None]


class FrameAnalyzer:
    """Detect, track, geolocate and time the objects of a batch of frames."""

    def __init__(
        self, detector: TrackingDetector, cameras: Sequence[CameraConfig], poses: DronePoses | None = None,
        *, on_tracks: TrackHook | None = None,
    ) -> None:
        """``on_tracks(camera_id, ts, track_ids, xyxy)`` sees every tracked box of each frame, shown
        or not yet (the ids are those of the batches): a line counter counts a track that is shown
        over its whole path, the sightings before it was verified included."""
        self.detector = detector
        self.on_tracks = on_tracks
        self.cameras: dict[str, CameraConfig] = {}
        self.kinematics = Kinematics()
        self.classes = TrackClasses()
        self.identity = TrackIdentity()
        self.verifier = TrackVerifier()
        self._geo: dict[str, Geolocator] = {}
        self.poses = poses if poses is not None else DronePoses()
        self.drones: dict[str, DroneGeolocator] = {}
        self._masks: dict[str, FrameMasks] = {}  # only for a detector that cannot mask before tracking
        for camera in cameras:
            self.add_camera(camera)

    def add_camera(self, camera: CameraConfig) -> None:
        """Serve ``camera`` (replacing, and first forgetting, a camera of the same id)."""
        if camera.id in self.cameras:
            self.remove_camera(camera.id)
        self.cameras[camera.id] = camera
        if camera.calibration is not None:
            self._geo[camera.id] = Geolocator(camera.calibration, _lonlat(camera))
        if camera.drone is not None:
            self.drones[camera.id] = DroneGeolocator(camera.drone, self.poses, _lonlat(camera))
        self._set_masks(camera.id, camera.masks)
        self.verifier.set_filters(camera.id, camera.filters)
        moving_only = getattr(self.detector, "moving_only", False)
        self.verifier.set_require_motion(camera.id, not moving_only and camera.drone is None)

    def _set_masks(self, camera_id: str, masks: list) -> None:
        set_masks = getattr(self.detector, "set_masks", None)
        if set_masks is not None:
            set_masks(camera_id, masks)
        elif masks:
            self._masks[camera_id] = FrameMasks(masks)
        else:
            self._masks.pop(camera_id, None)

    def remove_camera(self, camera_id: str) -> bool:
        """Forget a camera and all its per-camera state (geolocator, tracks, class votes, the
        detector's background model and tracker); False when it was not served."""
        known = self.cameras.pop(camera_id, None) is not None
        self._geo.pop(camera_id, None)
        self.drones.pop(camera_id, None)
        if known:
            self._set_masks(camera_id, [])
        self.identity.reset(camera_id)
        self.verifier.reset(camera_id)
        self.verifier.set_filters(camera_id, None)
        self.verifier.set_require_motion(camera_id, True)
        # Kinematics and TrackClasses key their state by (camera_id, track_id) and have no
        # per-camera forget of their own: drop that camera's keys here.
        for mapping in (
            getattr(self.kinematics, "_tracks", None),
            getattr(self.classes, "_votes", None),
            getattr(self.classes, "_seen", None),
        ):
            if mapping:
                for key in [k for k in mapping if k[0] == camera_id]:
                    del mapping[key]
        try:
            self.detector.reset(camera_id)
        except Exception:  # a backend that cannot forget must not stop the worker
            log.exception("detector could not forget camera %s", camera_id)
        return known

    def _geolocator(self, frame: Frame) -> Geolocator | None:
        """The camera's geolocator for this frame: fixed, or a drone's at the frame's time."""
        drone = self.drones.get(frame.camera_id)
        if drone is None:
            return self._geo.get(frame.camera_id)
        height, width = frame.image.shape[:2]
        return drone.at(frame.ts, (width, height))

    def analyze(self, frames: Sequence[Frame]) -> list[ObservationBatch]:
        """The observations of each frame, in order (one batch per frame, also an empty one)."""
        if not frames:
            return []
        pairs = [(f.camera_id, f.image) for f in frames]
        if getattr(self.detector, "takes_timestamps", False):  # the motion gate paces re-checks by frame time
            results = self.detector.update(pairs, timestamps=[f.ts for f in frames])
        else:
            results = self.detector.update(pairs)
        return [self._batch(frame, boxes) for frame, boxes in zip(frames, results)]

    def _batch(self, frame: Frame, boxes: TrackedBoxes) -> ObservationBatch:
        """The tracker's boxes of a frame -> its batch: shown ids, verified classes, geolocated, timed.

        Every box is voted, geolocated and timed; only the rows of tracks the evidence allows
        (:mod:`video.track_verify`) and the camera's filters keep reach the batch."""
        masks = self._masks.get(frame.camera_id)
        if masks is not None and len(boxes):
            keep = masks.keep(boxes.xyxy)
            boxes = TrackedBoxes(boxes.xyxy[keep], boxes.conf[keep], boxes.cls[keep], boxes.track_id[keep], boxes.names)
        if len(boxes) == 0:
            return ObservationBatch.empty(frame.camera_id, frame.ts)
        camera, ts = frame.camera_id, frame.ts
        detected = boxes.class_names()
        ids = self.identity.assign(camera, ts, boxes.track_id, boxes.xyxy, detected)
        if self.on_tracks is not None:
            self.on_tracks(camera, ts, ids, boxes.xyxy)
        voted = [self.classes.vote(camera, t, c, p, ts) for t, c, p in zip(ids.tolist(), detected, boxes.conf.tolist())]
        geo = self._geolocator(frame)
        ground = geo.ground_extent(boxes.xyxy) if geo is not None else None
        self.verifier.observe(camera, ts, ids, detected, boxes.conf, boxes.xyxy, ground)
        names, shown = self.verifier.decide(camera, ids, voted, [self.classes.votes_of(camera, t) for t in ids])
        lon = lat = speed = heading = None  # unknown (NaN) without a geolocator
        if geo is not None:
            headings = [self.kinematics.heading_of(camera, t) for t in ids]
            x, y = geo.locate(boxes.xyxy, voted, headings)  # the shape voted, steady while verification decides
            state = self.kinematics.update(camera, ts, ids, x, y)
            self.verifier.record_speeds(camera, ids, state.speed_kmh)
            lon, lat = geo.to_lonlat(state.x, state.y)
            speed, heading = state.speed_kmh, state.heading_deg
        filters = self.verifier.filters(camera)
        if filters:
            shown &= filters.keep(names, boxes.conf, boxes.xyxy, ground[2] if ground is not None else None)
        if not shown.any():
            return ObservationBatch.empty(camera, ts)
        rows = np.flatnonzero(shown)
        return ObservationBatch(
            camera,
            ts,
            track_id=ids[rows],
            cls=[names[i] for i in rows],
            conf=np.clip(boxes.conf[rows], 0.0, 1.0),
            xyxy=boxes.xyxy[rows],
            lon=_rows(lon, rows),
            lat=_rows(lat, rows),
            speed_kmh=_rows(speed, rows),
            heading_deg=_rows(heading, rows),
        )


def _lonlat(camera: CameraConfig) -> tuple[float, float] | None:
    return (camera.lon, camera.lat) if camera.lon is not None and camera.lat is not None else None


def _rows(values: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    """The shown rows of a column (None stays None: unknown throughout)."""
    return None if values is None else _finite(np.asarray(values)[rows])


def _finite(values: np.ndarray | None) -> np.ndarray | None:
    """A float64 column with NaN for every non-finite value (None: unknown throughout)."""
    if values is None:
        return None
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)
