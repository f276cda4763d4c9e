"""Real footage: every clip of a folder through ``zhizhi analyze``'s path, counted and scored.

The measuring contract of issue 16 (docs/benchmarks.md, "Real footage"). Each ``NAME.mp4`` of the
folder runs through :func:`console.clip_analysis.analyze_clip` — the function ``zhizhi analyze``
runs — with the console's detector (the shipped one unless told otherwise) and the shipped
warning model, on ``NAME.camera.json`` of the ``--cameras`` folder when given and there (the
shared clips' are in ``tests/data/real_footage_cameras``), else beside the clip when there is one
(as ``analyze --camera-config`` takes it), else on an uncalibrated camera at the default analysis
rate. With hand labels
(``labels.json``, format in docs/backtest.md "Hand labels of real footage") the detections of the
labelled frames are scored and vehicles crossing each counting line are counted: a track that is
shown counts when its box foot crosses the line anywhere on its whole tracked path, the sightings
before track verification showed it included (verification decides whether a track is real, not
where it was).

Terms, per clip and in total:

- ``frames``: frames decoded; ``analysed_frames``: frames run through the detector;
- ``tracks``: distinct track ids; ``tracks_by_class``: by each track's class as last voted;
- ``tanker_tracks_over_1s``: tracks whose last voted class is ``hazmat_tanker`` and that were
  seen over more than 1 s of clip time (first to last sighting);
- ``detections_by_class``: observation rows (a tracked box on an analysed frame) by voted class;
- ``alerts``: alerts of the warning model by rule kind, merged as the alert service merges them;
- ``fps``: analysed frames per second of wall time (decode, detect, track, geolocate, rules).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from pathlib import Path

from zhizhi.video.observation import VEHICLES

#: Every class a label may name.
CLASSES = frozenset({*VEHICLES, "person"})
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov")
IOU_MATCH = 0.5
TANKER_MIN_S = 1.0


class LabelsError(ValueError):
    """A labels file that cannot be used (the message names the file and the place in it)."""


def default_folder() -> Path:
    """``../shared/data/video`` beside the repository (where the shared real clips live)."""
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video"


def find_clips(folder: Path) -> list[Path]:
    """The folder's video files, by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


# --- labels -------------------------------------------------------------------------------------


def _box(value, where: str) -> list[float]:
    if (not isinstance(value, list) or len(value) != 4
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in value)):
        raise LabelsError(f"{where}: a box is [x1, y1, x2, y2] in pixels, got {value!r}")
    x1, y1, x2, y2 = (float(v) for v in value)
    if not (x2 > x1 and y2 > y1):
        raise LabelsError(f"{where}: box {value!r} has x2 <= x1 or y2 <= y1")
    return [x1, y1, x2, y2]


def _cls(value, where: str) -> str:
    if value not in CLASSES:
        raise LabelsError(f"{where}: class {value!r} is not one of {', '.join(sorted(CLASSES))}")
    return value


def parse_labels(data, source: str = "labels.json") -> dict[str, dict]:
    """Checked labels: ``{clip name: {"frames": {index: [box, ...]}, "lines": [line, ...]}}``.

    A box is ``{"box": [x1, y1, x2, y2], "cls": ..., "also": [...], "ignore": bool}``; a line is
    ``{"name", "points": [[x, y], [x, y]], "count", "classes"}`` (classes default: vehicles)."""
    if not isinstance(data, dict) or not isinstance(data.get("clips"), dict):
        raise LabelsError(f'{source}: expected {{"clips": {{NAME: {{"frames": [...], "lines": [...]}}}}}}')
    out: dict[str, dict] = {}
    for name, clip in data["clips"].items():
        where = f"{source}: clips.{name}"
        if not isinstance(clip, dict):
            raise LabelsError(f"{where}: expected an object with frames and lines")
        unknown = set(clip) - {"frames", "lines", "notes"}
        if unknown:
            raise LabelsError(f"{where}: unknown keys {sorted(unknown)}")
        frames: dict[int, list[dict]] = {}
        for i, frame in enumerate(clip.get("frames", [])):
            at = f"{where}.frames[{i}]"
            index = frame.get("frame") if isinstance(frame, dict) else None
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise LabelsError(f"{at}: 'frame' must be a frame index >= 0")
            if index in frames:
                raise LabelsError(f"{at}: frame {index} labelled twice")
            boxes = []
            for j, box in enumerate(frame.get("boxes", [])):
                bat = f"{at}.boxes[{j}]"
                if not isinstance(box, dict):
                    raise LabelsError(f"{bat}: expected {{'box': [...], 'cls': ...}}")
                also = box.get("also", [])
                if not isinstance(also, list):
                    raise LabelsError(f"{bat}: 'also' is a list of classes")
                boxes.append({"box": _box(box.get("box"), bat), "cls": _cls(box.get("cls"), bat),
                              "also": [_cls(c, bat) for c in also], "ignore": bool(box.get("ignore", False))})
            frames[index] = boxes
        lines = []
        for i, line in enumerate(clip.get("lines", [])):
            at = f"{where}.lines[{i}]"
            points = line.get("points") if isinstance(line, dict) else None
            if not isinstance(points, list) or len(points) != 2 or not all(
                    isinstance(p, list) and len(p) == 2 and all(isinstance(v, int | float) for v in p) for p in points):
                raise LabelsError(f"{at}: 'points' is two pixel points [[x, y], [x, y]]")
            count = line.get("count")
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise LabelsError(f"{at}: 'count' is the true number of crossings, an integer >= 0")
            classes = line.get("classes", sorted(VEHICLES))
            lines.append({"name": str(line.get("name", f"line{i}")), "points": [[float(v) for v in p] for p in points],
                          "count": count, "classes": [_cls(c, at) for c in classes]})
        out[name] = {"frames": frames, "lines": lines}
    return out


def load_labels(path: Path) -> dict[str, dict]:
    """Read and check a labels file; :class:`LabelsError` naming the file and place when wrong."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise LabelsError(f"{path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise LabelsError(f"{path}: not valid JSON: {exc}") from None
    return parse_labels(data, str(path))


# --- scoring ------------------------------------------------------------------------------------


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``[x1, y1, x2, y2]`` boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _same(det_cls: str, label: dict, class_aware: bool) -> bool:
    if det_cls == label["cls"] or det_cls in label["also"]:
        return True
    return not class_aware and det_cls in VEHICLES and label["cls"] in VEHICLES


def match_frame(detections: Sequence[tuple[str, Sequence[float]]], labels: Sequence[dict],
                *, class_aware: bool = True) -> dict:
    """Greedy one-to-one matching by IoU (highest first, IoU >= 0.5, compatible classes).

    Class-aware: a detection matches a label of its own class (or one of the label's ``also``);
    vehicle-only (``class_aware=False``): any vehicle class matches any vehicle label, a person
    only a person. A detection left over that overlaps an ``ignore`` label by IoU >= 0.5 counts
    neither way; ignore labels are never missed. Returns tp, fp, fn and per-class tp/fp/fn
    (a false positive under its detected class, a miss under its label's class)."""
    scored = [lab for lab in labels if not lab["ignore"]]
    pairs = sorted(
        ((iou(d[1], lab["box"]), i, j) for i, d in enumerate(detections) for j, lab in enumerate(scored)
         if _same(d[0], lab, class_aware)),
        reverse=True,
    )
    used_d: set[int] = set()
    used_l: set[int] = set()
    per: dict[str, Counter] = {}
    for value, i, j in pairs:
        if value < IOU_MATCH:
            break
        if i in used_d or j in used_l:
            continue
        used_d.add(i)
        used_l.add(j)
        per.setdefault(scored[j]["cls"], Counter())["tp"] += 1
    ignored = [lab["box"] for lab in labels if lab["ignore"]]
    fp = 0
    for i, (cls, box) in enumerate(detections):
        if i in used_d or any(iou(box, g) >= IOU_MATCH for g in ignored):
            continue
        fp += 1
        per.setdefault(cls, Counter())["fp"] += 1
    for j, lab in enumerate(scored):
        if j not in used_l:
            per.setdefault(lab["cls"], Counter())["fn"] += 1
    return {"tp": len(used_d), "fp": fp, "fn": len(scored) - len(used_l),
            "by_class": {c: {k: n.get(k, 0) for k in ("tp", "fp", "fn")} for c, n in sorted(per.items())}}


def ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def with_rates(counts: dict) -> dict:
    """tp/fp/fn plus precision = tp/(tp+fp) and recall = tp/(tp+fn) (None when undefined)."""
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    return {"tp": tp, "fp": fp, "fn": fn, "precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn)}


def _add(into: dict, part: dict) -> None:
    for key in ("tp", "fp", "fn"):
        into[key] = into.get(key, 0) + part[key]
    for cls, counts in part.get("by_class", {}).items():
        slot = into.setdefault("by_class", {}).setdefault(cls, {"tp": 0, "fp": 0, "fn": 0})
        for key in ("tp", "fp", "fn"):
            slot[key] += counts[key]


def _side(p: Sequence[float], a: Sequence[float], b: Sequence[float]) -> float:
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def crosses(p: Sequence[float], q: Sequence[float], a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether the move p -> q crosses the segment a-b (strictly changes side within the segment)."""
    s1, s2 = _side(p, a, b), _side(q, a, b)
    if s1 == 0 or s2 == 0 or (s1 > 0) == (s2 > 0):
        return False
    t1, t2 = _side(a, p, q), _side(b, p, q)
    return (t1 > 0) != (t2 > 0) or t1 == 0 or t2 == 0


def count_crossings(paths: dict[int, list[tuple[float, float]]], classes: dict[int, str], line: dict) -> int:
    """Tracks of the line's classes whose box foot (bottom centre) crosses the line at least once;
    only tracks with a class (those shown) count."""
    a, b = line["points"]
    wanted = set(line["classes"])
    return sum(
        1 for track, path in paths.items()
        if classes.get(track) in wanted and any(crosses(p, q, a, b) for p, q in pairwise(path))
    )


# --- one clip -----------------------------------------------------------------------------------


def clip_camera(clip: Path, cameras: Path | None = None):
    """The clip's camera and where it came from: ``NAME.camera.json`` of the ``cameras`` folder
    when given and there (its path), else the one beside the clip (its name), else an
    uncalibrated camera (None)."""
    from zhizhi.video.camera_config import CameraConfig, SourceConfig, load_camera_configs

    if cameras is not None:
        config = Path(cameras) / f"{clip.stem}.camera.json"
        if config.is_file():
            return load_camera_configs(config)[0], str(config)
    config = clip.with_name(f"{clip.stem}.camera.json")
    if config.is_file():
        return load_camera_configs(config)[0], config.name
    return CameraConfig(id=clip.stem[:64] or "clip", source=SourceConfig(url=str(clip), kind="file")), None


class _Tally:
    """What the bench keeps of each analysed frame (the ``on_batch`` of :func:`analyze_clip`)."""

    def __init__(self, labelled: Iterable[int]) -> None:
        self.labelled_ts: list[tuple[float, list[tuple[str, list[float]]]]] = []
        self.want_boxes = bool(list(labelled))
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.cls: dict[int, str] = {}
        self.ever_tanker: set[int] = set()
        self.paths: dict[int, list[tuple[float, float]]] = {}  # the foot points of every tracked box
        self.detections: Counter = Counter()

    def tracked(self, camera_id: str, ts: float, track_ids, xyxy) -> None:
        """Every tracked box of a frame, shown or not yet (the ``on_tracks`` of :func:`analyze_clip`)."""
        for track, box in zip(track_ids.tolist(), xyxy.tolist(), strict=True):
            self.paths.setdefault(track, []).append(((box[0] + box[2]) / 2, box[3]))

    def __call__(self, batch) -> None:
        ts = float(batch.ts)
        boxes = []
        for track, cls, xyxy in zip(batch.track_id.tolist(), batch.cls.tolist(), batch.xyxy.tolist(), strict=True):
            self.first.setdefault(track, ts)
            self.last[track] = ts
            self.cls[track] = cls
            if cls == "hazmat_tanker":
                self.ever_tanker.add(track)
            self.detections[cls] += 1
            boxes.append((cls, xyxy))
        if self.want_boxes:
            self.labelled_ts.append((ts, boxes))


def run_clip(clip: Path, detector, warning_model, settings, labels: dict | None,
             analysis_fps: float | None = None, cameras: Path | None = None) -> dict:
    """One clip's entry (raises on a clip or camera config that cannot be used)."""
    from zhizhi.console.clip_analysis import analyze_clip

    camera, config = clip_camera(clip, cameras)
    frames_labelled = (labels or {}).get("frames", {})
    tally = _Tally(frames_labelled)
    started = time.perf_counter()
    result = analyze_clip(clip, camera, detector, warning_model=warning_model, settings=settings,
                          analysis_fps=analysis_fps, on_batch=tally, on_tracks=tally.tracked)
    wall = time.perf_counter() - started
    summary = result.summary
    if summary.frames == 0:
        raise ValueError("no frame could be decoded")
    clip_fps = summary.clip_fps or 25.0
    tanker = sorted(t for t, c in tally.cls.items() if c == "hazmat_tanker"
                    and tally.last[t] - tally.first[t] > TANKER_MIN_S)
    entry = {
        "clip": clip.name,
        "camera": camera.id,
        "camera_config": config,
        "calibrated": camera.calibration is not None,
        "frames": summary.frames,
        "analysed_frames": summary.analysed,
        "clip_fps": round(clip_fps, 3),
        "tracks": len(tally.first),
        "tracks_by_class": dict(sorted(Counter(tally.cls.values()).items())),
        "tanker_tracks_over_1s": len(tanker),
        "tanker_tracks_ever": len(tally.ever_tanker),
        "detections_by_class": dict(sorted(tally.detections.items())),
        "alerts": dict(sorted(Counter(str(w.rule) for w in result.alerts).items())),
        "seconds": round(wall, 3),
        "fps": round(summary.analysed / wall, 2) if wall > 0 else None,
    }
    if labels is not None:
        entry["labels"] = score_clip(tally, labels, clip_fps)
    return entry


def score_clip(tally: _Tally, labels: dict, clip_fps: float) -> dict:
    """Detections of the labelled frames against their boxes; each counting line's count error."""
    by_index = {round(ts * clip_fps): boxes for ts, boxes in tally.labelled_ts}
    strict: dict = {"tp": 0, "fp": 0, "fn": 0}
    vehicle: dict = {"tp": 0, "fp": 0, "fn": 0}
    scored, unscored = [], []
    for index, boxes in sorted(labels["frames"].items()):
        if index not in by_index:
            unscored.append(index)
            continue
        scored.append(index)
        _add(strict, match_frame(by_index[index], boxes, class_aware=True))
        _add(vehicle, match_frame(by_index[index], boxes, class_aware=False))
    out = {
        "frames_scored": len(scored),
        "frames_not_analysed": unscored,
        "detection": {**with_rates(strict),
                      "by_class": {c: with_rates(n) for c, n in sorted(strict.get("by_class", {}).items())}},
        "detection_vehicle_any_class": with_rates(vehicle),
        "lines": [],
    }
    for line in labels["lines"]:
        counted = count_crossings(tally.paths, tally.cls, line)
        out["lines"].append({"name": line["name"], "true": line["count"], "counted": counted,
                             "error": counted - line["count"],
                             "relative_error": round(abs(counted - line["count"]) / line["count"], 4)
                             if line["count"] else None})
    return out


# --- the folder ---------------------------------------------------------------------------------


def _sum_counters(entries: list[dict], key: str) -> dict:
    total: Counter = Counter()
    for entry in entries:
        total.update(entry[key])
    return dict(sorted(total.items()))


def totals(entries: list[dict], errors: int) -> dict:
    """The folder's total over the clips that ran (fps: all analysed frames over all wall time)."""
    ok = [e for e in entries if "error" not in e]
    seconds = sum(e["seconds"] for e in ok)
    analysed = sum(e["analysed_frames"] for e in ok)
    total = {
        "clips": len(ok),
        "errors": errors,
        "frames": sum(e["frames"] for e in ok),
        "analysed_frames": analysed,
        "tracks": sum(e["tracks"] for e in ok),
        "tracks_by_class": _sum_counters(ok, "tracks_by_class"),
        "tanker_tracks_over_1s": sum(e["tanker_tracks_over_1s"] for e in ok),
        "tanker_tracks_ever": sum(e["tanker_tracks_ever"] for e in ok),
        "detections_by_class": _sum_counters(ok, "detections_by_class"),
        "alerts": _sum_counters(ok, "alerts"),
        "seconds": round(seconds, 3),
        "fps": round(analysed / seconds, 2) if seconds > 0 else None,
    }
    labelled = [e["labels"] for e in ok if "labels" in e]
    if labelled:
        strict: dict = {"tp": 0, "fp": 0, "fn": 0}
        vehicle: dict = {"tp": 0, "fp": 0, "fn": 0}
        for lab in labelled:
            _add(strict, lab["detection"])
            _add(vehicle, lab["detection_vehicle_any_class"])
        lines = [line for lab in labelled for line in lab["lines"]]
        total["labels"] = {
            "frames_scored": sum(lab["frames_scored"] for lab in labelled),
            "detection": {**with_rates(strict),
                          "by_class": {c: with_rates(n) for c, n in sorted(strict.get("by_class", {}).items())}},
            "detection_vehicle_any_class": with_rates(vehicle),
            "lines": len(lines),
            "count_abs_error": sum(abs(line["error"]) for line in lines),
        }
    return total


def run_real_footage_bench(
    folder: Path,
    *,
    labels_path: Path | None = None,
    detector_factory: Callable[[object], object],
    warning_model,
    settings,
    analysis_fps: float | None = None,
    cameras: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Every clip of ``folder`` (see the module's doc); a clip that fails is an entry with
    ``"error"`` and the others still run. ``detector_factory(camera)`` gives a fresh detector per
    clip (tracks never carry from one clip to the next). ``cameras``: a folder of
    ``NAME.camera.json`` used before the ones beside the clips."""
    folder = Path(folder)
    labels_path = labels_path or (folder / "labels.json" if (folder / "labels.json").is_file() else None)
    labels = load_labels(labels_path) if labels_path else None
    clips = find_clips(folder)
    entries: dict[str, dict] = {}
    errors = 0
    for n, clip in enumerate(clips, 1):
        name = clip.stem
        try:
            camera, _ = clip_camera(clip, cameras)
            detector = detector_factory(camera)
            entry = run_clip(clip, detector, warning_model, settings,
                             None if labels is None else labels.get(name, {"frames": {}, "lines": []}),
                             analysis_fps, cameras)
        except Exception as exc:  # noqa: BLE001 - one bad clip is reported; the others still run
            errors += 1
            entry = {"clip": clip.name, "error": f"{type(exc).__name__}: {exc}"}
        entries[name] = entry
        if progress is not None:
            progress(f"[{n}/{len(clips)}] {name}: " + (
                f"error: {entry['error']}" if "error" in entry else
                f"{entry['frames']} frames, {entry['analysed_frames']} analysed, {entry['tracks']} tracks, "
                f"{entry['tanker_tracks_over_1s']} tanker tracks > 1 s, {sum(entry['alerts'].values())} alerts, "
                f"{entry['fps']} frames/s"))
    unknown = sorted(set(labels or {}) - set(entries))
    return {
        "folder": str(folder),
        "cameras": str(cameras) if cameras is not None else None,
        "labels": str(labels_path) if labels_path else None,
        "labels_without_clip": unknown,
        "clips": entries,
        "total": totals(list(entries.values()), errors),
    }


def table_lines(result: dict) -> list[str]:
    """The readable form: one row per clip and the total."""
    head = (f"{'clip':<32} {'frames':>6} {'anal.':>5} {'tracks':>6} {'tank>1s':>7} {'alerts':>6} {'fps':>6} "
            f"{'P':>6} {'R':>6} {'P veh':>6} {'R veh':>6}  count (counted/true)")
    rows = [head, "-" * len(head)]

    def fmt(value) -> str:
        return "-" if value is None else f"{value:.3f}"

    for name, e in [*result["clips"].items(), ("TOTAL", result["total"])]:
        if "error" in e:
            rows.append(f"{name:<32} error: {e['error']}")
            continue
        lab = e.get("labels")
        det = lab["detection"] if lab else {}
        veh = lab["detection_vehicle_any_class"] if lab else {}
        lines = lab.get("lines") if lab else None
        count = (", ".join(f"{x['name']} {x['counted']}/{x['true']}" for x in lines)
                 if isinstance(lines, list) else (f"abs error {lab['count_abs_error']}" if lab else ""))
        rows.append(f"{name[:32]:<32} {e['frames']:>6} {e['analysed_frames']:>5} {e['tracks']:>6} "
                    f"{e['tanker_tracks_over_1s']:>7} {sum(e['alerts'].values()):>6} {e['fps'] or 0:>6.1f} "
                    f"{fmt(det.get('precision')):>6} {fmt(det.get('recall')):>6} "
                    f"{fmt(veh.get('precision')):>6} {fmt(veh.get('recall')):>6}  {count}")
    total = result["total"]
    rows.append(f"alerts by rule: {total['alerts'] or 'none'}")
    rows.append(f"tracks by class: {total['tracks_by_class']}")
    rows.append(f"detections by class: {total['detections_by_class']}")
    return rows
