"""The telemetry gate: the one place where reports become fixes, for HTTP and MQTT alike.

A batch of raw reports (decoded JSON) goes in; accepted :class:`~telemetry.record.Fix` (WGS-84,
epoch seconds, time order) and an :class:`IngestReport` (how many were refused, why, and
which) come out. Checks, in order: the :class:`~telemetry.record.VehicleReport` contract
(``invalid``), a clock too far ahead (``future``), a report older than the horizon
(``too_old``: ``max_age_s``, 24 h), an unknown vehicle (``unknown_vehicle``), then per
vehicle, in ``ts`` order, against its last *accepted* fix: time going backwards (``stale``), a
repeat (``duplicate``), a back-dated report (``late``), an impossible speed (``jump``).

A batch is sorted per vehicle before the sequence checks (devices upload buffered points out of
order), but only within ``max_reorder_s`` (120 s): a report more than that older than a report
of its vehicle sent *before it in the same batch* is ``late``, so where a late report lands
does not depend on how the gateway cut its batches (across batches it is ``stale``). A late
report never moves the current position nor becomes a fake earlier one. A refused report never
changes what the gate remembers of a vehicle.

The common case is vectorised: the batch is validated in one pydantic call, GCJ-02 points are
converted in one :func:`gis.crs.convert` call, and the sequence checks run on numpy arrays;
only a vehicle with a refused report is walked point by point.

>>> gate = TelemetryGate(clock=lambda: 1_800_000_000.0)
>>> result = gate.check([
...     {"vehicle_id": "苏F-1", "ts": 1_799_999_990, "lon": 120.86, "lat": 32.01},
...     {"vehicle_id": "苏F-1", "ts": 1_799_999_980, "lon": 120.86, "lat": 32.01},
...     {"vehicle_id": "苏F-1", "ts": 1_799_999_990, "lon": 120.86, "lat": 32.01},
...     {"vehicle_id": "苏F-1", "ts": 1_799_999_995, "lon": 121.86, "lat": 32.01},
...     {"vehicle_id": "苏F-2", "ts": "soon", "lon": 120.86, "lat": 32.01},
... ])
>>> [f.ts for f in result.fixes]
[1799999980.0, 1799999990.0]
>>> result.report.accepted, result.report.rejected
(2, {'invalid': 1, 'duplicate': 1, 'jump': 1})
>>> gate.check([{"vehicle_id": "苏F-1", "ts": 1_799_999_985, "lon": 120.86, "lat": 32.01}]
...            ).report.errors[0].reason
<Reason.STALE: 'stale'>
>>> gate.check([{"vehicle_id": "苏F-3", "ts": 1_799_999_990, "lon": 120.86, "lat": 32.01},
...             {"vehicle_id": "苏F-3", "ts": 1_799_999_490, "lon": 120.87, "lat": 32.01},
...             {"vehicle_id": "苏F-4", "ts": 1_793_000_000, "lon": 120.86, "lat": 32.01}]).report.rejected
{'too_old': 1, 'late': 1}
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from zhizhi.gis.crs import convert
from zhizhi.telemetry.errors import Reason, TelemetryError
from zhizhi.telemetry.record import DroneState, Fix, VehicleReport

#: At most this many :class:`Rejection` are listed in one report (the counts are complete).
MAX_ERRORS = 100
#: Accepted ``ts`` remembered per device, so a re-sent older report reads ``duplicate``.
RECENT_TS = 64
#: Default horizon: a report older than this (by the gate's clock) is history, refused ``too_old``.
MAX_AGE_S = 86_400.0
#: Default reordering tolerated inside one batch before a report counts as ``late``.
MAX_REORDER_S = 120.0
#: Mean Earth radius (m) for the implied speed.
EARTH_RADIUS_M = 6_371_008.8

_REPORTS = TypeAdapter(list[VehicleReport])


class Rejection(BaseModel):
    """One refused report: its position in the batch, its vehicle (when readable), why."""

    index: int = Field(ge=0, description="Position of the report in its batch.")
    vehicle_id: str | None = Field(None, description="Vehicle (or drone) id, when readable.")
    reason: Reason
    detail: str = Field(description="Short human-readable explanation.")


class IngestReport(BaseModel):
    """The outcome of one batch: counts, and the first :data:`MAX_ERRORS` refusals."""

    received: int = Field(ge=0)
    accepted: int = Field(ge=0)
    rejected: dict[str, int] = Field(default_factory=dict, description="Refused reports by reason.")
    errors: list[Rejection] = Field(default_factory=list, description="First refusals, by index.")


class GateResult(BaseModel):
    """Accepted fixes (WGS-84, time order) and the report of one batch."""

    fixes: list[Fix]
    report: IngestReport


@dataclass(slots=True)
class _Track:
    """What the gate remembers of a device: its last accepted fix and recent accepted times."""

    ts: float
    lon: float = 0.0
    lat: float = 0.0
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_TS))

    def accept(self, ts: float, lon: float, lat: float) -> None:
        self.ts, self.lon, self.lat = ts, lon, lat
        self.recent.append(ts)

    def regression(self, ts: float) -> Reason | None:
        """``duplicate`` or ``stale`` for a ``ts`` not after the last accepted one."""
        if ts == self.ts or (ts < self.ts and ts in self.recent):
            return Reason.DUPLICATE
        return Reason.STALE if ts < self.ts else None


def haversine_m(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> Any:
    """Great-circle distance in metres (arrays or scalars, degrees).

    >>> round(float(haversine_m(120.0, 32.0, 120.0, 33.0)))
    111195
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _item_vehicle(item: object) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("vehicle_id"), str):
        return item["vehicle_id"].strip() or None
    return None


def _error_detail(errors: list[dict[str, Any]], item: object) -> str:
    """pydantic's first message for one item, with the field it is about."""
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"][1:])
    if not where and not isinstance(item, dict):
        text = f"not an object (got {type(item).__name__})"
    else:
        text = f"{where}: {first['msg']}" if where else first["msg"]
    if len(errors) > 1:
        text += f" (+{len(errors) - 1} more)"
    return _short(text)


class TelemetryGate:
    """Checks report batches and vehicle tracks; thread-safe (one lock).

    ``known_vehicle(vehicle_id)`` (optional) says whether a vehicle is registered;
    ``max_future_s`` is how far ahead of ``clock()`` a ``ts`` may be; ``max_age_s`` how far
    behind it (None: no horizon); ``max_reorder_s`` how much older than a report sent before it
    in the same batch a vehicle's report may be; ``max_speed_kmh`` is the fastest believable
    move between two fixes of one vehicle.
    """

    def __init__(
        self,
        known_vehicle: Callable[[str], bool] | None = None,
        *,
        max_future_s: float = 300,
        max_age_s: float | None = MAX_AGE_S,
        max_reorder_s: float = MAX_REORDER_S,
        max_speed_kmh: float = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_future_s < 0 or max_speed_kmh <= 0 or max_reorder_s < 0:
            raise ValueError("max_future_s and max_reorder_s must be >= 0 and max_speed_kmh > 0")
        if max_age_s is not None and max_age_s <= 0:
            raise ValueError(f"max_age_s must be > 0 (or None for no horizon), not {max_age_s}")
        self.known_vehicle = known_vehicle
        self.max_future_s = float(max_future_s)
        self.max_age_s = float(max_age_s) if max_age_s is not None else None
        self.max_reorder_s = float(max_reorder_s)
        self.max_speed_kmh = float(max_speed_kmh)
        self._clock = clock
        self._lock = threading.Lock()
        self._vehicles: dict[str, _Track] = {}
        self._drones: dict[str, _Track] = {}
        self._counts: dict[str, int] = dict.fromkeys(self._count_keys(), 0)

    @staticmethod
    def _count_keys() -> list[str]:
        vehicle = ["received", "accepted", *(r.value for r in Reason if r is not Reason.NO_POSITION)]
        drone = ["received", "accepted", Reason.FUTURE, Reason.TOO_OLD, Reason.STALE, Reason.DUPLICATE]
        return vehicle + [f"drone_{k}" for k in drone]

    # --- vehicles -------------------------------------------------------------------------

    def check(self, items: Sequence[object], *, vehicle_id: str | None = None) -> GateResult:
        """Check a batch of raw reports; return the accepted fixes and the batch's report.

        ``vehicle_id`` is the id the transport names (an MQTT topic level, a URL): it fills
        reports without one, and a report naming another vehicle is ``invalid``.
        """
        items = list(items)
        refused: dict[int, Rejection] = {}
        indexes, reports = self._validate(items, vehicle_id, refused)
        indexes, reports = self._screen(indexes, reports, refused)
        vehicles = [r.vehicle_id for r in reports]
        ts = np.fromiter((r.ts for r in reports), dtype=np.float64, count=len(reports))
        lon, lat = self._wgs84(reports)
        with self._lock:
            accepted = self._sequence(vehicles, ts, lon, lat, indexes, refused)
            self._count(len(items), len(accepted), refused)
        accepted = np.asarray(accepted, dtype=np.int64)
        accepted = accepted[np.lexsort((accepted, ts[accepted]))].tolist()  # time, then batch order
        fixes = [  # validated above, once: built as they are
            Fix(vehicles[k], ts_k, lon_k, lat_k, reports[k].speed_kmh, reports[k].heading)
            for k, ts_k, lon_k, lat_k in zip(
                accepted, ts[accepted].tolist(), lon[accepted].tolist(), lat[accepted].tolist()
            )
        ]
        return GateResult(fixes=fixes, report=self._report(len(items), len(accepted), refused))

    def _validate(
        self, items: list[object], vehicle_id: str | None, refused: dict[int, Rejection]
    ) -> tuple[list[int], list[VehicleReport]]:
        """The contract: all items in one call; on failure, drop the bad ones and redo."""
        if vehicle_id is not None:
            items = [self._with_vehicle(i, item, vehicle_id, refused) for i, item in enumerate(items)]
        indexes = [i for i in range(len(items)) if i not in refused]
        try:
            return indexes, _REPORTS.validate_python([items[i] for i in indexes])
        except ValidationError as exc:
            by_item: dict[int, list[dict[str, Any]]] = {}
            for err in exc.errors(include_url=False):
                by_item.setdefault(indexes[err["loc"][0]], []).append(err)
        for i, errors in by_item.items():
            refused[i] = Rejection(index=i, vehicle_id=_item_vehicle(items[i]),
                                   reason=Reason.INVALID, detail=_error_detail(errors, items[i]))
        indexes = [i for i in indexes if i not in by_item]
        return indexes, _REPORTS.validate_python([items[i] for i in indexes])

    @staticmethod
    def _with_vehicle(index: int, item: object, vehicle_id: str, refused: dict[int, Rejection]) -> object:
        """Fill a report's missing ``vehicle_id`` from the transport; refuse a mismatch."""
        if not isinstance(item, dict):
            return item
        named = item.get("vehicle_id")
        if named is None:
            return {**item, "vehicle_id": vehicle_id}
        if not isinstance(named, str) or named.strip() != vehicle_id:
            refused[index] = Rejection(
                index=index, vehicle_id=_item_vehicle(item), reason=Reason.INVALID,
                detail=_short(f"vehicle_id {named!r} differs from {vehicle_id!r} of the topic/path"))
        return item

    def _screen(
        self, indexes: list[int], reports: list[VehicleReport], refused: dict[int, Rejection]
    ) -> tuple[list[int], list[VehicleReport]]:
        """Checks of each report alone: a clock too far ahead or too far behind, an unknown vehicle."""
        now = self._clock()
        latest = now + self.max_future_s
        earliest = now - self.max_age_s if self.max_age_s is not None else -np.inf
        known: dict[str, bool] = {}
        keep_i: list[int] = []
        keep_r: list[VehicleReport] = []
        for i, r in zip(indexes, reports, strict=True):
            if r.ts > latest:
                refused[i] = Rejection(index=i, vehicle_id=r.vehicle_id, reason=Reason.FUTURE,
                                       detail=f"ts {r.ts:.0f} is {r.ts - now:.0f} s ahead")
                continue
            if r.ts < earliest:
                refused[i] = Rejection(index=i, vehicle_id=r.vehicle_id, reason=Reason.TOO_OLD,
                                       detail=f"ts {r.ts:.0f} is {now - r.ts:.0f} s old; the horizon is "
                                              f"{self.max_age_s:.0f} s")
                continue
            if self.known_vehicle is not None:
                if r.vehicle_id not in known:
                    known[r.vehicle_id] = bool(self.known_vehicle(r.vehicle_id))
                if not known[r.vehicle_id]:
                    refused[i] = Rejection(index=i, vehicle_id=r.vehicle_id,
                                           reason=Reason.UNKNOWN_VEHICLE, detail="vehicle not registered")
                    continue
            keep_i.append(i)
            keep_r.append(r)
        return keep_i, keep_r

    @staticmethod
    def _wgs84(reports: list[VehicleReport]) -> tuple[np.ndarray, np.ndarray]:
        """WGS-84 positions of the reports; all GCJ-02 ones converted in one call."""
        n = len(reports)
        lon = np.fromiter((r.lon for r in reports), dtype=np.float64, count=n)
        lat = np.fromiter((r.lat for r in reports), dtype=np.float64, count=n)
        gcj = np.fromiter((r.crs == "gcj02" for r in reports), dtype=bool, count=n)
        if gcj.any():
            lon[gcj], lat[gcj] = convert(lon[gcj], lat[gcj], "gcj02", "wgs84")
        return lon, lat

    def _late(self, codes: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per report: whether it is ``late``, and the newest ``ts`` of its vehicle sent before it.

        Vectorised: per vehicle in batch order, a running maximum; each vehicle's times are
        lifted above the previous vehicle's so one ``maximum.accumulate`` serves them all.
        """
        n = len(ts)
        newest = np.full(n, -np.inf)
        if n < 2:
            return np.zeros(n, dtype=bool), newest
        order = np.argsort(codes, kind="stable")  # per vehicle, in batch order
        c, t = codes[order], ts[order]
        low, width = t.min(), t.max() - t.min() + 1.0
        lifted = (t - low) + c * width
        before = np.r_[-np.inf, np.maximum.accumulate(lifted)[:-1]]
        before[np.r_[True, c[1:] != c[:-1]]] = -np.inf  # a vehicle's first report has none before it
        newest[order] = before - c * width + low
        return ts < newest - self.max_reorder_s, newest

    def _sequence(
        self, vehicles: list[str], ts: np.ndarray, lon: np.ndarray, lat: np.ndarray,
        indexes: list[int], refused: dict[int, Rejection],
    ) -> list[int]:
        """Per vehicle, in ts order: stale, duplicate, late, jump against the last accepted fix.

        Vectorised for vehicles whose reports all pass; a vehicle with any suspect report is
        walked point by point (so each report is judged against the last *accepted* one).
        Returns the positions (into the arrays) of the accepted reports. Holds the lock.
        """
        n = len(vehicles)
        if n == 0:
            return []
        codes_of: dict[str, int] = {}
        codes = np.fromiter((codes_of.setdefault(v, len(codes_of)) for v in vehicles), np.int64, n)
        late, newest = self._late(codes, ts)
        order = np.lexsort((ts, codes))
        s_code, s_ts, s_lon, s_lat = codes[order], ts[order], lon[order], lat[order]
        starts = np.flatnonzero(np.r_[True, s_code[1:] != s_code[:-1]])
        ends = np.r_[starts[1:], n]
        names = list(codes_of)
        tracks = [self._vehicles.get(names[c]) for c in s_code[starts]]
        p_ts, p_lon, p_lat = np.r_[np.nan, s_ts[:-1]], np.r_[np.nan, s_lon[:-1]], np.r_[np.nan, s_lat[:-1]]
        for g, track in zip(starts, tracks, strict=True):
            p_ts[g], p_lon[g], p_lat[g] = (track.ts, track.lon, track.lat) if track else (np.nan,) * 3
        with np.errstate(invalid="ignore", divide="ignore"):
            kmh = haversine_m(p_lon, p_lat, s_lon, s_lat) / (s_ts - p_ts) * 3.6
        suspect = (s_ts <= p_ts) | (kmh > self.max_speed_kmh) | late[order]
        flagged = np.zeros(n, dtype=bool)
        flagged[starts] = np.add.reduceat(suspect, starts) > 0
        accepted: list[int] = []
        for g, (start, end, track) in enumerate(zip(starts, ends, tracks, strict=True)):
            name = names[s_code[start]]
            if track is None:
                track = self._vehicles[name] = _Track(ts=-np.inf)
                tracks[g] = track
            rows = order[start:end]
            if not flagged[start]:
                accepted.extend(rows.tolist())
                track.recent.extend(s_ts[start:end].tolist())
                track.ts, track.lon, track.lat = float(s_ts[end - 1]), float(s_lon[end - 1]), float(s_lat[end - 1])
            else:
                accepted.extend(self._walk(name, track, rows, ts, lon, lat, newest, indexes, refused))
        return accepted

    def _walk(
        self, name: str, track: _Track, rows: np.ndarray, ts: np.ndarray, lon: np.ndarray,
        lat: np.ndarray, newest: np.ndarray, indexes: list[int], refused: dict[int, Rejection],
    ) -> list[int]:
        """One vehicle's reports (ts order), each against the last accepted fix."""
        fresh = track.ts == -np.inf
        accepted: list[int] = []
        for k in rows.tolist():
            t, x, y = float(ts[k]), float(lon[k]), float(lat[k])
            reason = None if fresh else track.regression(t)
            detail = ""
            if reason is not None:
                detail = f"ts {t:.3f} not after last accepted {track.ts:.3f}"
            elif t < newest[k] - self.max_reorder_s:
                reason = Reason.LATE
                detail = (f"ts {t:.3f} is {newest[k] - t:.0f} s before a report sent earlier in the batch "
                          f"(at most {self.max_reorder_s:.0f} s out of order)")
            elif not fresh:
                kmh = float(haversine_m(track.lon, track.lat, x, y)) / (t - track.ts) * 3.6
                if kmh > self.max_speed_kmh:
                    reason, detail = Reason.JUMP, f"implied {kmh:.0f} km/h since last fix"
            if reason is None:
                track.accept(t, x, y)
                fresh = False
                accepted.append(k)
            else:
                refused[indexes[k]] = Rejection(index=indexes[k], vehicle_id=name, reason=reason, detail=detail)
        return accepted

    def _count(self, received: int, accepted: int, refused: dict[int, Rejection]) -> None:
        self._counts["received"] += received
        self._counts["accepted"] += accepted
        for rejection in refused.values():
            self._counts[rejection.reason.value] += 1

    @staticmethod
    def _report(received: int, accepted: int, refused: dict[int, Rejection]) -> IngestReport:
        tally = {reason: 0 for reason in Reason}
        for rejection in refused.values():
            tally[rejection.reason] += 1
        by_reason = {reason.value: n for reason, n in tally.items() if n}
        errors = [refused[i] for i in sorted(refused)[:MAX_ERRORS]]
        return IngestReport(received=received, accepted=accepted, rejected=by_reason, errors=errors)

    # --- drones ---------------------------------------------------------------------------

    def accept_drone(self, state: DroneState) -> Rejection | None:
        """Remember a drone's pose unless it is from the future, too old, stale or a repeat."""
        with self._lock:
            self._counts["drone_received"] += 1
            track = self._drones.get(state.drone_id)
            reason, detail = None, ""
            now = self._clock()
            if state.ts > now + self.max_future_s:
                reason, detail = Reason.FUTURE, f"ts {state.ts:.0f} too far ahead"
            elif self.max_age_s is not None and state.ts < now - self.max_age_s:
                reason, detail = Reason.TOO_OLD, f"ts {state.ts:.0f} is {now - state.ts:.0f} s old"
            elif track is not None and (reason := track.regression(state.ts)) is not None:
                detail = f"ts {state.ts:.3f} not after last accepted {track.ts:.3f}"
            if reason is not None:
                self._counts[f"drone_{reason.value}"] += 1
                return Rejection(index=0, vehicle_id=state.drone_id, reason=reason, detail=detail)
            if track is None:
                track = self._drones[state.drone_id] = _Track(ts=state.ts)
            track.accept(state.ts, state.lon, state.lat)
            self._counts["drone_accepted"] += 1
            return None

    # --- bookkeeping ----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Cumulative counters: received, accepted, each reason; the same prefixed ``drone_``."""
        with self._lock:
            return dict(self._counts)

    def forget(self, vehicle_id: str) -> None:
        """Drop what the gate remembers of a vehicle (its next report starts a new track)."""
        with self._lock:
            self._vehicles.pop(vehicle_id, None)

    def forget_drone(self, drone_id: str) -> None:
        """Drop what the gate remembers of a drone."""
        with self._lock:
            self._drones.pop(drone_id, None)


__all__ = [
    "MAX_AGE_S",
    "MAX_ERRORS",
    "MAX_REORDER_S",
    "GateResult",
    "IngestReport",
    "Reason",
    "Rejection",
    "TelemetryError",
    "TelemetryGate",
    "haversine_m",
]
