"""The value type and protocol every detector backend shares.

A backend takes a batch of ``(camera_id, BGR image)`` pairs and returns one :class:`TrackedBoxes`
per item: numpy arrays of boxes, confidences, class indices and per-camera track ids.

>>> b = TrackedBoxes(xyxy=[[10, 20, 30, 60]], conf=[0.9], cls=[1], track_id=[7], names=("a", "b"))
>>> len(b), b.class_names(), b.foot_points().tolist()
(1, ['b'], [[20.0, 60.0]])
>>> len(TrackedBoxes.empty(("a",)))
0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike


class DetectorError(RuntimeError):
    """A detector cannot be built or run (missing weights, bad options)."""


@dataclass(frozen=True, eq=False)
class TrackedBoxes:
    """Tracked objects of one camera's analysed frame (arrays aligned by row)."""

    xyxy: np.ndarray  # (n, 4) float32, pixels
    conf: np.ndarray  # (n,) float32
    cls: np.ndarray  # (n,) int64, index into ``names``
    track_id: np.ndarray  # (n,) int64, stable per camera
    names: tuple[str, ...]

    def __init__(
        self,
        xyxy: ArrayLike,
        conf: ArrayLike,
        cls: ArrayLike,
        track_id: ArrayLike,
        names: Sequence[str],
    ) -> None:
        set_ = object.__setattr__
        set_(self, "xyxy", np.asarray(xyxy, dtype=np.float32).reshape(-1, 4))
        set_(self, "conf", np.asarray(conf, dtype=np.float32).reshape(-1))
        set_(self, "cls", np.asarray(cls, dtype=np.float64).reshape(-1).astype(np.int64))
        set_(self, "track_id", np.asarray(track_id, dtype=np.float64).reshape(-1).astype(np.int64))
        set_(self, "names", tuple(names))
        n = len(self.xyxy)
        if not (len(self.conf) == len(self.cls) == len(self.track_id) == n):
            raise ValueError("xyxy, conf, cls and track_id must have the same number of rows")

    @classmethod
    def empty(cls, names: Sequence[str]) -> TrackedBoxes:
        """No boxes, with the right shapes and dtypes."""
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0), np.zeros(0), names)

    def __len__(self) -> int:
        return len(self.xyxy)

    def class_names(self) -> list[str]:
        """The class name of each box."""
        return [self.names[int(i)] for i in self.cls]

    def foot_points(self) -> np.ndarray:
        """Bottom-centre of each box, ``(n, 2)`` float32: where the object meets the ground."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        return np.stack([x, self.xyxy[:, 3]], axis=1).astype(np.float32)

    def centers(self) -> np.ndarray:
        """Centre of each box, ``(n, 2)`` float32."""
        return ((self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2).astype(np.float32)


@runtime_checkable
class TrackingDetector(Protocol):
    """Detects and tracks objects in batches of frames from several cameras."""

    names: tuple[str, ...]

    def update(self, frames: Sequence[tuple[str, np.ndarray]]) -> list[TrackedBoxes]:
        """Tracked boxes of each ``(camera_id, BGR image)``, in order; ids stable per camera."""
        ...

    def reset(self, camera_id: str) -> None:
        """Forget one camera's tracker state (e.g. after a stream reconnect)."""
        ...

    def close(self) -> None:
        """Release models and per-camera state."""
        ...
