"""``zhizhi adapt --camera ID --minutes N``: adapt the detector to one registered camera's site.

Records N minutes of the camera's stream (fractions allowed), mines labels (moving objects the
background model confirms as positives, still detections on the background as negatives),
fine-tunes the camera's current detector on the first part on the CPU, counts false boxes of the
starting and the adapted weights on the held-out last part, writes the weights with their reports
and registers them as a draft detector version of that camera (:mod:`console.site_adapt`).

Exit codes: 0 adapted; 1 the stream cannot be recorded or too little was mined (nothing is
stored); 2 bad arguments or an unknown camera. ``--json`` prints one JSON object on stdout (what
libraries print goes to stderr, with a progress line per stage).
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from zhizhi.console.cli_common import fail
from zhizhi.models.detector.site.adapt import MAX_MINUTES


def adapt(
    camera: Annotated[str, typer.Option("--camera", help="Id of the camera in the registry.")],
    minutes: Annotated[float, typer.Option(help="Minutes of stream recorded (e.g. 0.5).", min=0.05,
                                           max=MAX_MINUTES)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
    epochs: Annotated[int, typer.Option(help="Training epochs.", min=1, max=100)] = 5,
    imgsz: Annotated[int, typer.Option(help="Training image size (a multiple of 32).", min=64, max=1280)] = 320,
    sample_fps: Annotated[float, typer.Option(help="Frames kept per second of stream.", min=0.1, max=10)] = 2.0,
    holdout: Annotated[float, typer.Option(help="Last share of the recording held out.", min=0.1, max=0.5)] = 0.25,
    sim_frames: Annotated[int, typer.Option(help="Simulator frames per scenario mixed in against forgetting "
                                                 "(0: none).", min=0, max=16)] = 2,
    weights_out: Annotated[Path | None, typer.Option(help="Where the weights go (default: "
                                                          "data_dir/detectors/site-CAMERA-TIME.pt).")] = None,
    workdir: Annotated[Path | None, typer.Option(help="Recording and datasets (default: "
                                                      "data_dir/adapt/CAMERA/TIME).")] = None,
    register: Annotated[bool, typer.Option("--register/--no-register", help="Register the weights as a draft "
                                                                             "detector version of the camera.")] = True,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit; default: the figures).")] = None,
    author: Annotated[str | None, typer.Option(help="Who registers it (default: the login name).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:0 ...")] = "cpu",
) -> None:
    """Adapt the detector to one camera's site: record, mine, fine-tune, evaluate on a held-out slice, register."""
    from pydantic import ValidationError

    from zhizhi.console.settings import Settings
    from zhizhi.console.site_adapt import AdaptRefused, check_camera, run_site_adaptation
    from zhizhi.layers import make_engine
    from zhizhi.layers.camera_registry import CameraRegistry
    from zhizhi.layers.db import DatabaseError
    from zhizhi.models.detector.site.adapt import AdaptError, AdaptOptions
    from zhizhi.models.detector.site.record import RecordingError
    from zhizhi.models.versions.store import ModelStore

    try:
        options = AdaptOptions(minutes=minutes, epochs=epochs, imgsz=imgsz, sample_fps=sample_fps, holdout=holdout,
                               sim_frames=sim_frames, device=device)
    except ValidationError as exc:
        fail("; ".join(f"--{'-'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()))
    settings = Settings()
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.resolved_database_url)
        registry, store = CameraRegistry(engine), ModelStore(engine)
    except DatabaseError as exc:
        fail(str(exc))
    out, sys.stdout = sys.stdout, sys.stderr  # what libraries print goes to stderr: stdout is the result
    shown = {"stage": None}

    def progress(stage: str, done: float) -> None:
        if stage != shown["stage"]:
            shown["stage"] = stage
            print(f"adapt {camera}: {stage} ({done:.0%})", file=sys.stderr, flush=True)

    try:
        record = check_camera(registry.get(camera), camera)
        result = run_site_adaptation(settings, store, record, options, author=author or getpass.getuser(),
                                     reason=reason, register=register, workdir=workdir, weights_out=weights_out,
                                     progress=progress)
    except AdaptRefused as exc:
        sys.stdout = out
        fail(str(exc), code=2)
    except (RecordingError, AdaptError) as exc:
        sys.stdout = out
        fail(str(exc), code=1)
    finally:
        sys.stdout = out
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json"), ensure_ascii=False))
        return
    b, a = result.before, result.after
    typer.echo(f"camera {camera}: {result.recording['seconds']:.0f} s recorded, {result.mining['labelled']} labelled + "
               f"{result.mining['background']} background frames mined, {result.train_frames['mined']} trained on")
    typer.echo(f"held-out {b.frames} frames: false boxes on the background {b.on_background} -> {a.on_background}, "
               f"vehicle boxes {b.vehicles} -> {a.vehicles}, positives found {b.positives_found} -> "
               f"{a.positives_found} of {b.positives}")
    typer.echo(f"weights {result.weights}; report {result.report_md}")
    if result.version:
        typer.echo(f"registered {result.version['label']} ({result.version['status']}, camera {camera}); "
                   f"promote it with: zhizhi models promote detector {result.version['name']} "
                   f"{result.version['version']} --reason ...")
