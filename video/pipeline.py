"""Frame analysis: tracked boxes -> geolocated, speed-annotated observations.

One :class:`FrameAnalyzer` serves all cameras of a worker: a batch of frames (one per camera,
or consecutive frames of one file) goes through the detector in one call, then each camera's
boxes are geolocated through its calibration and smoothed into speed and heading. Each
observation carries its track's class (the most confident over the track's life), so a class
that flickers between frames moves neither the geolocation's depth correction nor the rules.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from video.camera_config import CameraConfig
from video.detectors import TrackedBoxes, TrackingDetector
from video.frames import Frame
from video.geolocate import Geolocator
from video.kinematics import Kinematics
from video.observation import Observation
from video.track_class import TrackClasses


class FrameAnalyzer:
    """Detect, track, geolocate and time the objects of a batch of frames."""

    def __init__(self, detector: TrackingDetector, cameras: Sequence[CameraConfig]) -> None:
        self.detector = detector
        self.cameras = {c.id: c for c in cameras}
        self.kinematics = Kinematics()
        self.classes = TrackClasses()
        self._geo: dict[str, Geolocator] = {
            c.id: Geolocator(c.calibration, (c.lon, c.lat) if c.lon is not None and c.lat is not None else None)
            for c in cameras
            if c.calibration is not None
        }

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
        geo = self._geo.get(frame.camera_id)
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


def _finite(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None
