"""``alerts``: one change of an alert (alert service -> live wall, incidents, evidence recorder).

The wire form is the alert's fields after ``type`` and ``event``, as the browsers read it:

>>> a = AlertEvent(event="new", id="k3v9q2m7xa1b", key="stop|CAM-1|7", severity="orange",
...                source="video", category="abnormal_stop", lon=121.0, lat=32.0,
...                assignee_unit="320612001", first_ts=10.0, last_ts=40.0, created_ts=41.0,
...                updated_ts=41.0)
>>> wire = a.to_wire()
>>> list(wire)[:4], wire["status"], AlertEvent.from_wire(wire) == a
(['type', 'event', 'id', 'key'], 'new', True)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from zhizhi.bus.messages.base import BusMessage
from zhizhi.bus.messages.evidence import Evidence

AlertEventKind = Literal[
    "new", "updated", "transition", "escalated", "handed_down", "reminder", "supervision"
]
SeverityName = Literal["red", "orange", "yellow", "blue"]
StatusName = Literal[
    "new", "acknowledged", "dispatched", "on_scene", "resolved", "closed", "reopened"
]


class AlertEvent(BusMessage):
    """An alert as stored after one change, and what the change was (``event``).

    The fields are those of :class:`zhizhi.alerts.record.Alert` but its version (a test keeps
    the two lists equal); codes are jurisdiction codes (:mod:`zhizhi.gis.codes`).
    """

    KIND = "alert"

    event: AlertEventKind = Field(description="What happened to the alert.")
    id: str = Field(description="Short unique id.")
    key: str = Field(description="Dedup key of a machine alert (the warning's key).")
    rule: str | None = Field(None, description="Rule kind of a machine alert.")
    rule_id: str | None = Field(None, description="Rule instance of a machine alert.")
    model: str = Field("", description="Warning model name and version.")
    severity: SeverityName = Field(description="Warning grade, red most urgent.")
    source: str = Field(description="video, telemetry, hotline, grid_worker, app, iot ...")
    category: str = Field(description="Rule name (machine alerts) or the event's category.")
    cameras: list[str] = Field(default_factory=list, description="Cameras that saw it.")
    camera_id: str | None = Field(None, description="The camera of the first sighting.")
    track_id: int | None = Field(None, description="The object's track on that camera.")
    cls: str | None = Field(None, description="The object's class.")
    lon: float = Field(ge=-180, le=180, description="Longitude, WGS-84.")
    lat: float = Field(ge=-90, le=90, description="Latitude, WGS-84.")
    grid: str | None = Field(None, description="Grid code of the position.")
    village: str | None = Field(None, description="Village code of the position.")
    town: str | None = Field(None, description="Town code of the position.")
    district: str | None = Field(None, description="District code of the position.")
    evidence: Evidence = Field(default_factory=Evidence, description="Files kept for it.")
    first_ts: float = Field(description="When the condition was first seen.")
    last_ts: float = Field(description="The frame or report time of the latest sighting.")
    active: bool = Field(True, description="Whether the condition still holds.")
    status: StatusName = Field("new", description="Where the alert stands in its lifecycle.")
    assignee_unit: str = Field(description="Jurisdiction code of the responsible unit.")
    deadline_ts: float | None = Field(None, description="When handling is due.")
    reminded_ts: float | None = Field(None, description="When the reminder (提醒单) went out.")
    supervised_ts: float | None = Field(
        None, description="When the supervision order (督办单) went out."
    )
    done_ts: float | None = Field(None, description="When it last became resolved or closed.")
    text: str | None = Field(None, description="A reported event's text.")
    reporter: str | None = Field(None, description="Who reported it.")
    channel: str | None = Field(None, description="Reporting channel: hotline, grid_worker, app, iot.")
    details: dict[str, Any] = Field(default_factory=dict, description="Rule-specific details.")
    members: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Every warning folded into it: key, source, camera_id, track_id, vehicle_id, "
        "first_ts, last_ts, active.",
    )
    track_ids: list[int] = Field(default_factory=list, description="Every track id folded into it.")
    sources: list[str] = Field(default_factory=list, description="Every source that reported it.")
    verdict: Literal["false_alarm", "duplicate", "confirmed"] | None = Field(
        None, description="What it turned out to be, once closed or resolved."
    )
    duplicate_of: str | None = Field(None, description="The alert this one duplicates.")
    created_ts: float = Field(description="When the alert was opened.")
    updated_ts: float = Field(description="When it last changed.")

    @classmethod
    def of_record(cls, event: AlertEventKind, fields: dict[str, Any]) -> AlertEvent:
        """The message of an alert from its record's JSON form (``fields``, without its
        version), which is also the message's wire form as it is (not dumped again)."""
        wire = {"type": cls.KIND, "event": event, **fields}
        return cls.from_wire(wire)._known_wire(wire)
