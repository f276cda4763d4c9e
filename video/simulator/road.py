"""The road: a straight or gently curved two-way carriageway in road coordinates ``(s, d)``.

``s`` runs along the centreline (metres), ``d`` is the lateral offset, positive to the *left*
of the ``+s`` direction. Traffic keeps right: lanes with ``d < 0`` carry traffic towards
``+s`` (direction ``+1``), lanes with ``d > 0`` towards ``-s`` (direction ``-1``). From the
centre outwards each side has its lanes, a hard shoulder, a kerb-side footway and then fields.

>>> road = Road(origin=(0.0, 0.0), heading_deg=0.0, curvature=0.0, lanes_per_direction=2,
...             lane_width_m=3.5, centre_gap_m=0.5, shoulder_m=3.0, sidewalk_m=2.5)
>>> x, y = road.point(100.0, road.lane_offset(+1, 0))
>>> round(float(x), 2), round(float(y), 2)
(2.0, 100.0)
>>> road.direction_at(-2.0), road.direction_at(9.0)
(1, -1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Float = NDArray[np.float64]


@dataclass(frozen=True)
class Road:
    """Centreline geometry and cross-section of the simulated road."""

    origin: tuple[float, float]
    heading_deg: float
    curvature: float
    lanes_per_direction: int
    lane_width_m: float
    centre_gap_m: float
    shoulder_m: float
    sidewalk_m: float
    speed_limit_kmh: float = 80.0

    # --- cross-section --------------------------------------------------------------------
    @property
    def carriageway_half_m(self) -> float:
        """From the centreline to the outer edge of the outermost lane."""
        return self.centre_gap_m / 2.0 + self.lanes_per_direction * self.lane_width_m

    @property
    def shoulder_outer_m(self) -> float:
        return self.carriageway_half_m + self.shoulder_m

    @property
    def sidewalk_outer_m(self) -> float:
        return self.shoulder_outer_m + self.sidewalk_m

    def lane_offset(self, direction: int, lane: int) -> float:
        """Lateral offset of a lane centre; lane 0 is the innermost (fast) lane."""
        d = self.centre_gap_m / 2.0 + (lane + 0.5) * self.lane_width_m
        return -d if direction > 0 else d

    def shoulder_offset(self, direction: int) -> float:
        """Lateral offset of the centre of the hard shoulder on the right of ``direction``."""
        d = self.carriageway_half_m + self.shoulder_m / 2.0
        return -d if direction > 0 else d

    def sidewalk_offset(self, side: int, frac: float = 0.5) -> float:
        """Lateral offset inside the footway of ``side`` (+1 left, -1 right); ``frac`` 0 = kerb."""
        return side * (self.shoulder_outer_m + frac * self.sidewalk_m)

    def direction_at(self, d: float) -> int:
        """Travel direction of the lane (or shoulder) at lateral offset ``d``."""
        return 1 if d < 0 else -1

    # --- geometry -------------------------------------------------------------------------
    def tangent_rad(self, s: ArrayLike) -> Float:
        """Compass heading (radians, clockwise from north) of ``+s`` at ``s``."""
        return math.radians(self.heading_deg) + self.curvature * np.asarray(s, dtype=np.float64)

    def point(self, s: ArrayLike, d: ArrayLike) -> tuple[Float, Float]:
        """World ``(x, y)`` in metres of road coordinates."""
        s = np.asarray(s, dtype=np.float64)
        d = np.asarray(d, dtype=np.float64)
        psi0 = math.radians(self.heading_deg)
        psi = psi0 + self.curvature * s
        if abs(self.curvature) < 1e-12:
            x = self.origin[0] + s * math.sin(psi0)
            y = self.origin[1] + s * math.cos(psi0)
        else:
            k = self.curvature
            x = self.origin[0] + (math.cos(psi0) - np.cos(psi)) / k
            y = self.origin[1] + (np.sin(psi) - math.sin(psi0)) / k
        return x - d * np.cos(psi), y + d * np.sin(psi)

    def strip(self, s: ArrayLike, d0: float, d1: float) -> Float:
        """Ground polygon (n, 3) of the band ``d0..d1`` along the samples ``s``."""
        s = np.asarray(s, dtype=np.float64)
        xa, ya = self.point(s, np.full_like(s, d0))
        xb, yb = self.point(s[::-1], np.full_like(s, d1))
        xy = np.concatenate([np.column_stack([xa, ya]), np.column_stack([xb, yb])])
        return np.column_stack([xy, np.zeros(len(xy))])

    def line(self, s: ArrayLike, d: float) -> Float:
        """Ground polyline (n, 2) at lateral offset ``d``."""
        s = np.asarray(s, dtype=np.float64)
        return np.column_stack(self.point(s, np.full_like(s, d)))
