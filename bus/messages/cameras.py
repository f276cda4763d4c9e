"""``cameras``: the camera registry changed (the console that wrote it -> every console and
registry-fed worker, which re-read the registry).

The message names what changed, never a stream URL (those may carry credentials): readers take
the records from the store.

>>> m = CamerasChanged(action="updated", ids=("CAM-0001",), revision=3)
>>> m.to_wire()
{'type': 'cameras_changed', 'action': 'updated', 'ids': ['CAM-0001'], 'revision': 3}
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from zhizhi.bus.messages.base import BusMessage


class CamerasChanged(BusMessage):
    """Cameras of the registry were added, changed or removed (or a batch was imported)."""

    KIND = "cameras_changed"

    action: Literal["added", "updated", "removed", "imported", "seeded"] = Field(
        description="What happened to them."
    )
    ids: tuple[str, ...] = Field((), max_length=100_000, description="The cameras concerned.")
    revision: int | None = Field(None, ge=1, description="The record's new revision (one camera changed).")
