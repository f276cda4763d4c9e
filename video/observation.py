"""The contract of one observation line: one tracked object in one analysed frame, geolocated.

The pipeline does not build these: it builds one columnar
:class:`~zhizhi.bus.messages.frames.ObservationBatch` per frame, whose ``rows()`` are exactly
these records (the ``zhizhi analyze --jsonl`` line adds ``"type": "observation"``). This model
validates such lines where they come back from files (backtest datasets' ``observations.jsonl``).
Positions are WGS-84; ``lon``/``lat``/``speed_kmh``/``heading_deg`` are ``None`` when the camera
has no calibration or the track is too young to have a speed.

>>> Observation(camera_id="CAM-0001", ts=1.5, track_id=3, cls="car", conf=0.9,
...             bbox=(10, 20, 110, 80)).model_dump()["bbox"]
(10.0, 20.0, 110.0, 80.0)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

CLASSES: tuple[str, ...] = ("car", "bus", "truck", "hazmat_tanker", "person")
#: The vehicle classes: every class but ``person``.
VEHICLES: frozenset[str] = frozenset(CLASSES) - {"person"}


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
