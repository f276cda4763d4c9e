"""What a warning model emits: a :class:`WarningEvent`, one per (rule, camera, track) while it lasts.

The engine sends the same ``key`` again while the condition lasts (``last_ts`` grows,
``active`` stays true) and once more with ``active=False`` when it ends, so the alert service
can keep exactly one alert per track and rule. Positions are WGS-84; times are seconds since
the epoch (frame time for video, report time for telemetry).

>>> w = WarningEvent(rule="abnormal_stop", rule_id="hazmat-stop", severity="orange",
...                  camera_id="CAM-1", track_id=7, cls="hazmat_tanker", lon=121.0, lat=32.0,
...                  first_ts=10.0, last_ts=40.0)
>>> w.key
'hazmat-stop|CAM-1|7'
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class Severity(StrEnum):
    """Warning grades, most urgent first (national practice: red > orange > yellow > blue)."""

    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    BLUE = "blue"

    @property
    def rank(self) -> int:
        """0 for red (most urgent) to 3 for blue."""
        return list(Severity).index(self)


class WarningEvent(BaseModel):
    """A rule firing for one tracked object (or one area, for crowd rules)."""

    rule: str = Field(description="Rule kind: abnormal_stop, zone_entry, speeding, wrong_way, ...")
    rule_id: str = Field(description="The rule instance in the model config.")
    model: str = Field("", description="Name and version of the warning model, e.g. default@3.")
    severity: Severity
    source: str = Field("video", description="video, telemetry, hotline, grid_worker, iot ...")
    camera_id: str | None = None
    cameras: list[str] = Field(default_factory=list, description="Every camera that saw it.")
    track_id: int | None = None
    cls: str | None = None
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    first_ts: float
    last_ts: float
    active: bool = Field(True, description="False once the condition has ended.")
    details: dict[str, Any] = Field(default_factory=dict, description="Rule-specific facts.")

    @property
    def key(self) -> str:
        """Identity of the warning: one alert per rule instance and track (or vehicle, or area).

        >>> WarningEvent(rule="speeding", rule_id="hazmat-speeding", severity="yellow",
        ...              source="telemetry", lon=121.0, lat=32.0, first_ts=1.0, last_ts=2.0,
        ...              details={"vehicle_id": "苏F-12345"}).key
        'hazmat-speeding||苏F-12345'
        """
        if self.track_id is not None:
            subject: object = self.track_id
        else:
            subject = self.details.get("vehicle_id", self.details.get("area", ""))
        return f"{self.rule_id}|{self.camera_id or ''}|{subject}"
