"""``drones``: a drone's pose (console's telemetry gate -> fleet, video workers).

>>> d = DroneState(drone_id="UAV-01", ts=1.8e9, lon=120.86, lat=32.01, height_m=100,
...                heading_deg=90, gimbal_yaw_deg=90)
>>> d.to_wire()["type"], DroneState.from_wire(d.to_wire()) == d
('drone', True)
"""

from __future__ import annotations

from pydantic import Field

from zhizhi.bus.messages.base import EARLIEST_TS, BusMessage


class DroneState(BusMessage):
    """A drone's pose at ``ts``: position (WGS-84), height above the ground, where its camera
    looks (``gimbal_yaw_deg`` from north, ``gimbal_pitch_deg`` with -90 straight down)."""

    KIND = "drone"

    drone_id: str = Field(min_length=1, max_length=64, description="The drone's id.")
    ts: float = Field(allow_inf_nan=False, ge=EARLIEST_TS, description="Epoch seconds of the pose.")
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, description="Longitude, WGS-84.")
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="Latitude, WGS-84.")
    height_m: float = Field(ge=0, le=1500, allow_inf_nan=False, description="Above take-off ground.")
    heading_deg: float = Field(ge=0, lt=360, allow_inf_nan=False, description="Aircraft heading.")
    gimbal_pitch_deg: float = Field(
        -90.0, ge=-90, le=35, allow_inf_nan=False, description="Camera pitch, -90 straight down."
    )
    gimbal_yaw_deg: float = Field(ge=0, lt=360, allow_inf_nan=False, description="Camera azimuth.")
    battery_pct: float | None = Field(None, ge=0, le=100, description="Battery charge, percent.")
    speed_ms: float | None = Field(None, ge=0, le=60, description="Ground speed, m/s.")
