"""Geolocation through telemetry: a drone camera's boxes located with the drone's pose at each frame.

A fixed camera has one calibration; a drone's changes with every pose. :class:`DronePoses`
keeps a short, bounded history of each drone's poses from the bus (``Topic.DRONES``
:class:`~zhizhi.bus.messages.DroneState` messages); for a frame at ``ts`` it gives the pose
interpolated between the two poses around ``ts``, or the latest one not after ``ts`` when no
later pose has come yet. A frame with no pose close enough in time (``max_pose_age_s``) is
*not* geolocated (its observations have no position, and :class:`DroneGeolocator` counts it):
an old pose would place every object wrongly, by as far as the drone has flown since.

:class:`DroneGeolocator` turns the pose into a per-frame :class:`~video.geolocate.Geolocator`
whose pixel -> ground mapping is :func:`gis.drones.pixel_to_lonlat` of a
:class:`~gis.drones.DroneView` (NaN above the horizon, and beyond ``max_range_m``), expressed in
one metric frame per camera, so track smoothing (speed, heading) stays continuous while the
drone moves; the geolocator's depth correction (half an object's extent along the line of sight)
applies as for a fixed camera.

>>> poses = DronePoses(max_pose_age_s=2.0)
>>> pose = DroneState(drone_id="UAV-01", ts=1.8e9, lon=120.86, lat=32.01, height_m=100,
...                   heading_deg=0, gimbal_yaw_deg=0, gimbal_pitch_deg=-90)
>>> later = pose.model_copy(update={"ts": 1.8e9 + 1, "height_m": 110})
>>> poses.on_message(pose), poses.on_message(later)
(True, True)
>>> poses.at("UAV-01", 1.8e9 + 0.5)["height_m"], poses.at("UAV-01", 1.8e9 + 3.5) is None
(105.0, True)
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from zhizhi.bus.messages.drones import DroneState
from zhizhi.gis.drones import DroneView, pixel_to_lonlat
from zhizhi.gis.metric import MetricFrame
from zhizhi.video.camera_config import DroneCamera
from zhizhi.video.geolocate import Geolocator

Float = NDArray[np.float64]

#: Poses kept per drone: minutes of 1 Hz telemetry, many seconds of 10 Hz.
HISTORY = 512
#: Below this height (metres) a drone is on the ground: its camera locates nothing.
MIN_HEIGHT_M = 2.0
_ANGLES = ("heading_deg", "gimbal_yaw_deg")
_LINEAR = ("lon", "lat", "height_m", "gimbal_pitch_deg")


def _lerp_angle(a: float, b: float, f: float) -> float:
    """From ``a`` towards ``b`` (degrees) by ``f`` along the shorter arc, in [0, 360)."""
    return float((a + ((b - a + 180.0) % 360.0 - 180.0) * f) % 360.0)


class PoseHistory:
    """One drone's recent poses in time order (not thread-safe: :class:`DronePoses` locks)."""

    def __init__(self, maxlen: int = HISTORY) -> None:
        self._ts: deque[float] = deque(maxlen=maxlen)
        self._poses: deque[DroneState] = deque(maxlen=maxlen)

    def __len__(self) -> int:
        return len(self._ts)

    def add(self, state: DroneState) -> bool:
        """Append a pose; one not newer than the latest is ignored (False)."""
        if self._ts and state.ts <= self._ts[-1]:
            return False
        self._ts.append(state.ts)
        self._poses.append(state)
        return True

    def at(self, ts: float, max_age_s: float) -> dict[str, Any] | None:
        """The pose at ``ts`` as a dict of :class:`DroneState` fields, or None when unknown.

        Between two poses at most ``2 * max_age_s`` apart: interpolated (angles along the
        shorter arc). Otherwise the latest pose not after ``ts`` if at most ``max_age_s`` old.
        Before the first pose kept: None.
        """
        i = bisect.bisect_right(self._ts, ts)  # poses[:i] are not after ts
        if i == 0:
            return None
        before = self._poses[i - 1]
        after = self._poses[i] if i < len(self._poses) else None
        if after is not None and after.ts - before.ts <= 2.0 * max_age_s:
            f = (ts - before.ts) / (after.ts - before.ts)
            a, b = before.model_dump(), after.model_dump()
            pose = {**a, "ts": ts}
            pose.update({k: a[k] + (b[k] - a[k]) * f for k in _LINEAR})
            pose.update({k: _lerp_angle(a[k], b[k], f) for k in _ANGLES})
            return pose
        if ts - before.ts <= max_age_s:
            return before.model_dump()
        return None


class DronePoses:
    """Recent poses of every drone, fed from the bus; thread-safe.

    ``on_message`` is the ``Topic.DRONES`` handler; a pose older than the drone's latest is
    counted and ignored.
    """

    def __init__(self, *, max_pose_age_s: float = 2.0, history: int = HISTORY) -> None:
        self.max_pose_age_s = max_pose_age_s
        self.history = history
        self._lock = threading.Lock()
        self._drones: dict[str, PoseHistory] = {}
        self.accepted = 0
        self.ignored = 0

    def on_message(self, message: DroneState) -> bool:
        """The ``Topic.DRONES`` handler: keep the pose; whether it was kept."""
        return self.add(message)

    def add(self, state: DroneState) -> bool:
        with self._lock:
            history = self._drones.setdefault(state.drone_id, PoseHistory(self.history))
            kept = history.add(state)
            if kept:
                self.accepted += 1
            else:
                self.ignored += 1
            return kept

    def at(self, drone_id: str, ts: float, max_age_s: float | None = None) -> dict[str, Any] | None:
        """The drone's pose at ``ts`` (see :meth:`PoseHistory.at`), or None."""
        with self._lock:
            history = self._drones.get(drone_id)
            if history is None:
                return None
            return history.at(ts, self.max_pose_age_s if max_age_s is None else max_age_s)


@dataclass(frozen=True)
class ViewCalibration:
    """What :class:`~video.geolocate.Geolocator` needs of a calibration, for one pose.

    Pixels (continuous image coordinates, as detectors give boxes) -> metres of ``frame``;
    NaN above the horizon and farther than ``view.max_range_m`` from the drone.
    """

    view: DroneView
    frame: MetricFrame

    @property
    def image_size(self) -> tuple[int, int]:
        return self.view.width_px, self.view.height_px

    def pixel_to_metric(self, u: ArrayLike, v: ArrayLike) -> tuple[Float, Float]:
        lon, lat = pixel_to_lonlat(self.view, u, v)
        ok = np.isfinite(lon) & np.isfinite(lat)
        x, y = np.full(lon.shape, np.nan), np.full(lon.shape, np.nan)
        if ok.any():
            x[ok], y[ok] = self.frame.to_metric(lon[ok], lat[ok])
            dx, dy = self.frame.to_metric(self.view.lon, self.view.lat)
            far = np.hypot(x - dx, y - dy) > self.view.max_range_m
            x[far], y[far] = np.nan, np.nan
        return x, y


class DroneGeolocator:
    """Per-frame geolocators of one drone camera, from the drone's poses.

    The metric frame is centred at ``origin`` (the camera config's lon/lat) or, without one,
    at the first pose used; ``located`` and ``without_pose`` count frames with objects.
    """

    def __init__(self, drone: DroneCamera, poses: DronePoses, origin: tuple[float, float] | None = None) -> None:
        self.drone = drone
        self.poses = poses
        self.frame = MetricFrame.around(*origin) if origin is not None else None
        self.located = 0
        self.without_pose = 0

    def view_at(self, ts: float, image_size: tuple[int, int]) -> DroneView | None:
        """The camera's view at ``ts`` for an image of ``(width, height)``, or None."""
        pose = self.poses.at(self.drone.drone_id, ts, self.drone.max_pose_age_s)
        if pose is None or pose["height_m"] < MIN_HEIGHT_M:
            return None
        return DroneView.from_pose(pose, hfov_deg=self.drone.hfov_deg, width_px=image_size[0],
                                   height_px=image_size[1], max_range_m=self.drone.max_range_m)

    def at(self, ts: float, image_size: tuple[int, int]) -> Geolocator | None:
        """A geolocator for the frame at ``ts``; None (counted) when the pose is unknown."""
        view = self.view_at(ts, image_size)
        if view is None:
            self.without_pose += 1
            return None
        if self.frame is None:
            self.frame = MetricFrame.around(view.lon, view.lat)
        self.located += 1
        return Geolocator(ViewCalibration(view, self.frame), (view.lon, view.lat))  # type: ignore[arg-type]

    def stats(self) -> dict[str, int]:
        return {"located": self.located, "without_pose": self.without_pose}
