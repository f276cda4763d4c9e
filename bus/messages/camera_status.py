"""``camera_status``: the health of one camera's source, on every change (workers -> console).

>>> s = CameraStatus(camera_id="CAM-0001", state="reconnecting", since=1_700_000_000.0)
>>> s.to_wire()["type"], CameraStatus.from_wire(s.to_wire()) == s
('camera_status', True)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from zhizhi.bus.messages.base import BusMessage

CameraState = Literal["starting", "online", "reconnecting", "offline"]


class CameraStatus(BusMessage):
    """A snapshot of a camera source: state, measured rate, counters and the last error."""

    KIND = "camera_status"

    camera_id: str = Field(description="The camera's id.")
    state: CameraState = Field(
        description="starting: first open; online: frames flow; reconnecting: failed and "
        "retrying; offline: failing for a while (still retrying) or finished/stopped."
    )
    fps: float = Field(0.0, ge=0, description="Measured source frame rate over a sliding window.")
    last_frame_ts: float | None = Field(None, description="Timestamp of the newest frame.")
    frames: int = Field(0, ge=0, description="Frames read from the source.")
    dropped: int = Field(0, ge=0, description="Frames replaced before analysis took them.")
    reconnects: int = Field(
        0, ge=0, description="Attempts to open the source again after a failure."
    )
    error: str | None = Field(None, description="Why the source is not delivering, in plain words.")
    since: float = Field(description="When the current state began, seconds since the epoch.")
