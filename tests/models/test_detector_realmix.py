"""The real-looking training data of zhizhi-det-v3: composites, mined frames, augmentation.

Composites are checked against the pixels they changed (the label is on the pasted object), the
augmentation against itself (seeded, labels untouched, a real H.264 round trip through PyAV),
and the mining rule on a clip drawn here with its real background model (the clip median) and a stand-in
detector whose boxes are known: the moving person is kept as a positive, the static vehicle box
is a negative left unlabelled, an unsure moving box is painted out. Fast: no training, no YOLO.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from zhizhi.models.detector import RECIPES_DIR
from zhizhi.models.detector.augment import AugmentOptions, augment_image, h264_roundtrip
from zhizhi.models.detector.composite import PASTE_WEIGHTS, composite_image, render_cutout
from zhizhi.models.detector.mining import MiningOptions, mine_frames, sort_detections
from zhizhi.models.detector.realmix import MediaSource, RealMixOptions, build_real_mix
from zhizhi.models.detector.train import DetectorRecipe
from zhizhi.video.detectors.tracking import Detections
from zhizhi.video.observation import CLASSES

NAMES = list(CLASSES)


def textured(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth, non-uniform background (a flat one would hide light matching)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(60, 200, size=(h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def boxes_px(rows: list[str], shape) -> list[tuple[int, tuple[float, float, float, float]]]:
    h, w = shape[:2]
    out = []
    for r in rows:
        c, cx, cy, bw, bh = (float(v) for v in r.split())
        out.append((int(c), ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)))
    return out


# --- composites ---------------------------------------------------------------------------------


def test_a_cutout_has_an_exact_matte_and_its_box_inside():
    rng = np.random.default_rng(4)
    for cls in PASTE_WEIGHTS:
        cut = render_cutout(cls, rng)
        h, w = cut.alpha.shape
        x1, y1, x2, y2 = cut.box
        assert cut.cls == cls and cut.colour.shape == (h, w, 3)
        assert -1 <= x1 < x2 <= w + 1 and -1 <= y1 < y2 <= h + 1
        inside = cut.alpha[int(y1) + 1:int(y2) - 1, int(x1) + 1:int(x2) - 1]
        assert inside.mean() > 0.3  # the object fills its box
        assert ((cut.alpha > 0.02) & (cut.alpha < 0.98)).mean() < 0.2  # opaque, except anti-aliased edges


@pytest.mark.parametrize("seed", range(6))
def test_composite_labels_land_on_the_pasted_objects(seed):
    background = textured(360, 640, seed)
    image, rows = composite_image(background, np.random.default_rng(seed), objects=(2, 3), jpeg_quality=(95, 95))
    assert rows, "something was pasted"
    changed = (np.abs(image.astype(int) - background.astype(int)).max(axis=2) > 40).astype(np.uint8)
    union = np.zeros_like(changed)
    for cls, (x1, y1, x2, y2) in boxes_px(rows, image.shape):
        assert CLASSES[cls] in PASTE_WEIGHTS
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 360
        box = changed[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))]
        assert box.mean() > 0.3, f"box {CLASSES[cls]} {x1:.0f},{y1:.0f} is not on the object"
        gx, gy = 0.2 * (x2 - x1) + 3, 0.2 * (y2 - y1) + 3  # shadows lie a little outside the box
        union[max(int(y1 - gy), 0):int(y2 + gy) + 1, max(int(x1 - gx), 0):int(x2 + gx) + 1] = 1
    assert (changed & union).sum() >= 0.9 * changed.sum(), "pixels were changed where no label is"


def test_pasted_objects_take_the_light_of_the_place():
    rng_dark, rng_bright = np.random.default_rng(1), np.random.default_rng(1)
    cutouts = {"car": [render_cutout("car", np.random.default_rng(7))]}
    dark = np.full((300, 400, 3), 30, np.uint8)
    bright = np.full((300, 400, 3), 220, np.uint8)
    means = []
    for background, rng in ((dark, rng_dark), (bright, rng_bright)):
        image, rows = composite_image(background, rng, objects=(1, 1), cutouts=cutouts)
        (_, (x1, y1, x2, y2)), = boxes_px(rows, image.shape)
        means.append(image[int(y1) + 2:int(y2) - 2, int(x1) + 2:int(x2) - 2].mean())
    assert means[0] + 40 < means[1]


def test_nothing_is_pasted_over_a_labelled_object():
    background = textured(270, 480, 3)
    keep = (180.0, 60.0, 300.0, 220.0)
    for seed in range(5):
        image, rows = composite_image(background, np.random.default_rng(seed), objects=(4, 4), avoid=[keep])
        for _, (x1, y1, x2, y2) in boxes_px(rows, image.shape):
            iw, ih = min(x2, keep[2]) - max(x1, keep[0]), min(y2, keep[3]) - max(y1, keep[1])
            assert iw <= 0 or ih <= 0 or iw * ih <= 0.3 * (keep[2] - keep[0]) * (keep[3] - keep[1])


# --- augmentation -------------------------------------------------------------------------------


def test_augmentation_is_seeded():
    image = textured(180, 320, 5)
    every = AugmentOptions(p_night=1, p_rain=1, p_glare=1, p_codec=1, p_noise=1, p_motion_blur=1)
    a, done_a = augment_image(image, np.random.default_rng(11), every)
    b, done_b = augment_image(image, np.random.default_rng(11), every)
    c, _ = augment_image(image, np.random.default_rng(12), every)
    assert done_a == done_b == ["night", "rain", "glare", "motion_blur", "noise", "h264"]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == image.shape and a.dtype == np.uint8


def test_h264_round_trip_is_a_real_lossy_encode():
    image = textured(181, 321, 6)  # odd sizes: padded for yuv420p and cropped back
    image = cv2.add(image, np.random.default_rng(0).integers(0, 40, image.shape, dtype=np.uint8))
    coarse = h264_roundtrip(image, 45, "ultrafast")
    fine = h264_roundtrip(image, 20, "veryfast")
    assert coarse.shape == fine.shape == image.shape
    err_coarse = np.abs(coarse.astype(int) - image).mean()
    err_fine = np.abs(fine.astype(int) - image).mean()
    assert 0 < err_fine < err_coarse < 40


def test_the_real_mix_is_seeded_and_augmentation_keeps_labels(tmp_path):
    photo = tmp_path / "photo.mp4"
    _write_clip(photo, [textured(240, 320, 9)] * 3)
    base = {"media": [MediaSource(path=photo, source="drawn here", licence="none", mine=False, empty=True)],
            "composites": 8, "cutouts_per_class": 2, "mining": None}
    plain = RealMixOptions(**base, augment=None)
    degraded = RealMixOptions(**base, augment=AugmentOptions(share=1.0, p_codec=1.0, p_night=0.5))
    a = build_real_mix(degraded, tmp_path / "a", seed=5, weights=None, progress=False)
    b = build_real_mix(degraded, tmp_path / "b", seed=5, weights=None, progress=False)
    c = build_real_mix(plain, tmp_path / "c", seed=5, weights=None, progress=False)
    names = sorted(p.name for p in (a / "labels").iterdir())
    assert len(names) == 8
    for name in names:
        label = (a / "labels" / name).read_text()
        assert label == (b / "labels" / name).read_text() == (c / "labels" / name).read_text()
        image = name.replace(".txt", ".jpg")
        assert (a / "images" / image).read_bytes() == (b / "images" / image).read_bytes()
        assert (a / "images" / image).read_bytes() != (c / "images" / image).read_bytes()
    summary = json.loads((a / "summary.json").read_text())
    assert summary["augmented"]["images"] == 8 and summary["augmented"]["h264"] == 8
    # asking again for the same request reuses the folder
    stamp = (a / "summary.json").stat().st_mtime_ns
    build_real_mix(degraded, tmp_path / "a", seed=5, weights=None, progress=False)
    assert (a / "summary.json").stat().st_mtime_ns == stamp


def test_missing_media_are_named(tmp_path):
    options = RealMixOptions(media=[MediaSource(path=tmp_path / "gone.mp4", source="s", licence="l")])
    with pytest.raises(FileNotFoundError, match="gone.mp4"):
        build_real_mix(options, tmp_path / "out", seed=1, weights=None, progress=False)


def test_the_v3_recipe_loads_with_its_media_under_var():
    recipe = DetectorRecipe.load(RECIPES_DIR / "zhizhi-det-v3.yaml")
    assert recipe.init_from == "zhizhi-det-v2" and recipe.real_mix is not None
    assert recipe.test_seeds == [3000, 3001, 3002, 3003, 3004] and recipe.frames_per_clip == 4
    media = recipe.real_mix.media
    assert media and all(m.path.is_absolute() and "var/media" in m.path.as_posix() for m in media)
    # never the evaluation clips (../shared/data/video holds them under other names)
    assert not {m.path.stem for m in media} & {"car-detection", "one-by-one-person-detection"}
    assert recipe.init_weights().is_file()


# --- mining -------------------------------------------------------------------------------------

STATIC_CAR = (40.0, 150.0, 140.0, 200.0)


def person_box(i: int) -> tuple[float, float, float, float]:
    x = 160.0 + 4.0 * i
    return (x, 60.0, x + 24.0, 130.0)


def draw_clip(n: int = 40) -> list[np.ndarray]:
    background = textured(240, 320, 8)
    cv2.rectangle(background, (40, 150), (140, 200), (90, 90, 200), -1)  # something still, "a table"
    frames = []
    for i in range(n):
        frame = background.copy()
        x1, y1, x2, y2 = (int(v) for v in person_box(i))
        cv2.rectangle(frame, (x1, y1), (x2, y2), (30, 30, 30), -1)
        frames.append(frame)
    return frames


def fake_detector(order: list[int]):
    """Boxes of the drawn clip for the frames mined, in order: the still thing as a tanker, the
    moving one as a person, and an unsure moving 'truck' on the person's heels."""
    upcoming = iter(order)

    def detect(images):
        out = []
        for _image in images:
            person = person_box(next(upcoming))
            truck = (person[0] - 2, 40.0, person[2] + 2, 135.0)
            out.append(Detections([STATIC_CAR, person, truck], [0.7, 0.8, 0.4],
                                  [NAMES.index("hazmat_tanker"), NAMES.index("person"), NAMES.index("truck")]))
        return out

    return detect


def test_mining_keeps_moving_people_and_leaves_static_vehicles_unlabelled():
    frames = draw_clip()
    mined = mine_frames(frames, fake_detector(list(range(0, 40, 5))), NAMES, MiningOptions(every=5, min_motion_px=50))
    assert [m.index for m in mined] == list(range(0, 40, 5))
    for m in mined:
        assert [n for n, _ in m.positives] == ["person"]
        assert m.positives[0][1] == pytest.approx(person_box(m.index))
        assert [n for n, _ in m.negatives] == ["hazmat_tanker"]  # static: a negative, left unlabelled
        assert m.negatives[0][1] == pytest.approx(STATIC_CAR)
        assert any(abs(b[0] - (person_box(m.index)[0] - 2)) < 1 for b in m.painted)  # the unsure truck
        x1, y1, x2, y2 = (int(v) for v in STATIC_CAR)
        assert np.array_equal(m.image[y1 + 5:y2 - 5, x1 + 5:x2 - 5], frames[m.index][y1 + 5:y2 - 5, x1 + 5:x2 - 5])
        px1, py1, px2, py2 = (int(v) for v in person_box(m.index))
        assert np.array_equal(m.image[py1:py2, px1:px2], frames[m.index][py1:py2, px1:px2])  # positives untouched


def test_a_person_standing_still_is_painted_not_taught_as_background():
    options = MiningOptions()
    dets = Detections([(10, 10, 40, 90), (100, 100, 160, 140), (200, 10, 220, 60)], [0.9, 0.6, 0.2],
                      [NAMES.index("person"), NAMES.index("car"), NAMES.index("person")])
    positives, negatives, painted = sort_detections(dets, NAMES, np.zeros((0, 4), np.float32), (240, 320), options)
    assert positives == []
    assert [n for n, _ in negatives] == ["car", "person"]  # a weak static 'person' is a negative too
    assert painted == [(10.0, 10.0, 40.0, 90.0)]


def test_in_a_clip_where_only_people_move_a_walker_the_detector_missed_is_labelled():
    frames = draw_clip()
    def nothing(images):
        return [Detections.empty() for _ in images]

    assert mine_frames(frames, nothing, NAMES, MiningOptions(every=10, min_motion_px=50)) == []  # nothing to learn
    options = MiningOptions(every=10, min_motion_px=50, mover_min_height_px=30)
    mined = mine_frames(frames, lambda images: [Detections([STATIC_CAR], [0.6], [1]) for _ in images], NAMES,
                        options, movers="person")
    assert [m.index for m in mined] == [0, 10, 20, 30]
    for m in mined:
        (cls, box), = m.positives
        assert cls == "person" and iou_of(box, person_box(m.index)) > 0.8
        assert [n for n, _ in m.negatives] == ["bus"]


def test_movers_must_be_a_class(tmp_path):
    with pytest.raises(ValueError, match="not one of the project's classes"):
        MediaSource(path=tmp_path / "a.mp4", source="s", licence="l", movers="bicycle")


def iou_of(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _write_clip(path: Path, frames: list[np.ndarray]) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
