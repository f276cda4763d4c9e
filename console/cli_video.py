"""``zhizhi`` commands of the video path: simulate, analyze, train, worker."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from zhizhi.console.cli_common import fail as _fail
from zhizhi.console.settings import Settings


def build_detector(settings: Settings, kind: str | None = None, weights: Path | None = None):
    """The detector the settings (or overrides) name, behind the motion gate unless
    ``detector.gate.enabled`` is off; a clear error when it cannot load."""
    from zhizhi.video.detectors import DetectorError, detector_for

    try:
        return detector_for(settings.detector, kind=kind, weights=weights)
    except (DetectorError, FileNotFoundError) as exc:
        _fail(str(exc))


def simulate(
    scenario: Annotated[
        str, typer.Option(help="normal, hazmat-stop, hazmat-prohibited-zone, wrong-way, speeding, crowd")
    ],
    out: Annotated[Path, typer.Option(help="Output folder (clip.mp4, truth.jsonl, events.jsonl, camera.json).")],
    seed: Annotated[int, typer.Option(help="Seed: the same seed renders the same scene.")] = 1,
    duration: Annotated[float | None, typer.Option(help="Seconds (default: the scenario's).")] = None,
    fps: Annotated[float, typer.Option(help="Frames per second of the clip.")] = 10.0,
    night: Annotated[bool | None, typer.Option("--night/--day", help="Force night or day.")] = None,
) -> None:
    """Render a fixed-camera road scene with its ground truth and calibration."""
    from zhizhi.video.simulator import SCENARIOS, Variation
    from zhizhi.video.simulator import simulate as run_simulation

    if scenario not in SCENARIOS:
        _fail(f"unknown scenario {scenario!r}; choose from {', '.join(sorted(SCENARIOS))}")
    variation = Variation(night=night) if night is not None else None
    result = run_simulation(scenario, seed, out, duration_s=duration, fps=fps, variation=variation, progress=True)
    typer.echo(json.dumps({"clip": str(result.clip), "frames": result.frames, "fps": result.fps, "out": str(out)}))


def analyze(
    video: Annotated[Path, typer.Argument(help="A video file.")],
    camera_config: Annotated[Path, typer.Option(help="Camera config (JSON/YAML) with calibration.")],
    detector: Annotated[Literal["ultralytics", "motion"] | None, typer.Option(help="Backend.")] = None,
    weights: Annotated[Path | None, typer.Option(help="Weights path for ultralytics.")] = None,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON object per line.")] = False,
    analysis_fps: Annotated[float | None, typer.Option(help="Frames analysed per second of clip.")] = None,
    model: Annotated[Path | None, typer.Option(help="Warning model YAML (default: the shipped one).")] = None,
    alerts: Annotated[bool, typer.Option("--alerts/--no-alerts", help="Run the warning model.")] = True,
) -> None:
    """Print the observations of a clip, the alerts of the warning model, then a summary line."""
    from zhizhi.console.clip_analysis import analyze_clip
    from zhizhi.models.warning.config import ModelConfigError, load_model
    from zhizhi.video.camera_config import CameraConfigError, load_camera_configs
    from zhizhi.video.sources import SourceError

    try:
        camera = load_camera_configs(camera_config)[0]
    except CameraConfigError as exc:
        _fail(str(exc))
    if not video.is_file():
        _fail(f"video not found: {video}")
    settings = Settings()
    try:
        warning_model = load_model(model) if alerts else None
    except ModelConfigError as exc:
        _fail(str(exc))
    det = build_detector(settings, detector or camera.detector, weights)

    def echo(batch) -> None:
        for line in observation_lines(batch):
            typer.echo(json.dumps(line, ensure_ascii=False) if jsonl else
                       f"{line['ts']:8.2f} #{line['track_id']} {line['cls']} {line['conf']:.2f}")

    try:
        result = analyze_clip(video, camera, det, warning_model=warning_model, settings=settings,
                              analysis_fps=analysis_fps, on_batch=echo)
    except SourceError as exc:
        _fail(str(exc))
    if warning_model is not None:
        from zhizhi.models.warning.alert_line import alert_line

        for warning in result.alerts:
            line = alert_line(warning, result.jurisdictions)
            typer.echo(json.dumps(line, ensure_ascii=False) if jsonl else
                       f"ALERT {line['severity']} {line['rule']} track {line['track_id']} grid {line['grid']} "
                       f"{line['first_ts']:.1f}-{line['last_ts']:.1f}s")
    final = result.summary.as_message()
    typer.echo(json.dumps(final) if jsonl else f"summary: {final}")


def observation_lines(batch) -> list[dict]:
    """The ``--jsonl`` lines of a frame's batch: ``{"type": "observation", **row}`` per row."""
    return [{"type": "observation", **row} for row in batch.rows()]


def train(
    workdir: Annotated[Path, typer.Option(help="Where the dataset and runs go.")] = Path("var/train"),
    recipe: Annotated[Path | None, typer.Option(help="Recipe YAML (default: the shipped one).")] = None,
    weights_out: Annotated[Path | None, typer.Option(help="Where the trained weights go.")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:0 ...")] = "cpu",
    epochs: Annotated[int | None, typer.Option(help="Override the recipe's epochs.")] = None,
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data",
            help="Folder of labelled frames in YOLO format (images/, labels/, optional data.yaml); repeatable.",
        ),
    ] = None,
    sim: Annotated[bool, typer.Option("--sim/--no-sim", help="Also train on simulator frames.")] = True,
    name: Annotated[
        str | None, typer.Option(help="Name of the new detector (weights and report files); default: the recipe's.")
    ] = None,
    init_from: Annotated[
        str | None, typer.Option(help="Start from these weights under models/detector/weights, e.g. zhizhi-det-v2.")
    ] = None,
    workers: Annotated[int, typer.Option(min=0, help="Data-loading worker processes.")] = 2,
    register: Annotated[
        bool, typer.Option("--register", help="Register the weights as a detector model version.")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why this version (required with --register).")] = None,
    author: Annotated[str | None, typer.Option(help="Who registers it (default: the login name).")] = None,
) -> None:
    """Train the detector on simulator output and labelled frames; write weights with an evaluation report."""
    import getpass
    import importlib.util

    from pydantic import ValidationError

    from zhizhi.models.detector import RECIPE_PATH
    from zhizhi.models.detector.labelled import LabelledDataError
    from zhizhi.models.detector.train import DetectorRecipe, output_weights, train_detector

    try:
        chosen = DetectorRecipe.load(recipe or RECIPE_PATH)
    except (OSError, ValueError, ValidationError) as exc:
        _fail(f"recipe {recipe or RECIPE_PATH}: {exc}")
    if (data or not sim or init_from) and not (name or weights_out):
        _fail(f"training on other data or weights than recipe {chosen.name} makes a new detector: "
              "give it a --name (or --weights-out)")
    if not sim and not (data or chosen.data):
        _fail("--no-sim trains on labelled frames only: give them with --data DIR")
    try:
        overrides = {k: v for k, v in (("name", name), ("init_from", init_from)) if v}
        chosen = DetectorRecipe.model_validate({**chosen.model_dump(), **overrides})
        chosen.init_weights()
    except (ValidationError, FileNotFoundError) as exc:
        _fail(str(exc))
    if register:
        if not (reason and reason.strip()):
            _fail("--register needs a --reason")
        if importlib.util.find_spec("zhizhi.models.versions") is None:
            _fail("--register needs the model version store (models/versions/), which is not installed")
    try:
        report = train_detector(
            chosen, workdir, weights_out=weights_out, device=device, epochs=epochs,
            data_dirs=data or [], simulator=sim, workers=workers,
        )
    except (LabelledDataError, FileNotFoundError) as exc:
        _fail(str(exc))
    typer.echo(report.model_dump_json())
    if register:
        from zhizhi.console.state import open_store
        from zhizhi.models.detector.register import register_weights
        from zhizhi.models.versions.store import ModelStore

        engine, _registry = open_store(Settings())
        try:
            stored = register_weights(
                ModelStore(engine), output_weights(chosen, weights_out), report, author or getpass.getuser(), reason
            )
        except ValueError as exc:  # the store's refusals (ModelVersionError, ModelConfigError)
            _fail(f"weights and report written to {output_weights(chosen, weights_out).parent}, "
                  f"but not registered: {exc}")
        finally:
            engine.dispose()
        manifest = json.loads(stored.content)
        typer.echo(json.dumps({
            "type": "model_version", "kind": stored.kind, "name": stored.name, "version": stored.version,
            "status": stored.status, "weights_path": manifest["weights_path"], "sha256": manifest["sha256"],
        }, ensure_ascii=False))


def worker(
    cameras: Annotated[
        Path | None, typer.Option(help="Camera config file (default: settings; without one: the camera registry).")
    ] = None,
    detector: Annotated[Literal["ultralytics", "motion"] | None, typer.Option(help="Backend.")] = None,
    weights: Annotated[Path | None, typer.Option(help="Weights path for ultralytics.")] = None,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Print bus messages as JSON lines.")] = False,
    seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Run the frame-analysis worker on its cameras, publishing on the bus until stopped.

    The cameras are those of ``--cameras FILE`` (or ``worker.cameras_file``); without a file,
    the camera registry's enabled cameras with a main stream (the database of the settings),
    followed while the worker runs: a camera added, changed or disabled on the console reaches
    it without a restart. With a Redis bus (``ZHIZHI_BUS__URL``) several workers share the
    cameras by leases: each runs its fair share, and a dead worker's cameras move to the others
    within ``bus.lease_ttl_s`` plus a renew period."""
    from zhizhi.bus import Topic
    from zhizhi.bus.messages import encode
    from zhizhi.console.observability.logs import configure_logging
    from zhizhi.console.worker_runtime import WorkerRuntime
    from zhizhi.layers.db import DatabaseError
    from zhizhi.video.camera_config import CameraConfigError, load_camera_configs

    settings = Settings()
    configure_logging(settings.logs)  # text on a terminal, JSON lines otherwise
    path = cameras or settings.worker.cameras_file
    configs = None  # the camera registry's
    if path is not None:
        try:
            configs = load_camera_configs(path)
        except CameraConfigError as exc:
            _fail(str(exc))

    def echo(topic: str, message: Any) -> None:
        """``--jsonl``: what the worker publishes, as JSON lines."""
        if topic == Topic.FRAMES:  # the frame's observations, one line each
            for line in observation_lines(message):
                print(json.dumps(line, ensure_ascii=False), flush=True)
        elif topic == Topic.CAMERA_STATUS:
            print(json.dumps(encode(topic, message), ensure_ascii=False), flush=True)

    runtime = WorkerRuntime(settings, configs, build_detector(settings, detector, weights),
                            echo=echo if jsonl else None)
    try:
        runtime.start()  # bus, evidence recorder, worker, camera leases, frame publisher (console.worker_runtime)
    except ValueError as exc:  # a malformed bus URL
        _fail(f"bus {settings.bus.url}: {exc}")
    except DatabaseError as exc:  # the registry's database
        _fail(str(exc))
    runner = runtime.worker
    metrics = None
    if settings.metrics.enabled and settings.metrics.worker_port is not None:  # its own /metrics (docs/metrics.md)
        from zhizhi.console.observability.worker_metrics import WorkerMetricsServer

        try:
            metrics = WorkerMetricsServer(settings.metrics, runtime)
        except OSError as exc:  # the port taken: analysis goes on without it
            logging.getLogger("zhizhi.worker").error("worker metrics not served on port %s: %s",
                                                     settings.metrics.worker_port, exc)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if seconds is not None:
        threading.Timer(seconds, stop.set).start()
    try:
        runner.run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        if metrics is not None:
            metrics.stop()
        runtime.stop()
    print(json.dumps({"type": "summary", **runner.stats()}), file=sys.stdout, flush=True)
