"""One camera's site adaptation, from its stream to weights with a report (see the package).

>>> split_by_time([0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0], holdout=0.25, gap_s=5.0)
(52.5, 47.5)
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from zhizhi.models.detector.site.evaluate import BoxCounts, count_boxes
from zhizhi.models.detector.site.mining import MinedFrame, MiningOptions, mine, write_labelled
from zhizhi.models.detector.site.record import record
from zhizhi.models.detector.train import NAME_PATTERN, DetectorRecipe, EvaluationReport, train_detector
from zhizhi.video.observation import CLASSES

#: The longest recording one adaptation takes, in minutes.
MAX_MINUTES = 60.0
#: Stages of a run and the share of the whole each takes (for a progress bar).
STAGES = {"record": (0.0, 0.3), "mine": (0.3, 0.45), "train": (0.45, 0.9), "evaluate": (0.9, 1.0)}

#: ``progress(stage, fraction of the whole run done)``.
Progress = Callable[[str, float], None]


class AdaptError(RuntimeError):
    """An adaptation that cannot go on (the message says why and what to do)."""


class AdaptOptions(BaseModel):
    """How a site adaptation runs (defaults: minutes on a CPU)."""

    minutes: float = Field(gt=0, le=MAX_MINUTES, description="Stream time recorded, in minutes.")
    sample_fps: float = Field(2.0, gt=0, le=10, description="Frames kept per second of stream.")
    holdout: float = Field(0.25, ge=0.1, le=0.5, description="The last share of the recording, held out.")
    gap_s: float = Field(2.0, ge=0, description="Seconds before the held-out slice not trained on either.")
    epochs: int = Field(5, ge=1, le=100)
    imgsz: int = Field(320, ge=64, le=1280, multiple_of=32, description="Training image size.")
    batch: int = Field(16, ge=1, le=256)
    lr0: float = Field(0.0002, gt=0, le=0.1, description="AdamW learning rate of the fine-tuning.")
    max_train_frames: int = Field(400, ge=3, le=20_000, description="At most this many mined frames trained on.")
    min_train_frames: int = Field(12, ge=3, le=20_000, description="Fewer usable mined frames refuse the run: "
                                  "a handful of them teaches the site less than the simulator frames unteach it "
                                  "(measured: 5 frames of the indoor clip made the false boxes worse).")
    sim_frames: int = Field(2, ge=0, le=16, description="Simulator frames per scenario mixed in against forgetting "
                            "(train seed 1000, validation 2000, held out 3000); 0: none.")
    device: str = Field("cpu", min_length=1, max_length=40)
    workers: int = Field(0, ge=0, le=16, description="Data-loading worker processes.")
    seed: int = 20261207
    detect_imgsz: int = Field(416, ge=32, le=4096, description="Detection size (the console's).")
    conf: float = Field(0.3, gt=0, lt=1, description="Smallest confidence kept (the console's).")
    tracker: str = "bytetrack"
    mining: MiningOptions = Field(default_factory=MiningOptions)


class AdaptResult(BaseModel):
    """What ``zhizhi adapt --json`` prints (and the report's ``site`` section holds)."""

    camera_id: str
    name: str
    weights: str
    report_json: str
    report_md: str
    figure: str | None
    started_from: str = Field(description="The starting weights: a version label or a path.")
    started_weights: str
    recording: dict[str, Any]
    split: dict[str, Any]
    mining: dict[str, int]
    train_frames: dict[str, int]
    before: BoxCounts
    after: BoxCounts
    simulator_map50: dict[str, float | None] = Field(default_factory=dict)
    seconds: dict[str, float]
    options: dict[str, Any]
    warnings: list[str] = Field(default_factory=list, description="What to check before promoting it.")
    version: dict[str, Any] | None = None

    @property
    def fewer_false_boxes(self) -> bool:
        return self.after.on_background < self.before.on_background


def camera_slug(camera_id: str) -> str:
    """A camera id as part of a detector name (letters, digits, ``_ . -``).

    >>> camera_slug("CAM:0001"), camera_slug("东门")
    ('CAM_0001', 'cam-e4b89ce997a8')
    """
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", camera_id)
    if slug.strip("_") == "":
        slug = "cam-" + camera_id.encode("utf-8").hex()[:12]
    return slug[:48]


def site_name(camera_id: str) -> str:
    """The detector name of a camera's adapted versions: ``site-<camera>``."""
    name = f"site-{camera_slug(camera_id)}"
    assert re.match(NAME_PATTERN, name)
    return name


def split_by_time(times: Sequence[float], *, holdout: float, gap_s: float) -> tuple[float, float]:
    """``(held_out_from, train_until)``: frames at or after the first are held out, frames before the
    second are trained on (nothing in between: near-copies of held-out frames)."""
    start, end = min(times), max(times)
    held_from = end - holdout * (end - start)
    return round(held_from, 3), round(held_from - gap_s, 3)


def _stage(progress: Progress | None, stage: str, share: float = 0.0) -> None:
    if progress is not None:
        lo, hi = STAGES[stage]
        progress(stage, lo + (hi - lo) * min(1.0, max(0.0, share)))


def _evenly(frames: list[MinedFrame], at_most: int) -> list[MinedFrame]:
    if len(frames) <= at_most:
        return frames
    step = len(frames) / at_most
    return [frames[int(i * step)] for i in range(at_most)]


def adapt_camera(
    camera_id: str,
    url: str,
    start_weights: Path,
    *,
    started_from: str,
    workdir: Path,
    weights_out: Path,
    options: AdaptOptions,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> AdaptResult:
    """Record, mine, fine-tune, evaluate (see the package); writes the weights and their reports."""
    from zhizhi.video.detectors import UltralyticsDetector

    start_weights, workdir, weights_out = Path(start_weights), Path(workdir).resolve(), Path(weights_out).resolve()
    if not start_weights.is_file():
        raise AdaptError(f"the starting weights are missing: {start_weights}")
    name = site_name(camera_id)
    seconds: dict[str, float] = {}
    begun = time.perf_counter()

    _stage(progress, "record")
    recording = record(url, camera_id, workdir / "recording", seconds=options.minutes * 60,
                       sample_fps=options.sample_fps, stop=stop,
                       progress=lambda done, total: _stage(progress, "record", done / total))
    seconds["record"] = recording.wall_s
    if len(recording.frames) < 8:
        raise AdaptError(f"only {len(recording.frames)} frames recorded ({recording.ended or 'too short'}); "
                         "record more minutes")

    _stage(progress, "mine")
    t0 = time.perf_counter()
    detector = UltralyticsDetector(start_weights, imgsz=options.detect_imgsz, conf=options.conf,
                                   tracker=options.tracker, device=options.device)
    mining = mine(recording, detector, options.mining, detector_name=started_from,
                  progress=lambda done, total: _stage(progress, "mine", done / total))
    (workdir / "mining.json").write_text(mining.model_dump_json(indent=1) + "\n", encoding="utf-8")
    held_from, train_until = split_by_time([f.t for f in recording.frames], holdout=options.holdout,
                                           gap_s=options.gap_s)
    held_out = [f for f in mining.frames if f.t >= held_from]
    usable = [f for f in mining.frames if f.t < train_until and f.kind in ("labelled", "background")]
    trained = _evenly(usable, options.max_train_frames)
    seconds["mine"] = round(time.perf_counter() - t0, 1)
    if len(trained) < options.min_train_frames:
        before = [f for f in mining.frames if f.t < train_until]
        counts = mining.counts(before)
        raise AdaptError(
            f"too few frames to train on: {len(trained)} usable of {len(before)} before the held-out slice, "
            f"{options.min_train_frames} needed "
            f"({counts['left_out']} left out as ambiguous, {counts['empty']} without any box); record more "
            "minutes, at a time with traffic")
    mined_dir = write_labelled(mining, recording, trained, workdir / "mined")
    write_labelled(mining, recording, held_out, workdir / "held-out")  # never trained on; kept to look at

    _stage(progress, "train")
    t0 = time.perf_counter()
    recipe = adapt_recipe(name, start_weights, options)
    report = train_detector(recipe, workdir / "train", weights_out=weights_out, device=options.device,
                            progress=False, data_dirs=[mined_dir], simulator=options.sim_frames > 0,
                            workers=options.workers)
    seconds["train"] = round(time.perf_counter() - t0, 1)

    _stage(progress, "evaluate")
    t0 = time.perf_counter()
    width = recording.width
    before, fired_before = count_boxes(detector, held_out, recording.folder, options.mining, weights=started_from,
                                       width=width)
    _stage(progress, "evaluate", 0.4)
    adapted = UltralyticsDetector(weights_out, imgsz=options.detect_imgsz, conf=options.conf,
                                  tracker=options.tracker, device=options.device)
    after, fired_after = count_boxes(adapted, held_out, recording.folder, options.mining,
                                     weights=f"{name} (adapted)", width=width)
    sim_map = {}
    if options.sim_frames > 0:
        after_map = report.held_out["simulator"].map50 if "simulator" in report.held_out else None
        sim_map = {"before": simulator_map50(start_weights, workdir / "train", options),
                   "after": round(after_map, 4) if after_map is not None else None}
    seconds["evaluate"] = round(time.perf_counter() - t0, 1)
    seconds["total"] = round(time.perf_counter() - begun, 1)
    stem = weights_out.name.removesuffix(".pt")
    folder = weights_out.parent
    result = AdaptResult(
        camera_id=camera_id, name=name, weights=str(weights_out),
        report_json=str(folder / f"{stem}.adapt.json"), report_md=str(folder / f"{stem}.adapt.md"),
        figure=None, started_from=started_from, started_weights=str(start_weights.resolve()),
        recording={"source": recording.source, "seconds": recording.seconds, "requested_s": recording.requested_s,
                   "ended": recording.ended, "frames": len(recording.frames), "sample_fps": recording.sample_fps,
                   "source_fps": recording.source_fps, "width": recording.width, "height": recording.height,
                   "folder": str(recording.folder)},
        split={"held_out_from_s": held_from, "train_until_s": train_until, "held_out_frames": len(held_out),
               "holdout": options.holdout},
        mining=mining.counts(),
        train_frames={"mined": len(trained), "labelled": sum(f.kind == "labelled" for f in trained),
                      "background": sum(f.kind == "background" for f in trained), **report.real_frames},
        before=before, after=after, simulator_map50=sim_map, seconds=seconds,
        options=options.model_dump(mode="json"), warnings=check_before_promoting(before, after, sim_map, options),
    )
    from zhizhi.models.detector.site.report import write_reports

    result = write_reports(result, report, held_out, recording, fired_before, fired_after)
    _stage(progress, "evaluate", 1.0)
    return result


def check_before_promoting(before: BoxCounts, after: BoxCounts, sim_map: dict[str, float | None],
                           options: AdaptOptions) -> list[str]:
    """What the figures cannot vouch for: objects the adapted weights may no longer find."""
    out = []
    if after.on_background >= before.on_background and before.on_background > 0:
        out.append(f"not better on the held-out slice: {after.on_background} false boxes on the static background "
                   f"against {before.on_background} before; do not promote it (record longer, at another time)")
    if before.positives == 0:
        out.append("no moving object was confirmed in the held-out slice: whether the adapted detector still "
                   "finds real objects there is not measured; watch the camera before promoting it")
    elif after.positives_found < 0.8 * before.positives_found:
        out.append(f"the adapted detector finds {after.positives_found} of the {before.positives} moving objects "
                   f"of the held-out slice, the starting one {before.positives_found}")
    for name in options.mining.still_classes:
        was, now = before.by_class.get(name, 0), after.by_class.get(name, 0)
        if was >= 10 and now < 0.5 * was:
            out.append(f"{name} boxes fell from {was} to {now}: where they were real, the adapted detector misses "
                       "them (a still one fades into the background and may have been mined as a negative)")
    was_map, now_map = sim_map.get("before"), sim_map.get("after")
    if was_map is not None and now_map is not None and now_map < was_map - 0.03:
        out.append(f"simulator held-out mAP50 fell from {was_map:.3f} to {now_map:.3f}: the "
                   "adapted detector forgot some of what it knew (more --sim-frames, fewer --epochs)")
    return out


def adapt_recipe(name: str, start_weights: Path, options: AdaptOptions) -> DetectorRecipe:
    """The training recipe of an adaptation: the starting weights, few epochs, a small size, the
    mined frames (given to :func:`train_detector` as data), a slice of simulator frames."""
    n = max(1, options.sim_frames)
    return DetectorRecipe(
        name=name, architecture="yolov8n.yaml", init_from=str(Path(start_weights).resolve()),
        classes=list(CLASSES), seed=options.seed, imgsz=options.imgsz, epochs=options.epochs,
        batch=options.batch, cls_gain=1.0, close_mosaic=max(1, options.epochs // 2), frames_per_clip=n,
        train_seeds=[1000], val_seeds=[2000], test_seeds=[3000],
        real_val_fraction=0.15, real_test_fraction=0.1, goal_map50=0.0,
        # Gentle steps from the starting weights: no warm-up (its high bias rate undoes them), a step per batch
        # (few frames: ultralytics' 64-image accumulation would leave a handful of steps), a small AdamW rate,
        # and the last epoch kept (the validation frames are mostly empty ones: nothing to choose an epoch by).
        train_args={"optimizer": "AdamW", "lr0": options.lr0, "nbs": options.batch, "val": False},
        **({"warmup_epochs": 0.0} if "warmup_epochs" in DetectorRecipe.model_fields else {}),
    )


def simulator_map50(weights: Path, train_dir: Path, options: AdaptOptions) -> float | None:
    """mAP50 of ``weights`` on the held-out simulator frames training scored the adapted weights on."""
    from ultralytics import YOLO  # after training: its offline settings are made (models.detector.train)

    from zhizhi.models.detector.train import write_data_yaml

    images = train_dir / "test" / "images" / "val"
    if not images.is_dir():
        return None
    runs = train_dir / "runs"
    data = write_data_yaml(runs / "start-simulator.yaml", [images], [images])
    model = YOLO(str(weights))
    metrics = model.val(data=str(data), imgsz=options.imgsz, batch=options.batch, device=options.device,
                        workers=options.workers, plots=False, project=str(runs), name="start-simulator",
                        exist_ok=True, verbose=False)
    return round(float(metrics.box.map50), 4)


def site_report(report: EvaluationReport, result: AdaptResult) -> EvaluationReport:
    """The training report with the adaptation in its ``site`` section."""
    site = result.model_dump(mode="json", exclude={"version"})
    return report.model_copy(update={"site": site})


def write_json(path: Path, data: Any) -> None:
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def clean_workdir(workdir: Path) -> None:
    """Remove a run's work folder (its recording and datasets)."""
    shutil.rmtree(workdir, ignore_errors=True)


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
