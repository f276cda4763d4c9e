"""Reading a simulation's ``truth.jsonl`` back as perfect observations, frame by frame.

Replaying truth through the warning models tells a rule's logic apart from the detector's
errors: the same rules run on truth and on detector output, and tests compare both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from zhizhi.video.observation import Observation


def read_truth_frames(
    truth_path: Path, camera_id: str, *, min_visible: float = 0.5, every_n: int = 1
) -> Iterator[tuple[float, list[Observation]]]:
    """``(ts, observations)`` per recorded frame (every ``every_n``-th), objects mostly in view."""
    with Path(truth_path).open(encoding="utf-8") as lines:
        for i, line in enumerate(lines):
            if i % every_n:
                continue
            record = json.loads(line)
            yield record["ts"], [
                Observation(
                    camera_id=camera_id,
                    ts=record["ts"],
                    track_id=obj["track_id"],
                    cls=obj["cls"],
                    conf=1.0,
                    bbox=tuple(obj["bbox"]),
                    lon=obj["lon"],
                    lat=obj["lat"],
                    speed_kmh=obj["speed_kmh"],
                    heading_deg=obj["heading_deg"] % 360.0,
                )
                for obj in record["objects"]
                if obj["visible"] >= min_visible
            ]
