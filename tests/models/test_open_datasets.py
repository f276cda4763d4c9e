"""Open datasets laid out as labelled folders: names mapped, other classes dropped, sources kept."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

from zhizhi.models.detector.labelled import load_labelled
from zhizhi.models.detector.open_datasets import DATASETS, lay_out, main
from zhizhi.video.observation import CLASSES


def roboflow_export(root: Path) -> Path:
    """An export shaped like atl-traffic's: train/valid/test each with images/ and labels/."""
    rows = {"train": "0 0.2 0.2 0.1 0.1\n2 0.5 0.5 0.2 0.1\n3 0.7 0.7 0.2 0.2\n", "valid": "1 0.5 0.5 0.3 0.2\n",
            "test": ""}
    for part, text in rows.items():
        (root / part / "images").mkdir(parents=True)
        (root / part / "labels").mkdir(parents=True)
        cv2.imwrite(str(root / part / "images" / f"7_png.rf.{part}.jpg"), np.full((40, 60, 3), 120, np.uint8))
        if text:
            (root / part / "labels" / f"7_png.rf.{part}.txt").write_text(text, encoding="utf-8")
    return root


def test_a_roboflow_export_becomes_a_labelled_folder_with_its_bikes_dropped(tmp_path):
    out = tmp_path / "atl"
    counts = lay_out(DATASETS["atl-traffic"], roboflow_export(tmp_path / "src"), out)
    assert counts == {"images": 3, "car": 1, "truck": 1, "bus": 1}
    data = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    assert data["drop"] == ["bike"] and data["licence"] == "CC BY 4.0"
    assert "yuskun/object_detected" in data["source"]
    frames = {f.key: f for f in load_labelled([out])}
    assert sorted(frames) == ["test/7_png.rf.test", "train/7_png.rf.train", "valid/7_png.rf.valid"]
    assert [CLASSES[r[0]] for r in frames["train/7_png.rf.train"].rows] == ["car", "truck"]
    assert frames["test/7_png.rf.test"].rows == ()  # no label file: a background picture


def test_coco_names_come_from_its_config_and_the_command_prints_counts(tmp_path, capsys):
    src = tmp_path / "coco"
    (src / "object_detection").mkdir(parents=True)
    (src / "object_detection" / "config.yaml").write_text(
        yaml.safe_dump({"names": {0: "person", 1: "bicycle", 2: "car", 3: "traffic light"}}), encoding="utf-8")
    (src / "images" / "train2017").mkdir(parents=True)
    (src / "object_detection" / "labels" / "train2017").mkdir(parents=True)
    cv2.imwrite(str(src / "images" / "train2017" / "000000000009.jpg"), np.zeros((30, 30, 3), np.uint8))
    (src / "object_detection" / "labels" / "train2017" / "000000000009.txt").write_text(
        "0 0.5 0.5 0.2 0.6\n3 0.1 0.1 0.05 0.1\n2 0.6 0.6 0.3 0.2\n", encoding="utf-8")
    assert main(["coco128", str(src), str(tmp_path / "out")]) == 0
    assert "{'images': 1, 'person': 1, 'car': 1}" in capsys.readouterr().out
    data = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text(encoding="utf-8"))
    assert data["drop"] == ["bicycle", "traffic light"]


def test_the_v4_recipe_trains_on_the_open_datasets_laid_out_under_var():
    import json

    from zhizhi.models.detector import RECIPES_DIR, WEIGHTS_DIR
    from zhizhi.models.detector.train import DetectorRecipe

    recipe = DetectorRecipe.load(RECIPES_DIR / "zhizhi-det-v4.yaml")
    assert recipe.init_from == "zhizhi-det-v2" and recipe.init_weights().is_file()
    assert recipe.test_seeds == [3000, 3001, 3002, 3003, 3004]  # the held-out seeds v1-v3 were scored on
    assert [d.resolve().relative_to(Path(__file__).resolve().parents[2]).as_posix() for d in recipe.data] == [
        f"var/open-data/{name}" for name in DATASETS if name in {"atl-traffic", "coco128"}]
    report = json.loads((WEIGHTS_DIR / "zhizhi-det-v4.report.json").read_text(encoding="utf-8"))
    assert report["held_out"]["simulator"]["map50"] >= 0.9 and report["real_frames"]["test"] > 100
