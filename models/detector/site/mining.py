"""Labels mined from a recording: motion-confirmed moving objects are positives, detections that
never move and lie on the background are negatives.

The current detector runs with its tracker over the recorded frames, beside a background model
(OpenCV MOG2 with the settings of :class:`video.detectors.motion.MotionDetector`, first primed on
the whole recording so that its first frames are judged like the others). Then:

* a **track moves** when its box centre strays (90th percentile, from its median position) by
  at least half the box's smaller side, and at least ``move_min_px``; it **stands still** when
  it strays by no more than a tenth of that side (box jitter), or ``still_px``;
* a **positive** is a box of a moving track that covers moving foreground (``moving_fg`` of its
  area) and matches a moving blob (``blob_iou``: the whole moving object, not a part of it),
  labelled with the track's voted class (confidence-weighted; a track whose votes are
  split below ``vote_share`` is ambiguous); a positive lying inside a bigger positive (a body
  part of a person) is dropped, so the frame teaches one box per object;
* a **negative** is a box of a still (or too short) track that lies on the background (at most
  ``static_fg`` of its area moving): a window, a table leg, a lamp post seen as a tanker. A vehicle
  that never moved is background until it moves; but people often stand still for a while and
  fade into the background model, so a still box of ``still_classes`` (person) is a negative only
  where it also looks as the recording's median image does (at most ``static_changed`` of it
  differs: a permanent structure, such as a traffic cone);
* everything else is **ambiguous**.

A frame with an ambiguous box, or with a moving blob that no positive explains (something moving
the detector missed), is left out. A frame with positives is a labelled frame (its negatives
are background in it); a frame whose only boxes are negatives is a background frame (no label
file). Frames without any box are not used.

>>> track_motion([(10, 10), (11, 10), (10, 11), (10, 10)], side=40.0, options=MiningOptions())
('still', 1.0)
>>> track_motion([(10, 10), (60, 10), (120, 10), (180, 10)], side=40.0, options=MiningOptions())[0]
'moving'
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, Field

from zhizhi.models.detector.labelled import IMAGE_SUFFIXES
from zhizhi.models.detector.site.record import Recording
from zhizhi.video.detectors.motion import foreground_mask
from zhizhi.video.observation import CLASSES

Verdict = Literal["positive", "negative", "ambiguous", "fragment"]
FrameKind = Literal["labelled", "background", "left_out", "empty"]
#: The classes that are vehicles (every one of them is false where no vehicle can be).


class MiningOptions(BaseModel):
    """Thresholds of the mining (shares are of a box's area; pixels of the full frame)."""

    work_width: int = Field(640, ge=64, description="The background model runs on frames scaled to this width.")
    history: int = Field(300, ge=10, description="MOG2 history, in recorded frames.")
    var_threshold: float = Field(25.0, gt=0)
    moving_fg: float = Field(0.25, gt=0, le=1, description="A positive covers at least this share of foreground.")
    static_fg: float = Field(0.08, ge=0, lt=1, description="A negative covers at most this share of foreground.")
    still_classes: tuple[str, ...] = Field(("person",), description="Classes that often stand still: their still "
                                           "boxes are negatives only where they look like the median image.")
    static_changed: float = Field(0.2, ge=0, lt=1, description="A still box of still_classes is a negative when it "
                                  "differs from the recording's median image on at most this share of its area (a "
                                  "permanent structure, a traffic cone, not someone standing for a while).")
    median_frames: int = Field(48, ge=3, le=500, description="Frames the median image is taken over.")
    changed_level: int = Field(25, ge=1, le=255, description="Grey levels that make a pixel differ from the median.")
    move_frac: float = Field(0.5, gt=0, description="A moving track strays by at least this x its box's smaller side.")
    move_min_px: float = Field(8.0, ge=0)
    still_frac: float = Field(0.1, ge=0, description="A still track strays by at most this x its box's smaller side.")
    still_px: float = Field(3.0, ge=0)
    min_track_frames: int = Field(3, ge=2, description="Shorter tracks are judged by their boxes alone.")
    vote_share: float = Field(0.6, gt=0, le=1, description="A track's class needs this share of its votes.")
    blob_min_frac: float = Field(0.002, gt=0, lt=1, description="Smallest moving blob (share of the frame) that "
                                 "must be explained by a positive.")
    blob_gap_px: int = Field(9, ge=1, description="Foreground pieces this close (work pixels) are one blob.")
    blob_iou: float = Field(0.4, gt=0, le=1, description="A positive's box matches a moving blob's this well: the "
                            "detector saw the whole moving object, not a part of it.")
    contained: float = Field(0.8, gt=0, le=1, description="A positive this much inside a bigger one is a fragment.")


class MinedBox(BaseModel):
    xyxy: tuple[float, float, float, float]
    cls: str
    conf: float
    track_id: int
    fg: float = Field(description="Share of the box that is moving foreground.")
    blob_iou: float = Field(0.0, description="IoU with the best-matching moving blob.")
    changed: float = Field(0.0, description="Share of the box that differs from the recording's median image.")
    verdict: Verdict
    label: str | None = Field(None, description="The class a positive is labelled with (its track's vote).")


class MinedTrack(BaseModel):
    track_id: int
    frames: int
    motion: Literal["moving", "still", "unsure", "short"]
    extent_px: float
    side_px: float
    voted: str
    share: float
    mean_fg: float


class MinedFrame(BaseModel):
    index: int
    t: float
    file: str
    mask: str
    boxes: list[MinedBox]
    unexplained: int = Field(0, description="Moving blobs no positive explains.")
    kind: FrameKind
    reason: str | None = None

    def rows(self, width: int, height: int) -> list[tuple[int, float, float, float, float]]:
        """YOLO rows of the positives (``cls cx cy w h`` normalised)."""
        out = []
        for b in self.boxes:
            if b.verdict != "positive" or b.label is None:
                continue
            x1, y1, x2, y2 = (max(0.0, b.xyxy[0]), max(0.0, b.xyxy[1]), min(width, b.xyxy[2]), min(height, b.xyxy[3]))
            if x2 - x1 < 1 or y2 - y1 < 1:
                continue
            out.append((CLASSES.index(b.label), (x1 + x2) / 2 / width, (y1 + y2) / 2 / height,
                        (x2 - x1) / width, (y2 - y1) / height))
        return out


class Mining(BaseModel):
    """What the mining found in a recording."""

    options: MiningOptions
    detector: str = Field(description="The weights that were mined with.")
    width: int
    height: int
    frames: list[MinedFrame]
    tracks: list[MinedTrack]

    def counts(self, frames: Sequence[MinedFrame] | None = None) -> dict[str, int]:
        """Frames by kind and boxes by verdict (of ``frames``, default all)."""
        frames = self.frames if frames is None else frames
        out = {kind: 0 for kind in ("labelled", "background", "left_out", "empty")}
        out |= {f"{v}_boxes": 0 for v in ("positive", "negative", "ambiguous", "fragment")}
        for frame in frames:
            out[frame.kind] += 1
            for box in frame.boxes:
                out[f"{box.verdict}_boxes"] += 1
        return out


# --- the background model ---------------------------------------------------------------


def _small(image: np.ndarray, width: int) -> np.ndarray:
    scale = min(1.0, width / image.shape[1])
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(image, (5, 5), 0)


def _subtractor(options: MiningOptions, frames: int) -> cv2.BackgroundSubtractorMOG2:
    sub = cv2.createBackgroundSubtractorMOG2(min(options.history, max(frames, 10)), options.var_threshold,
                                             detectShadows=True)
    sub.setShadowThreshold(0.8)  # as video.detectors.motion
    return sub


def moving_blobs(mask: np.ndarray, scale: float, options: MiningOptions) -> np.ndarray:
    """``(n, 4)`` boxes (full-frame pixels) of the mask's blobs of at least ``blob_min_frac`` of
    the frame, pieces closer than ``blob_gap_px`` joined."""
    joined = cv2.dilate((mask > 0).astype(np.uint8), np.ones((options.blob_gap_px,) * 2, np.uint8))
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    keep = [k for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] >= options.blob_min_frac * mask.size]
    if not keep:
        return np.zeros((0, 4), np.float32)
    pad = options.blob_gap_px // 2  # the dilation's own growth
    x, y = stats[keep, cv2.CC_STAT_LEFT] + pad, stats[keep, cv2.CC_STAT_TOP] + pad
    w, h = stats[keep, cv2.CC_STAT_WIDTH] - 2 * pad, stats[keep, cv2.CC_STAT_HEIGHT] - 2 * pad
    return (np.stack([x, y, x + w, y + h], axis=1) / scale).astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` IoU of two sets of xyxy boxes."""
    a, b = np.asarray(a, np.float32).reshape(-1, 4), np.asarray(b, np.float32).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)[:, None]
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)[None, :]
    return inter / np.maximum(area_a + area_b - inter, 1e-6)


def median_image(images: Sequence[np.ndarray]) -> np.ndarray:
    """The per-pixel median (grey) of work-scale frames: what the view looks like most of the time."""
    return np.median(np.stack([_grey(i) for i in images]), axis=0).astype(np.uint8)


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def box_foreground(mask: np.ndarray, xyxy: np.ndarray, scale: float) -> np.ndarray:
    """Share of each box (full-frame pixels) that is foreground in ``mask`` (work scale)."""
    h, w = mask.shape[:2]
    out = np.zeros(len(xyxy), np.float32)
    for i, box in enumerate(np.asarray(xyxy, np.float32).reshape(-1, 4)):
        x1, y1, x2, y2 = (box * scale).round().astype(int)
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if x2 > x1 and y2 > y1:
            out[i] = float(np.count_nonzero(mask[y1:y2, x1:x2])) / ((x2 - x1) * (y2 - y1))
    return out


# --- tracks ---------------------------------------------------------------------------------


def track_motion(centres: Sequence[tuple[float, float]], side: float, options: MiningOptions) -> tuple[str, float]:
    """Whether a track moves: ``("moving" | "still" | "unsure" | "short", extent_px)``."""
    points = np.asarray(centres, np.float64).reshape(-1, 2)
    if len(points) < options.min_track_frames:
        return "short", 0.0
    distance = np.linalg.norm(points - np.median(points, axis=0), axis=1)
    extent = float(np.percentile(distance, 90))
    if extent >= max(options.move_min_px, options.move_frac * side):
        return "moving", round(extent, 1)
    if extent <= max(options.still_px, options.still_frac * side):
        return "still", round(extent, 1)
    return "unsure", round(extent, 1)


def _vote(classes: Sequence[str], confs: Sequence[float]) -> tuple[str, float]:
    votes: dict[str, float] = defaultdict(float)
    for name, conf in zip(classes, confs):
        votes[name] += conf
    best = max(votes, key=votes.get)
    return best, votes[best] / sum(votes.values())


def _contained(inner: tuple[float, ...], outer: tuple[float, ...]) -> float:
    """Share of ``inner``'s area inside ``outer``."""
    ix = max(0.0, min(inner[2], outer[2]) - max(inner[0], outer[0]))
    iy = max(0.0, min(inner[3], outer[3]) - max(inner[1], outer[1]))
    area = max(1e-6, (inner[2] - inner[0]) * (inner[3] - inner[1]))
    return ix * iy / area


def _area(box: tuple[float, ...]) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


# --- mining -------------------------------------------------------------------------------------


def mine(
    recording: Recording,
    detector,
    options: MiningOptions | None = None,
    *,
    detector_name: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> Mining:
    """Run ``detector`` (a :class:`video.detectors.UltralyticsDetector`) with its tracker and the
    background model over ``recording``; masks are written beside the frames (``masks/``)."""
    options = options or MiningOptions()
    frames = recording.frames
    masks_dir = recording.folder / "masks"
    shutil.rmtree(masks_dir, ignore_errors=True)
    masks_dir.mkdir(parents=True)
    sub = _subtractor(options, len(frames))
    step = max(1, len(frames) // options.median_frames)
    sampled = []
    for k, frame in enumerate(frames):  # prime: the first frames are judged against a learnt background too
        small = _small(cv2.imread(str(recording.path(frame))), options.work_width)
        sub.apply(small)
        if k % step == 0 and len(sampled) < options.median_frames:
            sampled.append(_grey(small))
    median = median_image(sampled)
    del sampled
    camera = f"adapt-{recording.camera_id}"
    detector.reset(camera)
    raw: list[tuple[np.ndarray, list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for k, frame in enumerate(frames):
        image = cv2.imread(str(recording.path(frame)))
        scale = min(1.0, options.work_width / image.shape[1])
        small = _small(image, options.work_width)
        mask = foreground_mask(sub.apply(small))
        differs = np.where(cv2.absdiff(_grey(small), median) > options.changed_level, 255, 0).astype(np.uint8)
        cv2.imwrite(str(masks_dir / f"{frame.index:05d}.png"), mask)
        dets = detector.detect([image])[0]
        boxes = detector.track(camera, dets, image)
        blobs = moving_blobs(mask, scale, options)
        match = iou(boxes.xyxy, blobs).max(axis=1) if len(blobs) else np.zeros(len(boxes), np.float32)
        raw.append((boxes.xyxy, boxes.class_names(), boxes.conf, boxes.track_id,
                    box_foreground(mask, boxes.xyxy, scale), match, blobs, box_foreground(differs, boxes.xyxy, scale)))
        if progress is not None:
            progress(k + 1, len(frames))
    detector.reset(camera)
    tracks = _tracks(raw, options)
    mined = [_frame(frame, item, tracks, options) for frame, item in zip(frames, raw)]
    return Mining(options=options, detector=detector_name, width=recording.width, height=recording.height,
                  frames=mined, tracks=sorted(tracks.values(), key=lambda t: t.track_id))


def _tracks(raw, options: MiningOptions) -> dict[int, MinedTrack]:
    seen: dict[int, list[tuple[np.ndarray, str, float, float]]] = defaultdict(list)
    for xyxy, names, conf, ids, fg, _match, _blobs, _changed in raw:
        for box, name, c, tid, f in zip(xyxy, names, conf.tolist(), ids.tolist(), fg.tolist()):
            seen[int(tid)].append((box, name, c, f))
    tracks = {}
    for tid, rows in seen.items():
        boxes = np.asarray([r[0] for r in rows], np.float64)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        side = float(np.median(np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))
        motion, extent = track_motion(centres, side, options)
        voted, share = _vote([r[1] for r in rows], [r[2] for r in rows])
        tracks[tid] = MinedTrack(track_id=tid, frames=len(rows), motion=motion, extent_px=extent,
                                 side_px=round(side, 1), voted=voted, share=round(share, 3),
                                 mean_fg=round(float(np.mean([r[3] for r in rows])), 3))
    return tracks


def _verdict(track: MinedTrack, fg: float, match: float, changed: float, options: MiningOptions) -> Verdict:
    if track.motion in ("still", "short") and fg <= options.static_fg and (
            track.voted not in options.still_classes or changed <= options.static_changed):
        return "negative"
    if (track.motion == "moving" and fg >= options.moving_fg and match >= options.blob_iou
            and track.share >= options.vote_share):
        return "positive"
    return "ambiguous"


def _frame(frame, item, tracks: dict[int, MinedTrack], options: MiningOptions) -> MinedFrame:
    xyxy, names, conf, ids, fg, match, blobs, changed = item
    boxes = []
    for box, name, c, tid, f, m, d in zip(xyxy.tolist(), names, conf.tolist(), ids.tolist(), fg.tolist(),
                                          match.tolist(), changed.tolist()):
        track = tracks[int(tid)]
        verdict = _verdict(track, f, m, d, options)
        boxes.append(MinedBox(xyxy=tuple(round(v, 1) for v in box), cls=name, conf=round(c, 3), track_id=int(tid),
                              fg=round(f, 3), blob_iou=round(m, 3), changed=round(d, 3), verdict=verdict,
                              label=track.voted if verdict == "positive" else None))
    positives = [b for b in boxes if b.verdict == "positive"]
    for b in positives:  # a body part inside the whole: one box per object
        if any(o is not b and _area(o.xyxy) > _area(b.xyxy) and _contained(b.xyxy, o.xyxy) >= options.contained
               for o in positives):
            b.verdict, b.label = "fragment", None
    kept = [b.xyxy for b in positives if b.verdict == "positive"]
    unexplained = int((iou(blobs, kept).max(axis=1) < options.blob_iou).sum()) if kept else len(blobs)
    kind: FrameKind
    reason = None
    if not boxes:
        kind = "empty"
    elif any(b.verdict == "ambiguous" for b in boxes):
        kind, reason = "left_out", "ambiguous box"
    elif unexplained:
        kind, reason = "left_out", "moving blob without a positive"
    elif any(b.verdict == "positive" for b in boxes):
        kind = "labelled"
    else:
        kind = "background"
    return MinedFrame(index=frame.index, t=frame.t, file=frame.file, mask=f"masks/{frame.index:05d}.png",
                      boxes=boxes, unexplained=unexplained, kind=kind, reason=reason)


# --- the labelled folder ---------------------------------------------------------------------


def write_labelled(mining: Mining, recording: Recording, frames: Sequence[MinedFrame], out_dir: Path) -> Path:
    """``frames`` as a labelled folder (docs/training.md): ``images/``, ``labels/`` (a file per
    labelled frame; none for background frames) and ``data.yaml``."""
    out_dir = Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    (out_dir / "images").mkdir(parents=True)
    (out_dir / "labels").mkdir()
    for frame in frames:
        source = recording.folder / frame.file
        assert source.suffix.lower() in IMAGE_SUFFIXES
        stem = f"{recording.camera_id.replace(':', '_')}_{frame.index:05d}"
        shutil.copyfile(source, out_dir / "images" / f"{stem}{source.suffix}")
        rows = frame.rows(mining.width, mining.height)
        if rows:
            (out_dir / "labels" / f"{stem}.txt").write_text(
                "".join(f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for c, cx, cy, w, h in rows), encoding="utf-8")
    (out_dir / "data.yaml").write_text("names: [" + ", ".join(CLASSES) + "]\n", encoding="utf-8")
    return out_dir
