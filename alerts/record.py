"""What the alert lifecycle works on: an :class:`Alert`, its audit entries and people's reports.

An alert is a warning (or a reported event) being worked to closure by a responsible unit.
Machine alerts keep the warning's ``key`` so that the engine's repeated events update one
alert; people's events get a key of their own. Times are seconds since the epoch, positions
WGS-84, jurisdiction codes as in :mod:`gis.codes`.

>>> a = Alert(id="k3v9q2m7xa1b", key="stop|CAM-1|7", severity="orange", source="video",
...           category="abnormal_stop", lon=121.0, lat=32.0, assignee_unit="320612001",
...           first_ts=10.0, last_ts=40.0, created_ts=41.0, updated_ts=41.0)
>>> m = a.to_message("new")
>>> m["type"], m["event"], m["status"], a.visible_to("320612001"), a.visible_to("320612002")
('alert', 'new', 'new', True, False)
>>> a.to_event("new").to_wire() == m
True
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from zhizhi.bus.messages.alerts import AlertEvent, AlertEventKind
from zhizhi.bus.messages.evidence import Evidence
from zhizhi.gis.codes import is_within, validate_code
from zhizhi.layers.ids import ALERT_ID
from zhizhi.models.warning.record import Severity

SYSTEM_ACTOR = "system"


class AlertStatus(StrEnum):
    """Where an alert stands; see :mod:`alerts.lifecycle` for the moves between them."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"

    @property
    def is_open(self) -> bool:
        """Still being worked: everything but resolved and closed."""
        return self not in (AlertStatus.RESOLVED, AlertStatus.CLOSED)


OPEN_STATUSES: tuple[AlertStatus, ...] = tuple(s for s in AlertStatus if s.is_open)


class Verdict(StrEnum):
    """What a closed alert turned out to be: the label the false-alarm loop learns from."""

    FALSE_ALARM = "false_alarm"  # nothing was wrong: the rule should not have fired
    DUPLICATE = "duplicate"  # the same event as another alert (``duplicate_of``)
    CONFIRMED = "confirmed"  # a true event, resolved


class AlertMember(BaseModel):
    """One warning folded into an alert: a track of a camera, or a vehicle's telemetry."""

    key: str = Field(description="The warning's key (WarningEvent.key).")
    source: str = Field(description="video, telemetry ...")
    camera_id: str | None = None
    track_id: int | None = None
    vehicle_id: str | None = None
    first_ts: float
    last_ts: float
    active: bool = True


class ActionKind(StrEnum):
    """Kinds of audit entries."""

    CREATE = "create"
    TRANSITION = "transition"
    ESCALATE = "escalate"
    HAND_DOWN = "hand_down"
    REMINDER = "reminder"  # 提醒单
    SUPERVISION = "supervision"  # 督办单
    UPDATE = "update"
    PROCEDURE = "procedure"  # a step of the alert's procedure (SOP) ticked or unticked
    SOP_SKIPPED = "sop_skipped"  # resolved with required SOP steps unticked: the unit above is told


def _code(value: str | None) -> str | None:
    return None if value is None else validate_code(value)


Code = Annotated[str, AfterValidator(validate_code)]
OptionalCode = Annotated[str | None, AfterValidator(_code)]


class Alert(BaseModel):
    """One alert, machine-raised or reported by people, from intake to closure."""

    model_config = ConfigDict(validate_assignment=True)

    id: str = Field(pattern=ALERT_ID.pattern, description="Short unique id.")
    key: str = Field(min_length=1, max_length=300, description="Dedup key (WarningEvent.key).")
    rule: str | None = Field(None, description="Rule kind of a machine alert.")
    rule_id: str | None = Field(None, description="Rule instance of a machine alert.")
    model: str = Field("", description="Warning model name and version.")
    severity: Severity
    source: str = Field(description="video, telemetry, hotline, grid_worker, app, iot ...")
    category: str = Field(description="Rule name (machine alerts) or the event's category.")
    cameras: list[str] = Field(default_factory=list)
    camera_id: str | None = None
    track_id: int | None = None
    cls: str | None = None
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    grid: OptionalCode = None
    village: OptionalCode = None
    town: OptionalCode = None
    district: OptionalCode = None
    evidence: Evidence = Field(default_factory=Evidence)
    first_ts: float
    last_ts: float
    active: bool = True
    status: AlertStatus = AlertStatus.NEW
    assignee_unit: Code = Field(description="Jurisdiction code of the responsible unit.")
    deadline_ts: float | None = Field(None, description="When handling is due.")
    reminded_ts: float | None = Field(None, description="When the reminder (提醒单) went out.")
    supervised_ts: float | None = Field(None, description="When the supervision order (督办单) went out.")
    done_ts: float | None = Field(None, description="When it last became resolved or closed.")
    text: str | None = None
    reporter: str | None = None
    channel: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    members: list[AlertMember] = Field(
        default_factory=list, description="Every warning (track, camera, source) folded into it."
    )
    track_ids: list[int] = Field(default_factory=list, description="Every track id folded into it.")
    sources: list[str] = Field(default_factory=list, description="Every source that reported it.")
    verdict: Verdict | None = Field(None, description="What it turned out to be, once closed or resolved.")
    duplicate_of: str | None = Field(None, description="The alert this one duplicates.")
    created_ts: float
    updated_ts: float
    version: int = Field(0, ge=0, description="Bumped by every stored change (optimistic locking).")

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    def visible_to(self, code: str) -> bool:
        """Whether jurisdiction ``code`` may see it ("" is everything): grid or assignee within."""
        if code == "":
            return True
        return (self.grid is not None and is_within(self.grid, code)) or is_within(
            self.assignee_unit, code
        )

    def to_event(self, event: AlertEventKind) -> AlertEvent:
        """The ``alerts`` topic's message for this change (``to_event(e).to_wire()`` equals
        ``to_message(e)``)."""
        return AlertEvent.of_record(event, self.model_dump(mode="json", exclude={"version"}))

    def to_message(self, event: str | None = None) -> dict[str, Any]:
        """The JSON form of the API: ``{"type": "alert", ["event": ...,] fields}``."""
        head: dict[str, Any] = {"type": "alert"}
        if event is not None:
            head["event"] = event
        return head | self.model_dump(mode="json", exclude={"version"})


class AlertAction(BaseModel):
    """One audit entry: who did what to an alert, when, and why."""

    id: int | None = None
    alert_id: str
    ts: float
    actor: str
    action: ActionKind
    from_status: AlertStatus | None = None
    to_status: AlertStatus | None = None
    from_unit: str | None = Field(None, description="Assignee before (escalate, hand_down).")
    unit: str | None = Field(
        None,
        description="Assignee after (escalate, hand_down), reminded unit (reminder), "
        "supervising unit (supervision), assignee (create).",
    )
    note: str = ""

    def to_message(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


Channel = Literal["hotline", "grid_worker", "app", "iot"]


class EventReport(BaseModel):
    """An event reported by people (12345 hotline, a grid worker's app, an IoT sensor)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str = Field(min_length=1, max_length=64, description="Event category.")
    text: str = Field(min_length=1, max_length=2000, description="What was reported.")
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    crs: Literal["wgs84", "gcj02", "bd09"] = Field("wgs84", description="System of lon/lat.")
    reporter: str = Field(min_length=1, max_length=100, description="Who reported it.")
    channel: Channel = Field(description="hotline, grid_worker, app or iot.")
    occurred_at: float | None = Field(
        None,
        allow_inf_nan=False,
        description="When it happened: epoch seconds, or ISO 8601 with a UTC offset.",
    )

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _occurred_at(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"occurred_at {value!r} is neither epoch seconds nor ISO 8601") from None
        if moment.tzinfo is None:
            raise ValueError("occurred_at needs a UTC offset, e.g. 2025-06-01T08:30:00+08:00")
        return moment.timestamp()


__all__ = [
    "OPEN_STATUSES",
    "SYSTEM_ACTOR",
    "ActionKind",
    "Alert",
    "AlertAction",
    "AlertMember",
    "AlertStatus",
    "Channel",
    "EventReport",
    "Evidence",
    "Severity",
    "Verdict",
]
