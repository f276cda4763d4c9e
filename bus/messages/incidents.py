"""``incidents``: one change of an incident (incident service -> live wall).

``event`` ``opened``, ``updated`` or ``closed`` carries the incident's fields (its own type as
``incident_type``: the message's ``type`` names the message kind); ``timeline`` carries one
timeline ``entry`` with the fields a relay needs to filter it per viewer (``id``,
``owner_unit``, ``codes``, ``status``). The wire form holds the fields of its event only:

>>> m = IncidentEvent(event="timeline", id="k3v9q2m7xa1b", owner_unit="320612", codes=[],
...                   status="active", entry=TimelineEntryWire(incident_id="k3v9q2m7xa1b",
...                   ts=1.0, kind="note", actor="ops"))
>>> sorted(m.to_wire()), IncidentEvent.from_wire(m.to_wire()) == m
(['codes', 'entry', 'event', 'id', 'owner_unit', 'status', 'type'], True)
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from zhizhi.bus.messages.base import BusMessage

IncidentEventKind = Literal["opened", "updated", "closed", "timeline"]
TimelineKindName = Literal["opened", "alert", "action", "note", "closed", "impact_updated"]

#: The fields only an incident's own events carry (``opened``, ``updated``, ``closed``).
INCIDENT_FIELDS = (
    "incident_type", "title", "area", "geometry", "impact", "created_ts", "created_by",
    "updated_ts", "closed_ts", "version",
)


class TimelineEntryWire(BaseModel):
    """One line of an incident's timeline, as it travels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int | None = Field(None, description="The entry's number in the store.")
    incident_id: str = Field(description="The incident it belongs to.")
    ts: float = Field(description="When it was written, epoch seconds.")
    kind: TimelineKindName = Field(description="What the entry records.")
    actor: str = Field(description="Who wrote it (``system`` for linked alerts).")
    text: str = Field("", description="The line as people read it.")
    alert_id: str | None = Field(None, description="The linked alert, for alert entries.")
    data: dict[str, Any] = Field(default_factory=dict, description="Kind-specific details.")


class IncidentEvent(BusMessage):
    """An incident as stored after a change, or one new line of its timeline."""

    KIND = "incident"

    event: IncidentEventKind = Field(description="What happened.")
    incident_type: str | None = Field(None, description="fire, flood, typhoon, chemical_leak ...")
    id: str = Field(description="The incident's id.")
    title: str | None = Field(None, description="Its title.")
    status: Literal["active", "closed"] = Field(description="Whether it is still active.")
    area: dict[str, Any] | None = Field(None, description="What opened it: circle, polygon or plume.")
    geometry: dict[str, Any] | None = Field(
        None, description="GeoJSON of the computed hazard area (WGS-84)."
    )
    owner_unit: str = Field(description="Jurisdiction code of the unit that opened it.")
    codes: list[str] = Field(default_factory=list, description="Towns/villages/grids touched.")
    impact: dict[str, Any] | None = Field(None, description="What the area touches.")
    created_ts: float | None = Field(None, description="When it was opened.")
    created_by: str | None = Field(None, description="Who opened it.")
    updated_ts: float | None = Field(None, description="When it last changed.")
    closed_ts: float | None = Field(None, description="When it was closed.")
    version: int | None = Field(None, description="The stored version (optimistic locking).")
    entry: TimelineEntryWire | None = Field(None, description="The timeline line (``timeline``).")

    @model_validator(mode="after")
    def _fields_of_event(self) -> Self:
        if self.event == "timeline":
            if self.entry is None:
                raise ValueError("a timeline event needs its entry")
        elif self.entry is not None or self.incident_type is None or self.title is None:
            raise ValueError(f"an {self.event!r} event carries the incident, not an entry")
        return self

    def _wire_form(self) -> dict[str, Any]:
        drop = set(INCIDENT_FIELDS) if self.event == "timeline" else {"entry"}
        return {"type": self.KIND, **self.model_dump(mode="json", exclude=drop)}
