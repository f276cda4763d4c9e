"""A trajectory warning model: a versioned, typed YAML configuration of telemetry rules.

Rule kinds are the alert categories: ``abnormal_stop``, ``zone_entry``, ``prohibited_hours``,
``speeding``, ``route_deviation``, ``fatigue``, ``signal_loss``. Every problem in a file becomes
one :class:`ModelConfigError` listing each path and reason
(``rules.3.limits_kmh.motorway: unknown road class ...``).

>>> m = TrajectoryModelConfig.model_validate({"name": "t", "version": 1, "rules": [
...     {"id": "fast", "kind": "speeding"}]})
>>> m.rules[0].limits_kmh["arterial"], m.rules[0].tolerance, m.label
(60.0, 0.1, 't@1')
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from zhizhi.models.config_file import (
    ModelConfigError,
    SeverityRule,
    Strict,
    VersionedRules,
    load_config,
    parse_config,
)
from zhizhi.models.warning.record import Severity

SHIPPED_MODEL = Path(__file__).parent / "default.yaml"
ROAD_CLASSES = ("expressway", "arterial", "local")
RULE_KINDS = (
    "abnormal_stop",
    "zone_entry",
    "prohibited_hours",
    "speeding",
    "route_deviation",
    "fatigue",
    "signal_loss",
)


_Strict = Strict


class Upgrade(_Strict):
    """Raise the severity when the vehicle is in (or within ``within_m`` of) zones of these types."""

    severity: Severity
    zone_types: list[str] = Field(min_length=1)
    within_m: float = Field(0.0, ge=0, le=5000)


class _Rule(SeverityRule):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    description: str = ""
    enabled: bool = True
    severity: Severity = Severity.ORANGE
    upgrades: list[Upgrade] = Field(default_factory=list, description="First match wins.")
    min_duration_s: float = Field(30.0, ge=0, le=86_400, description="Debounce before firing.")
    max_gap_s: float = Field(
        20.0,
        ge=0,
        le=3600,
        description="A lapse this short (missed or contrary reports) does not break it.",
    )


class AbnormalStopRule(_Rule):
    """Stopped (slow and within ``radius_m`` of where it stopped) outside allowed zones."""

    kind: Literal["abnormal_stop"]
    max_speed_kmh: float = Field(5.0, gt=0, le=30)
    radius_m: float = Field(30.0, gt=0, le=500, description="Drift tolerated while stopped.")
    allowed_zone_types: list[str] = Field(default_factory=lambda: ["hazmat_parking"])
    min_duration_s: float = Field(300.0, ge=0, le=86_400)


class ZoneEntryRule(_Rule):
    """Inside a zone of a prohibited type."""

    kind: Literal["zone_entry"]
    zone_types: list[str] = Field(
        default_factory=lambda: ["residential_core", "school"], min_length=1
    )
    min_duration_s: float = Field(10.0, ge=0, le=86_400)
    severity: Severity = Severity.RED


class ProhibitedHoursRule(_Rule):
    """Driving outside the vehicle's registered permitted hours (needs a registration)."""

    kind: Literal["prohibited_hours"]
    min_speed_kmh: float = Field(5.0, ge=0, le=100, description="Slower counts as not driving.")
    min_duration_s: float = Field(60.0, ge=0, le=86_400)
    max_gap_s: float = Field(120.0, ge=0, le=3600)


class SpeedingRule(_Rule):
    """Over the limit of the road class of the nearest road within ``match_distance_m``; with no
    road there (or no limit for its class), over ``off_road_limit_kmh``, the vehicle's own ceiling
    (hazardous goods: 60 km/h off expressways). Needs a road map: without roads, no limit."""

    kind: Literal["speeding"]
    limits_kmh: dict[str, float] = Field(
        default_factory=lambda: {"expressway": 80.0, "arterial": 60.0, "local": 40.0}
    )
    tolerance: float = Field(0.1, ge=0, le=1, description="Fraction over the limit tolerated.")
    match_distance_m: float = Field(30.0, gt=0, le=500)
    ambiguity_m: float = Field(
        10.0,
        ge=0,
        le=100,
        description="Roads this close to the nearest one also match; the highest limit wins.",
    )
    off_road_limit_kmh: float | None = Field(
        60.0,
        gt=0,
        le=200,
        description="Limit where no road matches (none: no limit there).",
    )
    severity: Severity = Severity.YELLOW

    @field_validator("limits_kmh")
    @classmethod
    def _limits(cls, value: dict[str, float]) -> dict[str, float]:
        for k, v in value.items():
            if k not in ROAD_CLASSES:
                raise ValueError(f"unknown road class {k!r}; known: {list(ROAD_CLASSES)}")
            if not 0 < v <= 200:
                raise ValueError(f"limit {v} for {k} is not in (0, 200] km/h")
        return value


class RouteDeviationRule(_Rule):
    """Outside the registered corridor (needs a registration)."""

    kind: Literal["route_deviation"]
    min_duration_s: float = Field(60.0, ge=0, le=86_400)


class FatigueRule(_Rule):
    """More than ``max_driving_s`` of driving without a rest of ``rest_s`` (stopped that long)."""

    kind: Literal["fatigue"]
    max_driving_s: float = Field(4 * 3600.0, gt=0, le=86_400)
    rest_s: float = Field(20 * 60.0, gt=0, le=86_400)
    stop_speed_kmh: float = Field(5.0, gt=0, le=30)
    stop_radius_m: float = Field(50.0, gt=0, le=1000, description="A silent gap here is a rest.")
    min_duration_s: float = Field(0.0, ge=0, le=86_400)
    max_gap_s: float = Field(
        0.0, ge=0, le=3600, description="It holds through short stops; ends on a rest."
    )


class SignalLossRule(_Rule):
    """No report for ``after_s``: raised by ``tick`` while it lasts, ended when reports come back;
    a gap of more than ``after_s`` between two fixes (a buffered upload) is raised and ended at once.

    Never for silence measured from a fix older than ``horizon_s``: that is history, not a
    vehicle gone quiet.
    """

    kind: Literal["signal_loss"]
    after_s: float = Field(300.0, gt=0, le=86_400)
    horizon_s: float = Field(
        86_400.0, gt=0, le=30 * 86_400, description="No alert for silence longer than this."
    )
    severity: Severity = Severity.YELLOW

    @model_validator(mode="after")
    def _horizon(self) -> SignalLossRule:
        if self.horizon_s <= self.after_s:
            raise ValueError(f"horizon_s ({self.horizon_s:g}) must exceed after_s ({self.after_s:g})")
        return self


Rule = Annotated[
    AbnormalStopRule
    | ZoneEntryRule
    | ProhibitedHoursRule
    | SpeedingRule
    | RouteDeviationRule
    | FatigueRule
    | SignalLossRule,
    Field(discriminator="kind"),
]


class TrajectoryModelConfig(VersionedRules):
    """A named, versioned set of telemetry rule instances."""

    utc_offset_hours: float = Field(
        8.0, ge=-12, le=14, description="Local time for hours (China: +8)."
    )
    update_every_s: float = Field(
        30.0, ge=0, le=3600, description="Re-send a live warning at most this often."
    )
    derive_speed_max_gap_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="A report without speed gets it from the previous fix, if this recent.",
    )
    rules: list[Rule] = Field(min_length=1)


def parse_model(data: object, source: str = "<config>") -> TrajectoryModelConfig:
    """Validate a parsed configuration; every problem is reported with its path."""
    return parse_config(TrajectoryModelConfig, data, source)


def load_model(path: Path | str | None = None) -> TrajectoryModelConfig:
    """Read a YAML (or JSON) trajectory model; the shipped ``hazmat-telemetry`` when ``path`` is None."""
    return load_config(TrajectoryModelConfig, Path(path) if path is not None else SHIPPED_MODEL)


__all__ = [
    "ROAD_CLASSES",
    "RULE_KINDS",
    "SHIPPED_MODEL",
    "ModelConfigError",
    "Rule",
    "TrajectoryModelConfig",
    "load_model",
    "parse_model",
]
