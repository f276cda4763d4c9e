"""Track identity: the ids the console shows, from the tracker's raw ids.

A tracker keeps a lost track for a while (ByteTrack: 30 updates, six seconds at 5 frames/s) and
hands its id to whatever box appears near its last prediction; on a real road that is often
another vehicle. The reverse also happens: one vehicle, briefly hidden, comes back under a new
id, and a stopped tanker's alert history restarts. So, per camera:

- **split**: a raw id seen again after more than ``max_gap_s``, or with a jump from where its
  motion predicted it that no road user makes (more than ``jump_boxes`` box sizes), becomes a
  new track;
- **join**: a track that starts within ``join_within_s`` of another track's end, where that
  track's last motion predicted it (within ``join_boxes`` of its box height), at a similar size
  and of the same kind (person or vehicle), continues that track's id. Only a track that has
  ended can be continued, and one new track at most continues it: two vehicles seen at once
  never share an id.

>>> ids = TrackIdentity()
>>> box = lambda x: [[x, 100, x + 40, 140]]
>>> [int(ids.assign("cam", t * 0.2, [7], box(10 + 8 * t), ["car"])[0]) for t in range(3)]
[7, 7, 7]
>>> int(ids.assign("cam", 1.0, [9], box(50), ["car"])[0])  # lost 0.6 s, back where it was headed
7
>>> int(ids.assign("cam", 9.0, [7], box(50), ["car"])[0])  # raw id 7 again 8 s later: a new track
1000000
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from zhizhi.video.observation import VEHICLES

#: First id given to a track made by a split (raw tracker ids stay far below it).
SPLIT_IDS_FROM = 1_000_000


@dataclass
class _Shown:
    """The last sighting of a shown track, with its pixel velocity (foot point, px/s)."""

    ts: float
    u: float
    v: float
    height: float
    vehicle: bool
    vu: float = 0.0
    vv: float = 0.0

    def predict(self, ts: float) -> tuple[float, float]:
        dt = ts - self.ts
        return self.u + self.vu * dt, self.v + self.vv * dt


class TrackIdentity:
    """Raw tracker ids -> shown ids, per camera (see the module's doc)."""

    def __init__(
        self,
        *,
        max_gap_s: float = 1.5,
        join_within_s: float = 3.0,
        join_boxes: float = 0.6,
        jump_boxes: float = 1.5,
        size_ratio: float = 1.6,
        forget_after_s: float = 30.0,
    ) -> None:
        self.max_gap_s = max_gap_s
        self.join_within_s = join_within_s
        self.join_boxes = join_boxes
        self.jump_boxes = jump_boxes
        self.size_ratio = size_ratio
        self.forget_after_s = forget_after_s
        self._raw: dict[str, dict[int, int]] = {}  # camera -> raw id -> shown id
        self._shown: dict[str, dict[int, _Shown]] = {}  # camera -> shown id -> last sighting
        self._next: dict[str, int] = {}

    def assign(
        self, camera_id: str, ts: float, raw_ids: ArrayLike, xyxy: ArrayLike, classes: Sequence[str]
    ) -> NDArray[np.int64]:
        """The shown id of each box of one frame (its raw tracker ids, boxes and detected classes)."""
        raw = np.asarray(raw_ids, dtype=np.int64).reshape(-1)
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        mapping = self._raw.setdefault(camera_id, {})
        shown = self._shown.setdefault(camera_id, {})
        foot_u = (boxes[:, 0] + boxes[:, 2]) / 2.0
        foot_v = boxes[:, 3]
        height = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
        out = np.empty(len(raw), dtype=np.int64)
        fresh: list[int] = []
        for i, rid in enumerate(raw.tolist()):
            current = mapping.get(rid)
            last = shown.get(current) if current is not None else None
            if last is not None and self._continues(last, ts, foot_u[i], foot_v[i], height[i]):
                out[i] = current
            else:
                fresh.append(i)
        taken = set(out[[i for i in range(len(raw)) if i not in fresh]].tolist())
        for i in fresh:
            kind = classes[i] in VEHICLES
            joined = self._join(shown, taken, ts, foot_u[i], foot_v[i], height[i], kind)
            if joined is None:
                rid = int(raw[i])
                joined = rid if rid not in shown and rid not in mapping.values() else self._split_id(camera_id)
            mapping[int(raw[i])] = joined
            out[i] = joined
            taken.add(joined)
        for i, sid in enumerate(out.tolist()):
            self._see(shown, sid, ts, foot_u[i], foot_v[i], height[i], classes[i] in VEHICLES)
        self._forget(camera_id, ts)
        return out

    def _continues(self, last: _Shown, ts: float, u: float, v: float, height: float) -> bool:
        """Whether a raw id's new box can be the same object as its last sighting."""
        gap = ts - last.ts
        if gap > self.max_gap_s:
            return False
        pu, pv = last.predict(ts)
        return bool(np.hypot(u - pu, v - pv) <= self.jump_boxes * max(height, last.height) + 10.0)

    def _join(
        self, shown: dict[int, _Shown], taken: set[int], ts: float, u: float, v: float, height: float, vehicle: bool
    ) -> int | None:
        """The ended track this new one continues, or None."""
        best, best_dist = None, float("inf")
        for sid, last in shown.items():
            gap = ts - last.ts
            if sid in taken or gap <= 0 or gap > self.join_within_s or last.vehicle != vehicle:
                continue
            if not (1.0 / self.size_ratio <= height / last.height <= self.size_ratio):
                continue
            pu, pv = last.predict(ts)
            dist = float(np.hypot(u - pu, v - pv))
            if dist <= self.join_boxes * max(height, last.height) and dist < best_dist:
                best, best_dist = sid, dist
        return best

    def _see(self, shown: dict[int, _Shown], sid: int, ts: float, u: float, v: float, height: float,
             vehicle: bool) -> None:
        last = shown.get(sid)
        if last is None or ts <= last.ts:
            shown[sid] = _Shown(ts, float(u), float(v), float(height), vehicle)
            return
        dt = ts - last.ts
        alpha = 0.5 if dt <= self.max_gap_s else 1.0  # after a join, the motion seen over the gap
        last.vu = (1 - alpha) * last.vu + alpha * (u - last.u) / dt
        last.vv = (1 - alpha) * last.vv + alpha * (v - last.v) / dt
        last.ts, last.u, last.v, last.height, last.vehicle = ts, float(u), float(v), float(height), vehicle

    def _split_id(self, camera_id: str) -> int:
        n = self._next.get(camera_id, SPLIT_IDS_FROM)
        self._next[camera_id] = n + 1
        return n

    def _forget(self, camera_id: str, now: float) -> None:
        shown = self._shown[camera_id]
        stale = {sid for sid, last in shown.items() if now - last.ts > self.forget_after_s}
        if not stale:
            return
        for sid in stale:
            del shown[sid]
        mapping = self._raw[camera_id]
        for rid in [r for r, sid in mapping.items() if sid in stale]:
            del mapping[rid]

    def reset(self, camera_id: str) -> None:
        """Forget a camera's tracks."""
        self._raw.pop(camera_id, None)
        self._shown.pop(camera_id, None)
        self._next.pop(camera_id, None)
