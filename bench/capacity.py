"""How many cameras one frame-analysis worker sustains: the new pipeline against today's, in one run.

``zhizhi bench capacity --json`` (issue 19's contract). A county-like mix of simulated cameras
(:func:`camera_mix`): one hazardous-chemical tanker stopping on the shoulder, a tenth of busy roads,
a fifth of light traffic and the rest quiet village roads with a few walkers, each a looping clip
started at its own point. Frames come from memory (:class:`MemorySource`, decoded once), paced at
the analysis rate ``R`` like a live camera, so the figure is the analysis's, not the decoder's (a
site decodes sub-streams, in hardware where it can). The same :class:`~video.worker.Worker` runs
them with each pipeline's detector, built from settings as the console builds it:

- **new**: the settings' defaults (the motion gate in front of the detector, the CPU runtime);
- **baseline**: every frame whole through the PyTorch detector (``runtime="pytorch"``, no gate).

For each pipeline the largest ``N`` is searched (doubling, then bisection; the two pipelines' trials
interleaved, so a change in the machine's load falls on both) for which the worker
analyses at least 95 % of the frames due (``N * R`` per second) over a trial's steady window; the
last sustained trial is then run again for ``trial_s`` and scored against the simulator's truth:
recall of the objects in view (each truth box at least 40 px tall and visible >= 0.9 matched by an
observation of its class at IoU >= 0.5, over the analysed frames) and the tanker's geolocation
error (median metres between matched observations and truth). ``recall_new`` and
``recall_baseline`` are scored on the same cameras — those both runs had, the first
``cameras_baseline`` of the mix, which show the same clips from the same points in both — so they
compare the same video, each under its own pipeline's full load (the tanker's figures too);
``recall_all_new`` and ``geo_error_m_all_new`` score every camera of the new run.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Frames whose share analysed must reach this for a camera count to be sustained.
SUSTAINED = 0.95
#: Seconds of a trial before its window opens (models warm, first full frames, tracks started).
WARMUP_S = 4.0
#: A truth box this tall (px of the 1280x720 frame; 13 px where the detector sees it at imgsz 416) and
#: this visible is one to find: smaller ones are found by neither pipeline and would only add noise.
MIN_BOX_PX = 40.0
MIN_VISIBLE = 0.9
#: Clip frame size (the simulator's and the shipped detector's own).
SIZE = (1280, 720)


@dataclass(frozen=True)
class Scene:
    """One simulated clip of the mix: its frames in memory and truth per frame."""

    name: str
    camera_json: Path
    frames: list[np.ndarray]
    truth: list[list[dict]]  # per frame, the objects to find

    def index_of(self) -> dict[int, int]:
        return {id(image): i for i, image in enumerate(self.frames)}


#: The mix: (scene, simulator scenario, its parameters, seconds). Traffic density by mean gap.
SCENES: dict[str, tuple[str, dict[str, Any], float]] = {
    "hazmat-stop": ("hazmat-stop", {"approach_s": 8.0, "stop_s": 40.0}, 56.0),
    "busy": ("normal", {}, 40.0),
    "light": ("normal", {"mean_gap_m": 400.0}, 40.0),
    "quiet": ("normal", {"mean_gap_m": 5000.0}, 40.0),
}


def scene_of(index: int) -> str:
    """Camera ``index``'s scene: the first is the tanker; then a tenth busy, a fifth light, the rest quiet."""
    if index == 0:
        return "hazmat-stop"
    return {1: "busy", 2: "light", 3: "light"}.get(index % 10, "quiet")


def render_scenes(folder: Path, rate: float, seed: int = 19, *, size: tuple[int, int] = SIZE,
                  clip_s: float | None = None) -> dict[str, Scene]:
    """Render every scene of the mix at ``rate`` frames/s (``clip_s`` seconds each if given, for smoke
    tests) and decode it into memory."""
    from zhizhi.models.detector.mining import read_frames
    from zhizhi.video.simulator import simulate

    scenes = {}
    for name, (scenario, params, seconds) in SCENES.items():
        out = folder / name
        result = simulate(scenario, seed, out, duration_s=clip_s or seconds, fps=rate, width=size[0],
                          height=size[1], params=params or None)
        frames = read_frames(result.clip)
        truth = []
        for line in result.truth.read_text(encoding="utf-8").splitlines():
            objects = json.loads(line)["objects"]
            truth.append([o for o in objects if o["visible"] >= MIN_VISIBLE
                          and o["bbox"][3] - o["bbox"][1] >= MIN_BOX_PX * size[1] / SIZE[1]])
        n = min(len(frames), len(truth))
        scenes[name] = Scene(name, out / "camera.json", frames[:n], truth[:n])
    return scenes


class MemorySource:
    """A looping clip from memory, paced at ``fps`` on an absolute schedule (a live camera's pace);
    implements :class:`~video.sources.FrameSource`."""

    realtime = True

    def __init__(self, frames: Sequence[np.ndarray], fps: float, start: int, stop: threading.Event) -> None:
        self.frames, self.fps, self.position, self._stop = frames, fps, start, stop
        self._t0 = 0.0
        self._read = 0

    def open(self) -> None:
        self._t0, self._read = time.monotonic(), 0

    def read(self) -> np.ndarray | None:
        wait = self._t0 + self._read / self.fps - time.monotonic()
        if wait > 0 and self._stop.wait(wait):
            return None
        image = self.frames[self.position % len(self.frames)]
        self.position += 1
        self._read += 1
        return image

    def close(self) -> None:
        pass


@dataclass
class Recorder:
    """Which clip frame each analysed frame was, and the batch published for it."""

    index: dict[int, tuple[str, int]]  # id(image) -> (scene, frame)
    queued: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    results: list[tuple[float, str, str, int, Any]] = field(default_factory=list)  # (time, camera, scene, frame, batch)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, frames: Sequence[tuple[str, np.ndarray]]) -> None:
        with self.lock:
            for camera_id, image in frames:
                self.queued[camera_id].append(self.index.get(id(image)))

    def published(self, topic: str, message: Any) -> None:
        if topic != "frames":
            return
        with self.lock:
            queue = self.queued.get(message.camera_id)
            where = queue.popleft() if queue else None
            if where is not None:
                self.results.append((time.monotonic(), message.camera_id, *where, message))


class Watched:
    """The pipeline's detector, seen by the :class:`Recorder`, and never closed by a trial's worker."""

    def __init__(self, inner: Any, recorder: Recorder | None = None) -> None:
        self.inner, self.recorder = inner, recorder
        self.names = inner.names
        self.frames = 0  # analysed so far (read without the worker's lock)

    def update(self, frames: Sequence[tuple[str, np.ndarray]], **options: Any) -> list:
        if self.recorder is not None:
            self.recorder.saw(frames)
        out = self.inner.update(frames, **options)
        self.frames += len(frames)
        return out

    def set_masks(self, camera_id: str, masks: Sequence) -> None:
        if hasattr(self.inner, "set_masks"):
            self.inner.set_masks(camera_id, masks)

    def reset(self, camera_id: str) -> None:
        self.inner.reset(camera_id)

    def close(self) -> None:
        """A trial ends; the detector serves the next."""

    @property
    def moving_only(self) -> bool:
        return bool(getattr(self.inner, "moving_only", False))


def cameras_for(count: int, scenes: dict[str, Scene], rate: float, trial: int) -> list[tuple[Any, Scene, int]]:
    """``count`` camera configs of the mix (ids unique per trial), with their scene and start frame."""
    from zhizhi.video.camera_config import SourceConfig, load_camera_configs

    out = []
    for i in range(count):
        scene = scenes[scene_of(i)]
        base = load_camera_configs(scene.camera_json)[0]
        config = base.model_copy(update={
            "id": f"CAP{trial:02d}-{i + 1:03d}", "name": f"capacity camera {i + 1}",
            "source": SourceConfig(url=f"memory://{scene.name}", kind="file", loop=True, realtime=True),
            "analysis_fps": rate,
        })
        start = 0 if i == 0 else (i * 37) % len(scene.frames)  # the tanker from its approach
        out.append((config, scene, start))
    return out


def run_trial(detector: Any, scenes: dict[str, Scene], count: int, rate: float, seconds: float, trial: int,
              record: bool = False, warmup_s: float = WARMUP_S) -> dict[str, Any]:
    """``count`` cameras through one worker for ``seconds``: the share of due frames analysed in the
    steady window, and the recorder when ``record``."""
    from zhizhi.video.worker import Worker

    cameras = cameras_for(count, scenes, rate, trial)
    stop = threading.Event()
    index = {key: (name, i) for name, scene in scenes.items() for key, i in scene.index_of().items()}
    recorder = Recorder(index) if record else None
    by_id = {config.id: (scene, start) for config, scene, start in cameras}

    def source(config: Any, camera_id: str, *, stop: threading.Event, **_: Any) -> MemorySource:
        scene, start = by_id[camera_id]
        return MemorySource(scene.frames, rate, start, stop)  # the runner's own stop: no "stream lost"

    publish = recorder.published if recorder is not None else (lambda topic, message: None)
    watched = Watched(detector, recorder)
    worker = Worker([c for c, _, _ in cameras], watched, publish, runner_options={"source_factory": source})
    thread = threading.Thread(target=worker.run, args=(stop,), name="capacity-worker", daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        stop.wait(warmup_s)
        before, opened = watched.frames, time.monotonic()
        stop.wait(seconds)
        after, closed = watched.frames, time.monotonic()
    finally:
        stop.set()
        thread.join(30)
        dropped = worker.stats()["dropped"]
        worker.close()  # stops the sources
        for config, _, _ in cameras:
            detector.reset(config.id)
    window = closed - opened
    analysed = after - before
    due = count * rate * window
    result: dict[str, Any] = {
        "cameras": count,
        "analysed_share": round(analysed / due, 3) if due else 0.0,
        "analysed_fps": round(analysed / window, 1),
        "due_fps": round(count * rate, 1),
        "dropped_by_worker": dropped,
        "wall_s": round(closed - started, 1),
    }
    if recorder is not None:
        result["recorder"], result["opened"] = recorder, opened
    return result


def _iou(a: Sequence[float], b: np.ndarray) -> np.ndarray:
    """IoU of box ``a`` with each row of ``b``."""
    if len(b) == 0:
        return np.zeros(0)
    x1, y1 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    x2, y2 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return inter / np.maximum(union, 1e-9)


def camera_index(camera_id: str) -> int:
    """The place of a camera in the mix, from its id (``CAP03-012`` -> 11)."""
    return int(camera_id.rsplit("-", 1)[1]) - 1


def score(recorder: Recorder, scenes: dict[str, Scene], opened: float, first: int | None = None) -> dict[str, Any]:
    """Recall of the objects in view and the tanker's geolocation error, over the window's frames
    (of the ``first`` cameras of the mix only, when given)."""
    from zhizhi.gis.metric import geodesic_distance_m

    found = total = tanker_found = tanker_total = 0
    errors: list[float] = []
    per_scene: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with recorder.lock:
        results = [r for r in recorder.results
                   if r[0] >= opened and (first is None or camera_index(r[1]) < first)]
    for _, _, scene_name, frame, batch in results:
        boxes, classes = np.asarray(batch.xyxy).reshape(-1, 4), np.asarray(batch.cls)
        for obj in scenes[scene_name].truth[frame]:
            same = classes == obj["cls"]
            ious = _iou(obj["bbox"], boxes)
            hit = bool(np.any(same & (ious >= 0.5)))
            total += 1
            found += hit
            per_scene[scene_name][0] += hit
            per_scene[scene_name][1] += 1
            if obj["cls"] == "hazmat_tanker":
                tanker_total += 1
                tanker_found += hit
                if hit:
                    row = int(np.argmax(np.where(same, ious, -1)))
                    if np.isfinite(batch.lon[row]):
                        errors.append(float(geodesic_distance_m(batch.lon[row], batch.lat[row],
                                                                obj["lon"], obj["lat"])))
    return {
        "frames": len(results),
        "objects": total,
        "recall": round(found / total, 3) if total else None,
        "recall_by_scene": {k: round(f / t, 3) if t else None for k, (f, t) in sorted(per_scene.items())},
        "tanker_frames": tanker_total,
        "tanker_recall": round(tanker_found / tanker_total, 3) if tanker_total else None,
        "geo_error_m": round(float(np.median(errors)), 2) if errors else None,
        "geo_error_m_p90": round(float(np.percentile(errors, 90)), 2) if errors else None,
    }


@dataclass
class Search:
    """The largest camera count sustained: doubling from 2, then bisection to within about 8 %."""

    max_cameras: int
    good: int = 0
    bad: int | None = None

    def next(self) -> int | None:
        """The count to try next; None when found."""
        if self.bad is None:
            count = max(2, self.good * 2)
            return count if count <= self.max_cameras else None
        if self.bad - self.good <= max(1, self.good // 12):
            return None
        return (self.good + self.bad) // 2

    def record(self, count: int, sustained: bool) -> None:
        if sustained:
            self.good = count
        else:
            self.bad = count


def find_capacities(detectors: dict[str, Any], scenes: dict[str, Scene], rate: float, search_s: float,
                    max_cameras: int, trials: list[dict], progress: Callable[[str], None],
                    warmup_s: float = WARMUP_S) -> dict[str, int]:
    """Each pipeline's largest sustained camera count, their trials interleaved (one of each in turn),
    so a change in the machine's load falls on both alike."""
    searches = {label: Search(max_cameras) for label in detectors}
    while True:
        tried = False
        for label, detector in detectors.items():
            count = searches[label].next()
            if count is None:
                continue
            tried = True
            result = run_trial(detector, scenes, count, rate, search_s, len(trials), warmup_s=warmup_s)
            result["pipeline"] = label
            trials.append(result)
            searches[label].record(count, result["analysed_share"] >= SUSTAINED)
            progress(f"{label}: {count} cameras -> {result['analysed_share']:.1%} of due frames analysed")
        if not tried:
            return {label: search.good for label, search in searches.items()}


def build_pipeline(new: bool) -> Any:
    """The worker's detector as the console builds it: settings' defaults (new) or today's full-frame PyTorch."""
    from zhizhi.console.settings import Settings
    from zhizhi.video.detectors import detector_for

    if new:
        return detector_for(Settings(detector={"kind": "ultralytics"}).detector)
    return detector_for(Settings(detector={"kind": "ultralytics", "runtime": "pytorch"}).detector, gate=False)


def run_capacity_bench(rate: float = 5.0, trial_s: float = 30.0, search_s: float = 12.0, max_cameras: int = 256,
                       progress: Callable[[str], None] | None = None, *, size: tuple[int, int] = SIZE,
                       clip_s: float | None = None, warmup_s: float = WARMUP_S) -> dict[str, Any]:
    """Measure and return the figures (the ``zhizhi bench capacity --json`` contract); ``size``,
    ``clip_s`` and ``warmup_s`` shrink it for a smoke test."""
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "zhizhi-ultralytics"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    say = progress or (lambda line: None)
    trials: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="zhizhi-bench-capacity-") as tmp:
        started = time.perf_counter()
        scenes = render_scenes(Path(tmp), rate, size=size, clip_s=clip_s)
        render_s = time.perf_counter() - started
        say(f"scenes rendered in {render_s:.0f} s")
        figures: dict[str, dict[str, Any]] = {}
        detectors = {"baseline": build_pipeline(False), "new": build_pipeline(True)}
        found = find_capacities(detectors, scenes, rate, search_s, max_cameras, trials, say, warmup_s)
        for label, detector in detectors.items():  # back to back, each at its own capacity
            cameras = found[label]
            final = run_trial(detector, scenes, max(cameras, 1), rate, trial_s, len(trials), record=True,
                              warmup_s=warmup_s)
            final["pipeline"], final["final"] = label, True
            final["scores"] = score(final["recorder"], scenes, final["opened"])
            trials.append(final)
            say(f"{label}: {cameras} cameras; at that load {final['analysed_share']:.1%} analysed, "
                f"recall {final['scores']['recall']}")
            figures[label] = {"cameras": cameras, **final}
        for detector in detectors.values():
            detector.close()
    common = max(1, min(figures["baseline"]["cameras"], figures["new"]["cameras"]))
    for label in ("baseline", "new"):  # the same cameras (clips, starting points) for both
        final = figures[label]
        final["scores_common"] = score(final.pop("recorder"), scenes, final.pop("opened"), first=common)
        for trial in trials:
            trial.pop("recorder", None)
            trial.pop("opened", None)
    base, new = figures["baseline"], figures["new"]
    return {
        "cameras_new": new["cameras"],
        "cameras_baseline": base["cameras"],
        "ratio": round(new["cameras"] / base["cameras"], 2) if base["cameras"] else None,
        "recall_new": new["scores_common"]["recall"],
        "recall_baseline": base["scores_common"]["recall"],
        "recall_cameras": common,
        "recall_all_new": new["scores"]["recall"],
        "geo_error_m_new": new["scores_common"]["geo_error_m"],
        "geo_error_m_baseline": base["scores_common"]["geo_error_m"],
        "geo_error_m_all_new": new["scores"]["geo_error_m"],
        "tanker_recall_new": new["scores_common"]["tanker_recall"],
        "tanker_recall_baseline": base["scores_common"]["tanker_recall"],
        "rate_fps": rate,
        "cores_per_worker_budget": os.cpu_count(),
        "cameras_per_core_new": round(new["cameras"] / (os.cpu_count() or 1), 1),
        "cameras_per_core_baseline": round(base["cameras"] / (os.cpu_count() or 1), 1),
        "mix": {name: scenario for name, (scenario, _, _) in SCENES.items()},
        "frame_size": list(size),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "render_s": round(render_s, 1),
        "final": {"new": new, "baseline": base},
        "trials": trials,
    }
