"""A batch of fixes as arrays: positions in metres, speeds, the previous fix and the registration.

Rules read a :class:`Batch` rather than fixes one by one. A report without a speed gets one from
the previous fix of its vehicle (in the batch, or the last one before it) when that is recent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray

from zhizhi.layers.hazmat import HazmatVehicle
from zhizhi.models.trajectory.places import TrajectoryPlaces
from zhizhi.telemetry.record import Fix

Float = NDArray[np.float64]
Int = NDArray[np.int64]
Bool = NDArray[np.bool_]
REGISTRY_FIELDS = ("vehicle_id", "plate", "company", "un_number", "hazard_class")


@dataclass
class Last:
    """The last accepted fix of a vehicle."""

    ts: float
    lon: float
    lat: float
    x: float
    y: float


@dataclass
class Profile:
    """A vehicle's registration as rules use it: facts for details, route in metres, hours."""

    vehicle: HazmatVehicle | None
    details: dict
    route_m: shapely.Geometry | None = None
    corridor_m: float = np.nan
    window: tuple[int, int] = (0, 1440)


@dataclass
class Batch:
    """Fixes in arrays, in their given order (time order per vehicle)."""

    vid: list[str]
    code: Int  # index into ``vehicles``
    vehicles: list[str]
    ts: Float
    lon: Float
    lat: Float
    x: Float
    y: Float
    speed: Float  # km/h, reported or derived; NaN when unknown
    prev_ts: Float  # NaN for a vehicle's first fix ever
    prev: Int = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # previous fix in batch, -1: stored
    profiles: list[Profile] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts)

    def registered(self) -> Bool:
        """Per fix: whether its vehicle is registered."""
        reg = np.array([p.vehicle is not None for p in self.profiles], dtype=bool)
        return reg[self.code] if len(self.code) else np.zeros(0, bool)


def make_batch(
    fixes: Sequence[Fix],
    places: TrajectoryPlaces,
    last: dict[str, Last],
    profiles_of: Callable[[list[str]], list[Profile]],
    derive_max_gap_s: float,
) -> Batch:
    """Arrays of ``fixes``; a fix not newer than its vehicle's previous one is dropped."""
    while True:
        batch = _arrays(fixes, places, last, derive_max_gap_s)
        stale = ~(batch.ts > batch.prev_ts) & np.isfinite(batch.prev_ts)
        if not stale.any():
            break
        fixes = [f for f, s in zip(fixes, stale) if not s]
    batch.profiles = profiles_of(batch.vehicles)
    return batch


def _arrays(
    fixes: Sequence[Fix], places: TrajectoryPlaces, last: dict[str, Last], derive_max_gap_s: float
) -> Batch:
    n = len(fixes)
    vid = [f.vehicle_id for f in fixes]
    index: dict[str, int] = {}
    code = np.fromiter((index.setdefault(v, len(index)) for v in vid), dtype=np.int64, count=n)
    vehicles = list(index)
    ts = np.fromiter((f.ts for f in fixes), dtype=float, count=n)
    lon = np.fromiter((f.lon for f in fixes), dtype=float, count=n)
    lat = np.fromiter((f.lat for f in fixes), dtype=float, count=n)
    speed = np.fromiter(
        (np.nan if f.speed_kmh is None else f.speed_kmh for f in fixes), dtype=float, count=n
    )
    x, y = places.to_metric(lon, lat) if n else (np.zeros(0), np.zeros(0))
    x, y = np.atleast_1d(x), np.atleast_1d(y)
    # the previous fix of each fix's vehicle: the one before it in the batch, else the stored last
    order = np.argsort(code, kind="stable")
    prev = np.full(n, -1, dtype=np.int64)
    if n > 1:
        same = code[order[1:]] == code[order[:-1]]
        prev[order[1:][same]] = order[:-1][same]
    prev_ts, prev_x, prev_y = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    inner = prev >= 0
    prev_ts[inner], prev_x[inner], prev_y[inner] = ts[prev[inner]], x[prev[inner]], y[prev[inner]]
    for i in np.flatnonzero(~inner):
        stored = last.get(vid[i])
        if stored is not None:
            prev_ts[i], prev_x[i], prev_y[i] = stored.ts, stored.x, stored.y
    missing = np.isnan(speed)
    if missing.any():
        dt = ts - prev_ts
        ok = missing & (dt > 0) & (dt <= derive_max_gap_s)
        with np.errstate(invalid="ignore", divide="ignore"):
            derived = np.hypot(x - prev_x, y - prev_y) / dt * 3.6
        speed = np.where(ok, derived, speed)
    return Batch(vid, code, vehicles, ts, lon, lat, x, y, speed, prev_ts, prev)


def profiles(
    vehicles: Sequence[HazmatVehicle | None], vehicle_ids: Sequence[str], places: TrajectoryPlaces
) -> list[Profile]:
    """Vehicles' profiles in the places' metric frame (None: not registered); one transform for all."""
    out: list[Profile] = []
    lines = [v.line for v in vehicles if v is not None]
    routes = iter(places.frame.geometry_to_metric(np.asarray(lines, dtype=object)) if lines else [])
    for vehicle, vid in zip(vehicles, vehicle_ids):
        if vehicle is None:
            out.append(
                Profile(None, {k: (vid if k == "vehicle_id" else None) for k in REGISTRY_FIELDS})
            )
            continue
        details = {k: getattr(vehicle, k) for k in REGISTRY_FIELDS}
        out.append(
            Profile(vehicle, details, next(routes), float(vehicle.corridor_m), vehicle.window)
        )
    return out


__all__ = ["REGISTRY_FIELDS", "Batch", "Last", "Profile", "make_batch", "profiles"]
