"""The observation record: one tracked object in one analysed frame, geolocated.

Every detector backend produces exactly this (the ``zhizhi analyze --jsonl`` contract adds
``"type": "observation"``). Positions are WGS-84; ``lon``/``lat``/``speed_kmh``/``heading_deg``
are ``None`` when the camera has no calibration or the track is too young to have a speed.

>>> Observation(camera_id="CAM-0001", ts=1.5, track_id=3, cls="car", conf=0.9,
...             bbox=(10, 20, 110, 80)).model_dump()["bbox"]
(10.0, 20.0, 110.0, 80.0)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CLASSES: tuple[str, ...] = ("car", "bus", "truck", "hazmat_tanker", "person")


class Observation(BaseModel):
    """One tracked object in one analysed frame."""

    model_config = ConfigDict(frozen=True)

    camera_id: str
    ts: float = Field(description="Frame time, seconds since the epoch (monotonic per camera).")
    track_id: int = Field(ge=0, description="Stable per camera while the object is tracked.")
    cls: str = Field(description="Class name, e.g. car, bus, truck, hazmat_tanker, person.")
    conf: float = Field(ge=0.0, le=1.0)
    bbox: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in pixels.")
    lon: float | None = None
    lat: float | None = None
    speed_kmh: float | None = Field(None, ge=0.0)
    heading_deg: float | None = Field(None, ge=0.0, lt=360.0)

    def as_message(self) -> dict[str, Any]:
        """The JSON-lines / bus form: the record plus ``"type": "observation"``."""
        return {"type": "observation", **self.model_dump(mode="json")}
