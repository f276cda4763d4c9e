"""The incident service: open, read, annotate, refresh and close incidents; link alerts inside them.

Every stored change publishes one :class:`~zhizhi.bus.messages.IncidentEvent` on the bus topic
:data:`~zhizhi.bus.Topic.INCIDENTS` (see the package docstring for its shape).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import shapely

from zhizhi.alerts.incidents.errors import (
    DuplicateLink,
    IncidentConflict,
    IncidentNotFound,
    InvalidIncident,
    NotOwner,
    StaleIncident,
)
from zhizhi.alerts.incidents.labels import alert_line, impact_line
from zhizhi.alerts.incidents.record import (
    Incident,
    IncidentSpec,
    IncidentStatus,
    ScopeLike,
    TimelineEntry,
    TimelineKind,
    code_of,
    impact_counts,
    json_safe,
)
from zhizhi.alerts.incidents.store import IncidentStore
from zhizhi.alerts.record import SYSTEM_ACTOR
from zhizhi.bus import Bus, Topic
from zhizhi.bus.messages.alerts import AlertEvent
from zhizhi.bus.messages.incidents import IncidentEvent, TimelineEntryWire
from zhizhi.gis.codes import is_within, validate_code
from zhizhi.layers.ids import new_alert_id
from zhizhi.layers.scope import Scope

log = logging.getLogger(__name__)

_ATTEMPTS = 3


#: ``compute(spec, owner) -> (geometry, impact, codes)``: the hazard area (cut to the owner
#: unit's jurisdiction) as GeoJSON, the impact report as a plain dict, the touched
#: towns/villages/grids.
Compute = Callable[[IncidentSpec, str], tuple[dict[str, Any], dict[str, Any], list[str]]]

#: Keys of an entry's data that count the whole incident's impact (hidden from partial readers).
_COUNT_KEYS = frozenset({"population", "towns", "villages", "grids", "cameras", "facilities", "drones",
                         "vehicles", "shelters", "before", "after"})


def _text(value: str | None, what: str, limit: int = 2000) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidIncident(f"{what} must not be empty")
    if len(text) > limit:
        raise InvalidIncident(f"{what} is longer than {limit} characters")
    return text



def _without_counts(entry: TimelineEntry) -> TimelineEntry:
    """An entry as a reader who sees part of the incident reads it: no counts of the whole."""
    if entry.kind == TimelineKind.IMPACT_UPDATED:
        return entry.model_copy(update={"text": "影响范围重新计算", "data": {}})
    if _COUNT_KEYS & entry.data.keys():
        return entry.model_copy(update={"data": {k: v for k, v in entry.data.items() if k not in _COUNT_KEYS}})
    return entry


def _check_geometry(geometry: dict[str, Any]) -> shapely.Geometry:
    try:
        geom = shapely.geometry.shape(geometry)
    except Exception as exc:  # noqa: BLE001 - any unreadable GeoJSON
        raise InvalidIncident(f"the computed hazard area is not GeoJSON: {exc}") from None
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon") or not geom.is_valid:
        raise InvalidIncident(f"the computed hazard area is not a valid polygon ({geom.geom_type})")
    return geom


class IncidentService:
    """Opening, reading, annotating and closing incidents; links alerts that arise inside them.

    ``compute(spec)`` builds the hazard area and its impact (the console passes one based on
    :mod:`gis.impact`); ``bus`` receives the messages of every change on
    :data:`~zhizhi.bus.Topic.INCIDENTS`;
    ``clock`` gives "now" in epoch seconds.
    """

    def __init__(
        self,
        store: IncidentStore,
        *,
        compute: Compute,
        bus: Bus | None = None,
        clock: Callable[[], float] = time.time,
        scope_of: Callable[[str], Scope] | None = None,
    ) -> None:
        self.store = store
        self.compute = compute
        self.bus = bus
        self.clock = clock
        #: a jurisdiction code -> its Scope (with its area), so that a reader given by code is
        #: cut by its area too; without it a bare code sees its units and no features
        self.scope_of = scope_of
        self._lock = threading.RLock()
        self._areas: dict[str, tuple[int, shapely.Geometry]] = {}  # id -> (version, prepared)

    # --- open and read --------------------------------------------------------------------

    def _computed(self, spec: IncidentSpec, owner: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        geometry, impact, codes = self.compute(spec, owner)
        _check_geometry(geometry)
        try:
            clean = sorted({validate_code(c) for c in codes})
        except ValueError as exc:
            raise InvalidIncident(f"compute gave a bad jurisdiction code: {exc}") from None
        return json_safe(geometry), json_safe(dict(impact)), clean

    def open(self, spec: IncidentSpec, actor: str, unit: str) -> Incident:
        """Open an incident for ``spec`` on behalf of ``actor`` of jurisdiction ``unit``."""
        try:
            owner = validate_code(unit)
        except ValueError as exc:
            raise InvalidIncident(str(exc)) from None
        actor = _text(actor, "actor", 100)
        geometry, impact, codes = self._computed(spec, owner)
        now = self.clock()
        incident = Incident(
            id=new_alert_id(), type=spec.type, title=spec.title, area=spec.area, geometry=geometry,
            owner_unit=owner, codes=codes, impact=impact, created_ts=now, created_by=actor,
            updated_ts=now,
        )
        counts = impact_counts(impact)
        text = f"{spec.type.zh}事件启动（{actor}）：{spec.title}"
        if spec.note:
            text += f"。{spec.note}"
        opened = TimelineEntry(
            incident_id=incident.id, ts=now, kind=TimelineKind.OPENED, actor=actor, text=text,
            data={"area": spec.area.model_dump(mode="json"), "note": spec.note, **counts},
        )
        self.store.create(incident, [opened])
        self._publish(incident.to_event("opened"))
        return incident

    def _stored(self, incident_id: str, scope_code: ScopeLike) -> Incident:
        """The whole stored incident, or :class:`IncidentNotFound` (also when ``scope_code``
        may not see it)."""
        incident = self.store.get(incident_id, scope_code)
        if incident is None:
            raise IncidentNotFound(f"no incident {incident_id!r}")
        return incident

    def reader(self, scope_code: ScopeLike) -> ScopeLike:
        """The reader's scope with its area (:attr:`scope_of`) when given by its code alone."""
        if isinstance(scope_code, str) and scope_code and self.scope_of is not None:
            return self.scope_of(scope_code)
        return scope_code

    def get(self, incident_id: str, scope_code: ScopeLike) -> Incident:
        """The reader's part of the incident (:meth:`Incident.seen_from`), or
        :class:`IncidentNotFound` (also when ``scope_code`` may not see it)."""
        return self._stored(incident_id, scope_code).seen_from(self.reader(scope_code))

    def list(self, scope_code: ScopeLike, status: IncidentStatus | str | None = None) -> list[Incident]:
        """Incidents ``scope_code`` sees (its part of each), newest first; optionally only
        ``active`` or ``closed``."""
        reader = self.reader(scope_code)
        return [i.seen_from(reader) for i in self.store.list(scope_code, status)]

    def timeline(self, incident_id: str, scope_code: ScopeLike) -> list[TimelineEntry]:
        """The timeline ``scope_code`` may see, oldest first (:class:`IncidentNotFound` as for
        :meth:`get`): no entry about an alert it may not see; for a reader who sees only part of
        the incident, no counts of the whole impact."""
        incident = self._stored(incident_id, scope_code)
        entries = self.store.timeline(incident_id, scope_code)
        if incident.is_whole_for(self.reader(scope_code)):
            return entries
        return [_without_counts(e) for e in entries]

    # --- changes --------------------------------------------------------------------------

    def add_note(self, incident_id: str, actor: str, text: str, *, scope_code: ScopeLike = "") -> TimelineEntry:
        """Append a note (also after closing: the after-action review goes on the same record)."""
        incident = self._stored(incident_id, scope_code)
        entry = TimelineEntry(
            incident_id=incident.id, ts=self.clock(), kind=TimelineKind.NOTE,
            actor=_text(actor, "actor", 100), text=_text(text, "note"),
        )
        self.store.add_entries([entry])
        self._publish_entry(incident, entry)
        return entry

    def close(self, incident_id: str, actor: str, note: str = "", *, scope_code: ScopeLike = "") -> Incident:
        """Close an active incident (owner or a unit above it only)."""
        actor = _text(actor, "actor", 100)

        def change(incident: Incident, now: float) -> TimelineEntry:
            incident.status = IncidentStatus.CLOSED
            incident.closed_ts = now
            text = f"事件关闭（{actor}）" + (f"：{note.strip()}" if note and note.strip() else "")
            return TimelineEntry(
                incident_id=incident.id, ts=now, kind=TimelineKind.CLOSED, actor=actor, text=text,
                data={"duration_s": now - incident.created_ts},
            )

        return self._change(incident_id, scope_code, "close", change, "closed")

    def refresh(self, incident_id: str, *, actor: str = SYSTEM_ACTOR, scope_code: ScopeLike = "") -> Incident:
        """Recompute the area's impact (new cameras, moved vehicles, updated population)."""

        def change(incident: Incident, now: float) -> TimelineEntry:
            spec = IncidentSpec(type=incident.type, title=incident.title, area=incident.area)
            before = impact_counts(incident.impact)
            incident.geometry, incident.impact, incident.codes = self._computed(spec, incident.owner_unit)
            after = impact_counts(incident.impact)
            data = {"before": before, "after": after}
            return TimelineEntry(
                incident_id=incident.id, ts=now, kind=TimelineKind.IMPACT_UPDATED, actor=actor,
                text=impact_line(data), data=data,
            )

        return self._change(incident_id, scope_code, "refresh", change, "updated")

    def _change(
        self, incident_id: str, scope_code: ScopeLike, what: str,
        change: Callable[[Incident, float], TimelineEntry], event: str,
    ) -> Incident:
        """Read, check owner and state, change, store with its entry, publish; retried on races."""
        with self._lock:
            for _ in range(_ATTEMPTS):
                incident = self._stored(incident_id, scope_code)
                code = code_of(scope_code)
                if code and not is_within(incident.owner_unit, code):
                    raise NotOwner(f"only {incident.owner_unit} or a unit above it may {what} {incident_id}")
                if not incident.is_active:
                    raise IncidentConflict(f"incident {incident_id} is closed")
                working = incident.model_copy(deep=True)
                now = self.clock()
                entry = change(working, now)
                working.updated_ts = now
                try:
                    stored = self.store.update(working, [entry])
                except StaleIncident:
                    continue
                self._areas.pop(incident_id, None)
                self._publish(stored.to_event(event))
                return stored.seen_from(self.reader(scope_code))
            raise IncidentConflict(f"incident {incident_id} kept changing; try again")

    # --- alerts -----------------------------------------------------------------------------

    def _active_areas(self) -> dict[str, shapely.Geometry]:
        """Prepared geometries of the active incidents, re-read only when their version moved."""
        versions = self.store.active_versions()
        for gone in set(self._areas) - set(versions):
            del self._areas[gone]
        for incident_id, version in versions.items():
            cached = self._areas.get(incident_id)
            if cached is not None and cached[0] == version:
                continue
            incident = self.store.get(incident_id)
            if incident is None:
                continue
            geom = shapely.geometry.shape(incident.geometry)
            shapely.prepare(geom)
            self._areas[incident_id] = (incident.version, geom)
        return {k: g for k, (_, g) in self._areas.items()}

    def on_alert(self, message: AlertEvent) -> list[TimelineEntry]:
        """Bus handler of the alerts topic: link alerts that lie inside active incidents.

        An alert first seen inside an incident's area gets a ``kind="alert"`` entry; later, a
        change of its status a ``kind="action"`` entry ("acknowledged by 320612101"). Repeated
        messages without a status change (the engine's ``updated`` events) add nothing.
        Returns the entries written (for tests and logs).
        """
        alert_id, lon, lat = message.id, message.lon, message.lat
        written: list[TimelineEntry] = []
        with self._lock:
            for incident_id, geom in self._active_areas().items():
                if not shapely.intersects_xy(geom, lon, lat):
                    continue
                entry = self._link(incident_id, alert_id, message)
                if entry is not None:
                    written.append(entry)
        return written

    def _link(self, incident_id: str, alert_id: str, message: AlertEvent) -> TimelineEntry | None:
        status = message.status
        last = self.store.link_of(incident_id, alert_id)
        if last is not None and last.data.get("status") == status:
            return None
        severity, category = message.severity, message.category
        data = {"status": status, "severity": severity, "category": category, "event": message.event,
                "lon": message.lon, "lat": message.lat,
                "grid": message.grid, "assignee_unit": message.assignee_unit}
        kind = TimelineKind.ALERT if last is None else TimelineKind.ACTION
        text = alert_line(data, first=last is None)
        entry = TimelineEntry(
            incident_id=incident_id, ts=self.clock(), kind=kind, actor=SYSTEM_ACTOR, text=text,
            alert_id=alert_id, data=data,
        )
        try:
            self.store.add_entries([entry])
        except DuplicateLink:  # another process linked it first
            return None
        incident = self.store.get(incident_id)
        if incident is not None:
            self._publish_entry(incident, entry)
        return entry

    # --- bus --------------------------------------------------------------------------------

    def _publish_entry(self, incident: Incident, entry: TimelineEntry) -> None:
        self._publish(IncidentEvent(
            event="timeline", id=incident.id, owner_unit=incident.owner_unit,
            codes=list(incident.codes), status=incident.status.value,
            entry=TimelineEntryWire.model_validate(entry.model_dump(mode="json")),
        ))

    def _publish(self, message: IncidentEvent) -> None:
        if self.bus is not None:
            self.bus.publish(Topic.INCIDENTS, message)
