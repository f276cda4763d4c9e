"""The health of one camera's source, as shown on the wall and published on the bus.

>>> s = CameraStatus(camera_id="CAM-0001", state="reconnecting", error="file not found: /x.mp4",
...                  since=1_700_000_000.0)
>>> s.state, s.frames, s.model_dump(mode="json")["error"]
('reconnecting', 0, 'file not found: /x.mp4')
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

CameraState = Literal["starting", "online", "reconnecting", "offline"]


class CameraStatus(BaseModel):
    """A snapshot of a camera source: state, measured rate, counters and the last error."""

    camera_id: str
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
