"""Detector backends behind one interface, on real components.

- the motion backend on the real highway clip (161 frames, 1280x720, 24 fps): vehicles found in
  nearly every frame, one stable id per vehicle, every track moves, boxes sized like vehicles;
- the ultralytics backend with a ``yolov8n.yaml`` model saved to a local .pt (no downloads):
  one ``predict`` per batch across cameras, empty results with the right dtypes, clear errors,
  per-camera ByteTrack / BoT-SORT state fed with given detections; nothing touches the network.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from collections import defaultdict
from pathlib import Path

# Before anything imports ultralytics: settings in a temp folder, no online checks.
os.environ.setdefault(
    "YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "zhizhi-test-ultralytics")
)
os.environ.setdefault("YOLO_OFFLINE", "1")

import cv2
import numpy as np
import pytest

from tests.conftest import SHARED
from zhizhi.video.detectors import (
    DetectorError,
    MotionDetector,
    TrackedBoxes,
    TrackingDetector,
    UltralyticsDetector,
    make_detector,
)
from zhizhi.video.detectors.tracking import Detections, TrackerPool
from zhizhi.video.observation import CLASSES

HIGHWAY = SHARED / "data" / "video" / "highway_720p_24fps.mp4"
ANNOTATED = Path(tempfile.gettempdir()) / "zhizhi-motion-highway.png"
FPS = 24


# --------------------------------------------------------------------------- value type


def test_tracked_boxes_helpers():
    b = TrackedBoxes([[10, 20, 30, 60], [0, 0, 4, 2]], [0.9, 0.5], [1, 0], [7, 8], ("car", "bus"))
    assert len(b) == 2 and b.class_names() == ["bus", "car"]
    assert b.xyxy.dtype == np.float32 and b.conf.dtype == np.float32
    assert b.cls.dtype.kind == "i" and b.track_id.dtype.kind == "i"
    np.testing.assert_allclose(b.foot_points(), [[20, 60], [2, 2]])
    e = TrackedBoxes.empty(CLASSES)
    assert len(e) == 0 and e.xyxy.shape == (0, 4) and e.foot_points().shape == (0, 2)
    assert e.names == CLASSES and e.class_names() == []
    with pytest.raises(ValueError):
        TrackedBoxes([[0, 0, 1, 1]], [0.5, 0.6], [0], [1], ("car",))


def test_make_detector():
    det = make_detector("motion", class_name="vehicle")
    assert isinstance(det, MotionDetector) and isinstance(det, TrackingDetector)
    assert det.names == ("vehicle",)
    with pytest.raises(DetectorError, match="unknown detector kind"):
        make_detector("magic")
    with pytest.raises(DetectorError, match="weights"):
        make_detector("ultralytics")
    with pytest.raises(DetectorError, match="tracker"):
        MotionDetector(tracker="nosuchtracker")


# --------------------------------------------------------------------------- motion backend


def _read_clip() -> list[np.ndarray]:
    assert HIGHWAY.is_file(), f"shared test data missing: {HIGHWAY}"
    cap = cv2.VideoCapture(str(HIGHWAY))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


@pytest.fixture(scope="module")
def highway():
    """The clip through one MotionDetector as two cameras (A and B see the same frames)."""
    frames = _read_clip()
    det = MotionDetector()
    results, seconds = [], 0.0
    for frame in frames:
        t0 = time.perf_counter()
        results.append(det.update([("A", frame), ("B", frame)]))
        seconds += time.perf_counter() - t0
    boxes = [r[0] for r in results]
    tracks: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for i, b in enumerate(boxes):
        for k in range(len(b)):
            tracks[int(b.track_id[k])].append((i, b.xyxy[k]))
    fps = 2 * len(frames) / seconds
    _annotate(frames[100], boxes[100], ANNOTATED)
    lengths = sorted((len(v) for v in tracks.values()), reverse=True)
    print(
        f"\nmotion backend on {HIGHWAY.name}: {len(frames)} frames, {fps:.0f} camera-frames/s, "
        f"{len(tracks)} tracks, lengths {lengths}; annotated frame 100 -> {ANNOTATED}"
    )
    for tid, rows in sorted(tracks.items()):
        c = [((x[0] + x[2]) / 2, (x[1] + x[3]) / 2) for _, x in rows]
        print(
            f"  track {tid:3d}: frames {rows[0][0]}-{rows[-1][0]} ({len(rows)}), "
            f"centre ({c[0][0]:.0f},{c[0][1]:.0f}) -> ({c[-1][0]:.0f},{c[-1][1]:.0f})"
        )
    return {
        "frames": frames,
        "results": results,
        "boxes": boxes,
        "tracks": tracks,
        "fps": fps,
        "det": det,
    }


def _annotate(frame: np.ndarray, boxes: TrackedBoxes, path: Path) -> None:
    img = frame.copy()
    for (x1, y1, x2, y2), tid, conf in zip(boxes.xyxy.astype(int), boxes.track_id, boxes.conf):
        cv2.rectangle(img, (x1, y1), (x2, y2), (0, 0, 255), 2)
        cv2.putText(
            img, f"{tid} {conf:.2f}", (x1, y1 - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 255), 2
        )
    cv2.imwrite(str(path), img)


def _centre(xyxy: np.ndarray) -> np.ndarray:
    return (xyxy[:2] + xyxy[2:]) / 2


def test_motion_finds_vehicles_in_most_frames(highway):
    warm = highway["det"].warmup_frames
    boxes = highway["boxes"]
    assert all(len(b) == 0 for b in boxes[:warm])  # nothing while the background is learnt
    counts = np.array([len(b) for b in boxes[warm:]])
    assert (counts > 0).mean() >= 0.9  # measured: every frame
    assert np.median(counts) >= 4  # measured: 5-9 vehicles on screen
    assert highway["fps"] > 5  # measured ~100 on 2 cores; only guards against pathologies
    assert ANNOTATED.is_file()


def test_motion_tracks_are_stable(highway):
    """One id per vehicle: long tracks, no holes, and no track replaced by a new id on screen.

    An id switch is counted when a track ends while its box is well inside the image (a vehicle
    leaving at the bottom/sides is not) and a new id appears within 10 frames and 80 px of it.
    Measured: 10 ids, all >= 31 frames, 0 switches.
    """
    tracks, n = highway["tracks"], len(highway["frames"])
    long_tracks = {t: rows for t, rows in tracks.items() if len(rows) >= 30}
    assert len(long_tracks) >= 7
    assert len(tracks) <= 16  # ~11 vehicles cross the screen
    for rows in long_tracks.values():
        span = rows[-1][0] - rows[0][0] + 1
        assert len(rows) >= 0.9 * span  # at most 10 % of frames missing inside a track
    switches = []
    for tid, rows in tracks.items():
        end, last = rows[-1]
        inside = last[0] > 20 and last[2] < 1260 and last[3] < 700
        if end >= n - 1 or not inside or len(rows) < 5:
            continue
        for other, orows in tracks.items():
            start, first = orows[0]
            near = np.linalg.norm(_centre(first) - _centre(last)) < 80
            if other != tid and end < start <= end + 10 and near:
                switches.append((tid, other, end))
    assert len(switches) <= 1, switches


def test_motion_tracks_move(highway):
    """No stopped vehicle is reported: every track moves, in every second of its life."""
    for tid, rows in highway["tracks"].items():
        if len(rows) < 10:
            continue
        frames = np.array([i for i, _ in rows])
        centres = np.array([_centre(x) for _, x in rows])
        assert np.linalg.norm(centres[-1] - centres[0]) > 40, tid  # measured >= 89 px
        for j, i in enumerate(frames):
            k = np.searchsorted(frames, i + FPS)
            if k < len(frames) and frames[k] == i + FPS:
                assert np.linalg.norm(centres[k] - centres[j]) > 10, (tid, i)  # measured >= 28 px


def test_motion_boxes_are_vehicle_sized(highway):
    xyxy = np.concatenate([b.xyxy for b in highway["boxes"]])
    w, h = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
    assert (w >= 10).all() and (h >= 10).all()
    assert (w * h <= 0.06 * 1280 * 720).all()  # measured max 3.2 % (a car near the camera)
    assert ((w / h > 0.3) & (w / h < 3.5)).all()  # measured 0.53-2.2
    assert 30 <= np.median(w) <= 200
    assert ((xyxy[:, :2] >= 0) & (xyxy[:, 2:] <= [1280, 720])).all()  # clipped to the image
    confs = np.concatenate([b.conf for b in highway["boxes"]])
    assert ((confs > 0) & (confs <= 1)).all()
    assert all(b.names == ("moving_object",) for b in highway["boxes"])


def test_motion_cameras_are_independent(highway):
    """Two cameras in one batch keep separate models and trackers: identical input, identical ids."""
    for a, b in highway["results"]:
        np.testing.assert_array_equal(a.track_id, b.track_id)
        np.testing.assert_allclose(a.xyxy, b.xyxy)
    det = highway["det"]
    det.reset("B")
    assert det.warming_up("B") and not det.warming_up("A")
    assert len(det.update([("B", highway["frames"][0])])[0]) == 0


def test_motion_relearns_after_scene_change():
    """A new resolution or a sudden global change restarts the warm-up instead of failing."""
    det = MotionDetector()
    rng = np.random.default_rng(1)
    road = rng.integers(60, 90, (360, 640, 3), dtype=np.uint8)
    for _ in range(det.warmup_frames):
        assert len(det.update([("C", road)])[0]) == 0
    for step in range(6):  # then a bright car crosses
        frame = road.copy()
        frame[150:190, 40 + 30 * step : 110 + 30 * step] = 230
        boxes = det.update([("C", frame)])[0]
    assert len(boxes) == 1 and not det.warming_up("C")
    np.testing.assert_allclose(boxes.xyxy[0], [190, 150, 260, 190], atol=6)
    assert len(det.update([("C", 255 - road)])[0]) == 0 and det.warming_up("C")  # lights
    assert len(det.update([("C", road[:180, :320])])[0]) == 0 and det.warming_up("C")  # resolution
    assert len(det.update([("C", road[:, :, 0])])[0]) == 0  # grayscale frames are accepted


# --------------------------------------------------------------------------- ultralytics backend


class _NetworkSpy:
    """Refuse and record any DNS lookup or socket connection."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[str] = []

        def refuse(name):
            def fn(*args, **kwargs):
                self.attempts.append(f"{name}{args[:2]}")
                raise OSError("network disabled in tests")

            return fn

        monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
        monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
        monkeypatch.setattr(socket.socket, "connect", refuse("connect"))


class _LogSpy(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def offline(monkeypatch):
    """No network for the test; ultralytics' log lines are collected to check for downloads."""
    net = _NetworkSpy(monkeypatch)
    log = _LogSpy()
    logger = logging.getLogger("ultralytics")
    logger.addHandler(log)
    yield net, log
    logger.removeHandler(log)
    if log.messages:
        print("\nultralytics logged:", log.messages)
    assert net.attempts == [], f"network access attempted: {net.attempts}"
    downloads = [m for m in log.messages if "download" in m.lower() or "http" in m.lower()]
    assert downloads == [], downloads


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    """An untrained yolov8n with the project's 5 classes, saved as a local .pt (no download)."""
    with pytest.MonkeyPatch.context() as mp:
        net = _NetworkSpy(mp)
        from ultralytics import YOLO
        from ultralytics.nn.tasks import DetectionModel

        yolo = YOLO("yolov8n.yaml")  # architecture only, from ultralytics' bundled cfg
        model = DetectionModel("yolov8n.yaml", nc=len(CLASSES), verbose=False)
        model.names = dict(enumerate(CLASSES))
        model.args, model.task = yolo.model.args, "detect"
        yolo.model = model
        path = tmp_path_factory.mktemp("weights") / "tiny5.pt"
        yolo.save(path)
    assert net.attempts == [], f"network access attempted: {net.attempts}"
    return path


def _frames3() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [
        ("CAM-1", rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)),
        ("CAM-2", np.zeros((480, 640, 3), np.uint8)),
        ("CAM-3", np.full((360, 640, 3), 128, np.uint8)),
    ]


def test_saved_weights_load_back(tiny_weights, offline):
    from ultralytics import YOLO
    from ultralytics.utils import ONLINE, SETTINGS

    assert not ONLINE
    logging.getLogger("ultralytics").warning("probe")
    assert offline[1].messages[-1].endswith("probe")  # the log spy sees ultralytics' logger
    assert str(SETTINGS.file).startswith(tempfile.gettempdir())
    model = YOLO(tiny_weights)
    assert model.task == "detect" and tuple(model.names.values()) == CLASSES


def test_batch_is_one_predict_call(tiny_weights, offline, monkeypatch):
    det = UltralyticsDetector(tiny_weights, imgsz=320, conf=0.25)
    assert isinstance(det, TrackingDetector) and det.names == CLASSES
    det.update(_frames3())  # first call sets up the predictor
    calls, forwards = [], []
    original = det.model.predict

    def spy(source, *args, **kwargs):
        calls.append(len(source))
        return original(source, *args, **kwargs)

    monkeypatch.setattr(det.model, "predict", spy)
    network = det.model.predictor.model  # the AutoBackend the predictor runs
    hook = network.register_forward_hook(lambda m, i, o: forwards.append(tuple(i[0].shape)))
    try:
        out = det.update(_frames3())
        assert calls == [3]  # one predict call for the three cameras
        assert len(forwards) == 1 and forwards[0][0] == 3  # and one network pass of batch 3
        assert [len(o) for o in det.update(_frames3()[:2])] == [0, 0] and calls == [3, 2]
    finally:
        hook.remove()
    assert len(out) == 3 and all(isinstance(o, TrackedBoxes) for o in out)
    assert det.update([]) == [] and calls == [3, 2]
    det.close()


def test_untrained_model_returns_empty_arrays(tiny_weights, offline):
    det = make_detector("ultralytics", weights=str(tiny_weights), imgsz=320, tracker="botsort")
    for boxes in det.update(_frames3()):
        assert len(boxes) == 0 and boxes.names == CLASSES
        assert boxes.xyxy.shape == (0, 4) and boxes.xyxy.dtype == np.float32
        assert boxes.conf.shape == (0,) and boxes.conf.dtype == np.float32
        assert boxes.cls.shape == (0,) and boxes.cls.dtype.kind == "i"
        assert boxes.track_id.shape == (0,) and boxes.track_id.dtype.kind == "i"
        assert boxes.foot_points().shape == (0, 2) and boxes.class_names() == []


def test_weights_and_options_errors(tiny_weights, tmp_path, offline):
    missing = tmp_path / "nowhere" / "best.pt"
    with pytest.raises(DetectorError, match=str(missing)):
        UltralyticsDetector(missing)
    with pytest.raises(DetectorError, match="best.pt"):
        make_detector("ultralytics", weights=missing)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(DetectorError, match="corrupt.pt"):
        UltralyticsDetector(corrupt)
    with pytest.raises(DetectorError, match="tractor"):
        UltralyticsDetector(tiny_weights, classes=["car", "tractor"])
    assert UltralyticsDetector(tiny_weights, classes=["hazmat_tanker"]).classes == [3]


def _moving(step: int, start: tuple[float, float], v: tuple[float, float]) -> list[float]:
    x, y = start[0] + v[0] * step, start[1] + v[1] * step
    return [x, y, x + 80, y + 50]


@pytest.mark.parametrize("tracker", ["bytetrack", "botsort"])
def test_tracking_step_per_camera(tiny_weights, offline, tracker):
    """Given detections: ids stable along each camera, independent between cameras."""
    det = UltralyticsDetector(tiny_weights, tracker=tracker)
    img = np.full((720, 1280, 3), 90, np.uint8)
    seen: dict[str, list[list[int]]] = defaultdict(list)
    for step in range(30):
        a = Detections(
            [_moving(step, (100, 100), (6, 3)), _moving(step, (900, 500), (-5, -2))],
            [0.9, 0.8],
            [0, 2],
        )
        b = Detections([_moving(step, (400, 300), (0, 8))], [0.85], [3]) if step % 2 == 0 else None
        boxes_a = det.track("A", a, img)
        seen["A"].append(sorted(boxes_a.track_id.tolist()))
        if b is not None:  # camera B is analysed at half the rate
            boxes_b = det.track("B", b, img)
            seen["B"].append(boxes_b.track_id.tolist())
            assert boxes_b.class_names() == ["hazmat_tanker"]
        by_id = dict(zip(boxes_a.track_id.tolist(), boxes_a.class_names()))
        assert sorted(by_id.values()) == ["car", "truck"]
        np.testing.assert_allclose(
            sorted(boxes_a.xyxy[:, 0]), sorted([a.xyxy[0, 0], a.xyxy[1, 0]]), atol=3
        )
    assert all(ids == [1, 2] for ids in seen["A"])  # one id per object for 30 frames
    assert all(ids == [1] for ids in seen["B"])  # B's tracker numbers its own objects
    det.reset("A")
    again = det.track("A", Detections([_moving(0, (100, 100), (6, 3))], [0.9], [0]), img)
    assert again.track_id.tolist() == [1]
    assert det.track(
        "B", Detections([_moving(30, (400, 300), (0, 8))], [0.85], [3]), img
    ).track_id.tolist() == [1]
    empty = det.track("A", Detections.empty(), img)
    assert len(empty) == 0 and empty.names == CLASSES


@pytest.mark.parametrize("tracker", ["bytetrack", "botsort"])
def test_a_vehicle_faster_than_its_length_per_analysed_frame_keeps_one_track(tracker):
    """A car 80 px long moving 100 px between analysed frames (a highway at 5 frames/s) never
    overlaps itself: plain IoU never confirms it; the buffered margin follows it with one id, and
    the boxes come back at the detections' own size."""
    img = np.full((720, 1280, 3), 90, np.uint8)

    def run(margin: float) -> list[TrackedBoxes]:
        pool = TrackerPool(tracker, CLASSES, margin=margin)
        return [pool.update("A", Detections([_moving(step, (40, 300), (100, 10))], [0.9], [0]), img)
                for step in range(10)]

    assert sum(len(boxes) for boxes in run(0.0)) <= 1  # at most the first frame's, then nothing
    followed = run(1.0)
    assert [boxes.track_id.tolist() for boxes in followed[1:]] == [[1]] * 9
    for step, boxes in enumerate(followed[1:], start=1):
        x1, y1, x2, y2 = boxes.xyxy[0]
        assert abs((x2 - x1) - 80) < 3 and abs((y2 - y1) - 50) < 3  # the detection's size, not the grown one
        # the Kalman filter's box trails the detection while it learns the speed: under a third of a step
        np.testing.assert_allclose(boxes.xyxy[0], _moving(step, (40, 300), (100, 10)), atol=30)
    with pytest.raises(DetectorError, match="margin must be >= 0"):
        TrackerPool(tracker, CLASSES, margin=-0.1)
