"""``zhizhi bench real-footage`` (issue 16's measuring contract) on a generated clip folder.

The command runs as an operator runs it (a subprocess, the shipped detector and warning model)
on short generated clips: one plain, one with ``NAME.camera.json`` beside it (its analysis rate
and id are used), one corrupt (an error entry; the others still run), with a small labels file.
The scoring arithmetic (matching, precision/recall, line crossings) is checked on known cases.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from zhizhi.bench.real_footage import (
    LabelsError,
    _Tally,
    count_crossings,
    crosses,
    match_frame,
    parse_labels,
    with_rates,
)

ZHIZHI = str(Path(sys.executable).parent / "zhizhi")
REPO = Path(__file__).resolve().parents[2]


def _write_clip(path: Path, frames: int = 20, fps: float = 10.0, size=(320, 240)) -> Path:
    """A grey road with a light box driving down across y = 120."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        image = np.full((size[1], size[0], 3), 95, np.uint8)
        y = 20 + 9 * i
        cv2.rectangle(image, (140, y), (180, y + 30), (230, 230, 230), -1)
        writer.write(image)
    writer.release()
    return path


def _run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZHIZHI_DATA_DIR": str(tmp_path / "data"), "YOLO_CONFIG_DIR": str(tmp_path / "yolo")}
    return subprocess.run([ZHIZHI, *args], capture_output=True, text=True, env=env, timeout=600, check=False,
                          stdin=subprocess.DEVNULL)


def _box(box, cls="car", **extra) -> dict:
    return {"box": [float(v) for v in box], "cls": cls, "also": extra.get("also", []),
            "ignore": extra.get("ignore", False)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    _write_clip(folder / "alpha.mp4")
    _write_clip(folder / "bravo.mp4")
    (folder / "bravo.camera.json").write_text(json.dumps(
        {"id": "CAM-BRAVO", "source": {"url": "bravo.mp4"}, "analysis_fps": 2}))
    (folder / "charlie.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 50)
    (folder / "labels.json").write_text(json.dumps({"clips": {
        "alpha": {"frames": [{"frame": 4, "boxes": [{"box": [140, 56, 180, 86], "cls": "car"}]},
                             {"frame": 5, "boxes": []}],  # 5 is not analysed at 5 frames/s of 10
                  "lines": [{"name": "mid", "points": [[0, 120], [320, 120]], "count": 1}]},
        "nowhere": {"frames": []},
    }}))
    return folder


@pytest.fixture(scope="module")
def result(folder, tmp_path_factory) -> tuple[dict, str]:
    run = _run("bench", "real-footage", str(folder), "--json", tmp_path=tmp_path_factory.mktemp("run"))
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout), run.stderr


def test_one_object_with_an_entry_per_clip_and_a_total(result):
    out, _ = result
    assert set(out) >= {"clips", "total"}
    assert list(out["clips"]) == ["alpha", "bravo", "charlie"]
    keys = {"frames", "tracks", "tanker_tracks_over_1s", "alerts", "fps", "tracks_by_class", "detections_by_class"}
    for name in ("alpha", "bravo"):
        entry = out["clips"][name]
        assert keys <= set(entry), name
        assert isinstance(entry["alerts"], dict) and entry["fps"] > 0
        assert entry["tracks"] == sum(entry["tracks_by_class"].values())
    assert keys <= set(out["total"])
    assert out["labels_without_clip"] == ["nowhere"]


def test_counts_frames_and_sums_the_total(result):
    out, _ = result
    alpha, bravo, total = out["clips"]["alpha"], out["clips"]["bravo"], out["total"]
    assert alpha["frames"] == bravo["frames"] == 20
    assert alpha["analysed_frames"] == 10  # the default camera: 5 of the clip's 10 frames/s
    assert total["frames"] == 40 and total["clips"] == 2 and total["errors"] == 1
    for key in ("tracks", "tanker_tracks_over_1s", "analysed_frames"):
        assert total[key] == alpha[key] + bravo[key]
    detections: dict[str, int] = {}
    for entry in (alpha, bravo):
        for cls, n in entry["detections_by_class"].items():
            detections[cls] = detections.get(cls, 0) + n
    assert total["detections_by_class"] == detections


def test_a_camera_config_beside_the_clip_is_used(result):
    out, _ = result
    bravo, alpha = out["clips"]["bravo"], out["clips"]["alpha"]
    assert bravo["camera"] == "CAM-BRAVO" and bravo["camera_config"] == "bravo.camera.json"
    assert bravo["analysed_frames"] == 4  # its own 2 frames/s: frames 0, 5, 10, 15
    assert alpha["camera"] == "alpha" and alpha["camera_config"] is None and not alpha["calibrated"]


def test_a_corrupt_clip_is_an_error_entry_and_the_others_run(result):
    out, stderr = result
    charlie = out["clips"]["charlie"]
    assert set(charlie) == {"clip", "error"} and charlie["clip"] == "charlie.mp4" and charlie["error"]
    progress = [line for line in stderr.splitlines() if line[:3] in ("[1/", "[2/", "[3/")]
    assert [line.split("]")[0] for line in progress] == ["[1/3", "[2/3", "[3/3"]
    assert "charlie: error:" in progress[2]


def test_labels_are_scored_on_the_analysed_frames(result):
    out, _ = result
    labels = out["clips"]["alpha"]["labels"]
    assert labels["frames_scored"] == 1 and labels["frames_not_analysed"] == [5]
    det = labels["detection"]
    assert det["tp"] + det["fn"] == 1  # one labelled box
    assert det["precision"] == (None if det["tp"] + det["fp"] == 0 else round(det["tp"] / (det["tp"] + det["fp"]), 4))
    assert det["recall"] == det["tp"]
    [line] = labels["lines"]
    assert line["true"] == 1 and line["error"] == line["counted"] - 1
    assert out["total"]["labels"]["count_abs_error"] == abs(line["error"])
    assert "labels" not in out["clips"]["bravo"] or out["clips"]["bravo"]["labels"]["frames_scored"] == 0


def test_a_readable_table_without_json(folder, tmp_path):
    run = _run("bench", "real-footage", str(folder), tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = run.stdout.splitlines()
    assert rows[0].split()[:3] == ["clip", "frames", "anal."]
    assert any(r.startswith("alpha") for r in rows) and any(r.startswith("TOTAL") for r in rows)
    assert any(r.startswith("charlie") and "error:" in r for r in rows)


def test_bad_input_is_refused_with_a_clear_message(folder, tmp_path):
    missing = _run("bench", "real-footage", str(tmp_path / "nope"), "--json", tmp_path=tmp_path)
    assert missing.returncode == 2 and "clip folder not found" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    none = _run("bench", "real-footage", str(empty), tmp_path=tmp_path)
    assert none.returncode == 2 and "no clips" in none.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"clips": {"alpha": {"frames": [{"frame": 4, "boxes": [{"box": [5, 5, 1, 9],
                                                                                      "cls": "car"}]}]}}}))
    refused = _run("bench", "real-footage", str(folder), "--labels", str(bad), tmp_path=tmp_path)
    assert refused.returncode == 2
    assert "clips.alpha.frames[0].boxes[0]" in refused.stderr and "x2 <= x1" in refused.stderr
    assert refused.stdout == ""  # refused before any clip ran


def test_a_plot_of_this_run_beside_an_earlier_one(folder, result, tmp_path):
    earlier = tmp_path / "before.json"
    earlier.write_text(json.dumps(result[0]))
    png = tmp_path / "boxes.png"
    run = _run("bench", "real-footage", str(folder), "--plot", str(png), "--compare", str(earlier), tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    image = cv2.imread(str(png))
    assert image is not None and image.shape[1] >= 1.9 * image.shape[0]  # a panel per clip (2), side by side
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    refused = _run("bench", "real-footage", str(folder), "--plot", str(png), "--compare", str(bad), tmp_path=tmp_path)
    assert refused.returncode == 2 and "bad.json: not a real-footage benchmark JSON" in refused.stderr
    lone = _run("bench", "real-footage", str(folder), "--compare", str(earlier), tmp_path=tmp_path)
    assert lone.returncode == 2 and "--plot" in lone.stderr


@pytest.mark.parametrize(("data", "message"), [
    ({}, "expected"),
    ({"clips": {"a": {"frames": [{"frame": -1}]}}}, "'frame' must be a frame index"),
    ({"clips": {"a": {"frames": [{"frame": 1}, {"frame": 1}]}}}, "labelled twice"),
    ({"clips": {"a": {"frames": [{"frame": 1, "boxes": [{"box": [0, 0, 5, 5], "cls": "tank"}]}]}}}, "'tank'"),
    ({"clips": {"a": {"lines": [{"points": [[0, 0]], "count": 3}]}}}, "two pixel points"),
    ({"clips": {"a": {"lines": [{"points": [[0, 0], [1, 1]], "count": -1}]}}}, "'count'"),
    ({"clips": {"a": {"frame": []}}}, "unknown keys"),
])
def test_labels_errors_name_the_place(data, message):
    with pytest.raises(LabelsError, match=message.replace("[", r"\[")):
        parse_labels(data, "L.json")


def test_matching_arithmetic_on_a_known_case():
    labels = [_box([0, 0, 100, 100]), _box([200, 0, 300, 100]), _box([400, 0, 500, 100], "person"),
              _box([600, 0, 700, 100], "car", also=["truck"]), _box([800, 0, 810, 10], ignore=True)]
    detections = [
        ("car", [5, 5, 100, 100]),           # tp (IoU 0.90)
        ("hazmat_tanker", [200, 0, 300, 100]),  # wrong class: fp class-aware, tp for any vehicle class
        ("car", [450, 0, 550, 100]),         # IoU 0.33 with the person, and a car: fp
        ("truck", [600, 0, 700, 100]),       # the label accepts truck: tp
        ("car", [800, 0, 810, 10]),          # on an ignore box: neither
        ("person", [0, 300, 50, 400]),       # nothing there: fp
    ]
    strict = match_frame(detections, labels, class_aware=True)
    assert (strict["tp"], strict["fp"], strict["fn"]) == (2, 3, 2)  # missed: the plain car at 200, the person
    assert strict["by_class"]["hazmat_tanker"] == {"tp": 0, "fp": 1, "fn": 0}
    assert strict["by_class"]["car"] == {"tp": 2, "fp": 1, "fn": 1}
    assert with_rates(strict) == {"tp": 2, "fp": 3, "fn": 2, "precision": 0.4, "recall": 0.5}
    loose = match_frame(detections, labels, class_aware=False)
    assert (loose["tp"], loose["fp"], loose["fn"]) == (3, 2, 1)
    assert with_rates({"tp": 0, "fp": 0, "fn": 0}) == {"tp": 0, "fp": 0, "fn": 0, "precision": None, "recall": None}


def test_one_detection_matches_one_label_at_most():
    labels = [_box([0, 0, 100, 100]), _box([10, 0, 110, 100])]
    result = match_frame([("car", [5, 0, 105, 100])], labels)
    assert (result["tp"], result["fp"], result["fn"]) == (1, 0, 1)


def test_line_crossings_counted_once_per_track_of_the_line_classes():
    a, b = [0.0, 100.0], [200.0, 100.0]
    assert crosses((50, 90), (50, 110), a, b) and not crosses((50, 90), (50, 99), a, b)
    assert not crosses((250, 90), (250, 110), a, b)  # beside the segment
    paths = {1: [(50, 80), (50, 95), (52, 120), (50, 90), (51, 130)],  # crosses three times: one vehicle
             2: [(100, 150), (100, 60)],                               # the other way: counted
             3: [(150, 50), (150, 150)],                               # a person
             4: [(300, 50), (300, 150)]}                               # outside the line's ends
    classes = {1: "car", 2: "truck", 3: "person", 4: "car"}
    line = {"points": [a, b], "classes": ["car", "bus", "truck", "hazmat_tanker"]}
    assert count_crossings(paths, classes, line) == 2


def test_a_shown_track_counts_over_its_path_before_it_was_shown():
    """Verification shows a car only once it has moved; the line it crossed while being verified
    still counts. A track never shown (never verified) does not."""
    tally = _Tally([])
    line = {"points": [[0.0, 100.0], [200.0, 100.0]], "classes": ["car", "bus", "truck", "hazmat_tanker"]}
    boxes = {1: [(40, 60, 60, 90), (40, 80, 60, 110), (40, 100, 60, 130)],  # crosses at the 2nd sighting
             2: [(140, 60, 160, 90), (140, 80, 160, 110), (140, 100, 160, 130)]}  # crosses, never shown
    for step in range(3):
        ids = np.array([1, 2])
        xyxy = np.array([boxes[1][step], boxes[2][step]], dtype=np.float32)
        tally.tracked("CAM", float(step), ids, xyxy)
        shown = [0] if step == 2 else []  # track 1 is shown from its 3rd sighting, below the line
        tally(types.SimpleNamespace(ts=float(step), track_id=ids[shown], cls=np.array(["car"])[: len(shown)],
                                    xyxy=xyxy[shown]))
    assert count_crossings(tally.paths, tally.cls, line) == 1 and set(tally.cls) == {1}


def test_the_repository_labels_are_valid():
    from zhizhi.bench.real_footage import load_labels

    labels = load_labels(REPO / "tests" / "data" / "real_footage_labels.json")
    assert set(labels) == {"highway_720p_24fps", "parking_lot_768x432_12fps", "indoor_people_768x432_10fps"}
    assert len(labels["highway_720p_24fps"]["frames"]) >= 6 and labels["highway_720p_24fps"]["lines"][0]["count"] == 7
    indoor = labels["indoor_people_768x432_10fps"]["frames"]
    assert {b["cls"] for boxes in indoor.values() for b in boxes} == {"person"}


# --- camera configs from a folder (--cameras) ----------------------------------------------------

CAMERAS = REPO / "tests" / "data" / "real_footage_cameras"
SHARED_CLIPS = ("highway_720p_24fps", "parking_lot_768x432_12fps", "indoor_people_768x432_10fps")


def test_a_cameras_folder_comes_before_the_config_beside_the_clip(tmp_path):
    from zhizhi.bench.real_footage import clip_camera

    clips, cameras = tmp_path / "clips", tmp_path / "cameras"
    clips.mkdir()
    cameras.mkdir()
    for name in ("echo", "fox", "golf"):
        (clips / f"{name}.mp4").write_bytes(b"")
    (clips / "echo.camera.json").write_text(json.dumps({"id": "ECHO-BESIDE", "source": {"url": "echo.mp4"}}))
    (cameras / "echo.camera.json").write_text(json.dumps({"id": "ECHO-DIR", "source": {"url": "echo.mp4"}}))
    (clips / "fox.camera.json").write_text(json.dumps({"id": "FOX-BESIDE", "source": {"url": "fox.mp4"}}))
    camera, source = clip_camera(clips / "echo.mp4", cameras)
    assert (camera.id, source) == ("ECHO-DIR", str(cameras / "echo.camera.json"))
    camera, source = clip_camera(clips / "fox.mp4", cameras)  # none in the folder: the one beside
    assert (camera.id, source) == ("FOX-BESIDE", "fox.camera.json")
    camera, source = clip_camera(clips / "golf.mp4", cameras)  # neither: uncalibrated
    assert (camera.id, source, camera.calibration) == ("golf", None, None)
    assert clip_camera(clips / "echo.mp4")[0].id == "ECHO-BESIDE"  # without the folder, as before


def test_the_cameras_option_through_the_command(tmp_path):
    clips, cameras = tmp_path / "clips", tmp_path / "cameras"
    clips.mkdir()
    cameras.mkdir()
    _write_clip(clips / "delta.mp4", frames=10)
    (clips / "delta.camera.json").write_text(json.dumps({"id": "DELTA-BESIDE", "source": {"url": "delta.mp4"}}))
    config = json.loads((CAMERAS / "parking_lot_768x432_12fps.camera.json").read_text())
    (cameras / "delta.camera.json").write_text(json.dumps({**config, "id": "DELTA-DIR", "analysis_fps": 2}))
    run = _run("bench", "real-footage", str(clips), "--cameras", str(cameras), "--json", tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    delta = out["clips"]["delta"]
    assert out["cameras"] == str(cameras)
    assert delta["camera"] == "DELTA-DIR" and delta["calibrated"] and delta["camera_config"] == str(
        cameras / "delta.camera.json")
    assert delta["analysed_frames"] == 2  # its own 2 frames/s of the clip's 10: frames 0 and 5
    missing = _run("bench", "real-footage", str(clips), "--cameras", str(tmp_path / "nope"), tmp_path=tmp_path)
    assert missing.returncode == 2 and "camera config folder not found" in missing.stderr and missing.stdout == ""


def _same(a, b) -> bool:
    """Equal JSON, numbers to 1e-9 relative (a fit's last bits differ between BLAS builds)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        numbers = isinstance(a, int | float) and isinstance(b, int | float)
        return numbers and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def test_the_repository_camera_configs_are_valid_and_measure_the_highway():
    from zhizhi.bench.real_footage_cameras import configs
    from zhizhi.video.camera_config import load_camera_configs

    assert sorted(p.name for p in CAMERAS.glob("*.camera.json")) == sorted(f"{n}.camera.json" for n in SHARED_CLIPS)
    made = configs()
    for name in SHARED_CLIPS:
        [camera] = load_camera_configs(CAMERAS / f"{name}.camera.json")
        assert camera.calibration is not None and camera.calibration.reprojection_error_px < 1.0, name
        stored = json.loads((CAMERAS / f"{name}.camera.json").read_text())
        assert _same(stored, json.loads(json.dumps(made[name]))), (
            f"{name}: differs from bench/real_footage_cameras.py (python -m zhizhi.bench.real_footage_cameras)")
    [highway] = load_camera_configs(CAMERAS / "highway_720p_24fps.camera.json")
    cal = highway.calibration
    # the edge lines, not used in the fit, lie one lane (3.66 m) outside the dashed lines: 3 lanes
    x, _ = cal.pixel_to_metric(np.array([424.0, 360.0, 295.5]), np.array([420.0, 540.0, 660.0]))
    assert np.allclose(x - cal.pixel_to_metric(531.6, 653.7)[0], -3.66, atol=0.1)
    x, _ = cal.pixel_to_metric(np.array([918.2, 962.5, 1008.1]), np.array([540.0, 600.0, 660.0]))
    assert np.allclose(x - cal.pixel_to_metric(531.6, 653.7)[0], 7.32, atol=0.1)
    assert [lane.speed_limit_kmh for lane in highway.lanes] == [105.0] * 3 and highway.speed_limit_kmh == 105.0
