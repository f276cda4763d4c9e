"""Openly licensed labelled datasets of real vehicles and people, laid out as labelled folders.

The simulator's renders never taught the detector what a real car looks like (issue 16). These
datasets do; their images stay out of git (docs/training.md says where each comes from). Each is
a YOLO export whose class names are mapped onto the project's: boxes of classes the project does
not have (bicycles, traffic lights...) are listed under ``drop`` in the folder's ``data.yaml`` and
left out, never guessed onto a project class. ``zhizhi train --data FOLDER`` (or a recipe's
``data:``) then takes the folder like any other.

    python -m zhizhi.models.detector.open_datasets atl-traffic SOURCE_DIR var/open-data/atl-traffic
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel

from zhizhi.models.detector.labelled import IMAGE_SUFFIXES, load_labelled
from zhizhi.video.observation import CLASSES


class OpenDataset(BaseModel):
    """Where one open dataset comes from and how its folders and names map onto ours."""

    name: str
    source: str
    licence: str
    #: Folders of the source holding ``images/`` and ``labels/`` side by side, relative to it.
    parts: dict[str, tuple[str, str]]
    #: The source's class names, in id order.
    names: list[str]


DATASETS: dict[str, OpenDataset] = {
    "atl-traffic": OpenDataset(
        name="atl-traffic",
        source="Roboflow Universe finalproject-bqip3/atl-version-2 v12, as committed in GitHub "
        "yuskun/object_detected@aa099629 datasets/car (fixed traffic cameras over roads, day and night)",
        licence="CC BY 4.0",
        parts={split: (f"{split}/images", f"{split}/labels") for split in ("train", "valid", "test")},
        names=["bike", "bus", "car", "truck"],
    ),
    "coco128": OpenDataset(
        name="coco128",
        source="COCO 2017 (first 128 images of train2017 and of val2017), as committed in GitHub "
        "lightly-ai/coco128_yolo@HEAD (images/, object_detection/labels/)",
        licence="annotations CC BY 4.0 (COCO Consortium); images under their Flickr licences, COCO terms of use",
        parts={split: (f"images/{split}", f"object_detection/labels/{split}") for split in ("train2017", "val2017")},
        names=[],  # read from object_detection/config.yaml
    ),
}


def source_names(dataset: OpenDataset, source_dir: Path) -> list[str]:
    """The dataset's class names in id order (from its config when not fixed here)."""
    if dataset.names:
        return dataset.names
    config = yaml.safe_load((source_dir / "object_detection" / "config.yaml").read_text(encoding="utf-8"))
    names = config["names"]
    return [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)


def lay_out(dataset: OpenDataset, source_dir: Path, out_dir: Path) -> dict[str, int]:
    """Copy the dataset's images and labels into ``out_dir`` as a labelled folder; counts back."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    names = source_names(dataset, source_dir)
    mapped = {i for i, n in enumerate(names) if n in CLASSES}
    if not mapped:
        raise ValueError(f"{dataset.name}: none of its classes {names} is a project class")
    for sub in ("images", "labels"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    images = 0
    for part, (image_dir, label_dir) in dataset.parts.items():
        for image in sorted((source_dir / image_dir).rglob("*")):
            if not image.is_file() or image.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            relative = image.relative_to(source_dir / image_dir)
            target = out_dir / "images" / part / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, target)
            label = (source_dir / label_dir / relative).with_suffix(".txt")
            if label.is_file():
                label_target = (out_dir / "labels" / part / relative).with_suffix(".txt")
                label_target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(label, label_target)
            images += 1
    (out_dir / "labels").mkdir(parents=True, exist_ok=True)
    data = {
        "names": dict(enumerate(names)),
        "drop": [n for i, n in enumerate(names) if i not in mapped],
        "source": dataset.source,
        "licence": dataset.licence,
    }
    (out_dir / "data.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    boxes = Counter(CLASSES[row[0]] for frame in load_labelled([out_dir]) for row in frame.rows)
    return {"images": images, **boxes}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("source_dir", type=Path, help="a checkout of the dataset's source (see docs/training.md)")
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    counts = lay_out(DATASETS[args.dataset], args.source_dir, args.out_dir)
    print(f"{args.dataset}: {counts} -> {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
