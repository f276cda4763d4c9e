"""The warning engine: observation batches in, :class:`WarningEvent` s out.

Feed it one analysed frame at a time per camera (``process_frame``, the pipeline's
:class:`~zhizhi.bus.messages.frames.ObservationBatch`), including frames with no objects, so
that conditions can end. For each enabled rule it computes, for the whole frame at once, which
objects meet the rule's condition now (:mod:`models.warning.conditions`, masks over the batch's
arrays); a debounce timer (:class:`~zhizhi.models.debounce.Debounce`) per (rule, camera,
track) — or per zone, for crowds — turns "meets it now" into "has met it for
``min_duration_s``, with gaps of at most ``max_gap_s``". Then it fires a warning, updates it
while the condition lasts and ends it ``end_after_s`` after the last hit.

A row's class is its track's, voted over the track's life by the pipeline
(:mod:`video.track_class`), so a tanker that the detector calls a truck in one frame stays a
tanker; the engine takes it as it is. When a second camera fires the same rule
within ``merge_within_m`` of a live warning of another camera, it joins that warning
(one alert for one place, however many cameras see it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.models.debounce import Debounce
from zhizhi.models.warning.conditions import (
    FrameView,
    condition_for,
    inline_zone_name,
    zone_indices,
)
from zhizhi.models.warning.config import CrowdRule, WarningModelConfig
from zhizhi.models.warning.hours import local_minute
from zhizhi.models.warning.places import Places, Zone
from zhizhi.models.warning.record import Severity, WarningEvent

#: Live warnings are re-sent at most this often (seconds of stream time) unless they change.
UPDATE_EVERY_S = 5.0


@dataclass
class _Fired:
    """A live warning and the timers (cameras/tracks) that feed it."""

    event: WarningEvent
    members: set[tuple] = field(default_factory=set)
    x: float = 0.0
    y: float = 0.0
    sent_ts: float = 0.0


@dataclass(kw_only=True)
class _Timer(Debounce):
    """The debounce of one (rule, camera, subject), with where and what it saw."""

    camera_id: str
    subject: int | str
    n: int = 0
    sum_x: float = 0.0
    sum_y: float = 0.0
    x: float = 0.0
    y: float = 0.0
    cls: str | None = None
    fired: _Fired | None = None

    def seen(self, ts: float, x: float, y: float, cls: str | None, details: dict) -> None:
        self.hit(ts, details)
        self.n += 1
        self.sum_x += x
        self.sum_y += y
        self.x, self.y, self.cls = x, y, cls


class WarningEngine:
    """Runs one warning model over the frames of any number of cameras."""

    def __init__(self, model: WarningModelConfig, places: Places | None = None) -> None:
        self.model = model
        places = places or Places()
        inline = [
            Zone(
                inline_zone_name(rule.id, attr),
                f"inline:{inline_zone_name(rule.id, attr)}",
                shapely.Polygon(ref.polygon),
            )
            for rule in model.rules
            for attr, ref in _zone_refs(rule)
            if ref.polygon
        ]
        self.places = places.extended(inline) if inline else places
        self.conditions = [(rule, condition_for(rule, self.places)) for rule in model.rules if rule.enabled]
        self._timers: dict[tuple, _Timer] = {}
        self._fired: list[_Fired] = []

    # --- public ----------------------------------------------------------------------------
    def process_frame(self, batch: ObservationBatch) -> list[WarningEvent]:
        """One analysed frame of one camera; returns the warnings it fired, updated or ended."""
        camera_id, ts = batch.camera_id, batch.ts
        view = self._view(batch)
        out: list[WarningEvent] = []
        for rule, condition in self.conditions:
            for subject, i, details in condition(view):
                key = (rule.id, camera_id, subject)
                timer = self._timers.get(key)
                if details is None:  # seen, and not meeting it: a run not yet fired starts again
                    if timer is not None and timer.fired is None:
                        del self._timers[key]
                    continue
                if timer is None or timer.lapsed(ts, rule.max_gap_s):
                    if timer is not None and timer.fired is not None:
                        out.extend(self._end(key, timer))
                    timer = self._timers[key] = _Timer(start=ts, last_true=ts, camera_id=camera_id, subject=subject)
                x, y = (view.x[i], view.y[i]) if i is not None else details.pop("_xy")
                timer.seen(ts, float(x), float(y), str(view.objects.cls[i]) if i is not None else None, details)
                if timer.due(ts, rule.min_duration_s):
                    out.extend(self._fire_or_update(rule, key, timer, ts))
        out.extend(self._expire(camera_id, ts))
        return out

    def flush(self, camera_id: str | None = None) -> list[WarningEvent]:
        """End every live warning (the end of a clip or backtest), or one camera's (it went offline)."""
        out: list[WarningEvent] = []
        for key, timer in list(self._timers.items()):
            if camera_id is not None and timer.camera_id != camera_id:
                continue
            if timer.fired is not None:
                out.extend(self._end(key, timer))
            self._timers.pop(key, None)
        return out

    # --- frame view -----------------------------------------------------------------------
    def _view(self, batch: ObservationBatch) -> FrameView:
        """The frame's located rows with their positions in the places' metric frame."""
        located = batch[batch.located] if len(batch) else batch
        x, y = self.places.to_metric(located.lon, located.lat)
        return FrameView(
            objects=located,
            x=np.atleast_1d(np.asarray(x, dtype=float)),
            y=np.atleast_1d(np.asarray(y, dtype=float)),
            local_minute=local_minute(batch.ts, self.model.utc_offset_hours),
        )

    # --- firing ----------------------------------------------------------------------------
    def _fire_or_update(self, rule, key: tuple, timer: _Timer, ts: float) -> list[WarningEvent]:
        mean_pos = rule.kind in ("abnormal_stop", "crowd")
        x, y = (timer.sum_x / timer.n, timer.sum_y / timer.n) if mean_pos else (timer.x, timer.y)
        severity = self._severity(rule, timer, x, y)
        if timer.fired is None:
            joined = self._joinable(rule, key, x, y, ts)
            if joined is not None:
                timer.fired = joined
                joined.members.add(key)
                cameras = sorted({*joined.event.cameras, timer.camera_id})
                return self._send(joined, ts, severity, {"cameras": cameras, "last_ts": ts}, force=True)
            lon, lat = self.places.to_lonlat(x, y)
            event = WarningEvent(
                rule=rule.kind,
                rule_id=rule.id,
                model=self.model.label,
                severity=severity,
                camera_id=timer.camera_id,
                cameras=[timer.camera_id],
                track_id=timer.subject if isinstance(timer.subject, int) else None,
                cls=timer.cls,
                lon=float(np.round(lon, 7)),
                lat=float(np.round(lat, 7)),
                first_ts=timer.start,
                last_ts=ts,
                details=_clean({**timer.details, "duration_s": timer.held(ts)}),
            )
            if not isinstance(timer.subject, int):
                event.details["area"] = timer.subject
            timer.fired = _Fired(event, {key}, x, y, ts)
            self._fired.append(timer.fired)
            return [event]
        fired = timer.fired
        changes: dict = {"last_ts": max(fired.event.last_ts, ts)}
        if fired.event.camera_id == timer.camera_id and fired.event.track_id == timer.subject and mean_pos:
            lon, lat = self.places.to_lonlat(x, y)
            changes.update(lon=float(np.round(lon, 7)), lat=float(np.round(lat, 7)))
            fired.x, fired.y = x, y
        changes["details"] = _clean(
            {**fired.event.details, **timer.details, "duration_s": ts - fired.event.first_ts}
        )
        return self._send(fired, ts, severity, changes)

    def _send(
        self, fired: _Fired, ts: float, severity: Severity, changes: dict, force: bool = False
    ) -> list[WarningEvent]:
        upgraded = severity.rank < fired.event.severity.rank
        if upgraded:
            changes["severity"] = severity
        fired.event = fired.event.model_copy(update=changes)
        if force or upgraded or ts - fired.sent_ts >= UPDATE_EVERY_S:
            fired.sent_ts = ts
            return [fired.event]
        return []

    def _severity(self, rule, timer: _Timer, x: float, y: float) -> Severity:
        for n, upgrade in enumerate(rule.upgrades):
            selected = zone_indices(self.places, upgrade.near, rule.id, f"near{n}")
            if self.places.inside(selected, [x], [y], upgrade.within_m)[0]:
                return upgrade.severity
        if (
            isinstance(rule, CrowdRule)
            and rule.upgrade_count
            and timer.details.get("max_count", 0) >= rule.upgrade_count
        ):
            ranks = list(Severity)
            return ranks[max(rule.severity.rank - 1, 0)]
        return rule.severity

    def _joinable(self, rule, key: tuple, x: float, y: float, ts: float) -> _Fired | None:
        if self.model.merge_within_m <= 0:
            return None
        for fired in self._fired:
            if fired.event.rule_id != rule.id or key[1] in fired.event.cameras:
                continue
            if ts - fired.event.last_ts > rule.end_after_s:
                continue
            if np.hypot(fired.x - x, fired.y - y) <= self.model.merge_within_m:
                return fired
        return None

    # --- ending ----------------------------------------------------------------------------
    def _expire(self, camera_id: str, ts: float) -> list[WarningEvent]:
        out: list[WarningEvent] = []
        rules = {rule.id: rule for rule, _ in self.conditions}
        for key, timer in list(self._timers.items()):
            if timer.camera_id != camera_id:
                continue
            rule = rules[key[0]]
            if timer.fired is None and timer.lapsed(ts, rule.max_gap_s):
                del self._timers[key]
            elif timer.fired is not None and timer.lapsed(ts, max(rule.end_after_s, rule.max_gap_s)):
                out.extend(self._end(key, timer))
        return out

    def _end(self, key: tuple, timer: _Timer) -> list[WarningEvent]:
        self._timers.pop(key, None)
        fired = timer.fired
        timer.fired = None
        if fired is None:
            return []
        fired.members.discard(key)
        if fired.members:
            return []
        self._fired.remove(fired)
        fired.event = fired.event.model_copy(update={"active": False})
        return [fired.event]


def _zone_refs(rule) -> list[tuple[str, object]]:
    refs = []
    for attr in ("zones", "allowed"):
        ref = getattr(rule, attr, None)
        if ref is not None:
            refs.append((attr, ref))
    refs.extend((f"near{n}", u.near) for n, u in enumerate(rule.upgrades))
    return refs


def _clean(details: dict) -> dict:
    out = {}
    for k, v in details.items():
        if k.startswith("_"):
            continue
        if isinstance(v, float):
            v = round(v, 3)
        out[k] = v
    return out
