"""Trajectories: where an object is at time ``t``, vectorised over time arrays.

Road users move in road coordinates (``s`` along the road, ``d`` across it) with piecewise
constant acceleration along ``s`` and smooth lateral moves in ``d``; pedestrians off the road
walk along waypoints. Speed and heading come from the world positions themselves (central
differences), so the truth is exactly what the images show.

>>> from zhizhi.video.simulator.road import Road
>>> road = Road((0.0, 0.0), 90.0, 0.0, 2, 3.5, 0.5, 3.0, 2.5)
>>> traj = RoadTrajectory(road, Longitudinal.cruise(0.0, 20.0), -2.0, direction=1)
>>> k = kinematics(traj, np.array([1.0]))
>>> round(float(k.x[0]), 3), round(float(k.speed[0]), 3), round(float(np.degrees(k.yaw[0])), 1)
(20.0, 20.0, 90.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from zhizhi.video.simulator.road import Road

Float = NDArray[np.float64]

_EPS_T = 0.01
_MOVING_MPS = 0.05


@dataclass(frozen=True)
class Segment:
    """Constant acceleration from ``t0`` (distance ``s0`` travelled, speed ``v0``)."""

    t0: float
    s0: float
    v0: float
    a: float


@dataclass(frozen=True)
class Longitudinal:
    """Distance travelled along the lane as piecewise constant-acceleration segments."""

    segments: tuple[Segment, ...]

    @classmethod
    def cruise(cls, s0: float, v: float) -> Longitudinal:
        return cls((Segment(0.0, s0, v, 0.0),))

    @classmethod
    def plan(cls, s0: float, v0: float, steps: list[tuple[float, float]]) -> Longitudinal:
        """From speed ``v0`` at ``t = 0``: each step ``(duration, target_speed)`` accelerates
        linearly to the target over the duration (a final cruise follows the last step)."""
        segments = []
        t, s, v = 0.0, s0, v0
        for duration, target in steps:
            a = (target - v) / duration if duration > 0 else 0.0
            segments.append(Segment(t, s, v, a))
            s += v * duration + 0.5 * a * duration * duration
            t += duration
            v = target
        segments.append(Segment(t, s, v, 0.0))
        return cls(tuple(segments))

    def distance(self, t: ArrayLike) -> Float:
        """Distance travelled at ``t`` (before the first segment: extrapolated backwards)."""
        t = np.asarray(t, dtype=np.float64)
        starts = np.array([seg.t0 for seg in self.segments])
        i = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(self.segments) - 1)
        t0 = starts[i]
        s0 = np.array([seg.s0 for seg in self.segments])[i]
        v0 = np.array([seg.v0 for seg in self.segments])[i]
        a = np.array([seg.a for seg in self.segments])[i]
        dt = t - t0
        return s0 + v0 * dt + 0.5 * a * dt * dt


@dataclass(frozen=True)
class Lateral:
    """Lateral offset ``d(t)``: constant, with smooth (cosine) moves between values."""

    d0: float
    moves: tuple[tuple[float, float, float], ...] = ()  # (t_start, t_end, d_target)

    def offset(self, t: ArrayLike) -> Float:
        t = np.asarray(t, dtype=np.float64)
        d = np.full_like(t, self.d0)
        current = self.d0
        for t0, t1, target in self.moves:
            w = np.clip((t - t0) / max(t1 - t0, 1e-9), 0.0, 1.0)
            blend = 0.5 - 0.5 * np.cos(np.pi * w)
            d = np.where(t >= t0, current + (target - current) * blend, d)
            current = target
        return d


class Trajectory:
    """Interface: world position over time, a resting heading, road coordinates if any."""

    def position(self, t: Float) -> tuple[Float, Float]:
        raise NotImplementedError

    def rest_yaw(self, t: Float) -> Float:
        """Heading (compass radians) to show when not moving."""
        raise NotImplementedError

    def road_coords(self, t: Float) -> tuple[Float, Float] | None:
        """``(s, d)`` for conflict checks between road users; ``None`` off the road."""
        return None

    def travelled(self, t: Float) -> Float:
        """Distance walked or driven (drives the walking animation)."""
        raise NotImplementedError


@dataclass(frozen=True)
class RoadTrajectory(Trajectory):
    """Along a lane (``direction`` +1 towards ``+s``, -1 towards ``-s``)."""

    road: Road
    along: Longitudinal
    lateral: Lateral | float
    direction: int = 1

    def _sd(self, t: Float) -> tuple[Float, Float]:
        s = self.direction * self.along.distance(t)
        lat = self.lateral if isinstance(self.lateral, Lateral) else Lateral(float(self.lateral))
        return s, lat.offset(t)

    def position(self, t: Float) -> tuple[Float, Float]:
        s, d = self._sd(t)
        return self.road.point(s, d)

    def rest_yaw(self, t: Float) -> Float:
        s, _ = self._sd(t)
        return self.road.tangent_rad(s) + (0.0 if self.direction > 0 else math.pi)

    def road_coords(self, t: Float) -> tuple[Float, Float]:
        return self._sd(t)

    def travelled(self, t: Float) -> Float:
        return np.abs(self.along.distance(t) - self.along.distance(np.zeros(1))[0])


@dataclass(frozen=True)
class WaypointWalk(Trajectory):
    """Walk from point to point at ``speed`` from ``start_t``, then stand facing ``end_yaw``."""

    points: tuple[tuple[float, float], ...]
    speed: float
    start_t: float
    end_yaw: float
    cum: Float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float64)
        seg = np.hypot(*np.diff(pts, axis=0).T) if len(pts) > 1 else np.zeros(0)
        object.__setattr__(self, "cum", np.concatenate([[0.0], np.cumsum(seg)]))

    def travelled(self, t: Float) -> Float:
        return np.clip((np.asarray(t, dtype=np.float64) - self.start_t) * self.speed, 0.0, self.cum[-1])

    def position(self, t: Float) -> tuple[Float, Float]:
        pts = np.asarray(self.points, dtype=np.float64)
        dist = self.travelled(t)
        return np.interp(dist, self.cum, pts[:, 0]), np.interp(dist, self.cum, pts[:, 1])

    def rest_yaw(self, t: Float) -> Float:
        pts = np.asarray(self.points, dtype=np.float64)
        t = np.asarray(t, dtype=np.float64)
        if len(pts) < 2 or self.cum[-1] <= 0.0:
            return np.full_like(t, self.end_yaw)
        first = math.atan2(pts[1, 0] - pts[0, 0], pts[1, 1] - pts[0, 1])
        return np.where(self.travelled(t) <= 0.0, first, self.end_yaw)


@dataclass(frozen=True)
class Kinematics:
    """World state over a time array: position (m), heading (compass rad), speed (m/s)."""

    x: Float
    y: Float
    yaw: Float
    speed: Float
    travelled: Float


def kinematics(traj: Trajectory, t: Float) -> Kinematics:
    """Positions, headings and speeds of a trajectory at the times ``t``."""
    t = np.asarray(t, dtype=np.float64)
    x, y = traj.position(t)
    xa, ya = traj.position(t - _EPS_T)
    xb, yb = traj.position(t + _EPS_T)
    vx, vy = (xb - xa) / (2 * _EPS_T), (yb - ya) / (2 * _EPS_T)
    speed = np.hypot(vx, vy)
    moving = speed > _MOVING_MPS
    yaw = np.where(moving, np.arctan2(vx, vy), traj.rest_yaw(t))
    return Kinematics(x, y, np.mod(yaw, 2 * math.pi), np.where(moving, speed, 0.0), traj.travelled(t))
