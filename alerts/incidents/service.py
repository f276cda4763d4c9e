"""Incidents: the command center's "wartime" (战时) record of a typhoon, flood, fire or leak.

An :class:`Incident` gathers an area — a circle, a polygon or a chemical leak's downwind plume —
with what it touches (grids, cameras, shelters... computed by an injected ``compute``) and a
timeline: opened, notes, alerts that arise inside the area and what is done about them,
impact recomputations, closed.

Visibility (one rule, documented here and in :meth:`Incident.visible_to`): jurisdiction code
``C`` sees an incident when the incident's ``owner_unit`` is within ``C`` (the unit that opened
it and every unit above it), or when any of the incident's ``codes`` (the towns, villages and
grids its area touches) is within ``C``. ``""`` sees everything. A town therefore sees the
district's typhoon that crosses it, never a fire in a sibling town; what it may not see is
:class:`IncidentNotFound`, exactly as a missing id.

What a reader sees of a visible incident is its own part (:meth:`Incident.seen_from`, the one
place that cuts it; every read of :class:`IncidentService` returns it): the area cut to the
reader's jurisdiction, the impact's units within it and features inside it, and a timeline
without the alerts the reader may not see (nor the district-wide counts). An incident opened
by a unit covers at most that unit's jurisdiction: ``compute(spec, owner)`` cuts the area.

Every stored change publishes one message on the bus topic ``"incidents"``:
``{"type": "incident", "event": "opened" | "updated" | "closed", "incident_type", **incident}``
for the incident itself (its own ``type`` travels as ``incident_type``), ``{"type": "incident", "event": "timeline", "id", "owner_unit", "codes", "status",
"entry"}`` for a note or a linked alert (the visibility fields let a relay filter per viewer).

>>> spec = IncidentSpec.model_validate({"type": "fire", "title": "Industrial-park fire",
...     "area": {"point": [120.9, 32.0], "radius_m": 800}})
>>> spec.area.kind, spec.area.radius_m
('circle', 800.0)
>>> from pydantic import ValidationError
>>> try:
...     IncidentSpec.model_validate({"type": "chemical_leak", "title": "Tanker leak",
...                                  "area": {"point": [120.9, 32.0], "radius_m": 500}})
... except ValidationError as exc:
...     print(exc.errors()[0]["msg"][:55])
Value error, a chemical_leak incident needs wind: give
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Annotated, Any

import shapely
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    exists,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from zhizhi.alerts.record import ALERT_ID, SYSTEM_ACTOR, new_alert_id
from zhizhi.alerts.store import alerts_table
from zhizhi.alerts.store import scope_clause as alert_scope_clause
from zhizhi.bus import Bus
from zhizhi.gis.codes import Level, is_within, level_of, validate_code
from zhizhi.gis.impact import clip_area, impact_within
from zhizhi.layers.db import migrate
from zhizhi.layers.scope import Scope

log = logging.getLogger(__name__)

#: The bus topic of incident messages (a plain string: the alert bus's Topic enum is not ours).
TOPIC = "incidents"
ScopeLike = Scope | str | None
MAX_RADIUS_M = 100_000.0
MAX_POLYGON_POSITIONS = 10_000
MAX_WIND_MS = 75.0  # stronger than any typhoon on record near the coast
_ATTEMPTS = 3


# ------------------------------------------------------------------------------- records


class IncidentType(StrEnum):
    """What happened."""

    TYPHOON = "typhoon"
    FLOOD = "flood"
    FIRE = "fire"
    CHEMICAL_LEAK = "chemical_leak"
    RAINSTORM = "rainstorm"
    OTHER = "other"

    @property
    def zh(self) -> str:
        """The name the command center reads on the wall."""
        return {"typhoon": "台风", "flood": "洪涝", "fire": "火灾", "chemical_leak": "危化品泄漏",
                "rainstorm": "暴雨", "other": "突发"}[self.value]


class IncidentStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


class TimelineKind(StrEnum):
    """Kinds of timeline entries."""

    OPENED = "opened"
    ALERT = "alert"  # an alert first seen inside the area
    ACTION = "action"  # a linked alert changed status (acknowledged, dispatched, ...)
    NOTE = "note"
    CLOSED = "closed"
    IMPACT_UPDATED = "impact_updated"


Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]


class CircleArea(BaseModel):
    """A circle of ``radius_m`` metres around a WGS-84 point."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    point: tuple[Lon, Lat]
    radius_m: float = Field(gt=0, le=MAX_RADIUS_M, allow_inf_nan=False)

    @property
    def kind(self) -> str:
        return "circle"


class PolygonArea(BaseModel):
    """A drawn GeoJSON Polygon (WGS-84), checked to be a valid area."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    polygon: dict[str, Any]

    @property
    def kind(self) -> str:
        return "polygon"

    @field_validator("polygon", mode="before")
    @classmethod
    def _check(cls, value: object) -> dict[str, Any]:
        return check_polygon(value)


class PlumeArea(BaseModel):
    """A chemical leak at ``point``: the plume drifts downwind of ``wind_from_deg``.

    ``wind_from_deg`` is the meteorological direction the wind blows *from* (0 = north,
    90 = east), ``wind_speed_ms`` its speed in m/s (calm air gives no plume direction).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    point: tuple[Lon, Lat]
    wind_from_deg: float = Field(ge=0, le=360, allow_inf_nan=False)
    wind_speed_ms: float = Field(gt=0, le=MAX_WIND_MS, allow_inf_nan=False)

    @property
    def kind(self) -> str:
        return "plume"


def _area_kind(value: Any) -> str | None:
    """The area's kind from its keys (``None``: not recognisable)."""
    if isinstance(value, CircleArea | PolygonArea | PlumeArea):
        return value.kind
    if not isinstance(value, dict):
        return None
    if "polygon" in value:
        return "polygon"
    if "wind_from_deg" in value or "wind_speed_ms" in value:
        return "plume"
    if "radius_m" in value:
        return "circle"
    return None


Area = Annotated[
    Annotated[CircleArea, Tag("circle")]
    | Annotated[PolygonArea, Tag("polygon")]
    | Annotated[PlumeArea, Tag("plume")],
    Discriminator(
        _area_kind,
        custom_error_type="invalid_area",
        custom_error_message='area must be {"point": [lon, lat], "radius_m": r}, '
        '{"polygon": GeoJSON Polygon} or, for a chemical leak, '
        '{"point": [lon, lat], "wind_from_deg": d, "wind_speed_ms": v}',
    ),
]


def _finite_pair(position: object) -> tuple[float, float] | None:
    if not isinstance(position, list | tuple) or len(position) not in (2, 3):
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in position):
        return None
    lon, lat = float(position[0]), float(position[1])
    return (lon, lat) if math.isfinite(lon) and math.isfinite(lat) else None


def check_polygon(value: object) -> dict[str, Any]:
    """A GeoJSON Polygon, normalised to 2-D float positions; ``ValueError`` saying what is wrong.

    >>> check_polygon({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]})
    {'type': 'Polygon', 'coordinates': [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]}
    >>> check_polygon({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]})
    Traceback (most recent call last):
    ...
    ValueError: polygon is not a valid area: Self-intersection[0.5 0.5]
    """
    shape = 'a GeoJSON Polygon: {"type": "Polygon", "coordinates": [[[lon, lat], ...]]}'
    if not isinstance(value, dict) or "coordinates" not in value:
        raise ValueError(f"polygon must be {shape}")
    if value.get("type") != "Polygon":
        raise ValueError(f"polygon has type {value.get('type')!r}; it must be {shape}")
    rings = value["coordinates"]
    if not isinstance(rings, list | tuple) or not rings:
        raise ValueError("polygon coordinates must be a non-empty list of rings")
    clean: list[list[list[float]]] = []
    total = 0
    for r, ring in enumerate(rings):
        if not isinstance(ring, list | tuple):
            raise ValueError(f"ring {r} must be a list of [lon, lat] positions")  # noqa: TRY004 - pydantic
        total += len(ring)
        if total > MAX_POLYGON_POSITIONS:
            raise ValueError(f"polygon has more than {MAX_POLYGON_POSITIONS} positions")
        points: list[list[float]] = []
        for p, position in enumerate(ring):
            pair = _finite_pair(position)
            if pair is None:
                raise ValueError(f"ring {r} position {p}: {position!r} is not a [lon, lat] pair of numbers")
            lon, lat = pair
            if not -180 <= lon <= 180 or not -90 <= lat <= 90:
                raise ValueError(
                    f"ring {r} position {p}: lon {lon} / lat {lat} out of range "
                    "(lon -180..180, lat -90..90; [lon, lat] order)"
                )
            points.append([lon, lat])
        if len(points) < 4:
            raise ValueError(
                f"ring {r} has {len(points)} positions; a closed ring needs at least 4 "
                "(the first repeated at the end)"
            )
        if points[0] != points[-1]:
            raise ValueError(f"ring {r} is not closed: it starts at {points[0]} and ends at {points[-1]}")
        clean.append(points)
    polygon = shapely.Polygon(clean[0], clean[1:])
    if not polygon.is_valid:
        raise ValueError(f"polygon is not a valid area: {shapely.is_valid_reason(polygon)}")
    if polygon.area <= 0:
        raise ValueError("polygon encloses no area")
    return {"type": "Polygon", "coordinates": clean}


class IncidentSpec(BaseModel):
    """What opens an incident (the body of ``POST /api/incidents``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: IncidentType
    title: str = Field(min_length=1, max_length=200)
    area: Area
    note: str | None = Field(None, max_length=2000)

    @model_validator(mode="before")
    @classmethod
    def _leak_needs_wind(cls, data: Any) -> Any:
        leak = isinstance(data, dict) and data.get("type") == IncidentType.CHEMICAL_LEAK
        if leak and _area_kind(data.get("area")) != "plume":
            raise ValueError(
                'a chemical_leak incident needs wind: give the area as {"point": [lon, lat], '
                '"wind_from_deg": ..., "wind_speed_ms": ...} (wind_from_deg 0..360, the '
                "direction the wind blows from; wind_speed_ms > 0)"
            )
        return data

    @model_validator(mode="after")
    def _plume_only_for_leaks(self) -> IncidentSpec:
        is_leak = self.type == IncidentType.CHEMICAL_LEAK
        if is_leak != (self.area.kind == "plume"):
            raise ValueError(
                "a chemical_leak incident needs a wind plume area"
                if is_leak
                else f"a wind plume area is only for chemical_leak incidents, not {self.type}"
            )
        return self


Code = Annotated[str, AfterValidator(validate_code)]


class Incident(BaseModel):
    """One incident: its area, what the area touches, and its state."""

    model_config = ConfigDict(validate_assignment=True)

    id: str = Field(pattern=ALERT_ID.pattern, description="Short random id (as alert ids).")
    type: IncidentType
    title: str
    status: IncidentStatus = IncidentStatus.ACTIVE
    area: Area
    geometry: dict[str, Any] = Field(description="GeoJSON of the computed hazard area (WGS-84).")
    owner_unit: Code = Field(description="Jurisdiction code of the unit that opened it.")
    codes: list[Code] = Field(default_factory=list, description="Towns/villages/grids touched.")
    impact: dict[str, Any] = Field(default_factory=dict)
    created_ts: float
    created_by: str
    updated_ts: float
    closed_ts: float | None = None
    version: int = Field(0, ge=0, description="Bumped by every stored change (optimistic locking).")

    @property
    def is_active(self) -> bool:
        return self.status == IncidentStatus.ACTIVE

    def visible_to(self, code: str) -> bool:
        """Whether jurisdiction ``code`` sees it: owner within ``code`` or a touched code within it."""
        if code == "":
            return True
        return is_within(self.owner_unit, code) or any(is_within(c, code) for c in self.codes)

    def seen_from(self, scope: ScopeLike) -> Incident:
        """The part of this incident ``scope`` may see: the area cut to the scope's jurisdiction
        (kept as it is when it lies inside), the touched codes within it, and the impact's units
        within it and features inside it. The district (or ``""``) sees it whole.

        A reader's scope is a :class:`~layers.scope.Scope` (its area is needed to cut); a bare
        code other than ``""`` gets the units within it and no area or features.
        """
        code = _code_of(scope)
        if code == "" or level_of(code) == Level.DISTRICT:
            return self
        region = scope.geometry if isinstance(scope, Scope) and scope.geometry is not None else shapely.Polygon()
        area = shapely.geometry.shape(self.geometry)
        inside = shapely.area(shapely.difference(area, region)) <= 1e-9 * max(area.area, 1e-12)
        return self.model_copy(update={
            "geometry": self.geometry if inside else json_safe(shapely.geometry.mapping(clip_area(area, region))),
            "codes": [c for c in self.codes if is_within(c, code)],
            "impact": impact_within(self.impact, code, region),
        })

    def is_whole_for(self, scope: ScopeLike) -> bool:
        """Whether ``scope`` sees the whole impact (its counts tell it nothing it may not see)."""
        return impact_counts(self.seen_from(scope).impact) == impact_counts(self.impact)

    def to_message(self, event: str) -> dict[str, Any]:
        """The bus form: ``{"type": "incident", "event": event, "incident_type": ..., **fields}``.

        The message's ``type`` names the message kind (as alert messages do), so the incident's
        own type travels as ``incident_type``; :meth:`from_message` reverses it.
        """
        fields = self.model_dump(mode="json")
        return {"type": "incident", "event": event, "incident_type": fields.pop("type")} | fields

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Incident:
        """The incident of an ``opened``/``updated``/``closed`` message."""
        fields = {k: v for k, v in message.items() if k not in ("type", "event", "incident_type")}
        return cls.model_validate(fields | {"type": message["incident_type"]})


class TimelineEntry(BaseModel):
    """One line of an incident's timeline."""

    id: int | None = None
    incident_id: str
    ts: float
    kind: TimelineKind
    actor: str
    text: str = ""
    alert_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


def impact_counts(impact: dict[str, Any]) -> dict[str, int]:
    """Population and the number of units and objects of each kind in an impact dict.

    >>> impact_counts({"population": 1200, "grids": [{}, {}], "cameras": [{}]})["grids"]
    2
    """
    counts = {"population": int(impact.get("population") or 0)}
    for key in ("towns", "villages", "grids", "cameras", "facilities", "drones", "vehicles", "shelters"):
        counts[key] = len(impact.get(key) or [])
    return counts


# ------------------------------------------------------------------------------- storage

metadata = MetaData()

incidents_table = Table(
    "incidents",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("title", String(200), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("area", JSON, nullable=False),
    Column("geometry", JSON, nullable=False),
    Column("owner_unit", String(15), nullable=False, index=True),
    Column("codes", JSON, nullable=False),
    Column("impact", JSON, nullable=False),
    Column("created_ts", Float, nullable=False, index=True),
    Column("created_by", String(100), nullable=False),
    Column("updated_ts", Float, nullable=False),
    Column("closed_ts", Float),
    Column("version", Integer, nullable=False),
)

# The touched codes once more, one row each: the SQL side of visibility (a prefix test per code).
incident_codes_table = Table(
    "incident_codes",
    metadata,
    Column("incident_id", String(16), ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("code", String(15), primary_key=True, index=True),
)

incident_log_table = Table(
    "incident_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "incident_id", String(16), ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("ts", Float, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("text", Text, nullable=False),
    Column("alert_id", String(16)),
    Column("data", JSON, nullable=False),
)
_L = incident_log_table.c
# An alert is linked to an incident once: the database refuses a second "alert" entry.
Index(
    "ux_incident_log_alert",
    _L.incident_id,
    _L.alert_id,
    unique=True,
    sqlite_where=_L.kind == TimelineKind.ALERT.value,
    postgresql_where=_L.kind == TimelineKind.ALERT.value,
)
_I = incidents_table.c
_C = incident_codes_table.c


def create_schema(engine: Engine) -> None:
    """Bring the database to the current schema, incident tables included (:func:`layers.db.migrate`)."""
    migrate(engine)


class StaleIncident(RuntimeError):
    """The incident changed since it was read (or is gone); read it again and retry."""


class DuplicateLink(RuntimeError):
    """The alert is linked to the incident already."""


def _code_of(scope: ScopeLike) -> str:
    return scope.code if isinstance(scope, Scope) else (scope or "")


def scope_clause(scope: ScopeLike) -> ColumnElement[bool]:
    """SQL twin of :meth:`Incident.visible_to`."""
    code = _code_of(scope)
    if code == "":
        return true()
    touched = exists(
        select(_C.incident_id).where(_C.incident_id == _I.id, _C.code.startswith(code, autoescape=True))
    )
    return or_(_I.owner_unit.startswith(code, autoescape=True), touched)


def _incident(row: Any) -> Incident:
    return Incident.model_validate(dict(row._mapping))


class IncidentStore:
    """Incidents, the codes they touch and their timelines, in the console's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_schema(engine)

    # --- writes ---------------------------------------------------------------------------

    def create(self, incident: Incident, entries: Sequence[TimelineEntry] = ()) -> Incident:
        """Store a new incident with its first timeline entries, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(insert(incidents_table).values(incident.model_dump(mode="json")))
            self._set_codes(conn, incident)
            self._add(conn, entries)
        return incident

    def update(self, incident: Incident, entries: Sequence[TimelineEntry] = ()) -> Incident:
        """Store ``incident`` (read at ``incident.version``) with new entries; :class:`StaleIncident`
        when someone stored a change in between. Returns it at its new version."""
        stored = incident.model_copy(update={"version": incident.version + 1})
        values = stored.model_dump(mode="json")
        values.pop("id")
        with self.engine.begin() as conn:
            done = conn.execute(
                update(incidents_table)
                .where(and_(_I.id == incident.id, _I.version == incident.version))
                .values(values)
            )
            if done.rowcount != 1:
                raise StaleIncident(f"incident {incident.id} changed since version {incident.version}")
            self._set_codes(conn, stored)
            self._add(conn, entries)
        return stored

    def add_entries(self, entries: Sequence[TimelineEntry]) -> None:
        """Append timeline entries; :class:`DuplicateLink` for an alert linked already."""
        try:
            with self.engine.begin() as conn:
                self._add(conn, entries)
        except IntegrityError as exc:
            linked = [e for e in entries if e.kind == TimelineKind.ALERT]
            if any(self.link_of(e.incident_id, e.alert_id) is not None for e in linked):
                raise DuplicateLink("alert already linked to the incident") from exc
            raise

    def _set_codes(self, conn: Connection, incident: Incident) -> None:
        conn.execute(delete(incident_codes_table).where(_C.incident_id == incident.id))
        codes = sorted(set(incident.codes))
        if codes:
            conn.execute(insert(incident_codes_table), [{"incident_id": incident.id, "code": c} for c in codes])

    def _add(self, conn: Connection, entries: Sequence[TimelineEntry]) -> None:
        for entry in entries:
            values = entry.model_dump(mode="json", exclude={"id"})
            entry.id = conn.execute(insert(incident_log_table).values(values)).inserted_primary_key[0]

    # --- reads ----------------------------------------------------------------------------

    def get(self, incident_id: str, scope: ScopeLike = None) -> Incident | None:
        """The incident, or ``None`` when there is none or ``scope`` may not see it."""
        query = select(incidents_table).where(_I.id == incident_id, scope_clause(scope))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _incident(row)

    def list(
        self, scope: ScopeLike = None, status: IncidentStatus | str | None = None,
        *, limit: int = 100, offset: int = 0,
    ) -> list[Incident]:
        """Incidents ``scope`` sees, newest first."""
        query = select(incidents_table).where(scope_clause(scope))
        if status is not None:
            query = query.where(_I.status == IncidentStatus(status).value)
        query = query.order_by(_I.created_ts.desc(), _I.id).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [_incident(r) for r in conn.execute(query)]

    def timeline(self, incident_id: str, scope: ScopeLike = None) -> list[TimelineEntry]:
        """The incident's timeline, oldest first (ties in the order written); with ``scope``,
        without the entries about alerts that ``scope`` may not see."""
        query = select(incident_log_table).where(_L.incident_id == incident_id)
        if _code_of(scope):
            alert_id = alerts_table.c.id
            seen = exists(select(alert_id).where(alert_id == _L.alert_id, alert_scope_clause(scope)))
            query = query.where(or_(_L.alert_id.is_(None), seen))
        query = query.order_by(_L.ts, _L.id)
        with self.engine.connect() as conn:
            return [TimelineEntry.model_validate(dict(r._mapping)) for r in conn.execute(query)]

    def link_of(self, incident_id: str, alert_id: str | None) -> TimelineEntry | None:
        """The latest entry about ``alert_id`` in the incident's timeline (its last known status)."""
        query = (
            select(incident_log_table)
            .where(_L.incident_id == incident_id, _L.alert_id == alert_id)
            .order_by(_L.ts.desc(), _L.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else TimelineEntry.model_validate(dict(row._mapping))

    def active_versions(self) -> dict[str, int]:
        """``{id: version}`` of the active incidents (cheap: no geometry read)."""
        query = select(_I.id, _I.version).where(_I.status == IncidentStatus.ACTIVE.value)
        with self.engine.connect() as conn:
            return {r.id: r.version for r in conn.execute(query)}


# ------------------------------------------------------------------------------- service


class IncidentError(Exception):
    """Base of the service's refusals."""


class IncidentNotFound(IncidentError, LookupError):
    """No such incident — or one the caller's jurisdiction may not see (indistinguishable)."""


class IncidentConflict(IncidentError):
    """The incident's state forbids the request (closed already, changed concurrently)."""


class NotOwner(IncidentError, PermissionError):
    """The caller sees the incident but is neither its owner nor above it (close, refresh)."""


class InvalidIncident(IncidentError, ValueError):
    """A request the service cannot accept (bad unit, empty note, unusable computed area)."""


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


def json_safe(value: Any) -> Any:
    """Plain JSON of ``value``: tuples as lists, numpy scalars as numbers, NaN/inf as ``None``.

    >>> json_safe({"coordinates": ((1, 2.5), (float("nan"), 3))})
    {'coordinates': [[1, 2.5], [None, 3]]}
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _without_counts(entry: TimelineEntry) -> TimelineEntry:
    """An entry as a reader who sees part of the incident reads it: no counts of the whole."""
    if entry.kind == TimelineKind.IMPACT_UPDATED:
        return entry.model_copy(update={"text": "impact recomputed", "data": {}})
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
    :mod:`gis.impact`); ``bus`` receives the messages of every change on :data:`TOPIC`;
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
        text = f"{spec.type.zh}事件启动 · {spec.type} incident opened by {actor}: {spec.title}"
        if spec.note:
            text += f" — {spec.note}"
        opened = TimelineEntry(
            incident_id=incident.id, ts=now, kind=TimelineKind.OPENED, actor=actor, text=text,
            data={"area": spec.area.model_dump(mode="json"), "note": spec.note, **counts},
        )
        self.store.create(incident, [opened])
        self._publish(incident.to_message("opened"))
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
            text = f"事件关闭 · closed by {actor}" + (f": {note.strip()}" if note and note.strip() else "")
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
            moved = [f"{k} {before[k]}→{after[k]}" for k in after if after[k] != before[k]]
            return TimelineEntry(
                incident_id=incident.id, ts=now, kind=TimelineKind.IMPACT_UPDATED, actor=actor,
                text="impact recomputed" + (": " + ", ".join(moved) if moved else ", no change"),
                data={"before": before, "after": after},
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
                code = _code_of(scope_code)
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
                self._publish(stored.to_message(event))
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

    def on_alert(self, message: dict[str, Any]) -> list[TimelineEntry]:
        """Bus handler of the alerts topic: link alerts that lie inside active incidents.

        An alert first seen inside an incident's area gets a ``kind="alert"`` entry; later, a
        change of its status a ``kind="action"`` entry ("acknowledged by 320612101"). Repeated
        messages without a status change (the engine's ``updated`` events) add nothing.
        Returns the entries written (for tests and logs).
        """
        if message.get("type") != "alert":
            return []
        alert_id, lon, lat = message.get("id"), message.get("lon"), message.get("lat")
        if not isinstance(alert_id, str) or not isinstance(lon, int | float) or not isinstance(lat, int | float):
            return []
        written: list[TimelineEntry] = []
        with self._lock:
            for incident_id, geom in self._active_areas().items():
                if not shapely.intersects_xy(geom, float(lon), float(lat)):
                    continue
                entry = self._link(incident_id, alert_id, message)
                if entry is not None:
                    written.append(entry)
        return written

    def _link(self, incident_id: str, alert_id: str, message: dict[str, Any]) -> TimelineEntry | None:
        status = str(message.get("status") or "new")
        last = self.store.link_of(incident_id, alert_id)
        if last is not None and last.data.get("status") == status:
            return None
        severity, category = message.get("severity"), message.get("category")
        data = {"status": status, "severity": severity, "category": category, "event": message.get("event"),
                "lon": message.get("lon"), "lat": message.get("lat"),
                "grid": message.get("grid"), "assignee_unit": message.get("assignee_unit")}
        if last is None:
            kind, text = TimelineKind.ALERT, f"{severity} {category} alert {alert_id} in the area ({status})"
        else:
            who = message.get("actor") or message.get("assignee_unit") or "?"
            kind, text = TimelineKind.ACTION, f"alert {alert_id} {status} by {who}"
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
        self._publish({
            "type": "incident", "event": "timeline", "id": incident.id, "owner_unit": incident.owner_unit,
            "codes": list(incident.codes), "status": incident.status.value,
            "entry": entry.model_dump(mode="json"),
        })

    def _publish(self, message: dict[str, Any]) -> None:
        if self.bus is not None:
            self.bus.publish(TOPIC, message)


__all__ = [
    "TOPIC",
    "Area",
    "CircleArea",
    "Compute",
    "DuplicateLink",
    "Incident",
    "IncidentConflict",
    "IncidentError",
    "IncidentNotFound",
    "IncidentService",
    "IncidentSpec",
    "IncidentStatus",
    "IncidentStore",
    "IncidentType",
    "InvalidIncident",
    "NotOwner",
    "PlumeArea",
    "PolygonArea",
    "StaleIncident",
    "TimelineEntry",
    "TimelineKind",
    "check_polygon",
    "create_schema",
    "impact_counts",
    "incident_codes_table",
    "incident_log_table",
    "incidents_table",
    "json_safe",
    "scope_clause",
]
