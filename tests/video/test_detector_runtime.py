"""The detector's runtimes (video.detectors.runtime) on the shipped weights and simulated frames.

One OpenVINO export of the shipped detector per test session (a session fixture, in a tmp folder)
serves every test: ``auto`` picks it on a CPU; it gives PyTorch's detections (boxes, classes,
confidences) at the worker's size and at another per-call size, in one batch; a second load reuses
the cache; concurrent makers export once; a failed export logs one line and runs PyTorch; an
exported folder loads as it is; the settings pass the runtime, INT8 and the cache folder through.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")  # before ultralytics is imported: no online checks

import numpy as np
import pytest

from zhizhi.console.settings import Settings
from zhizhi.models.detector import SHIPPED_WEIGHTS
from zhizhi.video.detectors import DetectorError, UltralyticsDetector
from zhizhi.video.detectors import runtime as rt
from zhizhi.video.detectors.tracking import Detections

IMGSZ, CONF = 416, 0.3  # the worker's defaults


@pytest.fixture(scope="session")
def runtime_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("detector-runtime")


@pytest.fixture(scope="session")
def openvino(runtime_cache) -> UltralyticsDetector:
    """The shipped detector as the worker loads it on a CPU by default (runtime ``auto``)."""
    return UltralyticsDetector(SHIPPED_WEIGHTS, imgsz=IMGSZ, conf=CONF, runtime="auto", cache_dir=runtime_cache)


@pytest.fixture(scope="session")
def pytorch() -> UltralyticsDetector:
    return UltralyticsDetector(SHIPPED_WEIGHTS, imgsz=IMGSZ, conf=CONF, runtime="pytorch")


@pytest.fixture(scope="session")
def frames() -> list[np.ndarray]:
    """Simulated 1280x720 frames with vehicles, a tanker and people in them."""
    from zhizhi.video.simulator.build import build_simulation
    from zhizhi.video.simulator.dataset import render_sample

    out = []
    for scenario, seed, index in (("hazmat-stop", 4242, 60), ("normal", 4243, 30), ("hazmat-stop", 4244, 120)):
        image, _ = render_sample(build_simulation(scenario, seed), index, scale=IMGSZ / 1280)
        out.append(image)
    assert out[0].shape == (720, 1280, 3)
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _same(expected: Detections, got: Detections, *, margin: float = 0.05) -> None:
    """Every box of ``expected`` clear of the threshold has its twin in ``got`` (IoU >= 0.9, same
    class, confidence within 0.03), and the other way round."""
    for a, b in ((expected, got), (got, expected)):
        for box, conf, cls in zip(a.xyxy, a.conf, a.cls):
            if conf < CONF + margin:
                continue  # a borderline box may fall either side of the threshold
            twins = [i for i in range(len(b.xyxy)) if b.cls[i] == cls and _iou(box, b.xyxy[i]) >= 0.9]
            assert twins, f"class {int(cls)} box {box.round()} ({conf:.2f}) has no twin in {b.xyxy.round()}"
            assert min(abs(b.conf[i] - conf) for i in twins) < 0.03


def test_auto_runs_openvino_on_a_cpu_and_pytorch_on_a_gpu(openvino, runtime_cache):
    assert openvino.runtime == "openvino"
    assert openvino.loaded.name.endswith("_openvino_model") and runtime_cache in openvino.loaded.parents
    assert openvino.weights == SHIPPED_WEIGHTS and openvino.names[3] == "hazmat_tanker"
    assert rt.choose_runtime("auto", "cpu") == "openvino"
    assert rt.choose_runtime("auto", "cuda:0") == "pytorch" == rt.choose_runtime("auto", "0")
    assert rt.choose_runtime("onnx", "cpu") == "onnx"
    with pytest.raises(DetectorError, match="unknown detector runtime 'tensorflow'"):
        UltralyticsDetector(SHIPPED_WEIGHTS, runtime="tensorflow")


def test_openvino_gives_pytorchs_detections(openvino, pytorch, frames):
    expected = pytorch.detect(frames)
    got = openvino.detect(frames)  # one batch of three
    assert sum(len(d.xyxy) for d in expected) >= 10, "the frames should hold objects"
    assert 3 in np.concatenate([d.cls for d in expected]), "and the tanker"
    for e, g in zip(expected, got, strict=True):
        _same(e, g)
    _same(got[1], openvino.detect([frames[1]])[0])  # alone as in a batch


def test_openvino_takes_another_size_per_call_with_a_rect_letterbox(openvino, pytorch, frames):
    for e, g in zip(pytorch.detect(frames, imgsz=320), openvino.detect(frames, imgsz=320), strict=True):
        _same(e, g)
    predictor = openvino.model.predictor
    assert predictor.model.dynamic
    assert tuple(predictor.preprocess(frames[:1]).shape) == (1, 3, 192, 320)  # 16:9, not a square
    crops = [np.ascontiguousarray(f[200:456, 300:812]) for f in frames]  # a packed region canvas
    assert len(openvino.detect(crops, imgsz=512)) == len(crops)


def test_a_second_load_reuses_the_export(openvino, runtime_cache, monkeypatch):
    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(rt, "_export", no_export)
    again = UltralyticsDetector(SHIPPED_WEIGHTS, imgsz=IMGSZ, runtime="openvino", cache_dir=runtime_cache)
    assert again.runtime == "openvino" and again.loaded == openvino.loaded
    made = [p.name for p in runtime_cache.iterdir() if p.is_dir()]
    assert made == [openvino.loaded.parent.name], "one export, no temporary folder left"


def test_an_exported_folder_loads_as_it_is(openvino, frames, tmp_path):
    given = UltralyticsDetector(openvino.loaded, imgsz=IMGSZ, conf=CONF, runtime="auto", cache_dir=tmp_path / "c")
    assert given.runtime == "openvino" and given.loaded == openvino.loaded
    assert not (tmp_path / "c").exists()
    _same(openvino.detect(frames[:1])[0], given.detect(frames[:1])[0])


def test_a_failed_export_logs_one_line_and_runs_pytorch(tmp_path, caplog, monkeypatch, frames):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with caplog.at_level(logging.WARNING, logger=rt.__name__):
        assert rt.runtime_weights(corrupt, runtime="openvino", cache_dir=tmp_path / "c") == (corrupt, "pytorch")
    lines = [r.getMessage() for r in caplog.records if r.name == rt.__name__]
    assert len(lines) == 1 and "no openvino runtime for corrupt.pt" in lines[0] and "\n" not in lines[0]
    assert [p.name for p in (tmp_path / "c").iterdir() if p.is_dir()] == [], "nothing half-made left"

    caplog.clear()
    real = rt.find_spec
    monkeypatch.setattr(rt, "find_spec", lambda name: None if name == "openvino" else real(name))
    with caplog.at_level(logging.WARNING, logger=rt.__name__):
        det = UltralyticsDetector(SHIPPED_WEIGHTS, imgsz=IMGSZ, conf=CONF, runtime="auto", cache_dir=tmp_path / "d")
    assert det.runtime == "pytorch" and det.loaded == SHIPPED_WEIGHTS
    assert [r.getMessage() for r in caplog.records] == [
        ("detector: no openvino runtime for zhizhi-det-v5.pt (openvino not installed (scripts/setup.sh installs "
         "them)); running PyTorch")
    ]
    assert len(det.detect(frames[:1])[0].xyxy) > 0  # analysis goes on


def test_concurrent_makers_export_once(tmp_path):
    calls = []

    def make(folder: Path) -> str:
        calls.append(folder)
        time.sleep(0.3)
        (folder / "model.onnx").write_bytes(b"x")
        return "model.onnx"

    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(rt.cached(tmp_path, "key", make))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and results == [tmp_path / "key" / "model.onnx"] * 4
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o755, "readable by other users' workers"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key", "key.lock"]

    def fail(folder: Path) -> str:
        (folder / "half").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        rt.cached(tmp_path, "other", fail)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["key"]


def test_the_cache_key_follows_the_weights_content_size_and_precision(tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "b" / "a.pt"
    b.parent.mkdir()
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    key = rt.cache_key(a, "openvino", 416, False)
    assert key != rt.cache_key(b, "openvino", 416, False)
    assert len({key, rt.cache_key(a, "openvino", 320, False), rt.cache_key(a, "openvino", 416, True),
                rt.cache_key(a, "onnx", 416, False)}) == 4
    assert "openvino" in key and "-416-" in key and "ul" in key


def test_settings_pass_the_runtime_through(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in ("ZHIZHI_CONFIG", "ZHIZHI_DATA_DIR", "ZHIZHI_DETECTOR__RUNTIME", "ZHIZHI_DETECTOR__RUNTIME_CACHE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    options = Settings(data_dir=tmp_path / "data").detector.ultralytics_options()
    assert options["runtime"] == "auto" and options["int8"] is False
    # the user's cache, whatever the data folder: one export serves every console of the machine
    assert options["cache_dir"] == tmp_path / "cache" / "zhizhi" / "detector-runtime"
    assert Settings(data_dir=tmp_path / "other").detector.runtime_cache == options["cache_dir"]
    monkeypatch.setenv("ZHIZHI_DETECTOR__INT8", "true")
    monkeypatch.setenv("ZHIZHI_DETECTOR__RUNTIME_CACHE", str(tmp_path / "elsewhere"))
    options = Settings().detector.ultralytics_options()
    assert options["int8"] is True and options["cache_dir"] == tmp_path / "elsewhere"
