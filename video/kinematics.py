"""Speed and heading of tracks from their world positions in metres.

Each track keeps its recent positions; a least-squares line through the last ``window_s``
seconds gives a smoothed position and a velocity, robust to a pixel or two of box jitter. When
the track is clearly braking or accelerating, a constant-acceleration fit replaces the line,
whose slope would lag by half the window. A speed whose standard error (from the fit's
residuals) is too large to trust — far away, jittery boxes, a track just begun — is left
unknown rather than stated wrong. A
track younger than ``min_span_s`` has no speed yet. Heading is the compass direction of motion
(clockwise from north), updated only while the motion stands clear of the fit's noise; a
stopped object keeps the last heading it had while moving.

>>> k = Kinematics(window_s=2.0, min_span_s=0.5)
>>> for t in range(6):
...     state = k.update("cam", t * 0.2, [7], [0.0], [t * 0.2 * 10.0])  # 10 m/s north
>>> round(float(state.speed_kmh[0]), 1), round(float(state.heading_deg[0]), 1)
(36.0, 0.0)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

Float = NDArray[np.float64]
MOVING_KMH = 3.0  # below this, or when noise dominates the fit, keep the last heading
ACCEL_SIGMAS = 3.0  # an acceleration this many standard errors from zero is real
SIGMA_SHARE = 0.05  # a speed is stated when its standard error is under 4 km/h or 5 % of it
MAX_SPEED_MS = 70.0  # 250 km/h: a faster step between two samples is a different object or a bad box


@dataclass
class _Track:
    samples: deque = field(default_factory=deque)  # (ts, x, y)
    heading: float | None = None
    last_ts: float = 0.0


@dataclass(frozen=True)
class MotionState:
    """Smoothed positions (metres), speeds (km/h, NaN if unknown), headings (NaN if unknown)."""

    x: Float
    y: Float
    speed_kmh: Float
    heading_deg: Float


def _velocity_sigma(dt: Float, px: Float, py: Float, vx: float, vy: float, denom: float) -> float:
    """Standard error of the fitted velocity, from the residuals of the line fit."""
    n = len(dt)
    if n <= 2:
        return float("inf")
    rx = px - px.mean() - vx * dt
    ry = py - py.mean() - vy * dt
    sigma2 = (float(np.dot(rx, rx)) + float(np.dot(ry, ry))) / (2 * (n - 2))
    return float(np.sqrt(sigma2 / denom))


def _accelerating_fit(
    tau: Float, px: Float, py: Float
) -> tuple[float, float, float, float, float] | None:
    """Position, velocity and the velocity's standard error now (``tau = 0``) from a
    constant-acceleration fit, or None.

    Only used over a well-filled window and when the acceleration stands clear of the fit's
    noise (more than ``ACCEL_SIGMAS`` standard errors): a quadratic's end-point velocity is
    several times noisier than a line's slope, so cruising or stopped objects keep the line.
    """
    n = len(tau)
    if n < 10:
        return None
    design = np.column_stack([np.ones(n), tau, tau * tau])
    gram_inv = np.linalg.inv(design.T @ design)
    cx = gram_inv @ (design.T @ px)
    cy = gram_inv @ (design.T @ py)
    residuals = np.concatenate([px - design @ cx, py - design @ cy])
    sigma2 = float(np.dot(residuals, residuals)) / (2 * (n - 3))
    accel = np.hypot(cx[2], cy[2])
    if accel <= ACCEL_SIGMAS * np.sqrt(sigma2 * gram_inv[2, 2]):
        return None
    return float(cx[0]), float(cy[0]), float(cx[1]), float(cy[1]), float(np.sqrt(sigma2 * gram_inv[1, 1]))


class Kinematics:
    """Per-camera, per-track smoothing of world positions into speed and heading."""

    def __init__(
        self,
        window_s: float = 2.0,
        min_span_s: float = 0.5,
        forget_after_s: float = 10.0,
        max_gap_s: float = 1.0,
        max_speed_sigma_kmh: float = 4.0,
    ):
        self.window_s = window_s
        self.max_speed_sigma_kmh = max_speed_sigma_kmh
        self.max_gap_s = max_gap_s
        self.min_span_s = min_span_s
        self.forget_after_s = forget_after_s
        self._tracks: dict[tuple[str, int], _Track] = {}

    def heading_of(self, camera_id: str, track_id: int) -> float | None:
        """The last known heading of a track (for geolocation's depth correction)."""
        track = self._tracks.get((camera_id, int(track_id)))
        return None if track is None else track.heading

    def update(
        self, camera_id: str, ts: float, track_ids: ArrayLike, x: ArrayLike, y: ArrayLike
    ) -> MotionState:
        """Add one analysed frame's positions; return the smoothed state of those tracks."""
        ids = np.asarray(track_ids, dtype=np.int64).ravel()
        xs = np.asarray(x, dtype=np.float64).ravel()
        ys = np.asarray(y, dtype=np.float64).ravel()
        n = len(ids)
        out_x, out_y = xs.copy(), ys.copy()
        speed = np.full(n, np.nan)
        heading = np.full(n, np.nan)
        for i in range(n):
            if not (np.isfinite(xs[i]) and np.isfinite(ys[i])):
                continue
            track = self._tracks.setdefault((camera_id, int(ids[i])), _Track())
            if track.samples and self._broken(track.samples[-1], ts, xs[i], ys[i]):
                track.samples.clear()  # lost and found again, or another object took the id
            track.samples.append((ts, xs[i], ys[i]))
            track.last_ts = ts
            while track.samples and track.samples[0][0] < ts - self.window_s:
                track.samples.popleft()
            t, px, py = (np.array(c) for c in zip(*track.samples))
            if t[-1] - t[0] < self.min_span_s or len(t) < 3:
                continue
            dt = t - t.mean()
            denom = float(np.dot(dt, dt))
            vx = float(np.dot(dt, px - px.mean()) / denom)
            vy = float(np.dot(dt, py - py.mean()) / denom)
            out_x[i] = px.mean() + vx * (ts - t.mean())
            out_y[i] = py.mean() + vy * (ts - t.mean())
            line_speed = np.hypot(vx, vy)
            sigma = _velocity_sigma(dt, px, py, vx, vy, denom)
            if line_speed * 3.6 >= MOVING_KMH and line_speed > 3.0 * sigma:
                track.heading = float(np.degrees(np.arctan2(vx, vy)) % 360.0)
            value = line_speed
            accelerating = _accelerating_fit(t - ts, px, py) if t[-1] - t[0] >= 0.75 * self.window_s else None
            if accelerating is not None:  # braking or pulling away: the line's speed would lag
                out_x[i], out_y[i], ax, ay, sigma = accelerating
                value = np.hypot(ax, ay)
            if sigma * 3.6 <= max(self.max_speed_sigma_kmh, SIGMA_SHARE * value * 3.6):
                speed[i] = value * 3.6  # otherwise too noisy to state (far away, jittery boxes)
            if track.heading is not None:
                heading[i] = track.heading
        self._forget(ts)
        return MotionState(out_x, out_y, speed, heading)

    def _broken(self, last: tuple[float, float, float], ts: float, x: float, y: float) -> bool:
        """A gap too long to bridge, or a jump no road user makes."""
        gap = ts - last[0]
        if gap > self.max_gap_s:
            return True
        return gap > 0 and np.hypot(x - last[1], y - last[2]) / gap > MAX_SPEED_MS

    def _forget(self, now: float) -> None:
        stale = [k for k, tr in self._tracks.items() if now - tr.last_ts > self.forget_after_s]
        for key in stale:
            del self._tracks[key]
