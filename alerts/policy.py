"""How the alert service decides: cooldown, time limits, routing, reminders, suppression.

Defaults follow the command centers' practice (see ``DOMAIN.md``): small matters stay in the
village, larger ones go to the town, major ones to the district; every category has a time
limit; an overdue item first gets a reminder (提醒单), then a supervision order (督办单) from
the level above, which by default also takes the item over.

>>> p = AlertPolicy()
>>> p.level_for(Severity.RED), p.level_for(Severity.BLUE), p.time_limit("wrong_way")
(<Level.DISTRICT: 'district'>, <Level.VILLAGE: 'village'>, 900.0)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zhizhi.gis.codes import Level, is_within, validate_code
from zhizhi.models.warning.hours import DailyWindow, local_minute
from zhizhi.models.warning.record import Severity


class SuppressionWindow(BaseModel):
    """A window in which matching machine warnings are counted and logged, not raised.

    Matches by ``rule`` (the rule kind or rule instance id) or ``category``, optionally only
    inside ``jurisdiction``, during daily local ``hours`` or an absolute ``start_ts``/``end_ts``
    range. People's reports are never suppressed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("", max_length=100, description="Label for logs and counters.")
    rule: str | None = Field(None, description="Rule kind or rule instance id to match.")
    category: str | None = Field(None, description="Alert category to match.")
    jurisdiction: str | None = Field(
        None, description="Only alerts whose grid lies within this code (none: anywhere)."
    )
    hours: str | None = Field(
        None, description="Daily local window 'HH:MM-HH:MM' (may pass midnight), e.g. '22:00-06:00'."
    )
    start_ts: float | None = Field(None, ge=0, description="Absolute start, epoch seconds.")
    end_ts: float | None = Field(None, ge=0, description="Absolute end (exclusive), epoch seconds.")

    @field_validator("jurisdiction")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return None if value is None else validate_code(value)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                DailyWindow.parse(value)
            except ValueError:
                raise ValueError(f"hours {value!r}: expected 'HH:MM-HH:MM', e.g. '22:00-06:00'") from None
        return value

    @model_validator(mode="after")
    def _complete(self) -> SuppressionWindow:
        if self.rule is None and self.category is None:
            raise ValueError("a suppression window needs a rule or a category")
        absolute = (self.start_ts is not None, self.end_ts is not None)
        if absolute == (True, True):
            if self.end_ts <= self.start_ts:  # type: ignore[operator]
                raise ValueError("end_ts must be after start_ts")
        elif any(absolute):
            raise ValueError("give both start_ts and end_ts, or neither")
        if (self.hours is None) == (self.start_ts is None):
            raise ValueError("give either hours or start_ts/end_ts (exactly one)")
        return self

    @property
    def label(self) -> str:
        return self.name or f"{self.rule or self.category}@{self.jurisdiction or '*'}"

    def matches(
        self, rule: str | None, rule_id: str | None, category: str, grid: str | None, ts: float,
        utc_offset_hours: float,
    ) -> bool:
        """Whether a warning of ``rule``/``rule_id``/``category`` in ``grid`` at ``ts`` is suppressed."""
        if self.rule is not None and self.rule not in (rule, rule_id):
            return False
        if self.category is not None and self.category != category:
            return False
        if self.jurisdiction is not None and (grid is None or not is_within(grid, self.jurisdiction)):
            return False
        if self.start_ts is not None:
            return self.start_ts <= ts < self.end_ts  # type: ignore[operator]
        return DailyWindow.parse(self.hours or "").contains(local_minute(ts, utc_offset_hours))


_DEFAULT_LIMITS = {
    # video / telemetry rules (see models/warning)
    "wrong_way": 900.0,
    "abnormal_stop": 1800.0,
    "zone_entry": 1800.0,
    "prohibited_hours": 1800.0,
    "crowd": 1800.0,
    "speeding": 3600.0,
    # people's reports
    "fire": 3600.0,
    "flood": 3600.0,
    "traffic_accident": 3600.0,
    "road_damage": 86400.0,
    "environment": 86400.0,
    "dispute": 86400.0,
}


class Grouping(BaseModel):
    """When a warning joins an open alert instead of raising its own (one alert per event).

    A warning of another track, camera or source joins an open alert of the same rule kind
    whose position lies within ``radius_m`` and which was last seen at most ``window_s``
    before the warning began; ``radius_m`` 0 turns grouping off for the rule.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    radius_m: float = Field(50.0, ge=0, le=5000, description="Same place: within this distance.")
    window_s: float = Field(
        1800.0, ge=0, le=7 * 86400, description="Same time: began at most this long after the alert's last sighting."
    )


_DEFAULT_GROUPING = {
    # A moving vehicle is seen by the next camera down the road, or reported by BeiDou while a
    # camera sees it: a wider circle, a shorter time.
    "speeding": Grouping(radius_m=300.0, window_s=300.0),
    "wrong_way": Grouping(radius_m=300.0, window_s=300.0),
    "zone_entry": Grouping(radius_m=100.0, window_s=900.0),
}


class AlertPolicy(BaseModel):
    """Everything the alert service decides by; every field has bounds and a default."""

    model_config = ConfigDict(extra="forbid")

    cooldown_s: float = Field(
        600.0, ge=0, le=7 * 86400,
        description="After an alert is resolved or closed, the same key opens no new alert for this long.",
    )
    default_time_limit_s: float = Field(
        4 * 3600.0, gt=0, le=90 * 86400, description="Time limit of a category not listed below."
    )
    time_limits_s: dict[str, float] = Field(
        default_factory=lambda: dict(_DEFAULT_LIMITS),
        description="Time limit per category (seconds from intake to resolution).",
    )
    reminder_after_s: float = Field(
        0.0, ge=0, le=30 * 86400, description="How long past the deadline the reminder (提醒单) goes out."
    )
    supervision_after_s: float = Field(
        1800.0, gt=0, le=30 * 86400,
        description="How long after the reminder a still-open alert gets a supervision order (督办单).",
    )
    escalate_on_supervision: bool = Field(
        True, description="With the supervision order, the unit above also takes the alert over."
    )
    routing: dict[Severity, Level] = Field(
        default_factory=lambda: {
            Severity.BLUE: Level.VILLAGE,
            Severity.YELLOW: Level.VILLAGE,
            Severity.ORANGE: Level.TOWN,
            Severity.RED: Level.DISTRICT,
        },
        description="Which level a machine alert of each severity is assigned to.",
    )
    event_severity: dict[str, Severity] = Field(
        default_factory=lambda: {"fire": Severity.ORANGE, "flood": Severity.ORANGE},
        description="Severity of people's reports per category.",
    )
    default_event_severity: Severity = Field(
        Severity.BLUE, description="Severity of a people's report whose category is not listed."
    )
    event_levels: dict[str, Level] = Field(
        default_factory=lambda: {"fire": Level.TOWN, "flood": Level.TOWN, "traffic_accident": Level.TOWN},
        description="Which level (village or town) a people's report of each category goes to.",
    )
    default_event_level: Level = Field(
        Level.VILLAGE, description="Level of a people's report whose category is not listed."
    )
    grouping: dict[str, Grouping] = Field(
        default_factory=lambda: dict(_DEFAULT_GROUPING),
        description="Grouping per rule instance id or rule kind (the id wins).",
    )
    default_grouping: Grouping = Field(
        default_factory=Grouping, description="Grouping of a rule not listed in ``grouping``."
    )
    suppression: list[SuppressionWindow] = Field(
        default_factory=list, description="Windows in which matching machine warnings raise no alert."
    )
    utc_offset_hours: float = Field(
        8.0, ge=-12, le=14, description="Local time of suppression hours (China: +8)."
    )

    @field_validator("time_limits_s")
    @classmethod
    def _limits(cls, value: dict[str, float]) -> dict[str, float]:
        for category, seconds in value.items():
            if not 0 < seconds <= 90 * 86400:
                raise ValueError(f"time limit of {category!r} must be in (0, 90 days], got {seconds}")
        return value

    @field_validator("routing")
    @classmethod
    def _routing(cls, value: dict[Severity, Level]) -> dict[Severity, Level]:
        missing = [s.value for s in Severity if s not in value]
        if missing:
            raise ValueError(f"routing needs a level for every severity; missing {missing}")
        return value

    @field_validator("event_levels")
    @classmethod
    def _event_levels(cls, value: dict[str, Level]) -> dict[str, Level]:
        for category, level in value.items():
            _village_or_town(level, f"event level of {category!r}")
        return value

    @field_validator("default_event_level")
    @classmethod
    def _default_event_level(cls, value: Level) -> Level:
        return _village_or_town(value, "default_event_level")

    def level_for(self, severity: Severity) -> Level:
        """The level a machine alert of ``severity`` is assigned to."""
        return self.routing[Severity(severity)]

    def time_limit(self, category: str) -> float:
        """Seconds allowed for ``category``."""
        return self.time_limits_s.get(category, self.default_time_limit_s)

    def grouping_for(self, rule_id: str | None, rule: str | None) -> Grouping:
        """How warnings of a rule instance (else its kind) are grouped."""
        for name in (rule_id, rule):
            if name is not None and name in self.grouping:
                return self.grouping[name]
        return self.default_grouping

    def event_severity_for(self, category: str) -> Severity:
        return self.event_severity.get(category, self.default_event_severity)

    def event_level_for(self, category: str) -> Level:
        return self.event_levels.get(category, self.default_event_level)

    def suppressing(
        self, rule: str | None, rule_id: str | None, category: str, grid: str | None, ts: float
    ) -> SuppressionWindow | None:
        """The first window that suppresses such a warning, or ``None``."""
        for window in self.suppression:
            if window.matches(rule, rule_id, category, grid, ts, self.utc_offset_hours):
                return window
        return None


def _village_or_town(level: Level, what: str) -> Level:
    if level not in (Level.VILLAGE, Level.TOWN):
        raise ValueError(f"{what} must be village or town, got {level}")
    return level


__all__ = ["AlertPolicy", "Grouping", "SuppressionWindow"]
