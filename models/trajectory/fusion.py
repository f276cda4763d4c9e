"""Tie what a camera sees to a registered vehicle: a short history of fixes per vehicle.

:class:`TrackFusion` keeps the last few minutes of fixes of each vehicle; :meth:`match` answers
"which vehicle was here at that time" (its position interpolated between the fixes around that
moment), and :meth:`enrich` adds the registration to a video warning about a tanker.

>>> f = TrackFusion()
>>> f.observe([Fix(vehicle_id="V1", ts=100.0, lon=121.0, lat=32.0),
...            Fix(vehicle_id="V1", ts=105.0, lon=121.001, lat=32.0)])
>>> f.match(121.0005, 32.0, 102.5), f.match(121.0005, 32.0, 130.0)
('V1', None)
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from zhizhi.gis.metric import geodesic_distance_m
from zhizhi.layers.hazmat import HazmatVehicle
from zhizhi.models.trajectory.batch import REGISTRY_FIELDS
from zhizhi.models.warning.record import WarningEvent
from zhizhi.telemetry.record import Fix

FUSED_CLASSES = ("hazmat_tanker",)


class TrackFusion:
    """Recent fixes per vehicle (at most ``max_points`` and ``horizon_s`` old), matched by place and time."""

    def __init__(
        self,
        max_distance_m: float = 40.0,
        max_dt_s: float = 5.0,
        *,
        horizon_s: float = 600.0,
        max_points: int = 240,
    ) -> None:
        self.max_distance_m = max_distance_m
        self.max_dt_s = max_dt_s
        self.horizon_s = horizon_s
        self.max_points = max_points
        self._history: dict[str, deque[tuple[float, float, float]]] = {}

    def observe(self, fixes: Sequence[Fix]) -> None:
        """Remember fixes (time order per vehicle; an older one than the last is ignored)."""
        for f in fixes:
            h = self._history.get(f.vehicle_id)
            if h is None:
                h = self._history[f.vehicle_id] = deque(maxlen=self.max_points)
            elif f.ts <= h[-1][0]:
                continue
            h.append((f.ts, f.lon, f.lat))
            while h[0][0] < f.ts - self.horizon_s:
                h.popleft()

    def position(self, vehicle_id: str, ts: float) -> tuple[float, float] | None:
        """Where the vehicle was at ``ts``: interpolated between its fixes around it, or its
        nearest fix within ``max_dt_s``; None when its history does not cover ``ts``."""
        h = self._history.get(vehicle_id)
        if not h:
            return None
        times = [p[0] for p in h]
        k = bisect.bisect_left(times, ts)
        before = h[k - 1] if k > 0 else None
        after = h[k] if k < len(h) else None
        if before is not None and after is not None:
            if after[0] == ts:
                return after[1], after[2]
            if min(ts - before[0], after[0] - ts) > self.max_dt_s:
                return None
            w = (ts - before[0]) / (after[0] - before[0])
            return before[1] + w * (after[1] - before[1]), before[2] + w * (after[2] - before[2])
        near = before or after
        if near is None or abs(near[0] - ts) > self.max_dt_s:
            return None
        return near[1], near[2]

    def match(
        self, lon: float, lat: float, ts: float, among: Callable[[str], bool] | None = None
    ) -> str | None:
        """The vehicle nearest to (lon, lat) at ``ts``, within ``max_distance_m``; None if none.

        ``among`` restricts the candidates (e.g. to registered vehicles).
        """
        ids, lons, lats = [], [], []
        for vid in self._history:
            if among is not None and not among(vid):
                continue
            pos = self.position(vid, ts)
            if pos is not None:
                ids.append(vid)
                lons.append(pos[0])
                lats.append(pos[1])
        if not ids:
            return None
        dist = geodesic_distance_m(np.full(len(ids), lon), np.full(len(ids), lat), lons, lats)
        best = int(np.argmin(dist))
        return ids[best] if dist[best] <= self.max_distance_m else None

    def enrich(
        self, warning: WarningEvent, lookup: Callable[[str], HazmatVehicle | None]
    ) -> WarningEvent:
        """A video warning about a tanker, with the registration of the vehicle it matches.

        Returns a copy with ``vehicle_id``, ``plate``, ``company``, ``un_number``,
        ``hazard_class`` and ``fused: true`` in details; any other warning (or no match) is
        returned as it is. The key is unchanged (a video warning is keyed by its track).
        """
        if warning.source != "video" or warning.cls not in FUSED_CLASSES:
            return warning
        registered = lambda vid: lookup(vid) is not None
        vid = None
        for ts in dict.fromkeys((warning.last_ts, warning.first_ts)):
            vid = self.match(warning.lon, warning.lat, ts, among=registered)
            if vid is not None:
                break
        vehicle = lookup(vid) if vid is not None else None
        if vehicle is None:
            return warning
        facts = {k: getattr(vehicle, k) for k in REGISTRY_FIELDS}
        return warning.model_copy(update={"details": {**warning.details, **facts, "fused": True}})

    def forget(self, vehicle_id: str) -> None:
        """Drop a vehicle's history."""
        self._history.pop(vehicle_id, None)


__all__ = ["FUSED_CLASSES", "TrackFusion"]
