"""The trajectory engine: vehicle fixes in, :class:`WarningEvent` s out.

Same lifecycle as the video engine (:mod:`models.warning.engine`): per rule and vehicle, a debounce
timer (the same :class:`~zhizhi.models.debounce.Debounce`) turns "meets the condition at this fix"
into "has met it for ``min_duration_s``, with lapses of at most ``max_gap_s``"; then it fires a
warning, re-sends it (same ``key``, growing ``last_ts``) at most every ``update_every_s`` while it
lasts, and sends it once more with ``active=False`` when a fix shows the condition over.
``signal_loss`` has no fix to judge by: :meth:`TrajectoryEngine.tick` raises it, the vehicle's next
fix ends it. A silence the ticks never saw — a gap of more than ``after_s`` between two fixes that
arrive together (a gateway's buffered upload) — is sent at once as a warning and its end (same
key, ``active`` then not), so it opens exactly one alert. Neither ever measures silence from a fix
older than the rule's ``horizon_s``.

Every event has ``source="telemetry"``, no camera and no track; its details name the vehicle
(and, when registered, plate, company, UN number and hazard class) plus the rule's facts.
Vehicles without a registration get only the rules that need none (not ``prohibited_hours``
nor ``route_deviation``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from zhizhi.layers.hazmat import HazmatVehicle
from zhizhi.models.debounce import Debounce
from zhizhi.models.trajectory import conditions as cond
from zhizhi.models.trajectory.batch import Batch, Last, Profile, make_batch, profiles
from zhizhi.models.trajectory.config import SignalLossRule, TrajectoryModelConfig, load_model
from zhizhi.models.trajectory.places import TrajectoryPlaces
from zhizhi.models.warning.record import Severity, WarningEvent
from zhizhi.telemetry.record import Fix

Lookup = Callable[[str], HazmatVehicle | None]


@dataclass(kw_only=True)
class _Timer(Debounce):
    """The debounce of one (rule, vehicle), with where it was and its live warning."""

    since: float | None = None
    lon: float = 0.0
    lat: float = 0.0
    event: WarningEvent | None = None
    sent_ts: float = 0.0


def _no_registry(_vehicle_id: str) -> HazmatVehicle | None:
    return None


class TrajectoryEngine:
    """Runs one trajectory model over the fixes of any number of vehicles."""

    def __init__(
        self,
        config: TrajectoryModelConfig | None = None,
        places: TrajectoryPlaces | None = None,
        vehicles: Lookup | None = None,
    ) -> None:
        self.config = config or load_model()
        self.places = places or TrajectoryPlaces()
        self.vehicles = vehicles or _no_registry
        self.rules = [r for r in self.config.rules if r.enabled]
        self._last: dict[str, Last] = {}
        self._timers: dict[str, dict[str, _Timer]] = {r.id: {} for r in self.rules}
        self._stops: dict[str, dict[str, cond.StopRun]] = {r.id: {} for r in self.rules}
        self._driving: dict[str, dict[str, cond.Driving]] = {r.id: {} for r in self.rules}
        self._profiles: dict[str, Profile] = {}

    # --- public ----------------------------------------------------------------------------
    def feed(self, fixes: Sequence[Fix]) -> list[WarningEvent]:
        """A batch of fixes (time order per vehicle); the warnings fired, updated or ended."""
        if not fixes:
            return []
        b = make_batch(
            fixes, self.places, self._last, self._profiles_of, self.config.derive_speed_max_gap_s
        )
        out: list[WarningEvent] = []
        for rule in self.rules:
            if isinstance(rule, SignalLossRule):
                out.extend(self._signal_back(rule, b))
                continue
            hits = self._condition(rule, b)
            out.extend(self._run(rule, b, hits))
        self._remember(b)
        out.sort(key=lambda e: e.last_ts)
        return out

    def tick(self, now_ts: float) -> list[WarningEvent]:
        """Raise (or update) ``signal_loss`` for vehicles silent longer than the rule allows."""
        out: list[WarningEvent] = []
        for rule in self.rules:
            if not isinstance(rule, SignalLossRule):
                continue
            timers = self._timers[rule.id]
            for vid, last in self._last.items():
                silent = now_ts - last.ts
                timer = timers.get(vid)
                if silent <= rule.after_s or silent > rule.horizon_s:
                    continue  # beyond the horizon: history, not a vehicle gone quiet
                if timer is None:
                    timer = timers[vid] = _Timer(start=last.ts, last_true=now_ts, lon=last.lon, lat=last.lat)
                timer.last_true = now_ts
                timer.details = {"silent_s": round(silent, 1), "last_report_ts": last.ts}
                out.extend(self._send(rule, vid, timer, now_ts, last.x, last.y))
        return out

    def flush(self) -> list[WarningEvent]:
        """End every live warning (the end of a replay); forget stops, driving and timers."""
        out = [
            self._ended(t) for timers in self._timers.values() for t in timers.values() if t.event
        ]
        for store in (*self._timers.values(), *self._stops.values(), *self._driving.values()):
            store.clear()
        return out

    def live(self) -> list[WarningEvent]:
        """The warnings live now."""
        return [
            t.event
            for timers in self._timers.values()
            for t in timers.values()
            if t.event is not None
        ]

    # --- conditions ------------------------------------------------------------------------
    def _profiles_of(self, vehicle_ids: list[str]) -> list[Profile]:
        """Profiles from the registry as it is now; changed registrations are re-made together."""
        found = [self.vehicles(v) for v in vehicle_ids]
        stale = []
        for vid, vehicle in zip(vehicle_ids, found):
            cached = self._profiles.get(vid)
            if cached is None or not (cached.vehicle is vehicle or cached.vehicle == vehicle):
                stale.append((vid, vehicle))
        if stale:
            made = profiles([v for _, v in stale], [vid for vid, _ in stale], self.places)
            self._profiles.update({vid: p for (vid, _), p in zip(stale, made)})
        return [self._profiles[v] for v in vehicle_ids]

    def _condition(self, rule, b: Batch) -> cond.Hits:
        kind = rule.kind
        if kind == "zone_entry":
            return cond.zone_entry(rule, b, self.places)
        if kind == "speeding":
            return cond.speeding(rule, b, self.places)
        if kind == "prohibited_hours":
            return cond.prohibited_hours(rule, b, self.config.utc_offset_hours)
        if kind == "route_deviation":
            return cond.route_deviation(rule, b)
        if kind == "abnormal_stop":
            return cond.abnormal_stop(rule, b, self.places, self._stops[rule.id])
        if kind == "fatigue":
            return cond.fatigue(rule, b, self._driving[rule.id])
        raise ValueError(f"no condition for rule kind {kind!r}")  # pragma: no cover

    # --- timers ----------------------------------------------------------------------------
    def _run(self, rule, b: Batch, hits: cond.Hits) -> list[WarningEvent]:
        timers = self._timers[rule.id]
        # every fix of a vehicle that meets the condition somewhere in the batch, or had a timer
        watched = set(np.unique(b.code[hits.hit]).tolist())
        if timers:
            watched.update(i for i, v in enumerate(b.vehicles) if v in timers)
        candidates = np.isin(b.code, list(watched)) if watched else hits.hit
        out: list[WarningEvent] = []
        for i in np.flatnonzero(candidates):
            vid, ts = b.vid[i], float(b.ts[i])
            timer = timers.get(vid)
            if not hits.hit[i]:
                if timer is not None and timer.lapsed(ts, rule.max_gap_s):
                    del timers[vid]
                    if timer.event is not None:
                        out.append(self._ended(timer))
                continue
            since = float(hits.since[i]) if hits.since is not None else None
            if timer is None or (since is not None and since != timer.since):
                if timer is not None and timer.event is not None:
                    out.append(self._ended(timer))
                timer = timers[vid] = _Timer(start=since if since is not None else ts, last_true=ts, since=since)
            timer.hit(ts, hits.facts(i))
            timer.lon, timer.lat = (
                hits.where(i) if hits.where else (float(b.lon[i]), float(b.lat[i]))
            )
            if timer.due(ts, rule.min_duration_s):
                out.extend(self._send(rule, vid, timer, ts, b.x[i], b.y[i]))
        return out

    def _send(
        self, rule, vid: str, timer: _Timer, ts: float, x: float, y: float
    ) -> list[WarningEvent]:
        details = {
            **self._profile_details(vid),
            **timer.details,
            "duration_s": round(timer.held(ts), 1),
        }
        due = timer.event is None or ts - timer.sent_ts >= self.config.update_every_s
        if not due:
            timer.event = timer.event.model_copy(update={"last_ts": ts, "details": details})
            return []
        severity = self._severity(rule, x, y)
        if timer.event is None:
            timer.event = WarningEvent(
                rule=rule.kind,
                rule_id=rule.id,
                model=self.config.label,
                severity=severity,
                source="telemetry",
                camera_id=None,
                track_id=None,
                lon=round(timer.lon, 7),
                lat=round(timer.lat, 7),
                first_ts=timer.start,
                last_ts=ts,
                details=details,
            )
        else:
            if severity.rank > timer.event.severity.rank:
                severity = timer.event.severity  # never downgrade a live warning
            timer.event = timer.event.model_copy(
                update={
                    "last_ts": ts,
                    "severity": severity,
                    "lon": round(timer.lon, 7),
                    "lat": round(timer.lat, 7),
                    "details": details,
                }
            )
        timer.sent_ts = ts
        return [timer.event]

    def _ended(self, timer: _Timer) -> WarningEvent:
        event = timer.event
        timer.event = None
        return event.model_copy(
            update={"active": False, "last_ts": max(event.last_ts, timer.last_true)}
        )

    def _severity(self, rule, x: float, y: float) -> Severity:
        for upgrade in rule.upgrades:
            if self.places.zone_of(upgrade.zone_types, [x], [y], upgrade.within_m)[0] >= 0:
                return upgrade.severity
        return rule.severity

    def _profile_details(self, vid: str) -> dict:
        cached = self._profiles.get(vid)
        return dict(cached.details) if cached is not None else self._profiles_of([vid])[0].details

    # --- signal loss ---------------------------------------------------------------------
    def _signal_back(self, rule: SignalLossRule, b: Batch) -> list[WarningEvent]:
        """End the live signal losses of the vehicles reporting again; raise (and end) each gap
        of more than ``after_s`` between two fixes that no tick raised."""
        timers = self._timers[rule.id]
        out: list[WarningEvent] = []
        raised: set[int] = set()
        if timers:
            for i in np.unique(b.code, return_index=True)[1].tolist():
                timer = timers.pop(b.vid[i], None)
                if timer is not None and timer.event is not None:
                    timer.last_true = float(b.ts[i])
                    timer.event = timer.event.model_copy(
                        update={"details": {**timer.event.details, "back_ts": float(b.ts[i])}}
                    )
                    out.append(self._ended(timer))
                    raised.add(i)  # this silence was raised live by the ticks
        with np.errstate(invalid="ignore"):
            gap = b.ts - b.prev_ts
            found = (gap > rule.after_s) & (gap <= rule.horizon_s)
        for i in np.flatnonzero(found).tolist():
            if i not in raised:
                out.extend(self._gap(rule, b, i))
        return out

    def _gap(self, rule: SignalLossRule, b: Batch, i: int) -> list[WarningEvent]:
        """The silence before fix ``i``, already over: its warning and, right after, its end."""
        start, back, vid = float(b.prev_ts[i]), float(b.ts[i]), b.vid[i]
        j = int(b.prev[i])
        if j >= 0:
            lon, lat, x, y = float(b.lon[j]), float(b.lat[j]), float(b.x[j]), float(b.y[j])
        else:
            last = self._last[vid]
            lon, lat, x, y = last.lon, last.lat, last.x, last.y
        timer = _Timer(start=start, last_true=back, lon=lon, lat=lat)
        timer.details = {"silent_s": round(back - start, 1), "last_report_ts": start, "back_ts": back,
                         "found_in_upload": True}
        sent = self._send(rule, vid, timer, back, x, y)
        return [*sent, self._ended(timer)]

    def _remember(self, b: Batch) -> None:
        last_of = np.unique(b.code[::-1], return_index=True)[1]
        n = len(b)
        for code, j in zip(np.unique(b.code[::-1]), last_of):
            i = n - 1 - j
            self._last[b.vehicles[code]] = Last(
                float(b.ts[i]), float(b.lon[i]), float(b.lat[i]), float(b.x[i]), float(b.y[i])
            )


__all__ = ["Lookup", "TrajectoryEngine"]
