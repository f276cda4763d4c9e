"""The shipped warning model on simulator truth: each scenario gives exactly its own rule.

Truth is the detector-free upper bound: positions, speeds and headings exactly as simulated.
The same scenarios through the shipped detector are in ``test_video_shipped_detector.py``.
"""

from __future__ import annotations

import json

import pytest

from zhizhi.models.warning.alert_line import alert_line
from zhizhi.models.warning.config import load_model
from zhizhi.models.warning.engine import WarningEngine
from zhizhi.models.warning.scene import places_for
from zhizhi.video.camera_config import load_camera_configs
from zhizhi.video.simulator import simulate
from zhizhi.video.simulator.truth import read_truth_frames

EXPECTED = {
    "normal": [],
    "hazmat-stop": ["abnormal_stop"],
    "hazmat-prohibited-zone": ["zone_entry"],
    "wrong-way": ["wrong_way"],
    "speeding": ["speeding"],
    "crowd": ["crowd"],
}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    out = {}
    for scenario in EXPECTED:
        folder = tmp_path_factory.mktemp(scenario)
        simulate(scenario, 31, folder)
        out[scenario] = folder
    return out


def replay(folder, jurisdictions, every_n: int = 2):
    """Run the shipped model over a scene's truth; the alert lines of the warnings that ended."""
    camera = load_camera_configs(folder / "camera.json")[0]
    engine = WarningEngine(load_model(), places_for([camera]))
    events = []
    for batch in read_truth_frames(folder / "truth.jsonl", camera.id, every_n=every_n):
        events += engine.process_frame(batch)
    events += engine.flush()
    return [alert_line(w, jurisdictions) for w in events if not w.active], events


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_each_scenario_gives_exactly_its_rule(scenes, jurisdictions, scenario):
    lines, events = replay(scenes[scenario], jurisdictions)
    assert [line["rule"] for line in lines] == EXPECTED[scenario], lines
    assert len({e.key for e in events}) == len(lines)  # updates never become extra alerts
    facts = json.loads((scenes[scenario] / "scene.json").read_text())["facts"]
    for line in lines:
        assert line["type"] == "alert" and line["source"] == "video" and line["district"] == "320612"
        assert line["grid"] and line["village"] and line["town"]
        actor = facts.get("tanker_track_id") or facts.get("wrong_way_track_id") or facts.get("speeding_track_id")
        if actor is not None:
            assert line["track_id"] == actor


def test_hazmat_stop_is_timed_and_located_as_truth_says(scenes, jurisdictions):
    lines, _ = replay(scenes["hazmat-stop"], jurisdictions, every_n=1)
    (line,) = lines
    facts = json.loads((scenes["hazmat-stop"] / "scene.json").read_text())["facts"]
    # stopped (below 3 km/h) from shortly before the stop starts to shortly after it ends
    assert abs(line["first_ts"] - facts["stop_start_ts"]) < 1.0
    assert abs(line["last_ts"] - facts["stop_end_ts"]) < 1.5
    assert line["grid"] == jurisdictions.locate(*facts["stop_lonlat"]).grid
    assert line["severity"] in ("orange", "red")


def test_prohibited_zone_entry_is_timed_by_truth(scenes, jurisdictions):
    lines, _ = replay(scenes["hazmat-prohibited-zone"], jurisdictions, every_n=1)
    (line,) = lines
    facts = json.loads((scenes["hazmat-prohibited-zone"] / "scene.json").read_text())["facts"]
    assert line["details"]["zone"] == facts["zone"] and line["severity"] == "red"
    assert abs(line["first_ts"] - facts["enter_ts"]) < 0.5


def test_speeding_reports_the_simulated_speed(scenes, jurisdictions):
    lines, _ = replay(scenes["speeding"], jurisdictions, every_n=1)
    (line,) = lines
    facts = json.loads((scenes["speeding"] / "scene.json").read_text())["facts"]
    assert line["details"]["limit_kmh"] == facts["speed_limit_kmh"]
    assert line["details"]["max_speed_kmh"] == pytest.approx(facts["speed_kmh"], abs=0.5)
