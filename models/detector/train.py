"""Training the project's detector on simulator output and labelled frames, with an evaluation report.

The recipe (``recipes/NAME.yaml``) fixes the architecture, classes, seeds, hyper-parameters and
any default labelled-frame folders. Training renders a YOLO dataset from the simulator (train
and validation seeds), adds labelled frames in YOLO format (validated first, then split by seed
into train, validation and a held-out test part), trains with ultralytics on the CPU (or a GPU
when asked), then evaluates the best weights on the held-out frames — simulator frames rendered
from *other* seeds and the held-out labelled frames, each also on its own — and writes
``report.json``, ``report.md`` and the confusion matrix beside the weights.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from zhizhi.models.detector import RECIPE_PATH, WEIGHTS_DIR
from zhizhi.models.detector.labelled import IMAGE_SUFFIXES, load_labelled, split_frames, write_split
from zhizhi.models.detector.realmix import RealMixOptions, build_real_mix
from zhizhi.video.observation import CLASSES

#: The sections of a held-out evaluation, by where its frames come from.
SOURCES = ("simulator", "real")
#: Labels of the confusion matrix's rows and columns.
CONFUSION_LABELS = [*CLASSES, "background"]
CONFUSION_HELP = (
    "Counts at the validator's thresholds; rows: true class, columns: predicted class, both in "
    "the order of confusion_labels (the project's classes, then background)."
)


#: The ultralytics training arguments :func:`train_detector` sets itself (not in ``train_args``).
TRAIN_ARGS_SET = frozenset({
    "data", "epochs", "imgsz", "batch", "device", "seed", "deterministic", "amp", "plots", "pretrained", "cls",
    "close_mosaic", "warmup_epochs", "workers", "project", "name", "exist_ok", "verbose", "model", "resume",
})

#: Detector names: file stems of the weights and report, and model-version names.
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


class DetectorRecipe(BaseModel):
    """How a detector is made."""

    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    architecture: str = Field(description="An ultralytics model yaml.")
    init_from: str | None = Field(
        None,
        description="Start from the weights of an earlier recipe of this project (a name under "
        "weights/), or from a weights file (a path ending in .pt: a registered version's); None "
        "trains from scratch. Nothing is ever downloaded.",
    )
    classes: list[str]
    seed: int
    imgsz: int = Field(gt=0)
    epochs: int = Field(gt=0)
    batch: int = Field(gt=0)
    cls_gain: float = Field(0.5, gt=0, description="Weight of the classification loss.")
    close_mosaic: int = Field(10, ge=0, description="Last epochs trained without mosaic.")
    warmup_epochs: float = Field(3.0, ge=0, description="Epochs of learning-rate warm-up (ultralytics' default 3).")
    frames_per_clip: int = Field(gt=0)
    scenarios: list[str] | None = Field(None, description="Simulator scenarios rendered (None: all).")
    train_seeds: list[int]
    val_seeds: list[int]
    test_seeds: list[int]
    data: list[Path] = Field(
        default_factory=list,
        description="Folders of labelled frames (YOLO format) always added to the simulator's; "
        "relative paths are relative to the recipe file.",
    )
    real_val_fraction: float = Field(0.15, gt=0, lt=1, description="Share of labelled frames for validation.")
    real_test_fraction: float = Field(0.2, gt=0, lt=1, description="Share of labelled frames held out for the report.")
    goal_map50: float = 0.9
    train_args: dict[str, Any] = Field(
        default_factory=dict,
        description="More ultralytics training arguments (e.g. optimizer, lr0, nbs, val: a fine-tuning's "
        "gentler steps); none of those set from the fields above.",
    )
    real_mix: RealMixOptions | None = Field(
        None,
        description="Real-looking images made for training (models.detector.realmix): composites of "
        "simulator objects on real backgrounds, hard negatives mined from real clips, surveillance "
        "augmentation. They are split and held out like labelled frames.",
    )

    @classmethod
    def load(cls, path: Path = RECIPE_PATH) -> DetectorRecipe:
        path = Path(path)
        recipe = cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        if tuple(recipe.classes) != CLASSES:
            raise ValueError(f"recipe classes {recipe.classes} differ from {list(CLASSES)}")
        overlap = set(recipe.test_seeds) & (set(recipe.train_seeds) | set(recipe.val_seeds))
        if overlap:
            raise ValueError(f"test seeds must be held out; also used for training: {sorted(overlap)}")
        if recipe.real_val_fraction + recipe.real_test_fraction >= 1:
            raise ValueError("real_val_fraction + real_test_fraction must leave labelled frames to train on")
        recipe.check_train_args()
        recipe.data = [d if d.is_absolute() else path.parent / d for d in recipe.data]
        if recipe.real_mix is not None:
            recipe.real_mix = recipe.real_mix.resolved(path.parent)
        return recipe

    def check_train_args(self) -> None:
        """``train_args`` may not set what the recipe's fields or the training itself set."""
        taken = sorted(set(self.train_args) & TRAIN_ARGS_SET)
        if taken:
            raise ValueError(f"train_args may not set {taken}: the recipe's fields or the training set them")

    def init_weights(self) -> Path | None:
        """The weights training starts from, or None (from scratch); they must exist locally."""
        if self.init_from is None:
            return None
        is_file = self.init_from.endswith(".pt")
        path = Path(self.init_from).expanduser() if is_file else WEIGHTS_DIR / f"{self.init_from}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"{self.name} starts from {self.init_from}, but {path} does not exist")
        return path


class HeldOutMetrics(BaseModel):
    """Scores on one part of the held-out frames (simulator or real)."""

    images: int
    map50: float
    map50_95: float
    precision: dict[str, float]
    recall: dict[str, float]
    ap50: dict[str, float]
    instances: dict[str, int] = Field(default_factory=dict, description="Boxes per class in these frames.")
    confusion_matrix: list[list[int]] = Field(default_factory=list, description=CONFUSION_HELP)
    confusion_matrix_png: str | None = Field(None, description="The normalised matrix, beside the weights.")


class EvaluationReport(BaseModel):
    """The held-out evaluation of a trained detector (fields added since v2 have defaults)."""

    name: str
    weights: str
    weights_bytes: int
    map50: float
    map50_95: float
    precision: dict[str, float]
    recall: dict[str, float]
    ap50: dict[str, float]
    instances: dict[str, int] = Field(default_factory=dict)
    test_images: int
    test_seeds: list[int]
    train_seconds: float
    epochs: int
    imgsz: int
    goal_map50: float
    meets_goal: bool
    confusion_labels: list[str] = Field(default_factory=list)
    confusion_matrix: list[list[int]] = Field(default_factory=list, description=CONFUSION_HELP)
    confusion_matrix_png: str | None = None
    held_out: dict[str, HeldOutMetrics] = Field(
        default_factory=dict, description="The same scores on the held-out simulator and real frames apart."
    )
    simulator: bool = Field(True, description="Whether simulator frames were trained on.")
    data: list[str] = Field(default_factory=list, description="Folders of labelled frames trained on.")
    real_frames: dict[str, int] = Field(
        default_factory=dict, description="Labelled frames in train, val and (held-out) test."
    )
    trained_at: str | None = None
    site: dict[str, Any] | None = Field(
        None,
        description="Site adaptation (zhizhi adapt): the camera, its recording, the mined frames and the "
        "false boxes before and after on the held-out slice (models.detector.site).",
    )


def output_weights(recipe: DetectorRecipe, weights_out: Path | None = None) -> Path:
    """Where training writes the weights: ``weights_out``, else ``weights/NAME.pt``."""
    return Path(weights_out) if weights_out else WEIGHTS_DIR / f"{recipe.name}.pt"


def _ultralytics(workdir: Path):
    os.environ.setdefault("YOLO_CONFIG_DIR", str(workdir / "ultralytics-config"))
    os.environ.setdefault("YOLO_OFFLINE", "1")  # no online checks, telemetry or updates
    from ultralytics import YOLO

    return YOLO


def train_detector(
    recipe: DetectorRecipe,
    workdir: Path,
    *,
    weights_out: Path | None = None,
    device: str = "cpu",
    epochs: int | None = None,
    progress: bool = True,
    data_dirs: Sequence[Path] = (),
    simulator: bool = True,
    workers: int = 2,
) -> EvaluationReport:
    """Prepare the data, train, evaluate on held-out frames, and write weights + report.

    ``data_dirs`` adds folders of labelled frames to the recipe's; ``simulator=False`` trains
    on labelled frames only. Labelled frames are validated before anything is rendered or
    trained (:class:`models.detector.labelled.LabelledDataError`).
    """
    from zhizhi.video.simulator.dataset import export_yolo_dataset

    folders = list(dict.fromkeys(Path(d) for d in [*recipe.data, *data_dirs]))
    if folders and recipe.real_mix is not None:
        load_labelled(folders)  # the given frames are checked before the real mix is built (minutes)
    if recipe.real_mix is not None:
        mix = recipe.real_mix
        mine_with = mix.mine_weights or recipe.init_from
        folders.append(
            build_real_mix(
                mix,
                Path(workdir).resolve() / "real_mix",
                seed=recipe.seed,
                weights=WEIGHTS_DIR / f"{mine_with}.pt" if mine_with else None,
                device=device,
                progress=progress,
            )
        )
    if not simulator and not folders:
        raise ValueError("training without simulator frames needs labelled frames (--data DIR)")
    split = None
    if folders:
        split = split_frames(
            load_labelled(folders),
            seed=recipe.seed,
            val_fraction=recipe.real_val_fraction,
            test_fraction=recipe.real_test_fraction,
        )
    init = recipe.init_weights()
    recipe.check_train_args()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    yolo = _ultralytics(workdir)
    train_dirs: list[Path] = []
    val_dirs: list[Path] = []
    held_out: dict[str, list[Path]] = {}
    if simulator:
        common = {"frames_per_clip": recipe.frames_per_clip, "imgsz": recipe.imgsz,
                  "scenarios": recipe.scenarios, "progress": progress}
        data = export_yolo_dataset(
            workdir / "data", train_seeds=recipe.train_seeds, val_seeds=recipe.val_seeds, **common
        ).parent
        test = export_yolo_dataset(
            workdir / "test", train_seeds=recipe.test_seeds[:1], val_seeds=recipe.test_seeds, **common
        ).parent
        train_dirs.append(data / "images" / "train")
        val_dirs.append(data / "images" / "val")
        held_out["simulator"] = [test / "images" / "val"]
    if split is not None:
        real = write_split(split, workdir / "real", folders)
        train_dirs.append(real["train"])
        val_dirs.append(real["val"])
        held_out["real"] = [real["test"]]
    data_yaml = write_data_yaml(workdir / "train.yaml", train_dirs, val_dirs)
    started = time.perf_counter()
    model = yolo(str(init) if init else recipe.architecture)
    model.train(
        data=str(data_yaml),
        epochs=epochs or recipe.epochs,
        imgsz=recipe.imgsz,
        batch=recipe.batch,
        device=device,
        seed=recipe.seed,
        deterministic=True,
        amp=False,  # the AMP check would download a model
        plots=False,
        pretrained=init is not None,
        cls=recipe.cls_gain,
        close_mosaic=recipe.close_mosaic,
        warmup_epochs=recipe.warmup_epochs,
        workers=workers,
        project=str(workdir / "runs"),  # absolute: ultralytics nests relative ones
        name="train",
        exist_ok=True,
        verbose=progress,
        **recipe.train_args,
    )
    best = workdir / "runs" / "train" / "weights" / "best.pt"
    out = output_weights(recipe, weights_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_training(workdir / "runs" / "train" / "results.csv", out.with_name(f"{out.stem}.training.png"))
    train_seconds = time.perf_counter() - started
    return evaluate_detector(
        recipe,
        best,
        held_out,
        workdir,
        weights_out=weights_out,
        device=device,
        epochs=epochs or recipe.epochs,
        train_seconds=train_seconds,
        progress=progress,
        workers=workers,
        simulator=simulator,
        data=[str(f) for f in folders],
        real_frames=split.counts() if split is not None else {},
    )


def write_data_yaml(path: Path, train: Sequence[Path], val: Sequence[Path]) -> Path:
    """An ultralytics dataset file over image folders (absolute paths), with the project's classes."""

    def one_or_list(dirs: Sequence[Path]) -> str | list[str]:
        paths = [str(Path(d).resolve()) for d in dirs]
        return paths[0] if len(paths) == 1 else paths

    data = {
        "path": str(path.parent.resolve()),
        "train": one_or_list(train),
        "val": one_or_list(val),
        "nc": len(CLASSES),
        "names": dict(enumerate(CLASSES)),
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def evaluate_detector(
    recipe: DetectorRecipe,
    best: Path,
    held_out: Mapping[str, Sequence[Path]],
    workdir: Path,
    *,
    weights_out: Path | None = None,
    device: str = "cpu",
    epochs: int,
    train_seconds: float,
    progress: bool = True,
    workers: int = 2,
    simulator: bool = True,
    data: Sequence[str] = (),
    real_frames: Mapping[str, int] | None = None,
) -> EvaluationReport:
    """Copy trained weights into place, evaluate them on the held-out frames, write the report.

    ``held_out`` maps a source (``simulator``, ``real``) to its image folders: the overall
    scores are on all of them together, and each source is also scored on its own.
    """
    if not held_out:
        raise ValueError("nothing held out to evaluate on")
    yolo = _ultralytics(Path(workdir))
    weights_out = output_weights(recipe, weights_out)
    weights_out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best, weights_out)
    stem = weights_out.name.removesuffix(".pt")
    model = yolo(str(weights_out))
    runs = Path(workdir).resolve() / "runs"

    def score(name: str, dirs: Sequence[Path], png: str) -> HeldOutMetrics:
        yaml_path = write_data_yaml(runs / f"{name}.yaml", dirs, dirs)
        metrics = model.val(
            data=str(yaml_path),
            imgsz=recipe.imgsz,
            batch=recipe.batch,
            device=device,
            workers=workers,
            plots=True,
            project=str(runs),
            name=name,
            exist_ok=True,
            verbose=progress,
        )
        matrix = runs / name / "confusion_matrix_normalized.png"
        if matrix.exists():
            shutil.copyfile(matrix, weights_out.parent / png)
        return _held_out_metrics(metrics, dirs, png if matrix.exists() else None)

    runs.mkdir(parents=True, exist_ok=True)
    everything = [d for dirs in held_out.values() for d in dirs]
    overall = score("test", everything, f"{stem}.confusion_matrix.png")
    sections = {
        source: overall
        if len(held_out) == 1
        else score(f"test-{source}", dirs, f"{stem}.{source}.confusion_matrix.png")
        for source, dirs in held_out.items()
    }
    report = EvaluationReport(
        name=recipe.name,
        weights=weights_out.name,
        weights_bytes=weights_out.stat().st_size,
        **overall.model_dump(exclude={"images"}),
        test_images=overall.images,
        test_seeds=recipe.test_seeds if "simulator" in held_out else [],
        train_seconds=round(train_seconds, 1),
        epochs=epochs,
        imgsz=recipe.imgsz,
        goal_map50=recipe.goal_map50,
        meets_goal=overall.map50 >= recipe.goal_map50,
        confusion_labels=CONFUSION_LABELS,
        held_out=sections,
        simulator=simulator,
        data=list(data),
        real_frames=dict(real_frames or {}),
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    _write_report(report, weights_out.parent)
    return report


def _held_out_metrics(metrics, dirs: Sequence[Path], png: str | None) -> HeldOutMetrics:
    """The scores of an ultralytics validation run, keyed by class name."""
    names = [metrics.names[i] for i in sorted(metrics.names)]
    ap50 = metrics.box.all_ap[:, 0] if len(metrics.box.all_ap) else []
    per_class = list(metrics.box.ap_class_index)
    counts = getattr(metrics, "nt_per_class", None)
    confusion = getattr(metrics, "confusion_matrix", None)
    return HeldOutMetrics(
        images=sum(1 for d in dirs for p in Path(d).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
        map50=float(metrics.box.map50),
        map50_95=float(metrics.box.map),
        precision={names[c]: round(float(p), 4) for c, p in zip(per_class, metrics.box.p)},
        recall={names[c]: round(float(r), 4) for c, r in zip(per_class, metrics.box.r)},
        ap50={names[c]: round(float(a), 4) for c, a in zip(per_class, ap50)},
        instances={n: int(k) for n, k in zip(names, counts)} if counts is not None else {},
        confusion_matrix=confusion.matrix.T.round().astype(int).tolist() if confusion is not None else [],
        confusion_matrix_png=png,
    )


def plot_training(results_csv: Path, out_png: Path) -> Path | None:
    """Validation mAP50 / mAP50-95 and training losses by epoch, as a PNG beside the weights."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not Path(results_csv).is_file():
        return None
    with Path(results_csv).open(encoding="utf-8") as f:
        rows = [{k.strip(): float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    epochs = [r["epoch"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=110)
    left.plot(epochs, [r["metrics/mAP50(B)"] for r in rows], marker="o", label="mAP50 (validation)")
    left.plot(epochs, [r["metrics/mAP50-95(B)"] for r in rows], marker="o", label="mAP50-95 (validation)")
    left.set_xlabel("epoch")
    left.set_ylim(0, 1)
    left.grid(alpha=0.3)
    left.legend()
    for key, label in (("train/box_loss", "box"), ("train/cls_loss", "class"), ("train/dfl_loss", "dfl")):
        right.plot(epochs, [r[key] for r in rows], label=f"{label} loss (training)")
    right.set_xlabel("epoch")
    right.grid(alpha=0.3)
    right.legend()
    fig.suptitle(out_png.stem.removesuffix(".training"))
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)
    return out_png


def _class_table(scores: EvaluationReport | HeldOutMetrics) -> str:
    """The per-class table of a report or section (a dash for classes absent from its frames)."""

    def cell(values: dict[str, float], name: str) -> str:
        return f"{values[name]:.3f}" if name in values else "—"

    rows = "\n".join(
        f"| {c} | {scores.instances.get(c, '—')} | {cell(scores.precision, c)} | {cell(scores.recall, c)} "
        f"| {cell(scores.ap50, c)} |"
        for c in CLASSES
    )
    return (
        "| class | boxes | precision | recall | AP50 |\n| --- | --- | --- | --- | --- |\n"
        f"{rows}\n| **all** | {sum(scores.instances.values()) or '—'} | | | **{scores.map50:.3f}** (mAP50) |\n"
    )


def _write_report(report: EvaluationReport, folder: Path) -> None:
    stem = report.weights.removesuffix(".pt")
    (folder / f"{stem}.report.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    parts = []
    if "simulator" in report.held_out:
        parts.append(f"simulator seeds {report.test_seeds} ({report.held_out['simulator'].images} images)")
    if "real" in report.held_out:
        parts.append(f"{report.held_out['real'].images} labelled frames")
    trained_on = ["simulator frames"] if report.simulator else []
    if report.data:
        counts = report.real_frames
        trained_on.append(
            f"{counts.get('train', 0)} + {counts.get('val', 0)} (validation) labelled frames "
            f"from {', '.join(report.data)}"
        )
    text = (
        f"# {report.name}: evaluation on held-out {' and '.join(parts)}\n\n"
        f"mAP50 **{report.map50:.3f}** (goal {report.goal_map50}), mAP50-95 {report.map50_95:.3f}, "
        f"{report.test_images} images, {report.epochs} epochs at imgsz {report.imgsz}, "
        f"trained in {report.train_seconds / 60:.1f} min on {' and '.join(trained_on)}, "
        f"weights {report.weights_bytes / 1e6:.1f} MB.\n\n"
        f"{_class_table(report)}\n"
        f"![confusion matrix]({stem}.confusion_matrix.png)\n"
    )
    if len(report.held_out) > 1:
        titles = {"simulator": "Held-out simulator frames", "real": "Held-out real (labelled) frames"}
        for source, scores in report.held_out.items():
            text += (
                f"\n## {titles.get(source, source)}\n\n"
                f"{scores.images} images: mAP50 **{scores.map50:.3f}**, mAP50-95 {scores.map50_95:.3f}.\n\n"
                f"{_class_table(scores)}\n"
            )
            if scores.confusion_matrix_png:
                text += f"![confusion matrix, {source}]({scores.confusion_matrix_png})\n"
    if (folder / f"{stem}.training.png").is_file():
        text += f"\n![training by epoch]({stem}.training.png)\n"
    (folder / f"{stem}.report.md").write_text(text, encoding="utf-8")
