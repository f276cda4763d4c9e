"""Labelled frames in YOLO format: validation, a seeded train/val/test split, and export.

A labelled folder holds ``images/`` and ``labels/`` (flat or with sub-folders such as
``images/train``; a label is matched to the image at the same relative path) and optionally a
``data.yaml`` whose ``names`` (a list, or a mapping of id to name) must all be classes of
:data:`video.observation.CLASSES` — a subset in any order is fine, its ids are remapped onto the
project's. An open dataset's other classes (``bike``, ``traffic light``...) are listed under
``drop:`` in the same ``data.yaml``; their boxes are left out, never guessed onto a project class.
Without ``data.yaml`` the ids are the project's own. Any train/val split the folder's
``data.yaml`` declares is ignored: the frames are split here, by seed, so a part is held out for
the evaluation; the augmented copies an export made of one source image (Roboflow's
``NAME_jpg.rf.HASH``) stay in one part, so the held-out part never holds a copy of a trained image.
Images without a label file are background frames.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict

from zhizhi.video.observation import CLASSES

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val", "test")
#: At most this many problems are listed in one error (the count of the rest is given).
MAX_LISTED = 25

Row = tuple[int, float, float, float, float]
#: Roboflow names each exported copy ``SOURCE_ext.rf.HASH``: the part before ``.rf.`` is the source.
EXPORT_COPY_MARK = ".rf."


class LabelledDataError(ValueError):
    """Labelled frames that cannot be used; ``problems`` lists each as ``file[:line]: what``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        listed = "\n  ".join(self.problems[:MAX_LISTED])
        more = len(self.problems) - MAX_LISTED
        super().__init__(
            f"{len(self.problems)} problem(s) in the labelled frames:\n  {listed}"
            + (f"\n  ... and {more} more" if more > 0 else "")
        )


class LabelledFrame(BaseModel):
    """One validated image and its boxes, class ids already the project's."""

    model_config = ConfigDict(frozen=True)

    folder: Path
    image: Path
    key: str  # the image's path under images/, without suffix, with '/' separators
    rows: tuple[Row, ...]


class LabelledSplit(BaseModel):
    """Labelled frames split for training, validation (model selection) and held-out test."""

    train: list[LabelledFrame]
    val: list[LabelledFrame]
    test: list[LabelledFrame]

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in SPLITS}


def class_map(folder: Path, problems: list[str]) -> dict[int, int | None]:
    """The folder's class ids mapped onto the project's (from its ``data.yaml``, else identity).

    Ids of the classes ``data.yaml`` lists under ``drop`` map to None: their boxes are left out.
    """
    path = folder / "data.yaml"
    if not path.is_file():
        return {i: i for i in range(len(CLASSES))}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(f"{path}: not readable YAML ({exc})")
        return {}
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names:
        problems.append(f"{path}: 'names' must list the class names (a list, or a mapping id: name)")
        return {}
    drop = data.get("drop", [])
    if not isinstance(drop, list) or not all(isinstance(d, str) for d in drop):
        problems.append(f"{path}: 'drop' must list class names whose boxes are left out")
        return {}
    for name in sorted(set(drop) & set(CLASSES)):
        problems.append(f"{path}: {name!r} is one of the project's classes: it cannot be dropped")
    mapping: dict[int, int | None] = {}
    seen: dict[str, int] = {}
    for key, name in names.items():
        try:
            cls_id = int(key)
        except (TypeError, ValueError):
            problems.append(f"{path}: class id {key!r} is not an integer")
            continue
        if name in drop:
            mapping[cls_id] = None
            continue
        if name not in CLASSES:
            problems.append(
                f"{path}: class name {name!r} (id {cls_id}) is not one of the project's classes "
                f"({', '.join(CLASSES)}); list it under 'drop' to leave its boxes out"
            )
            continue
        if name in seen:
            problems.append(f"{path}: class name {name!r} is given twice (ids {seen[name]} and {cls_id})")
            continue
        seen[name] = cls_id
        mapping[cls_id] = CLASSES.index(name)
    return mapping


def parse_label_file(path: Path, mapping: dict[int, int | None], problems: list[str]) -> list[Row]:
    """The rows of one label file (``cls cx cy w h``, normalised), ids mapped, dropped classes left
    out; problems noted."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: not readable as UTF-8 text ({exc})")
        return []
    valid_ids = ", ".join(str(i) for i in sorted(mapping)) or "none"
    rows: list[Row] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) != 5:
            problems.append(f"{where}: expected 5 fields 'cls cx cy w h', got {len(fields)}: {line.strip()!r}")
            continue
        try:
            raw_id = float(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError:
            problems.append(f"{where}: not numbers: {line.strip()!r}")
            continue
        if not raw_id.is_integer():
            problems.append(f"{where}: class id {fields[0]!r} is not an integer")
            continue
        if int(raw_id) not in mapping:
            problems.append(f"{where}: class id {int(raw_id)} is out of range (valid ids: {valid_ids})")
            continue
        bad = [
            f"{name} {v:g}"
            for name, v in zip(("cx", "cy", "w", "h"), values)
            if not (math.isfinite(v) and 0.0 <= v <= 1.0)
        ]
        if bad:
            problems.append(f"{where}: {', '.join(bad)} not a normalised value in [0, 1]")
            continue
        if values[2] <= 0 or values[3] <= 0:
            problems.append(f"{where}: box width and height must be above 0")
            continue
        project_id = mapping[int(raw_id)]
        if project_id is not None:
            rows.append((project_id, *values))
    return rows


def load_labelled(folders: Sequence[Path]) -> list[LabelledFrame]:
    """Validate every folder and return its frames; one :class:`LabelledDataError` lists all problems."""
    problems: list[str] = []
    frames: list[LabelledFrame] = []
    for folder in folders:
        frames.extend(_load_folder(Path(folder), problems))
    if problems:
        raise LabelledDataError(problems)
    return frames


def _load_folder(folder: Path, problems: list[str]) -> list[LabelledFrame]:
    images_dir, labels_dir = folder / "images", folder / "labels"
    missing = [d for d in (images_dir, labels_dir) if not d.is_dir()]
    if missing:
        problems.append(
            f"{folder}: a labelled folder needs images/ and labels/"
            f" (missing {', '.join(d.name + '/' for d in missing)})"
        )
        return []
    mapping = class_map(folder, problems)
    images: dict[str, Path] = {}
    for path in sorted(images_dir.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            key = path.relative_to(images_dir).with_suffix("").as_posix()
            if key in images:
                problems.append(f"{path}: two images share the name {key!r} ({images[key].name})")
                continue
            images[key] = path
    if not images:
        problems.append(f"{images_dir}: no images ({', '.join(IMAGE_SUFFIXES)})")
    labels = {
        p.relative_to(labels_dir).with_suffix("").as_posix(): p
        for p in sorted(labels_dir.rglob("*.txt"))
        if p.is_file()
    }
    for key in sorted(set(labels) - set(images)):
        problems.append(f"{labels[key]}: no image for this label (looked for {images_dir / key}.*)")
    frames = []
    for key, image in images.items():
        if cv2.imread(str(image), cv2.IMREAD_UNCHANGED) is None:
            problems.append(f"{image}: OpenCV cannot read this image")
            continue
        rows = parse_label_file(labels[key], mapping, problems) if key in labels else []
        frames.append(LabelledFrame(folder=folder, image=image, key=key, rows=tuple(rows)))
    return frames


def split_frames(
    frames: Sequence[LabelledFrame], *, seed: int, val_fraction: float, test_fraction: float
) -> LabelledSplit:
    """A seeded split: the same frames and seed always give the same split, whatever their order.

    Frames of one source (:func:`source_of`) go to one part together. At least one source goes
    to each of validation and test, and at least one is left to train.
    """
    if len(frames) < 3:
        raise LabelledDataError(
            [f"{len(frames)} labelled frame(s): at least 3 are needed (train, validation, held-out test)"]
        )
    by_source: dict[tuple[str, str], list[LabelledFrame]] = {}
    for frame in sorted(frames, key=lambda f: (str(f.folder), f.key)):
        by_source.setdefault((str(frame.folder), source_of(frame.key)), []).append(frame)
    sources = [by_source[key] for key in sorted(by_source)]
    if len(sources) < 3:
        problem = (f"{len(frames)} labelled frame(s) from {len(sources)} source image(s): at least 3 "
                   "sources are needed (train, validation, held-out test)")
        raise LabelledDataError([problem])
    order = np.random.default_rng(seed).permutation(len(sources))
    n = len(sources)
    n_test = max(1, round(n * test_fraction))
    n_val = max(1, round(n * val_fraction))
    if n_test + n_val > n - 1:
        n_test = max(1, min(n_test, (n - 1) // 2))
        n_val = max(1, n - 1 - n_test)
    picked = [sources[i] for i in order]

    def flat(groups: list[list[LabelledFrame]]) -> list[LabelledFrame]:
        return [frame for group in groups for frame in group]

    return LabelledSplit(test=flat(picked[:n_test]), val=flat(picked[n_test : n_test + n_val]),
                         train=flat(picked[n_test + n_val :]))


def source_of(key: str) -> str:
    """The source image a frame was exported from: the key up to Roboflow's ``.rf.`` copy mark,
    less the ``_jpg``-style suffix it leaves (``cam3/12_png.rf.ab12`` -> ``cam3/12``); else the key."""
    head, mark, _ = key.partition(EXPORT_COPY_MARK)
    if not mark:
        return key
    stem, _, ext = head.rpartition("_")
    return stem if stem and ext.lower() in {s.lstrip(".") for s in IMAGE_SUFFIXES} else head


def write_split(split: LabelledSplit, out_dir: Path, folders: Sequence[Path]) -> dict[str, Path]:
    """Write ``images/{split}`` and ``labels/{split}`` (project ids) under ``out_dir``.

    Images are copied (ultralytics rewrites damaged JPEGs in place: the originals stay untouched);
    names carry the folder's position in ``folders`` so frames of different folders never collide.
    Returns the image folder of each split.
    """
    out_dir = Path(out_dir)
    for sub in ("images", "labels"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    index = {str(Path(f)): i for i, f in enumerate(folders)}
    dirs: dict[str, Path] = {}
    for name in SPLITS:
        images, labels = out_dir / "images" / name, out_dir / "labels" / name
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        for frame in getattr(split, name):
            stem = f"d{index.get(str(frame.folder), 0)}_{frame.key.replace('/', '__')}"
            shutil.copyfile(frame.image, images / f"{stem}{frame.image.suffix.lower()}")
            (labels / f"{stem}.txt").write_text(
                "".join(f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for c, cx, cy, w, h in frame.rows),
                encoding="utf-8",
            )
        dirs[name] = images.resolve()
    return dirs

