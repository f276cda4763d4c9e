"""What each rule checks in one frame, for all of the frame's objects at once.

A condition takes a :class:`FrameView` (the frame's located rows of its
:class:`~zhizhi.bus.messages.frames.ObservationBatch`, with their positions in the metric frame
of :class:`~models.warning.places.Places`), computes a boolean mask over them with array
operations, and yields the subjects that meet the rule *now*: ``(track_id, index, details)``, or for area rules
``(zone name, None, details)`` with the area's position in ``details["_xy"]``. A rule whose
condition must hold without a break while its subject is in view (``SpeedingRule.sustained``)
also yields ``(track_id, index, None)`` for a subject seen and measured that does not meet it
now: that breaks a run that has not fired yet, where a frame without the subject (a missed
detection) is only a gap. Timing (how long, gaps, ending) is the engine's job, the same for
every rule.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.models.warning.config import (
    AbnormalStopRule,
    CrowdRule,
    Hours,
    ProhibitedHoursRule,
    SpeedingRule,
    WrongWayRule,
    ZoneEntryRule,
    ZoneRef,
)
from zhizhi.models.warning.places import Places

Hit = tuple[int | str, int | None, dict | None]
Condition = Callable[["FrameView"], Iterator[Hit]]


@dataclass(frozen=True)
class FrameView:
    """One camera's located objects in one analysed frame (``objects``: the batch's located
    rows) and their positions ``x``, ``y`` in metres (row-aligned), at the frame's local minute."""

    objects: ObservationBatch
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    local_minute: int

    def __len__(self) -> int:
        return len(self.objects)


def inline_zone_name(rule_id: str, attr: str) -> str:
    """The name under which a rule's inline polygon (its ``zones``, ``allowed``, ``nearN``) is a zone."""
    return f"{rule_id}:{attr}"


def zone_indices(places: Places, ref: ZoneRef, rule_id: str, attr: str) -> NDArray[np.int64]:
    """Indices of the zones a rule's reference names, its inline polygon included."""
    names = [*ref.names, *([inline_zone_name(rule_id, attr)] if ref.polygon else [])]
    return places.select(ref.kinds, names)


def _in_hours(hours: Hours | None, minute: int) -> bool:
    return hours is None or hours.contains(minute)


def _watched(rule, view: FrameView) -> NDArray[np.bool_]:
    objects = view.objects
    return np.isin(objects.cls, rule.classes) & (objects.conf >= rule.min_conf)


def _hits(view: FrameView, mask: NDArray[np.bool_], details: Callable[[int], dict | None]) -> Iterator[Hit]:
    track_ids = view.objects.track_id
    for i in np.flatnonzero(mask).tolist():
        yield int(track_ids[i]), i, details(i)


def abnormal_stop(rule: AbnormalStopRule, places: Places) -> Condition:
    allowed = zone_indices(places, rule.allowed, rule.id, "allowed")

    def check(view: FrameView) -> Iterator[Hit]:
        speed = view.objects.speed_kmh
        mask = _watched(rule, view) & (speed <= rule.max_speed_kmh)  # NaN (no speed yet) fails
        if mask.any() and len(allowed):
            mask &= ~places.inside(allowed, view.x, view.y)
        return _hits(view, mask, lambda i: {"max_speed_kmh": float(speed[i])})

    return check


def in_zone(rule: ZoneEntryRule | ProhibitedHoursRule, places: Places) -> Condition:
    zones = None if rule.zones.empty else zone_indices(places, rule.zones, rule.id, "zones")

    def check(view: FrameView) -> Iterator[Hit]:
        if not _in_hours(rule.hours, view.local_minute):
            return iter(())
        mask = _watched(rule, view)
        if zones is None:
            return _hits(view, mask, lambda i: {})
        which = places.zone_of(zones, view.x, view.y) if mask.any() else np.full(len(view), -1)
        mask &= which >= 0
        return _hits(view, mask, lambda i: {"zone": places.zones[which[i]].name})

    return check


def speeding(rule: SpeedingRule, places: Places) -> Condition:
    def check(view: FrameView) -> Iterator[Hit]:
        speed = view.objects.speed_kmh
        mask = _watched(rule, view) & np.isfinite(speed)
        if not mask.any():
            return iter(())
        limit = places.speed_limit(view.x, view.y)
        if rule.default_limit_kmh is not None:
            limit = np.where(np.isfinite(limit), limit, rule.default_limit_kmh)
        caps = np.full(len(view), np.nan)
        for cls, cap in rule.class_limits_kmh.items():
            caps[view.objects.cls == cls] = cap
        limit = np.fmin(limit, caps)  # fmin: a NaN on one side takes the other
        measured = mask & np.isfinite(limit)
        over = measured & (speed > limit * (1.0 + rule.tolerance))
        hits = _hits(view, over, lambda i: {"max_speed_kmh": float(speed[i]), "limit_kmh": float(limit[i])})
        if not rule.sustained:
            return hits
        return itertools.chain(hits, _hits(view, measured & ~over, lambda i: None))

    return check


def wrong_way(rule: WrongWayRule, places: Places) -> Condition:
    def check(view: FrameView) -> Iterator[Hit]:
        heading = view.objects.heading_deg
        mask = _watched(rule, view) & np.isfinite(heading) & (view.objects.speed_kmh >= rule.min_speed_kmh)
        if not mask.any():
            return iter(())
        lanes = np.where(mask, places.lane_of(view.x, view.y, core=rule.lane_core), -1)
        allowed = places.lane_heading(lanes, view.x, view.y)
        diff = np.abs((heading - allowed + 180.0) % 360.0 - 180.0)
        against = (lanes >= 0) & (diff >= rule.min_angle_deg)
        return _hits(view, against, lambda i: {"lane": places.lanes[lanes[i]].id,
                                               "heading_deg": float(heading[i]),
                                               "lane_heading_deg": float(allowed[i])})

    return check


def crowd(rule: CrowdRule, places: Places) -> Condition:
    zones = None if rule.zones.empty else zone_indices(places, rule.zones, rule.id, "zones")

    def check(view: FrameView) -> Iterator[Hit]:
        people = view.objects.cls == "person"
        if people.sum() < rule.min_count:
            return
        if zones is None:
            groups = {f"view:{view.objects.camera_id}": np.flatnonzero(people)}
        else:
            which = places.zone_of(zones, view.x, view.y)
            groups = {places.zones[z].name: np.flatnonzero(people & (which == z)) for z in np.unique(which[which >= 0])}
        for area, members in groups.items():
            if len(members) >= rule.min_count:
                xy = (float(view.x[members].mean()), float(view.y[members].mean()))
                yield area, None, {"_xy": xy, "count": len(members), "max_count": len(members)}

    return check


_BUILDERS = {
    "abnormal_stop": abnormal_stop,
    "zone_entry": in_zone,
    "prohibited_hours": in_zone,
    "speeding": speeding,
    "wrong_way": wrong_way,
    "crowd": crowd,
}


def condition_for(rule, places: Places) -> Condition:
    """The frame condition of a rule instance."""
    return _BUILDERS[rule.kind](rule, places)
