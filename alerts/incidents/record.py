"""The incident record: type and state, what opens it, timeline entries, each reader's part.

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

import math
from enum import StrEnum
from typing import Annotated, Any, Literal

import shapely
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from zhizhi.alerts.incidents.area import Area, area_kind
from zhizhi.bus.messages.incidents import IncidentEvent
from zhizhi.gis.codes import Level, is_within, level_of, validate_code
from zhizhi.gis.impact import clip_area, impact_within
from zhizhi.layers.ids import ALERT_ID
from zhizhi.layers.scope import Scope

ScopeLike = Scope | str | None


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
        if leak and area_kind(data.get("area")) != "plume":
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
        code = code_of(scope)
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
        """The JSON form (API, websocket; the wire form of :meth:`to_event`):
        ``{"type": "incident", "event": event, "incident_type": ..., **fields}``.

        The message's ``type`` names the message kind (as alert messages do), so the incident's
        own type travels as ``incident_type``; :meth:`from_message` reverses it.
        """
        fields = self.model_dump(mode="json")
        return {"type": "incident", "event": event, "incident_type": fields.pop("type")} | fields

    def to_event(self, event: Literal["opened", "updated", "closed"]) -> IncidentEvent:
        """The ``incidents`` topic's message for this change (its wire form is
        :meth:`to_message`'s)."""
        return IncidentEvent.from_wire(self.to_message(event))

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



def code_of(scope: ScopeLike) -> str:
    """The jurisdiction code of a reader's scope (``""``: everything)."""
    return scope.code if isinstance(scope, Scope) else (scope or "")


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
