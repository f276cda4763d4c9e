"""The records of telemetry: what devices send and what the rest of zhizhi works on.

:class:`VehicleReport` is the contract of ``POST /api/telemetry`` and of the MQTT vehicle
topic: one position of one vehicle, in WGS-84 or GCJ-02, at ``ts`` (ISO 8601 with a UTC
offset, or epoch seconds). The gate turns accepted reports into :class:`Fix` — always WGS-84,
always epoch seconds — the only form the warning models and the map see; a plain frozen record
defined with the ``telemetry`` topic's message (:mod:`zhizhi.bus.messages.telemetry`), which
carries them in batches.

:class:`DroneState` is a drone's pose from its OSD telemetry (DJI Cloud API field names are
read by :mod:`telemetry.dji`), enough to draw its camera footprint and geolocate its video; it
is the ``drones`` topic's message type itself (:mod:`zhizhi.bus.messages.drones`).

>>> r = VehicleReport.model_validate({"vehicle_id": "苏F-12345", "ts": "2026-11-30T08:00:00+08:00",
...                                   "lon": 120.86, "lat": 32.01, "speed_kmh": 42})
>>> r.ts, r.crs
(1795996800.0, 'wgs84')
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zhizhi.bus.messages.base import EARLIEST_TS
from zhizhi.bus.messages.drones import DroneState
from zhizhi.bus.messages.telemetry import Fix


def parse_ts(value: object) -> object:
    """Epoch seconds as they are; ISO 8601 (with a UTC offset) to epoch seconds.

    >>> parse_ts("2026-11-30T00:00:00Z"), parse_ts(5)
    (1795996800.0, 5)
    """
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"ts {value!r} is neither epoch seconds nor ISO 8601") from None
    if moment.tzinfo is None:
        raise ValueError("ts needs a UTC offset, e.g. 2026-11-30T08:30:00+08:00")
    return moment.timestamp()


class VehicleReport(BaseModel):
    """One position report of a vehicle, as sent (contract of ``POST /api/telemetry``)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    vehicle_id: str = Field(min_length=1, max_length=64, description="Registered vehicle id.")
    ts: float = Field(
        allow_inf_nan=False,
        ge=EARLIEST_TS,
        description="Report time: epoch seconds, or ISO 8601 with a UTC offset.",
    )
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    speed_kmh: float | None = Field(None, ge=0, le=250, allow_inf_nan=False)
    heading: float | None = Field(None, ge=0, le=360, allow_inf_nan=False, description="Degrees from north.")
    crs: Literal["wgs84", "gcj02"] = Field("wgs84", description="System of lon/lat.")

    @field_validator("ts", mode="before")
    @classmethod
    def _ts(cls, value: object) -> object:
        return parse_ts(value)


def wrap_deg(angle: float) -> float:
    """An angle in degrees in [0, 360): DJI reports headings in [-180, 180].

    >>> wrap_deg(-90.0), wrap_deg(360.0)
    (270.0, 0.0)
    """
    if not math.isfinite(angle):
        raise ValueError(f"angle {angle!r} is not finite")
    return angle % 360.0


__all__ = ["EARLIEST_TS", "DroneState", "Fix", "VehicleReport", "parse_ts", "wrap_deg"]
