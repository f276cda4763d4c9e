"""Reading a simulation's ``truth.jsonl`` back as perfect observations, frame by frame.

Replaying truth through the warning models tells a rule's logic apart from the detector's
errors: the same rules run on truth and on detector output, and tests compare both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from zhizhi.bus.messages.frames import ObservationBatch


def read_truth_frames(
    truth_path: Path, camera_id: str, *, min_visible: float = 0.5, every_n: int = 1
) -> Iterator[ObservationBatch]:
    """One batch per recorded frame (every ``every_n``-th): the objects mostly in view, sure (conf 1)."""
    with Path(truth_path).open(encoding="utf-8") as lines:
        for i, line in enumerate(lines):
            if i % every_n:
                continue
            record = json.loads(line)
            seen = [obj for obj in record["objects"] if obj["visible"] >= min_visible]
            yield ObservationBatch(
                camera_id,
                record["ts"],
                track_id=[obj["track_id"] for obj in seen],
                cls=[obj["cls"] for obj in seen],
                conf=[1.0] * len(seen),
                xyxy=[obj["bbox"] for obj in seen],
                lon=[obj["lon"] for obj in seen],
                lat=[obj["lat"] for obj in seen],
                speed_kmh=[obj["speed_kmh"] for obj in seen],
                heading_deg=[obj["heading_deg"] % 360.0 for obj in seen],
            )
