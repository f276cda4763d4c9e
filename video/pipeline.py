"""Frame analysis: tracked boxes -> geolocated, speed-annotated observations.

One :class:`FrameAnalyzer` serves all cameras of a worker: a batch of frames (one per camera,
or consecutive frames of one file) goes through the detector in one call, then each camera's
boxes are geolocated through its calibration and smoothed into speed and heading. Each
observation carries its track's class (the most confident over the track's life), so a class
that flickers between frames moves neither the geolocation's depth correction nor the rules.
A drone's camera is geolocated through the drone's pose at each frame's time (:mod:`video.drone`):
feed its poses to :attr:`FrameAnalyzer.poses`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from video.camera_config import CameraConfig
from video.detectors import TrackedBoxes, TrackingDetector
from video.drone import DroneGeolocator, DronePoses
from video.frames import Frame
from video.geolocate import Geolocator
from video.kinematics import Kinematics
from video.observation import Observation
from video.track_class import TrackClasses


class FrameAnalyzer:
    """Detect, track, geolocate and time the objects of a batch of frames."""

    def __init__(
        self, detector: TrackingDetector, cameras: Sequence[CameraConfig], poses: DronePoses | None = None
    ) -> None:
        self.detector = detector
        self.cameras = {c.id: c for c in cameras}
        self.kinematics = Kinematics()
        self.classes = TrackClasses()
        self._geo: dict[str, Geolocator] = {
            c.id: Geolocator(c.calibration, _lonlat(c))
            for c in cameras
            if c.calibration is not None
        }
        self.poses = poses if poses is not None else DronePoses()
        self.drones: dict[str, DroneGeolocator] = {
            c.id: DroneGeolocator(c.drone, self.poses, _lonlat(c)) for c in cameras if c.drone is not None
        }

    def _geolocator(self, frame: Frame) -> Geolocator | None:
        """The camera's geolocator for this frame: fixed, or a drone's at the frame's time."""
        drone = self.drones.get(frame.camera_id)
        if drone is None:
            return self._geo.get(frame.camera_id)
        height, width = frame.image.shape[:2]
        return drone.at(frame.ts, (width, height))

    def analyze(self, frames: Sequence[Frame]) -> list[tuple[TrackedBoxes, list[Observation]]]:
        """The tracked boxes and observations of each frame, in order."""
        if not frames:
            return []
        results = self.detector.update([(f.camera_id, f.image) for f in frames])
        return [(boxes, self._observations(frame, boxes)) for frame, boxes in zip(frames, results)]

    def _observations(self, frame: Frame, boxes: TrackedBoxes) -> list[Observation]:
        n = len(boxes)
        if n == 0:
            return []
        ids = boxes.track_id.astype(int)
        names = [
            self.classes.vote(frame.camera_id, t, c, p, frame.ts)
            for t, c, p in zip(ids, boxes.class_names(), boxes.conf)
        ]
        lon = lat = speed = heading = np.full(n, np.nan)
        geo = self._geolocator(frame)
        if geo is not None:
            headings = [self.kinematics.heading_of(frame.camera_id, t) for t in ids]
            x, y = geo.locate(boxes.xyxy, names, headings)
            state = self.kinematics.update(frame.camera_id, frame.ts, ids, x, y)
            lon, lat = geo.to_lonlat(state.x, state.y)
            speed, heading = state.speed_kmh, state.heading_deg
        return [
            Observation(
                camera_id=frame.camera_id,
                ts=frame.ts,
                track_id=int(ids[i]),
                cls=names[i],
                conf=float(np.clip(boxes.conf[i], 0.0, 1.0)),
                bbox=tuple(float(v) for v in boxes.xyxy[i]),
                lon=_finite(lon[i]),
                lat=_finite(lat[i]),
                speed_kmh=_finite(speed[i]),
                heading_deg=_finite(heading[i]),
            )
            for i in range(n)
        ]


def _lonlat(camera: CameraConfig) -> tuple[float, float] | None:
    return (camera.lon, camera.lat) if camera.lon is not None and camera.lat is not None else None


def _finite(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None
