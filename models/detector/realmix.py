"""The real-looking part of a recipe's training data: composites, mined real frames, augmentation.

A recipe's ``real_mix`` names real media (clips and animated GIFs under ``media``, paths relative
to the recipe file; photos bundled in scikit-image's wheel under ``skimage``) and :func:`build_real_mix`
turns them into one labelled folder in YOLO format (``images/``, ``labels/``, project class ids),
which training then splits and uses like any labelled folder:

1. **mined frames** (:mod:`models.detector.mining`): each clip with ``mine: true`` is run through
   the detector (``mine_weights``, the weights the recipe starts from by default) and the
   background model; static detections stay unlabelled (negatives), confident moving people are
   labelled, unsure moving things are painted out;
2. **composites** (:mod:`models.detector.composite`): simulator objects pasted with matched light
   onto real backgrounds: mined frames (their positives kept, nothing pasted over them), frames of
   clips marked ``empty`` (none of the classes in view) and the bundled photos, cropped and
   flipped at random; ``background_only`` of them get nothing pasted (pure real negatives);
3. **augmentation** (:mod:`models.detector.augment`): a seeded share of all of these gets night,
   rain, glare, H.264 artefacts, noise or motion blur.

Everything is drawn from the recipe's seed; the folder's ``summary.json`` records the request and
the counts, and asking again for the same request reuses the folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from zhizhi.models.detector.augment import AugmentOptions, augment_image
from zhizhi.models.detector.composite import PASTE_WEIGHTS, composite_image, render_cutout, yolo_row
from zhizhi.models.detector.mining import MiningOptions, mine_frames, read_frames, ultralytics_detect
from zhizhi.video.observation import CLASSES

CLASS_INDEX = {name: i for i, name in enumerate(CLASSES)}


class MediaSource(BaseModel):
    """One real clip (any format OpenCV reads, animated GIFs included) and what it may be used for."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="Relative to the recipe file.")
    source: str = Field(description="Where it comes from (repository and file).")
    licence: str
    mine: bool = Field(True, description="Mine hard negatives (and moving people) from it.")
    empty: bool = Field(False, description="None of the classes is ever in view: any frame is a background.")
    movers: str | None = Field(
        None, description="The one class that moves in this clip (e.g. person): its moving blobs are labelled."
    )

    @field_validator("movers")
    @classmethod
    def _a_class(cls, value: str | None) -> str | None:
        if value is not None and value not in CLASSES:
            raise ValueError(f"movers {value!r} is not one of the project's classes ({', '.join(CLASSES)})")
        return value
    max_frames: int = Field(400, gt=0, description="Frames read from its start.")


class RealMixOptions(BaseModel):
    """The real-looking training images a recipe adds (see the module)."""

    model_config = ConfigDict(extra="forbid")

    media: list[MediaSource] = Field(default_factory=list)
    skimage: list[str] = Field(
        default_factory=list, description="Names of photos in skimage.data bundled in its wheel."
    )
    skimage_source: str = "scikit-image skimage.data (bundled in the wheel)"
    skimage_licence: str = "per image, see skimage.data's docs (public domain / CC0 / CC BY)"
    composites: int = Field(600, ge=0, description="Composite images made.")
    objects_per_image: tuple[int, int] = (1, 4)
    background_only: float = Field(0.1, ge=0, le=1, description="Share of composites with nothing pasted.")
    cutouts_per_class: int = Field(40, gt=0, description="Distinct rendered objects per class to paste from.")
    max_side: int = Field(640, ge=64, description="Backgrounds are scaled down to at most this many pixels wide.")
    mining: MiningOptions | None = Field(default_factory=MiningOptions)
    mine_weights: str | None = Field(None, description="Weights (a name under weights/) that mine; default init_from.")
    max_mined_per_clip: int = Field(40, ge=0, description="At most this many mined frames per clip (spread evenly).")
    augment: AugmentOptions | None = Field(default_factory=AugmentOptions)

    def resolved(self, base: Path) -> RealMixOptions:
        """The same options with media paths made absolute against ``base`` (the recipe's folder)."""
        media = [m.model_copy(update={"path": m.path if m.path.is_absolute() else base / m.path}) for m in self.media]
        return self.model_copy(update={"media": media})

    def missing(self) -> list[str]:
        """Media files that are not there (media stays out of git: docs/training.md says where to get it)."""
        return [str(m.path) for m in self.media if not Path(m.path).is_file()]


def skimage_photo(name: str) -> np.ndarray:
    """A photo bundled in scikit-image's wheel (no download), as BGR."""
    from skimage import data

    loader = getattr(data, name, None)
    if loader is None:
        raise ValueError(f"skimage.data has no image {name!r}")
    image = np.asarray(loader())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    if image.dtype != np.uint8:
        image = (255 * (image.astype(np.float64) / max(float(image.max()), 1e-9))).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)


def _fit(image: np.ndarray, max_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    if w <= max_side:
        return image
    return cv2.resize(image, (max_side, round(h * max_side / w)), interpolation=cv2.INTER_AREA)


def _crop_flip(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop (60-100 % of each side) of a photo, flipped half of the time."""
    h, w = image.shape[:2]
    ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    out = image[y:y + ch, x:x + cw]
    return np.ascontiguousarray(out[:, ::-1] if rng.random() < 0.5 else out)


def _request_key(options: RealMixOptions, seed: int, weights: Path | None) -> str:
    files = {str(m.path): Path(m.path).stat().st_size for m in options.media if Path(m.path).is_file()}
    text = json.dumps({"options": options.model_dump(mode="json"), "seed": seed, "files": files,
                       "weights": str(weights) if weights else None,
                       "weights_bytes": weights.stat().st_size if weights and weights.is_file() else None},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def build_real_mix(options: RealMixOptions, out_dir: Path, *, seed: int, weights: Path | None,
                   device: str = "cpu", progress: bool = True) -> Path:
    """Write the labelled folder (``images/``, ``labels/``, ``summary.json``) and return it.

    ``options`` must have absolute media paths (:meth:`RealMixOptions.resolved`); ``weights`` mine
    (needed when any medium is mined).
    """
    missing = options.missing()
    if missing:
        raise FileNotFoundError(
            "real_mix media not found (see docs/training.md, 'zhizhi-det-v3', for where to get them): "
            + ", ".join(missing)
        )
    out_dir = Path(out_dir)
    key = _request_key(options, seed, weights)
    try:
        if json.loads((out_dir / "summary.json").read_text(encoding="utf-8")).get("request") == key:
            return out_dir
    except (OSError, ValueError):
        pass
    for sub in ("images", "labels"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    images, labels = out_dir / "images", out_dir / "labels"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    root = np.random.SeedSequence([seed, 16])
    _unused, rng_comp, rng_aug = (np.random.default_rng(s) for s in root.spawn(3))  # 3 streams: as v3 was made
    summary: dict = {"mined": {}, "composites": 0, "background_only": 0, "augmented": Counter(), "boxes": Counter()}
    written: list[tuple[str, np.ndarray, list[str]]] = []

    def say(text: str) -> None:
        if progress:
            print(f"real_mix: {text}", flush=True)

    # 1. mined frames
    backgrounds: list[tuple[np.ndarray, list[str]]] = []
    detect = names = None
    for medium in options.media:
        frames = [_fit(f, options.max_side) for f in read_frames(Path(medium.path), medium.max_frames)]
        stem = Path(medium.path).name.replace(".", "_")
        if medium.empty:
            backgrounds += [(f, []) for f in frames[:: max(1, len(frames) // 30)]]
        if not (medium.mine and options.mining is not None):
            continue
        if detect is None:
            if weights is None:
                raise ValueError("mining real clips needs the detector's weights (mine_weights or init_from)")
            detect, names = ultralytics_detect(weights, options.mining, device)
        mined = mine_frames(frames, detect, names, options.mining, movers=medium.movers)
        if len(mined) > options.max_mined_per_clip:
            keep = np.unique(np.linspace(0, len(mined) - 1, options.max_mined_per_clip).round().astype(int))
            mined = [mined[i] for i in keep]
        counts = {"frames": len(mined), "positives": Counter(), "negatives": Counter(), "painted": 0}
        for m in mined:
            h, w = m.image.shape[:2]
            rows = [yolo_row(CLASS_INDEX[n], b, w, h) for n, b in m.positives if n in CLASS_INDEX]
            written.append((f"mined_{stem}_{m.index:05d}", m.image, rows))
            backgrounds.append((m.image, rows))
            counts["positives"].update(n for n, _ in m.positives)
            counts["negatives"].update(n for n, _ in m.negatives)
            counts["painted"] += len(m.painted)
        summary["mined"][stem] = counts
        say(f"{stem}: {len(mined)} mined frames, negatives {dict(counts['negatives'])}")
    photos = [_fit(skimage_photo(name), options.max_side) for name in options.skimage]

    # 2. composites
    if options.composites:
        cutouts = {cls: [render_cutout(cls, rng_comp) for _ in range(options.cutouts_per_class)]
                   for cls in PASTE_WEIGHTS}
        n_sources = len(backgrounds) + len(photos)
        if n_sources == 0:
            raise ValueError("composites need backgrounds: media or skimage photos")
        for i in range(options.composites):
            pick = int(rng_comp.integers(n_sources))
            if pick < len(backgrounds):
                image, rows = backgrounds[pick]
            else:
                image, rows = _crop_flip(photos[pick - len(backgrounds)], rng_comp), []
            if rng_comp.random() < options.background_only:
                lo_hi = (0, 0)
                summary["background_only"] += 1
            else:
                lo_hi = options.objects_per_image
            keep_out = _boxes_of(rows, image.shape)
            picture, pasted = composite_image(image, rng_comp, objects=lo_hi, cutouts=cutouts, avoid=keep_out)
            written.append((f"composite_{i:05d}", picture, rows + pasted))
            summary["composites"] += 1
        say(f"{summary['composites']} composites on {len(backgrounds)} frames and {len(photos)} photos")

    # 3. augmentation, and the files
    for stem, image, rows in written:
        if options.augment is not None and rng_aug.random() < options.augment.share:
            image, done = augment_image(image, np.random.default_rng(rng_aug.integers(0, 2**63)), options.augment)
            summary["augmented"].update(done)
            summary["augmented"]["images"] += 1
        cv2.imwrite(str(images / f"{stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        (labels / f"{stem}.txt").write_text("".join(r + "\n" for r in rows), encoding="utf-8")
        summary["boxes"].update(CLASSES[int(r.split()[0])] for r in rows)
    summary["images"] = len(written)
    summary["request"] = key
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=dict) + "\n", encoding="utf-8")
    say(f"{len(written)} images in {out_dir}, boxes {dict(summary['boxes'])}")
    return out_dir


def _boxes_of(rows: list[str], shape: tuple[int, ...]) -> list[tuple[float, float, float, float]]:
    """Pixel boxes (x1, y1, x2, y2) of YOLO rows in an image of ``shape``."""
    h, w = shape[:2]
    out = []
    for r in rows:
        _, cx, cy, bw, bh = (float(v) for v in r.split())
        out.append(((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h))
    return out
