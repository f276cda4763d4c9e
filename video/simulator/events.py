"""Ground-truth events of a simulation (``events.jsonl``): what happened, from the script.

Each event is derived from the scenario's scripted motion and facts, never from a warning
rule's thresholds, so that a backtest can score any rule configuration against it:

- ``abnormal_stop`` (hazmat-stop): the tanker stands on the shoulder, from the moment it stops
  to the moment it drives off (or the clip ends); placed where it stands;
- ``zone_entry`` (hazmat-prohibited-zone): the tanker is inside the prohibited zone, from its
  entry to its exit (or the clip ends); placed where it enters;
- ``wrong_way`` / ``speeding``: the scripted car drives against its lane / faster than the
  road's posted limit (no tolerance), for as long as it is in the picture; placed where it
  comes into view;
- ``crowd``: people gather on the square, from when the gathering begins (the first of them
  sets off or stands there) to the end of the clip; placed at the gathering's centre, no track.

Times are seconds of the clip (``ts`` of ``truth.jsonl``); positions WGS-84. The ``normal``
scenario has no events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field, model_validator

if TYPE_CHECKING:
    from zhizhi.video.simulator.build import Simulation
    from zhizhi.video.simulator.scene import Actor

#: The rule kinds an event can be (the warning models' rule kinds).
EVENT_KINDS = ("abnormal_stop", "zone_entry", "prohibited_hours", "speeding", "wrong_way", "crowd")


class TruthEvent(BaseModel):
    """One ground-truth event: a rule kind that should fire, for a track (or a place), in a time span."""

    rule: str = Field(description="Rule kind: abnormal_stop, zone_entry, speeding, wrong_way, crowd ...")
    track_id: int | None = Field(None, ge=0, description="The object's track id, when known.")
    cls: str | None = Field(None, description="The object's class, when it is one object.")
    start_ts: float = Field(description="When the event begins (seconds of the clip).")
    end_ts: float = Field(description="When it ends (or the clip ends).")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)

    @model_validator(mode="after")
    def _ordered(self) -> TruthEvent:
        if self.rule not in EVENT_KINDS:
            raise ValueError(f"unknown rule kind {self.rule!r}; known: {', '.join(EVENT_KINDS)}")
        if self.end_ts < self.start_ts:
            raise ValueError(f"end_ts {self.end_ts} is before start_ts {self.start_ts}")
        return self


def truth_events(sim: Simulation) -> list[TruthEvent]:
    """The ground-truth events of a built simulation, in time order."""
    builder = _BUILDERS.get(sim.scenario)
    events = builder(sim) if builder is not None else []
    return sorted(events, key=lambda e: (e.start_ts, e.rule))


def _duration(sim: Simulation) -> float:
    return sim.frames / sim.fps


def _actor(sim: Simulation, track_id: int) -> Actor:
    return next(a for a in sim.plan.actors if a.track_id == track_id)


def _lonlat(sim: Simulation, x: float, y: float) -> tuple[float, float]:
    lon, lat = sim.site.frame.to_lonlat(x, y)
    return round(float(lon), 7), round(float(lat), 7)


def _in_view_span(sim: Simulation, actor: Actor) -> tuple[float, float, float, float] | None:
    """First contiguous span of frames in which the actor's ground centre is in the picture:
    ``(start_ts, end_ts, x, y)`` with its position at the start; None if it is never seen."""
    from zhizhi.video.simulator.build import MAX_RANGE_M

    times = sim.times()
    k = actor.states(times)
    cam = sim.site.camera
    u, v, z = cam.project(np.column_stack([k.x, k.y, np.zeros_like(k.x)]))
    seen = (z > 1.0) & (u >= 0) & (u <= cam.width - 1) & (v >= 0) & (v <= cam.height - 1)
    seen &= np.hypot(k.x, k.y) <= MAX_RANGE_M
    idx = np.flatnonzero(seen)
    if not len(idx):
        return None
    first = int(idx[0])
    breaks = np.flatnonzero(np.diff(idx) > 1)
    last = int(idx[breaks[0]]) if len(breaks) else int(idx[-1])
    return float(times[first]), float(times[last]), float(k.x[first]), float(k.y[first])


def _hazmat_stop(sim: Simulation) -> list[TruthEvent]:
    f = sim.plan.facts
    start, end = float(f["stop_start_ts"]), min(float(f["stop_end_ts"]), _duration(sim))
    if start >= _duration(sim):
        return []
    lon, lat = f["stop_lonlat"]
    return [TruthEvent(rule="abnormal_stop", track_id=f["tanker_track_id"], cls="hazmat_tanker",
                       start_ts=start, end_ts=end, lon=lon, lat=lat)]


def _prohibited_zone(sim: Simulation) -> list[TruthEvent]:
    f = sim.plan.facts
    start, end = float(f["enter_ts"]), min(float(f["exit_ts"]), _duration(sim))
    if start >= _duration(sim):
        return []
    k = _actor(sim, f["tanker_track_id"]).states(np.array([start]))
    lon, lat = _lonlat(sim, float(k.x[0]), float(k.y[0]))
    return [TruthEvent(rule="zone_entry", track_id=f["tanker_track_id"], cls="hazmat_tanker",
                       start_ts=start, end_ts=end, lon=lon, lat=lat)]


def _moving(rule: str, fact: str):
    def build(sim: Simulation) -> list[TruthEvent]:
        f = sim.plan.facts
        if rule == "speeding" and f["speed_kmh"] <= f["speed_limit_kmh"]:
            return []
        actor = _actor(sim, f[fact])
        span = _in_view_span(sim, actor)
        if span is None:
            return []
        start, end, x, y = span
        lon, lat = _lonlat(sim, x, y)
        return [TruthEvent(rule=rule, track_id=actor.track_id, cls=actor.cls, start_ts=start, end_ts=end,
                           lon=lon, lat=lat)]

    return build


def _crowd(sim: Simulation) -> list[TruthEvent]:
    f = sim.plan.facts
    members = [a for a in sim.plan.actors if a.track_id in set(f["crowd_track_ids"])]
    if not members:
        return []
    start = min(float(a.traj.start_t) for a in members)  # type: ignore[attr-defined]
    if start >= _duration(sim):
        return []
    lon, lat = f["centre_lonlat"]
    return [TruthEvent(rule="crowd", track_id=None, cls="person", start_ts=round(start, 3),
                       end_ts=_duration(sim), lon=lon, lat=lat)]


_BUILDERS = {
    "hazmat-stop": _hazmat_stop,
    "hazmat-prohibited-zone": _prohibited_zone,
    "wrong-way": _moving("wrong_way", "wrong_way_track_id"),
    "speeding": _moving("speeding", "speeding_track_id"),
    "crowd": _crowd,
}

