#!/usr/bin/env python3
"""Accuracy and speed of the shipped detector on each runtime (docs/runtime.md's figures).

    python scripts/detector_runtime_figures.py [--workdir DIR] [--seconds S] [--json]

Accuracy: mAP50 and recall on the held-out simulator seeds the training code evaluates on (the
recipe's ``test_seeds``, rendered as ``models.detector.train`` renders them), for PyTorch, the
OpenVINO FP32 export and the OpenVINO INT8 export (calibrated on training-seed frames). Speed:
milliseconds per 1280x720 frame through ``UltralyticsDetector.detect`` at the worker's imgsz, in
batches of 1 and 8, rounds interleaved across runtimes (the median round is kept), plus a
static-shape OpenVINO export and ONNX Runtime for comparison. Numbers are for the machine it runs
on: compare the ratios, and note the load average printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")


def held_out(workdir: Path) -> Path:
    """The recipe's held-out simulator frames (dataset YAML), rendered as training renders them."""
    from zhizhi.models.detector import RECIPE_PATH
    from zhizhi.models.detector.train import DetectorRecipe
    from zhizhi.video.simulator.dataset import export_yolo_dataset

    recipe = DetectorRecipe.load(RECIPE_PATH)
    return export_yolo_dataset(workdir / "test", train_seeds=recipe.test_seeds[:1], val_seeds=recipe.test_seeds,
                               frames_per_clip=recipe.frames_per_clip, imgsz=recipe.imgsz,
                               scenarios=recipe.scenarios, progress=False)


def accuracy(weights: Path, data: Path, imgsz: int, workdir: Path) -> dict[str, float]:
    """mAP50, mAP50-95, precision and recall of ``weights`` on ``data`` (ultralytics ``val``)."""
    from ultralytics import YOLO

    m = YOLO(str(weights), task="detect").val(data=str(data), imgsz=imgsz, batch=16, device="cpu", workers=0,
                                              plots=False, verbose=False, project=str(workdir / "runs"),
                                              name=weights.name, exist_ok=True)
    box = m.box
    return {"map50": round(float(box.map50), 4), "map50_95": round(float(box.map), 4),
            "precision": round(float(box.mp), 4), "recall": round(float(box.mr), 4)}


def frames_1280x720(count: int = 8):
    """Simulated 1280x720 frames (two scenes)."""
    from zhizhi.video.simulator.build import build_simulation
    from zhizhi.video.simulator.dataset import render_sample

    out = []
    for i, scenario in enumerate(("hazmat-stop", "normal")):
        sim = build_simulation(scenario, 4242 + i)
        out += [render_sample(sim, 10 + 20 * k, scale=416 / 1280)[0] for k in range(count // 2)]
    return out


def speed(detectors: dict, frames, seconds: float, rounds: int = 3) -> dict[str, dict[str, float]]:
    """ms per frame of each detector at batch 1 and 8: ``rounds`` interleaved rounds, the median."""
    times: dict[tuple[str, int], list[float]] = {}
    for det in detectors.values():
        det.detect(frames[:1])
        det.detect(frames[:8])  # warm both shapes
    for _ in range(rounds):
        for name, det in detectors.items():
            for batch in (1, 8):
                part = frames[:batch]
                n, start = 0, time.perf_counter()
                while time.perf_counter() - start < seconds:
                    det.detect(part)
                    n += 1
                times.setdefault((name, batch), []).append((time.perf_counter() - start) / n / batch * 1000)
    out: dict[str, dict[str, float]] = {}
    for (name, batch), values in times.items():
        out.setdefault(name, {})[f"batch{batch}_ms"] = round(statistics.median(values), 1)
    return out


def main() -> None:
    """Render, export, measure; print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("var/runtime-figures"))
    parser.add_argument("--seconds", type=float, default=4.0, help="per runtime, batch size and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (the median is kept)")
    parser.add_argument("--no-accuracy", action="store_true", help="time the runtimes only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("YOLO_CONFIG_DIR", str((args.workdir / "ultralytics-config").resolve()))
    from ultralytics import YOLO

    from zhizhi.models.detector import SHIPPED_WEIGHTS
    from zhizhi.video.detectors import UltralyticsDetector
    from zhizhi.video.detectors.runtime import quiet_ultralytics

    imgsz, cache = 416, args.workdir / "cache"
    started = time.perf_counter()
    detectors = {
        "pytorch": UltralyticsDetector(SHIPPED_WEIGHTS, imgsz=imgsz, conf=0.3, runtime="pytorch"),
        "openvino_fp32": UltralyticsDetector(SHIPPED_WEIGHTS, imgsz=imgsz, conf=0.3, runtime="openvino",
                                             cache_dir=cache),
        "openvino_int8": UltralyticsDetector(SHIPPED_WEIGHTS, imgsz=imgsz, conf=0.3, runtime="openvino", int8=True,
                                             cache_dir=cache),
        "onnxruntime": UltralyticsDetector(SHIPPED_WEIGHTS, imgsz=imgsz, conf=0.3, runtime="onnx", cache_dir=cache),
    }
    export_s = round(time.perf_counter() - started, 1)
    static = args.workdir / "static" / SHIPPED_WEIGHTS.name
    if not static.with_name(f"{static.stem}_openvino_model").exists():
        static.parent.mkdir(parents=True, exist_ok=True)
        static.write_bytes(SHIPPED_WEIGHTS.read_bytes())
        with quiet_ultralytics():
            YOLO(str(static)).export(format="openvino", imgsz=imgsz, dynamic=False, batch=1)
    detectors["openvino_fp32_static"] = UltralyticsDetector(static.with_name(f"{static.stem}_openvino_model"),
                                                            imgsz=imgsz, conf=0.3)
    assert all(d.runtime != "pytorch" for n, d in detectors.items() if n != "pytorch"), "an export fell back"

    data = held_out(args.workdir)
    acc = {} if args.no_accuracy else {name: accuracy(detectors[name].loaded, data, imgsz, args.workdir)
                                       for name in ("pytorch", "openvino_fp32", "openvino_int8")}
    frames = frames_1280x720()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    ms = speed(detectors, frames, args.seconds, args.rounds)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    report = {"imgsz": imgsz, "frame": "1280x720", "accuracy_held_out_simulator_seeds": acc, "speed": ms,
              "exports_s": export_s, "cpu_count": os.cpu_count(), "loadavg_before": load_before,
              "loadavg_after": load_after}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"held-out simulator frames ({data.parent}):")
    for name, a in acc.items():
        print(f"  {name:22s} mAP50 {a['map50']:.3f}  mAP50-95 {a['map50_95']:.3f}  P {a['precision']:.3f}  "
              f"R {a['recall']:.3f}")
    print(f"ms per 1280x720 frame at imgsz {imgsz} (load {' '.join(load_before)} -> {' '.join(load_after)}):")
    for name, m in ms.items():
        print(f"  {name:22s} batch 1 {m['batch1_ms']:6.1f}   batch 8 {m['batch8_ms']:6.1f}")


if __name__ == "__main__":
    main()
