"""Exporting an ultralytics YOLO detection dataset straight from the renderer (no video round trip).

Frames are sampled from every (seed, scenario) clip and enriched with objects spawned at random
places in view (tankers, buses and trucks are frequent, so every class appears in many
frames). A share of clips is at night, in rain, noisy or shaking. Objects that would be too
small, mostly outside the image or mostly hidden are *not drawn at all*, so nothing the
detector could see is left unlabelled.

Layout: ``images/{train,val}/*.jpg``, ``labels/{train,val}/*.txt`` (``class cx cy w h``,
normalised), ``data.yaml`` (``path``, ``train``, ``val``, ``names`` in the order of
:data:`video.observation.CLASSES`) and ``summary.json`` (images and boxes per class, and the
request it was rendered for: asking again for the same dataset in the same folder reuses it).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import shapely
import yaml

from zhizhi.video.observation import CLASSES
from zhizhi.video.simulator.build import Simulation, build_simulation
from zhizhi.video.simulator.draw import Pose, project_pose
from zhizhi.video.simulator.objects import make_model
from zhizhi.video.simulator.render import Filters
from zhizhi.video.simulator.scenarios import SCENARIOS

CLASS_INDEX = {name: i for i, name in enumerate(CLASSES)}
#: How often clips are at night, rainy, noisy or shaking in the dataset.
DATASET_ODDS = {"p_night": 0.25, "p_rain": 0.25, "p_noise": 0.5, "p_shake": 0.3}
#: Objects smaller than this (pixels high at output size, 640 wide) are not drawn: 12 px there is
#: 24 px in a 1280x720 frame and about 8 px at the detector's 416.
MIN_LABEL_PX = 12.0
MIN_PERSON_PX = 16.0
MIN_VISIBLE = 0.5
MAX_OCCLUDED = 0.5
#: Extra objects per frame: each count is drawn uniformly from its tuple. Large vehicles are
#: the hardest to tell apart and rarest in traffic, so they are spawned most.
SPAWNS: dict[str, tuple[int, ...]] = {
    "hazmat_tanker": (1, 1, 2, 2),
    "bus": (1, 1, 2),
    "truck": (1, 1, 2, 2),
    "car": (0, 1, 2),
    "person": (1, 2, 3, 4),
}
#: Scenario traffic is sparser than in clips (metres between vehicles in a lane, on average).
DATASET_GAP_M = (60.0, 140.0)
#: JPEG quality is drawn per image from this range (compressed video at inference time).
JPEG_QUALITY = (60, 96)


def export_yolo_dataset(
    out_dir: Path,
    *,
    train_seeds: Sequence[int],
    val_seeds: Sequence[int],
    scenarios: Sequence[str] | None = None,
    frames_per_clip: int,
    imgsz: int = 640,
    every_n: int | None = None,
    progress: bool = True,
    width: int = 1280,
    height: int = 720,
) -> Path:
    """Render the dataset into ``out_dir`` and return the path of its ``data.yaml``.

    ``frames_per_clip`` frames are taken from each (seed, scenario): every ``every_n``-th frame
    from the start, or spread evenly over the scenario's default length. Images are ``imgsz``
    pixels wide (rendered at ``width`` x ``height`` and scaled down).
    """
    scenarios = list(scenarios or SCENARIOS)
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenarios {unknown}")
    if frames_per_clip <= 0 or imgsz < 32:
        raise ValueError("frames_per_clip must be positive and imgsz at least 32")
    out_dir = Path(out_dir)
    request = {"train_seeds": list(train_seeds), "val_seeds": list(val_seeds), "scenarios": scenarios,
               "frames_per_clip": frames_per_clip, "imgsz": imgsz, "every_n": every_n,
               "width": width, "height": height}
    if _rendered(out_dir, request):
        return out_dir / "data.yaml"
    for sub in ("images", "labels"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    splits = {"train": list(train_seeds), "val": list(val_seeds)}
    total = sum(len(seeds) for seeds in splits.values()) * len(scenarios) * frames_per_clip
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="dataset", unit="img")
    out_h = round(imgsz * height / width)
    scale = imgsz / width
    summary: dict[str, dict] = {}
    try:
        for split, seeds in splits.items():
            images, labels = out_dir / "images" / split, out_dir / "labels" / split
            images.mkdir(parents=True, exist_ok=True)
            labels.mkdir(parents=True, exist_ok=True)
            counts = {name: 0 for name in CLASSES}
            frames_with = {name: 0 for name in CLASSES}
            n_images = 0
            for seed in seeds:
                for scenario in scenarios:
                    gap = float(np.random.default_rng([seed, 77]).uniform(*DATASET_GAP_M))
                    sim = build_simulation(scenario, seed, width=width, height=height, odds=DATASET_ODDS,
                                           params={"mean_gap_m": gap})
                    for index in _frame_indices(sim.frames, frames_per_clip, every_n):
                        image, rows = render_sample(sim, index, scale=scale)
                        small = cv2.resize(image, (imgsz, out_h), interpolation=cv2.INTER_AREA)
                        stem = f"{scenario}_{seed}_{index:05d}"
                        quality = int(sim.frame_rng(index, stream=2).integers(*JPEG_QUALITY))
                        cv2.imwrite(str(images / f"{stem}.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, quality])
                        (labels / f"{stem}.txt").write_text("".join(r + "\n" for r in rows), encoding="utf-8")
                        n_images += 1
                        seen = set()
                        for r in rows:
                            name = CLASSES[int(r.split()[0])]
                            counts[name] += 1
                            seen.add(name)
                        for name in seen:
                            frames_with[name] += 1
                        if bar is not None:
                            bar.update(1)
            summary[split] = {"images": n_images, "boxes": counts, "images_with": frames_with}
    finally:
        if bar is not None:
            bar.close()
    data = {
        "path": str(out_dir.resolve()),
        "train": "images/train",
        "val": "images/val",
        "nc": len(CLASSES),
        "names": {i: name for i, name in enumerate(CLASSES)},
    }
    data_yaml = out_dir / "data.yaml"
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (out_dir / "summary.json").write_text(json.dumps({**summary, "request": request}, indent=2), encoding="utf-8")
    return data_yaml


def _rendered(out_dir: Path, request: dict) -> bool:
    """True when ``out_dir`` already holds a complete dataset rendered for the same request."""
    try:
        summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return summary.get("request") == request and (out_dir / "data.yaml").is_file()


def _frame_indices(frames: int, count: int, every_n: int | None) -> list[int]:
    if every_n:
        return list(range(0, frames, every_n))[:count]
    return sorted({round(v) for v in np.linspace(0, frames - 1, count)})


def render_sample(sim: Simulation, index: int, *, scale: float = 0.5) -> tuple[np.ndarray, list[str]]:
    """One dataset frame (full size) and its YOLO label rows; ``scale`` = output width / frame width."""
    t = index / sim.fps
    poses = sim.poses(np.array([t]))[0]
    rng = sim.frame_rng(index, stream=1)
    filters = Filters(min_height_px=MIN_LABEL_PX / scale, min_visible=MIN_VISIBLE, max_occluded=MAX_OCCLUDED,
                      class_min_height_px=(("person", MIN_PERSON_PX / scale),))
    poses = poses + spawn_poses(sim, rng, poses, filters)
    image, drawn = sim.render(index, poses, filters)
    w, h = sim.camera.width, sim.camera.height
    rows = []
    for d in drawn:
        if d.pose.cls not in CLASS_INDEX:
            continue
        x1, y1, x2, y2 = (float(v) for v in d.proj.bbox)
        cx, cy = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h
        bw, bh = (x2 - x1) / w, (y2 - y1) / h
        if bw <= 0 or bh <= 0:
            continue
        rows.append(f"{CLASS_INDEX[d.pose.cls]} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
    return image, rows


def spawn_poses(sim: Simulation, rng: np.random.Generator, existing: list[Pose], filters: Filters) -> list[Pose]:
    """Extra objects at free places in view (no overlap with anything already there)."""
    road, cam = sim.site.road, sim.site.camera
    taken = [shapely.Polygon(p.model.footprint(p.x, p.y, p.yaw)) for p in existing]
    out: list[Pose] = []
    next_id = 100000
    for cls, options in SPAWNS.items():
        for _ in range(int(options[int(rng.integers(len(options)))])):
            model = make_model(cls, rng)
            for _attempt in range(12):
                x, y, yaw, speed = _place(cls, road, rng)
                footprint = shapely.Polygon(model.footprint(x, y, yaw))
                margin = 0.4 if cls == "person" else 1.5
                grown = footprint.buffer(margin)
                if any(grown.intersects(other) for other in taken):
                    continue
                pose = Pose(next_id, cls, model, x, y, yaw, speed, float(rng.uniform(0, 2 * math.pi)))
                proj = project_pose(cam, pose)
                if proj is None or proj.visible < 0.8 or filters.too_small(proj):
                    continue
                out.append(pose)
                taken.append(footprint)
                next_id += 1
                break
    return out


def _place(cls: str, road, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """A random pose on the road (vehicles) or beside/on it (people)."""
    if cls == "person":
        where = rng.random()
        side = int(rng.choice([-1, 1]))
        if where < 0.45:
            d = road.sidewalk_offset(side, float(rng.uniform(0.15, 0.85)))
        elif where < 0.6:
            d = side * (road.carriageway_half_m + float(rng.uniform(0.4, road.shoulder_m - 0.4)))
        elif where < 0.9:
            d = side * (road.sidewalk_outer_m + float(rng.uniform(0.5, 12.0)))
        else:
            d = float(rng.uniform(-road.carriageway_half_m, road.carriageway_half_m))
        s = 4.0 + 90.0 * float(rng.random()) ** 1.5  # nearer is likelier: more pixels to learn from
        x, y = road.point(s, d)
        return float(x), float(y), float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0.0, 1.6))
    direction = int(rng.choice([-1, 1]))
    if rng.random() < 0.1:
        d = road.shoulder_offset(direction)
        speed = 0.0
    else:
        d = road.lane_offset(direction, int(rng.integers(road.lanes_per_direction)))
        speed = float(rng.uniform(30.0, 80.0)) / 3.6
    s = 6.0 + 160.0 * float(rng.random()) ** 1.6
    x, y = road.point(s, d + float(rng.normal(0.0, 0.15)))
    yaw = float(road.tangent_rad(s)) + (0.0 if direction > 0 else math.pi) + float(rng.normal(0.0, 0.02))
    return float(x), float(y), yaw, speed
