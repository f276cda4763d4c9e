"""The health of one camera's source, as shown on the wall and published on the bus.

:class:`CameraStatus` is the ``camera_status`` topic's message type itself
(:mod:`zhizhi.bus.messages.camera_status`): one definition for the sources, the bus and the wall.

>>> s = CameraStatus(camera_id="CAM-0001", state="reconnecting", error="file not found: /x.mp4",
...                  since=1_700_000_000.0)
>>> s.state, s.frames, s.model_dump(mode="json")["error"]
('reconnecting', 0, 'file not found: /x.mp4')
"""

from __future__ import annotations

from zhizhi.bus.messages.camera_status import CameraState, CameraStatus

__all__ = ["CameraState", "CameraStatus"]
