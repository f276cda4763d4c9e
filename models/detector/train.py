"""Training the project's detector on simulator output, with an evaluation report.

The recipe (``recipes/NAME.yaml``) fixes the architecture, classes, seeds and hyper-parameters.
Training renders a YOLO dataset from the simulator (train and validation seeds), trains with
ultralytics from scratch on the CPU (or a GPU when asked), then evaluates the best weights on
a held-out set rendered from *other* seeds and writes ``report.json``, ``report.md`` and the
confusion matrix beside the weights.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from models.detector import RECIPE_PATH, WEIGHTS_DIR
from video.observation import CLASSES


class DetectorRecipe(BaseModel):
    """How the shipped detector is made."""

    name: str
    architecture: str = Field(description="An ultralytics model yaml.")
    init_from: str | None = Field(
        None,
        description="Start from the weights of an earlier recipe of this project (a name under "
        "weights/); None trains from scratch. Nothing is ever downloaded.",
    )
    classes: list[str]
    seed: int
    imgsz: int = Field(gt=0)
    epochs: int = Field(gt=0)
    batch: int = Field(gt=0)
    cls_gain: float = Field(0.5, gt=0, description="Weight of the classification loss.")
    close_mosaic: int = Field(10, ge=0, description="Last epochs trained without mosaic.")
    frames_per_clip: int = Field(gt=0)
    train_seeds: list[int]
    val_seeds: list[int]
    test_seeds: list[int]
    goal_map50: float = 0.9

    @classmethod
    def load(cls, path: Path = RECIPE_PATH) -> DetectorRecipe:
        recipe = cls.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
        if tuple(recipe.classes) != CLASSES:
            raise ValueError(f"recipe classes {recipe.classes} differ from {list(CLASSES)}")
        overlap = set(recipe.test_seeds) & (set(recipe.train_seeds) | set(recipe.val_seeds))
        if overlap:
            raise ValueError(f"test seeds must be held out; also used for training: {sorted(overlap)}")
        return recipe

    def init_weights(self) -> Path | None:
        """The weights training starts from, or None (from scratch); they must exist locally."""
        if self.init_from is None:
            return None
        path = WEIGHTS_DIR / f"{self.init_from}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"{self.name} starts from {self.init_from}, but {path} does not exist")
        return path


class EvaluationReport(BaseModel):
    """The held-out evaluation of a trained detector."""

    name: str
    weights: str
    weights_bytes: int
    map50: float
    map50_95: float
    precision: dict[str, float]
    recall: dict[str, float]
    ap50: dict[str, float]
    test_images: int
    test_seeds: list[int]
    train_seconds: float
    epochs: int
    imgsz: int
    goal_map50: float
    meets_goal: bool


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
) -> EvaluationReport:
    """Render the data, train, evaluate on held-out seeds, and write weights + report."""
    from video.simulator.dataset import export_yolo_dataset

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    yolo = _ultralytics(workdir)
    data = export_yolo_dataset(
        workdir / "data",
        train_seeds=recipe.train_seeds,
        val_seeds=recipe.val_seeds,
        frames_per_clip=recipe.frames_per_clip,
        imgsz=recipe.imgsz,
        progress=progress,
    )
    test = export_yolo_dataset(
        workdir / "test",
        train_seeds=recipe.test_seeds[:1],
        val_seeds=recipe.test_seeds,
        frames_per_clip=recipe.frames_per_clip,
        imgsz=recipe.imgsz,
        progress=progress,
    )
    init = recipe.init_weights()
    started = time.perf_counter()
    model = yolo(str(init) if init else recipe.architecture)
    model.train(
        data=str(data),
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
        workers=2,
        project=str(workdir.resolve() / "runs"),  # absolute: ultralytics nests relative ones
        name="train",
        exist_ok=True,
        verbose=progress,
    )
    best = workdir.resolve() / "runs" / "train" / "weights" / "best.pt"
    out = Path(weights_out or WEIGHTS_DIR / f"{recipe.name}.pt")
    plot_training(workdir.resolve() / "runs" / "train" / "results.csv", out.with_name(f"{recipe.name}.training.png"))
    return evaluate_detector(
        recipe,
        best,
        test,
        workdir,
        weights_out=weights_out,
        device=device,
        epochs=epochs or recipe.epochs,
        train_seconds=time.perf_counter() - started,
        progress=progress,
    )


def evaluate_detector(
    recipe: DetectorRecipe,
    best: Path,
    test_data: Path,
    workdir: Path,
    *,
    weights_out: Path | None = None,
    device: str = "cpu",
    epochs: int,
    train_seconds: float,
    progress: bool = True,
) -> EvaluationReport:
    """Copy trained weights into place, evaluate them on the held-out set, write the report."""
    yolo = _ultralytics(Path(workdir))
    weights_out = Path(weights_out or WEIGHTS_DIR / f"{recipe.name}.pt")
    weights_out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best, weights_out)
    val_dir = Path(workdir).resolve() / "runs" / "test"
    metrics = yolo(str(weights_out)).val(
        data=str(test_data),
        imgsz=recipe.imgsz,
        batch=recipe.batch,
        device=device,
        plots=True,
        project=str(val_dir.parent),
        name=val_dir.name,
        exist_ok=True,
        verbose=progress,
    )
    names = [metrics.names[i] for i in sorted(metrics.names)]
    ap50 = metrics.box.all_ap[:, 0] if len(metrics.box.all_ap) else []
    per_class = list(metrics.box.ap_class_index)
    report = EvaluationReport(
        name=recipe.name,
        weights=weights_out.name,
        weights_bytes=weights_out.stat().st_size,
        map50=float(metrics.box.map50),
        map50_95=float(metrics.box.map),
        precision={names[c]: round(float(p), 4) for c, p in zip(per_class, metrics.box.p)},
        recall={names[c]: round(float(r), 4) for c, r in zip(per_class, metrics.box.r)},
        ap50={names[c]: round(float(a), 4) for c, a in zip(per_class, ap50)},
        test_images=len(list((Path(test_data).parent / "images" / "val").glob("*.jpg"))),
        test_seeds=recipe.test_seeds,
        train_seconds=round(train_seconds, 1),
        epochs=epochs,
        imgsz=recipe.imgsz,
        goal_map50=recipe.goal_map50,
        meets_goal=float(metrics.box.map50) >= recipe.goal_map50,
    )
    _write_report(report, weights_out.parent, val_dir)
    return report


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


def _write_report(report: EvaluationReport, folder: Path, val_dir: Path) -> None:
    stem = report.weights.removesuffix(".pt")
    (folder / f"{stem}.report.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    matrix = val_dir / "confusion_matrix_normalized.png"
    if matrix.exists():
        shutil.copyfile(matrix, folder / f"{stem}.confusion_matrix.png")
    rows = "\n".join(
        f"| {c} | {report.precision.get(c, 0):.3f} | {report.recall.get(c, 0):.3f} | {report.ap50.get(c, 0):.3f} |"
        for c in CLASSES
    )
    (folder / f"{stem}.report.md").write_text(
        f"# {report.name}: evaluation on held-out simulator seeds {report.test_seeds}\n\n"
        f"mAP50 **{report.map50:.3f}** (goal {report.goal_map50}), mAP50-95 {report.map50_95:.3f}, "
        f"{report.test_images} images, {report.epochs} epochs at imgsz {report.imgsz}, "
        f"trained in {report.train_seconds / 60:.1f} min, weights {report.weights_bytes / 1e6:.1f} MB.\n\n"
        f"| class | precision | recall | AP50 |\n| --- | --- | --- | --- |\n{rows}\n\n"
        f"![confusion matrix]({stem}.confusion_matrix.png)\n"
        + (f"\n![training by epoch]({stem}.training.png)\n" if (folder / f"{stem}.training.png").is_file() else ""),
        encoding="utf-8",
    )
