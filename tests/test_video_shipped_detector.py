"""PENDING (issue 3): the shipped detector on a simulated hazmat-stop scene.

Not collected yet (no ``test_`` prefix): with the interim weights zhizhi-det-v1 (held-out mAP50
0.668, goal 0.9) the tanker recall here is 0.85 (goal 0.9) and the median speed error 10.5 %
(goal 10 %, the errors sit where the tanker brakes); geolocation already meets 3 m. Rename to
``test_video_shipped_detector.py`` once the retrained weights meet the goals.
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest

from gis.metric import geodesic_distance_m
from tests.test_video_end_to_end import _iou, _run_jsonl


@pytest.fixture(scope="module")
def hazmat_stop(tmp_path_factory):
    """A simulated hazmat-stop scene analysed by the shipped detector through the CLI."""
    out = tmp_path_factory.mktemp("hazmat-stop")
    _run_jsonl("simulate", "--scenario", "hazmat-stop", "--seed", "4242", "--out", str(out), tmp_path=out)
    lines = _run_jsonl(
        "analyze", str(out / "clip.mp4"), "--camera-config", str(out / "camera.json"), "--jsonl", tmp_path=out
    )
    truth = [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]
    fps = json.loads((out / "camera.json").read_text()).get("analysis_fps")
    return out, lines, truth, fps


def _tanker_matches(lines, truth):
    """Per analysed frame with a clearly visible tanker in truth: the matching observation or None."""
    by_frame: dict[float, list[dict]] = defaultdict(list)
    for obs in lines:
        if obs["type"] == "observation":
            by_frame[round(obs["ts"], 3)].append(obs)
    analysed = sorted(by_frame) if by_frame else []
    matches = []
    for record in truth:
        ts = round(record["ts"], 3)
        if ts not in by_frame and analysed and not (analysed[0] <= ts <= analysed[-1]):
            continue
        for obj in record["objects"]:
            if obj["cls"] != "hazmat_tanker" or obj["visible"] < 0.9:
                continue
            _, y1, _, y2 = obj["bbox"]
            if (y2 - y1) < 24:  # too far away to ask for
                continue
            if ts not in by_frame and ts not in set(analysed):
                continue
            best = max(
                (o for o in by_frame[ts] if o["cls"] == "hazmat_tanker"),
                key=lambda o: _iou(o["bbox"], obj["bbox"]),
                default=None,
            )
            hit = best if best is not None and _iou(best["bbox"], obj["bbox"]) >= 0.5 else None
            matches.append((obj, hit))
    return matches


def test_shipped_detector_finds_the_tanker(hazmat_stop):
    _, lines, truth, _ = hazmat_stop
    matches = _tanker_matches(lines, truth)
    assert len(matches) >= 50, "the scene should show the tanker in many analysed frames"
    recall = sum(hit is not None for _, hit in matches) / len(matches)
    assert recall >= 0.9, f"tanker recall {recall:.2f}"


def test_tanker_geolocated_within_3_m_and_speed_within_10_percent(hazmat_stop):
    _, lines, truth, _ = hazmat_stop
    matches = [(obj, hit) for obj, hit in _tanker_matches(lines, truth) if hit is not None and hit["lon"] is not None]
    errors = geodesic_distance_m(
        [h["lon"] for _, h in matches], [h["lat"] for _, h in matches],
        [o["lon"] for o, _ in matches], [o["lat"] for o, _ in matches],
    )
    assert np.median(errors) <= 3.0 and np.percentile(errors, 90) <= 3.0, (np.median(errors), np.percentile(errors, 90))
    moving = [(o, h) for o, h in matches if o["speed_kmh"] > 20 and h["speed_kmh"] is not None]
    assert len(moving) >= 10
    speed_errors = np.array([abs(h["speed_kmh"] - o["speed_kmh"]) / o["speed_kmh"] for o, h in moving])
    assert np.median(speed_errors) <= 0.10 and np.percentile(speed_errors, 80) <= 0.10, speed_errors
    stopped = [h for o, h in matches if o["stopped"] and h["speed_kmh"] is not None]
    assert len(stopped) >= 20 and np.median([h["speed_kmh"] for h in stopped]) < 3.0


