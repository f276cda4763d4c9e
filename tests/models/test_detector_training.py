"""``zhizhi train`` on labelled frames (YOLO format) and simulator output; the report; registration.

Labelled folders are validated before anything is trained, with messages naming file and line.
One real (tiny) training run on the CPU — a few simulator frames plus labelled frames drawn here
with OpenCV, 1 epoch at imgsz 64 — checks the report (mAP, per-class precision and recall, the
confusion matrix, real frames scored apart) and the registration of the weights. Everything is
written under ``tmp_path``.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from zhizhi.models.detector import RECIPES_DIR, SHIPPED_WEIGHTS, WEIGHTS_DIR
from zhizhi.models.detector.labelled import LabelledDataError, load_labelled, split_frames
from zhizhi.models.detector.register import file_sha256, manifest_for, register_weights
from zhizhi.video.observation import CLASSES

#: Class ids of the labelled folders written here (a subset of the project's, in another order).
NAMES = ["person", "car"]


def write_frames(folder: Path, count: int, *, names: list[str] | None = NAMES, seed: int = 0,
                 sub: str = "", backgrounds: int = 1) -> Path:
    """``count`` frames with a car (wide blue box) and a person (tall red box); the last
    ``backgrounds`` frames have no label file."""
    rng = np.random.default_rng(seed)
    (folder / "images" / sub).mkdir(parents=True, exist_ok=True)
    (folder / "labels" / sub).mkdir(parents=True, exist_ok=True)
    if names is not None:
        (folder / "data.yaml").write_text(yaml.safe_dump({"names": names}), encoding="utf-8")
    ids = {name: i for i, name in enumerate(names or CLASSES)}
    w, h = 128, 96
    for i in range(count):
        image = rng.integers(90, 140, size=(h, w, 3), dtype=np.uint8)
        rows = []
        if i < count - backgrounds:
            for cls, colour, (bw, bh) in (("car", (200, 60, 20), (40, 20)), ("person", (30, 30, 220), (10, 30))):
                x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
                cv2.rectangle(image, (x, y), (x + bw, y + bh), colour, -1)
                rows.append(f"{ids[cls]} {(x + bw / 2) / w:.5f} {(y + bh / 2) / h:.5f} {bw / w:.5f} {bh / h:.5f}")
            (folder / "labels" / sub / f"frame{i:03d}.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
        cv2.imwrite(str(folder / "images" / sub / f"frame{i:03d}.jpg"), image)
    return folder


def problems_of(folder: Path) -> str:
    with pytest.raises(LabelledDataError) as caught:
        load_labelled([folder])
    return str(caught.value)


# --- validation of labelled folders ------------------------------------------------------------


def test_a_valid_folder_is_read_with_ids_remapped(tmp_path):
    folder = write_frames(tmp_path / "frames", 4, sub="train")
    frames = load_labelled([folder])
    assert [f.key for f in frames] == [f"train/frame{i:03d}" for i in range(4)]
    assert {row[0] for f in frames for row in f.rows} == {CLASSES.index("car"), CLASSES.index("person")}
    assert frames[-1].rows == ()  # an image without labels is a background frame


def test_without_data_yaml_the_ids_are_the_projects(tmp_path):
    folder = write_frames(tmp_path / "frames", 2, names=None, backgrounds=0)
    assert {row[0] for f in load_labelled([folder]) for row in f.rows} == {0, 4}


def test_a_bad_line_is_named_by_file_and_line(tmp_path):
    folder = write_frames(tmp_path / "frames", 3)
    label = folder / "labels" / "frame001.txt"
    label.write_text(label.read_text() + "1 0.5 0.5 0.2\n", encoding="utf-8")
    message = problems_of(folder)
    assert f"{label}:3: expected 5 fields 'cls cx cy w h', got 4" in message


def test_values_outside_0_1_are_refused(tmp_path):
    folder = write_frames(tmp_path / "frames", 3)
    label = folder / "labels" / "frame000.txt"
    label.write_text("1 1.5 0.5 0.2 -0.1\n", encoding="utf-8")
    assert f"{label}:1: cx 1.5, h -0.1 not a normalised value in [0, 1]" in problems_of(folder)


def test_a_class_id_out_of_range_is_refused(tmp_path):
    folder = write_frames(tmp_path / "frames", 3)  # data.yaml names 2 classes: ids 0 and 1
    label = folder / "labels" / "frame002.txt"
    label.write_text("0 0.5 0.5 0.1 0.1\n2 0.5 0.5 0.2 0.2\n", encoding="utf-8")
    assert f"{label}:2: class id 2 is out of range (valid ids: 0, 1)" in problems_of(folder)


def test_an_unreadable_image_is_refused(tmp_path):
    folder = write_frames(tmp_path / "frames", 3)
    broken = folder / "images" / "frame001.jpg"
    broken.write_bytes(b"not a jpeg at all")
    assert f"{broken}: OpenCV cannot read this image" in problems_of(folder)


def test_an_unknown_class_name_in_data_yaml_is_refused(tmp_path):
    folder = write_frames(tmp_path / "frames", 3)
    (folder / "data.yaml").write_text("names: [car, bicycle]\n", encoding="utf-8")
    message = problems_of(folder)
    assert f"{folder / 'data.yaml'}: class name 'bicycle' (id 1) is not one of the project's classes" in message
    assert "car, bus, truck, hazmat_tanker, person" in message


def test_classes_listed_under_drop_are_left_out(tmp_path):
    folder = write_frames(tmp_path / "frames", 3, names=["bike", "person", "car"])
    (folder / "labels" / "frame000.txt").write_text(
        "0 0.5 0.5 0.1 0.2\n2 0.3 0.3 0.2 0.1\n1 0.6 0.6 0.05 0.2\n", encoding="utf-8")
    (folder / "data.yaml").write_text("names: [bike, person, car]\ndrop: [bike]\n", encoding="utf-8")
    frames = {f.key: f for f in load_labelled([folder])}
    assert [row[0] for row in frames["frame000"].rows] == [CLASSES.index("car"), CLASSES.index("person")]


def test_a_project_class_cannot_be_dropped_and_an_unlisted_one_is_named(tmp_path):
    folder = write_frames(tmp_path / "frames", 3)
    (folder / "data.yaml").write_text("names: [car, bike]\ndrop: [car]\n", encoding="utf-8")
    message = problems_of(folder)
    assert "'car' is one of the project's classes: it cannot be dropped" in message
    assert "class name 'bike' (id 1) is not one of the project's classes" in message
    assert "list it under 'drop'" in message
    (folder / "data.yaml").write_text("names: [car, person]\ndrop: bike\n", encoding="utf-8")
    assert "'drop' must list class names" in problems_of(folder)


def test_an_exports_copies_of_one_picture_stay_in_one_part_of_the_split(tmp_path):
    folder = write_frames(tmp_path / "frames", 24, backgrounds=0)
    for i, image in enumerate(sorted((folder / "images").glob("*.jpg"))):
        source = f"cam{i // 3}_jpg.rf.{i:04x}"  # 8 pictures, 3 augmented copies each (Roboflow's names)
        image.rename(image.with_name(f"{source}.jpg"))
        (folder / "labels" / f"{image.stem}.txt").rename(folder / "labels" / f"{source}.txt")
    split = split_frames(load_labelled([folder]), seed=7, val_fraction=0.15, test_fraction=0.2)
    parts = {name: {f.key.split("_jpg")[0] for f in getattr(split, name)} for name in ("train", "val", "test")}
    assert not (parts["train"] & parts["val"] or parts["train"] & parts["test"] or parts["val"] & parts["test"])
    assert sum(split.counts().values()) == 24 and all(n % 3 == 0 for n in split.counts().values())
    assert split.counts()["test"] == 6  # 2 of the 8 pictures, with their copies


def test_a_label_needs_its_image_and_a_folder_its_subfolders(tmp_path):
    folder = write_frames(tmp_path / "frames", 3)
    (folder / "labels" / "lost.txt").write_text("0 0.5 0.5 0.1 0.1\n", encoding="utf-8")
    assert f"{folder / 'labels' / 'lost.txt'}: no image for this label" in problems_of(folder)
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    assert "needs images/ and labels/ (missing labels/)" in problems_of(empty)


def test_all_problems_are_listed_at_once(tmp_path):
    folder = write_frames(tmp_path / "frames", 3)
    (folder / "labels" / "frame000.txt").write_text("x y z w h\n", encoding="utf-8")
    (folder / "labels" / "frame001.txt").write_text("0 0.5 0.5 0 0.1\n", encoding="utf-8")
    with pytest.raises(LabelledDataError) as caught:
        load_labelled([folder])
    assert len(caught.value.problems) == 2
    assert "frame000.txt:1: not numbers" in str(caught.value)
    assert "frame001.txt:1: box width and height must be above 0" in str(caught.value)


def test_the_split_is_seeded_and_holds_frames_out(tmp_path):
    frames = load_labelled([write_frames(tmp_path / "frames", 20)])
    split = split_frames(frames, seed=7, val_fraction=0.15, test_fraction=0.2)
    again = split_frames(list(reversed(frames)), seed=7, val_fraction=0.15, test_fraction=0.2)
    assert split == again
    assert split.counts() == {"train": 13, "val": 3, "test": 4}
    keys = [{f.key for f in getattr(split, s)} for s in ("train", "val", "test")]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert split_frames(frames, seed=8, val_fraction=0.15, test_fraction=0.2) != split
    tiny = split_frames(frames[:3], seed=7, val_fraction=0.15, test_fraction=0.2)
    assert tiny.counts() == {"train": 1, "val": 1, "test": 1}
    with pytest.raises(LabelledDataError, match="at least 3"):
        split_frames(frames[:2], seed=7, val_fraction=0.15, test_fraction=0.2)


# --- the command: refusals before any training ----------------------------------------------------


def cli(*args: str):
    from zhizhi.console.cli import app

    return CliRunner().invoke(app, ["train", *args])


def test_own_frames_need_a_new_name_so_the_shipped_weights_stay(tmp_path):
    folder = write_frames(tmp_path / "frames", 3)
    result = cli("--data", str(folder), "--workdir", str(tmp_path / "w"))
    assert result.exit_code == 2 and "give it a --name" in result.output
    sim_only = str(RECIPES_DIR / "zhizhi-det-v2.yaml")  # a recipe without labelled folders of its own
    result = cli("--no-sim", "--name", "x", "--recipe", sim_only, "--workdir", str(tmp_path / "w"))
    assert result.exit_code == 2 and "--no-sim trains on labelled frames only" in result.output
    result = cli("--data", str(folder), "--name", "x", "--register", "--workdir", str(tmp_path / "w"))
    assert result.exit_code == 2 and "--register needs a --reason" in result.output


@pytest.mark.parametrize("recipe", ["zhizhi-det-v2", "zhizhi-det-v5"])  # v5 builds a real mix first
def test_the_command_reports_bad_labels_before_training(tmp_path, recipe):
    folder = write_frames(tmp_path / "frames", 3)
    (folder / "data.yaml").write_text("names: {0: car, 1: bicycle}\n", encoding="utf-8")
    path = str(RECIPES_DIR / f"{recipe}.yaml")
    result = cli("--data", str(folder), "--name", "x", "--recipe", path, "--workdir", str(tmp_path / "w"))
    assert result.exit_code == 2
    assert "class name 'bicycle' (id 1) is not one of the project's classes" in result.output
    assert not (tmp_path / "w" / "runs").exists() and not (tmp_path / "w" / "real_mix").exists()


# --- registration -------------------------------------------------------------------------------------


class FakeStore:
    """Stands in for ``models.versions.store.ModelStore`` (the interface registration codes against)."""

    def __init__(self, engine=None) -> None:
        self.added: list[tuple[str, str, str, str]] = []

    def add(self, kind: str, content: str, author: str, reason: str):
        self.added.append((kind, content, author, reason))
        manifest = json.loads(content)
        return types.SimpleNamespace(kind=kind, name=manifest["name"], version=len(self.added), status="draft",
                                     content=content, author=author, reason=reason)


def v2_report() -> dict:
    return json.loads(SHIPPED_WEIGHTS.with_name("zhizhi-det-v2.report.json").read_text())


def test_manifest_and_registration_with_a_fake_store(tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights bytes")
    report = v2_report()
    manifest = manifest_for(weights, report)
    sha = hashlib.sha256(b"weights bytes").hexdigest()
    assert manifest == {"name": "zhizhi-det-v2", "version": None, "weights_path": str(weights.resolve()),
                        "sha256": sha, "report": manifest["report"]}
    assert manifest["report"]["precision"] == report["precision"]
    assert manifest_for(weights, report, version=3)["version"] == 3
    store = FakeStore()
    assert register_weights(store, weights, report, "li.wei", "first county frames").version == 1
    kind, content, author, reason = store.added[0]
    assert (kind, author, reason) == ("detector", "li.wei", "first county frames")
    assert json.loads(content) == manifest
    with pytest.raises(FileNotFoundError):
        manifest_for(tmp_path / "missing.pt", report)
    with pytest.raises(ValueError, match="reason"):
        register_weights(store, weights, report, "li.wei", " ")
    shipped = manifest_for(SHIPPED_WEIGHTS)  # the report beside the weights
    assert shipped["sha256"] == file_sha256(SHIPPED_WEIGHTS)
    assert shipped["report"]["held_out"]["simulator"]["map50"] >= 0.9  # issue 16: the simulator's held-out seeds


def test_registration_in_the_real_version_store(tmp_path):
    versions = pytest.importorskip("zhizhi.models.versions.store")
    from zhizhi.layers import make_engine

    store = versions.ModelStore(make_engine("sqlite://"))
    weights = tmp_path / "county-det.pt"
    weights.write_bytes(b"v1 weights")
    report = {**v2_report(), "name": "county-det"}
    first = register_weights(store, weights, report, "li.wei", "first county frames")
    assert (first.kind, first.label, first.status) == ("detector", "county-det@1", "draft")
    assert register_weights(store, weights, report, "li.wei", "again").version == 1  # the same manifest
    weights.write_bytes(b"retrained weights")
    assert register_weights(store, weights, report, "li.wei", "retrained").label == "county-det@2"
    stored = json.loads(store.get("detector", "county-det", 2).content)
    assert stored["sha256"] == file_sha256(weights) and stored["report"]["recall"] == report["recall"]


# --- one real training run --------------------------------------------------------------------------


def tiny_recipe(root: Path, **fields) -> Path:
    """A recipe that trains in seconds: 1 epoch at imgsz 64 on a few frames of one scenario."""
    recipe = root / "tiny.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "tiny-det", "architecture": "yolov8n.yaml", "classes": list(CLASSES), "seed": 5,
        "imgsz": 64, "epochs": 1, "batch": 4, "close_mosaic": 0, "frames_per_clip": 2,
        "scenarios": ["normal"], "train_seeds": [1], "val_seeds": [2], "test_seeds": [3], **fields,
    }), encoding="utf-8")
    return recipe


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``zhizhi train --data ... --register`` on a tiny recipe: 1 epoch at imgsz 64."""
    root = tmp_path_factory.mktemp("training")
    recipe = tiny_recipe(root, data=["frames-a"])  # relative to the recipe file
    write_frames(root / "frames-a", 6, seed=1)
    write_frames(root / "frames-b", 6, seed=2, sub="day")
    weights = root / "out" / "county-det-v1.pt"
    try:
        from zhizhi.models.versions.store import ModelStore
    except ImportError:  # the version store is not in this checkout: register into a fake
        ModelStore = None
    stores: list = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOLO_CONFIG_DIR", str(root / "yolo"))
        mp.setenv("ZHIZHI_DATA_DIR", str(root / "data"))
        if ModelStore is None:
            for name in ("zhizhi.models.versions", "zhizhi.models.versions.store"):
                fake = types.ModuleType(name)
                fake.__spec__ = importlib.machinery.ModuleSpec(name, None)
                fake.ModelStore = lambda engine: stores.append(FakeStore()) or stores[-1]
                mp.setitem(sys.modules, name, fake)
            engine = types.SimpleNamespace(dispose=lambda: None)
        else:
            from zhizhi.layers import make_engine

            engine = make_engine(f"sqlite:///{root / 'console.db'}")
        mp.setattr("zhizhi.console.state.open_store", lambda settings: (engine, None))
        import ultralytics  # noqa: F401  (its log handler binds to the real stdout, not the runner's)

        result = cli("--recipe", str(recipe), "--data", str(root / "frames-b"), "--name", "county-det-v1",
                     "--weights-out", str(weights), "--workdir", str(root / "work"), "--workers", "0",
                     "--register", "--reason", "first county frames", "--author", "li.wei")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if ModelStore is not None:
        added = [(v.kind, v.content, v.author, v.reason) for v in ModelStore(engine).list("detector")]
    else:
        added = stores[0].added
    return root, weights, lines, added


def test_training_writes_weights_and_a_report_with_per_class_scores(trained):
    root, weights, lines, _ = trained
    report = json.loads(weights.with_name("county-det-v1.report.json").read_text())
    assert lines[0] == report
    assert report["name"] == "county-det-v1" and report["weights"] == "county-det-v1.pt"
    assert 0.0 <= report["map50"] <= 1.0 and 0.0 <= report["map50_95"] <= report["map50"] + 1e-9
    for key in ("precision", "recall", "ap50"):
        assert report[key] and set(report[key]) <= set(CLASSES), key
        assert all(0.0 <= v <= 1.0 for v in report[key].values())
    assert set(report["instances"]) == set(CLASSES) and report["instances"]["car"] > 0
    assert report["confusion_labels"] == [*CLASSES, "background"]
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (6, 6) and matrix.sum() > 0
    assert (weights.parent / report["confusion_matrix_png"]).is_file()
    assert report["simulator"] is True
    assert report["data"] == [str(root / "frames-a"), str(root / "frames-b")]
    assert report["real_frames"] == {"train": 8, "val": 2, "test": 2}
    assert report["test_seeds"] == [3]


def test_the_report_scores_real_frames_apart_from_simulator_frames(trained):
    _, weights, _, _ = trained
    report = json.loads(weights.with_name("county-det-v1.report.json").read_text())
    sim, real = report["held_out"]["simulator"], report["held_out"]["real"]
    assert real["images"] == 2 and sim["images"] == 2
    assert report["test_images"] == sim["images"] + real["images"]
    assert set(real["instances"]) == set(CLASSES) and real["instances"]["person"] >= 1
    assert real["instances"]["bus"] == 0
    for section in (sim, real):
        assert set(section["precision"]) <= set(CLASSES) and set(section["recall"]) <= set(CLASSES)
        assert (weights.parent / section["confusion_matrix_png"]).is_file()
    assert real["confusion_matrix_png"] == "county-det-v1.real.confusion_matrix.png"
    md = weights.with_name("county-det-v1.report.md").read_text()
    assert "| class | boxes | precision | recall | AP50 |" in md
    assert "## Held-out real (labelled) frames" in md and "## Held-out simulator frames" in md
    assert "![confusion matrix](county-det-v1.confusion_matrix.png)" in md


def test_the_weights_are_registered_as_a_model_version(trained):
    _, weights, lines, added = trained
    assert len(added) == 1
    kind, content, author, reason = added[0]
    assert (kind, author, reason) == ("detector", "li.wei", "first county frames")
    manifest = json.loads(content)
    assert manifest["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert manifest["weights_path"] == str(weights.resolve())
    assert manifest["name"] == "county-det-v1" and manifest["version"] in (None, 1)
    assert manifest["report"] == lines[0]
    assert lines[1] == {"type": "model_version", "kind": "detector", "name": "county-det-v1", "version": 1,
                        "status": "draft", "weights_path": str(weights.resolve()), "sha256": manifest["sha256"]}


def test_no_sim_trains_and_scores_on_labelled_frames_only(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "yolo"))
    recipe = tiny_recipe(tmp_path)
    frames = write_frames(tmp_path / "frames", 6, names=None)
    weights = tmp_path / "out" / "only-real.pt"
    result = cli("--recipe", str(recipe), "--no-sim", "--data", str(frames), "--weights-out", str(weights),
                 "--workdir", str(tmp_path / "work"), "--workers", "0")
    assert result.exit_code == 0, result.output
    report = json.loads(weights.with_name("only-real.report.json").read_text())
    assert report["simulator"] is False and report["test_seeds"] == [] and list(report["held_out"]) == ["real"]
    assert report["real_frames"] == {"train": 4, "val": 1, "test": 1} and report["test_images"] == 1
    assert report["held_out"]["real"]["map50"] == report["map50"]
    assert (weights.parent / "only-real.confusion_matrix.png").is_file()
    assert not (tmp_path / "work" / "data").exists()  # nothing rendered


def test_the_shipped_weights_were_left_alone(trained):
    assert sorted(p.name for p in WEIGHTS_DIR.iterdir() if p.name.startswith(("tiny", "county"))) == []
