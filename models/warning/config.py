"""A warning model: a versioned, typed YAML configuration of rule instances.

Each rule instance has an ``id``, a ``kind`` (which rule it is) and that rule's parameters;
pydantic validates every field, and :func:`load_model` turns every problem into one
:class:`ModelConfigError` that lists the path and reason of each error
(``rules.2.min_duration_s: Input should be greater than 0``).

>>> m = WarningModelConfig.model_validate({"name": "t", "version": 1, "rules": [
...     {"id": "stop", "kind": "abnormal_stop", "classes": ["hazmat_tanker"], "min_duration_s": 20}]})
>>> m.rules[0].max_speed_kmh, m.rules[0].severity
(3.0, <Severity.ORANGE: 'orange'>)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from zhizhi.models.config_file import (  # noqa: F401 (re-exported)
    ModelConfigError,
    SeverityRule,
    Strict,
    VersionedRules,
    load_config,
    parse_config,
)
from zhizhi.models.warning.hours import DailyWindow
from zhizhi.models.warning.record import Severity
from zhizhi.video.observation import CLASSES

SHIPPED_MODEL = Path(__file__).parent / "default.yaml"


_Strict = Strict


class ZoneRef(_Strict):
    """Which zones a rule means: by kind, by name, or an inline WGS-84 polygon (any of them)."""

    kinds: list[str] = Field(default_factory=list, description="Zone kinds, e.g. school, hazmat_parking.")
    names: list[str] = Field(default_factory=list, description="Zone names.")
    polygon: list[tuple[float, float]] | None = Field(
        None, min_length=3, description="An inline polygon, [[lon, lat], ...] in WGS-84."
    )

    @field_validator("polygon")
    @classmethod
    def _polygon_valid(cls, value):
        if value is None:
            return value
        for lon, lat in value:
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValueError(f"({lon}, {lat}) is not a WGS-84 lon/lat")
        import shapely

        if not shapely.Polygon(value).is_valid:
            raise ValueError("polygon is not valid (self-intersecting or degenerate)")
        return value

    @property
    def empty(self) -> bool:
        return not (self.kinds or self.names or self.polygon)


class Hours(_Strict):
    """Daily time windows in local time, e.g. ``["22:00-06:00"]`` (a window may pass midnight)."""

    windows: list[str] = Field(min_length=1)

    @field_validator("windows")
    @classmethod
    def _parse(cls, value: list[str]) -> list[str]:
        for w in value:
            DailyWindow.parse(w)
        return value

    def parsed(self) -> list[DailyWindow]:
        return [DailyWindow.parse(w) for w in self.windows]

    def contains(self, minute: int) -> bool:
        """Whether a minute of the local day falls in any window."""
        return any(w.contains(minute) for w in self.parsed())


class Upgrade(_Strict):
    """Raise the severity when the object is in or near zones (a context, e.g. a school)."""

    severity: Severity
    near: ZoneRef
    within_m: float = Field(0.0, ge=0, le=5000, description="0: inside the zones.")


class _Rule(SeverityRule):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    description: str = ""
    enabled: bool = True
    severity: Severity = Field(Severity.ORANGE, description="Severity without an upgrade.")
    upgrades: list[Upgrade] = Field(default_factory=list, description="Context upgrades, first match wins.")
    min_duration_s: float = Field(1.0, gt=0, le=86_400, description="How long the condition must hold.")
    max_gap_s: float = Field(
        2.0, ge=0, le=600, description="Missed frames tolerated before the condition counts as broken."
    )
    end_after_s: float = Field(5.0, gt=0, le=3600, description="The warning ends this long after the last hit.")


class _ClassRule(_Rule):
    classes: list[str] = Field(min_length=1, description="Object classes the rule watches.")
    min_conf: float = Field(0.0, ge=0, le=1, description="Ignore observations below this confidence.")

    @field_validator("classes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in CLASSES]
        if unknown:
            raise ValueError(f"unknown classes {unknown}; known: {list(CLASSES)}")
        return value


class AbnormalStopRule(_ClassRule):
    """A class stays below a speed for at least ``min_duration_s`` outside allowed zones."""

    kind: Literal["abnormal_stop"]
    max_speed_kmh: float = Field(3.0, gt=0, le=30)
    allowed: ZoneRef = Field(default_factory=ZoneRef, description="Where stopping is fine (parking).")
    min_duration_s: float = Field(20.0, gt=0, le=86_400)


class ZoneEntryRule(_ClassRule):
    """A class enters zones (during hours, if given)."""

    kind: Literal["zone_entry"]
    zones: ZoneRef
    hours: Hours | None = None

    @field_validator("zones")
    @classmethod
    def _some_zone(cls, value: ZoneRef) -> ZoneRef:
        if value.empty:
            raise ValueError("name at least one zone kind, zone name or polygon")
        return value


class ProhibitedHoursRule(_ClassRule):
    """A class is present in an area (the whole view when no zones are named) in forbidden hours."""

    kind: Literal["prohibited_hours"]
    zones: ZoneRef = Field(default_factory=ZoneRef)
    hours: Hours


class SpeedingRule(_ClassRule):
    """Speed over the limit (zone, lane or road in view, or the class cap) for a while."""

    kind: Literal["speeding"]
    default_limit_kmh: float | None = Field(None, gt=0, le=200, description="When nothing in view sets one.")
    class_limits_kmh: dict[str, float] = Field(default_factory=dict, description="Caps per class.")
    tolerance: float = Field(0.1, ge=0, le=1, description="Fraction over the limit tolerated.")
    min_duration_s: float = Field(1.5, gt=0, le=3600)
    sustained: bool = Field(
        True,
        description="Over the limit without a break: a frame that sees the vehicle at or under the limit "
        "(plus tolerance) starts the count again; frames that miss it are gaps (max_gap_s).",
    )


class WrongWayRule(_ClassRule):
    """Heading against the allowed direction of the lane (or directional zone) the object is in."""

    kind: Literal["wrong_way"]
    min_angle_deg: float = Field(135.0, ge=90, le=180, description="Heading difference that counts.")
    min_speed_kmh: float = Field(8.0, ge=0, le=100)
    lane_core: float = Field(
        0.8, gt=0, le=1, description="Share of the lane width (around its centre) that counts as in it."
    )
    min_duration_s: float = Field(2.0, gt=0, le=3600)


class CrowdRule(_Rule):
    """At least ``min_count`` people in a zone (the whole view when none is named) for a while."""

    kind: Literal["crowd"]
    zones: ZoneRef = Field(default_factory=ZoneRef)
    min_count: int = Field(10, ge=2, le=100_000)
    min_duration_s: float = Field(5.0, gt=0, le=86_400)
    severity: Severity = Severity.YELLOW
    upgrade_count: int | None = Field(None, ge=2, description="At least this many people: one grade up.")


Rule = Annotated[
    AbnormalStopRule | ZoneEntryRule | ProhibitedHoursRule | SpeedingRule | WrongWayRule | CrowdRule,
    Field(discriminator="kind"),
]


class WarningModelConfig(VersionedRules):
    """A named, versioned set of rule instances."""

    utc_offset_hours: float = Field(8.0, ge=-12, le=14, description="Local time for hours (China: +8).")
    merge_within_m: float = Field(
        30.0, ge=0, le=500, description="One alert when two cameras see the same rule this close together."
    )
    rules: list[Rule] = Field(min_length=1)


def parse_model(data: object, source: str = "<config>") -> WarningModelConfig:
    """Validate a parsed configuration; every problem is reported with its path."""
    return parse_config(WarningModelConfig, data, source)


def load_model(path: Path | str | None = None) -> WarningModelConfig:
    """Read a YAML (or JSON) warning model; the shipped default when ``path`` is None."""
    return load_config(WarningModelConfig, Path(path) if path is not None else SHIPPED_MODEL)
