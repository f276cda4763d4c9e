"""``zhizhi bench``: the benchmarks' commands (docs/benchmarks.md).

The group plugs into the ``zhizhi`` command line as an entry point of the ``zhizhi.cli`` group
(pyproject.toml): the console's command line loads what is registered there and imports no
bench itself, since bench sits above the console in the layers (docs/architecture.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from zhizhi.console.cli_common import fail

app = typer.Typer(help="Benchmarks (figures as ratios to a same-run baseline).", no_args_is_help=True)


def print_result(result: dict, as_json: bool, width: int) -> None:
    """A bench's result: one JSON object, or ``key: value`` lines with the keys right-aligned."""
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key:>{width}}: {value}")


@app.command("spatial")
def bench_spatial(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    points: Annotated[int, typer.Option(help="Random points to locate.")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Seed of the points.")] = 0,
) -> None:
    """Locate random points in the 1,024 demo grids: ours against geopandas.sjoin."""
    from zhizhi.bench.spatial import run_spatial_bench

    result = run_spatial_bench(points=points, seed=seed)
    print_result(result, as_json, width=22)


@app.command("camera-sectors")
def bench_camera_sectors(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    cameras: Annotated[int, typer.Option(min=1, help="Random cameras.")] = 20_000,
    points: Annotated[int, typer.Option(min=1, help="Points for covering_pairs.")] = 5_000,
) -> None:
    """Fields of view of many cameras at once against one by one; the camera index's lookups."""
    from zhizhi.bench.camera_sectors import run_camera_sectors_bench

    result = run_camera_sectors_bench(cameras=cameras, points=points)
    print_result(result, as_json, width=20)


@app.command("recording")
def bench_recording(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    seconds: Annotated[float, typer.Option(min=1, help="Seconds of video per measurement.")] = 10.0,
) -> None:
    """Recording: frames encoded to H.264 per second at three sizes; an H.264 clip copied into
    segments against decoding and re-encoding it."""
    from zhizhi.bench.recording import run_recording_bench

    print_result(run_recording_bench(seconds=seconds), as_json, width=26)


@app.command("spatial-db")
def bench_spatial_db(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    features: Annotated[int, typer.Option(help="Polygons in the layer.", min=10)] = 100_000,
    queries: Annotated[int, typer.Option(help="Queries (half windows, half points).", min=2)] = 400,
    database_url: Annotated[str | None, typer.Option(
        help="PostgreSQL maintenance database; a database of the run's own is created and dropped there.")] = None,
) -> None:
    """One large layer: in-memory STRtree against query_intersects and bbox reads on PostGIS and SQLite."""
    from zhizhi.bench.spatial_db import run_spatial_db_bench

    result = run_spatial_db_bench(features=features, queries=queries, database_url=database_url)
    print_result(result, as_json, width=16)
    if not result["same_fids"]:
        raise typer.Exit(1)


@app.command("workers")
def bench_workers(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    seconds: Annotated[float, typer.Option(help="Seconds per run (1, 2, 4 workers).", min=5)] = 45.0,
    cameras: Annotated[int, typer.Option(help="Simulated cameras the workers share.", min=1, max=64)] = 8,
    detector: Annotated[Literal["ultralytics", "motion"], typer.Option(help="Workers' detector.")] = "ultralytics",
    counts: Annotated[
        str, typer.Option(help="Worker counts to run, comma-separated (the first is the baseline).")
    ] = "1,2,4",
) -> None:
    """Frames analysed per second by 1, 2 and 4 `zhizhi worker` processes sharing cameras on a Redis bus."""
    from zhizhi.bench.workers import run_workers_bench

    try:
        runs = tuple(int(c) for c in counts.split(","))
    except ValueError:
        fail(f"--counts: comma-separated integers, got {counts!r}")
    result = run_workers_bench(seconds=seconds, cameras=cameras, detector=detector, counts=runs)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for run in result["runs"]:
            typer.echo(f"{run['workers']} worker(s): {run['fps']} frames/s (x{run['ratio_vs_1']} of 1 worker), "
                       f"window {run['window_s']} s")
        typer.echo(f"cpu_count: {result['cpu_count']}, demand {result['demand_fps']} frames/s")


@app.command("alert-latency")
def bench_alert_latency(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    seconds: Annotated[float, typer.Option(help="Seconds of measurement after start-up.", min=1)] = 120.0,
    streams: Annotated[int, typer.Option(help="Simulated camera streams with alerts.", min=1, max=24)] = 8,
    workers: Annotated[int, typer.Option(help="`zhizhi worker` processes sharing the streams.", min=1, max=8)] = 2,
    detector: Annotated[Literal["ultralytics", "motion"] | None, typer.Option(help="Workers' detector.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Console database (default: SQLite in a temp folder).")
    ] = None,
) -> None:
    """Frame timestamp to websocket receipt of alerts: a console and workers on a Redis bus."""
    from zhizhi.bench.alert_latency import run_alert_latency_bench

    try:
        result = run_alert_latency_bench(seconds=seconds, streams=streams, workers=workers,
                                         database_url=database_url, detector=detector)
    except RuntimeError as exc:
        fail(str(exc), code=1)
    print_result(result, as_json, width=26)


@app.command("pipeline")
def bench_pipeline(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    weights: Annotated[Path | None, typer.Option(help="Weights (default: the shipped detector).")] = None,
    frames: Annotated[int, typer.Option(help="Frames for the bare/pipeline comparison.")] = 120,
    stream_seconds: Annotated[float, typer.Option(help="Seconds per 1/2/4-stream run.")] = 15.0,
) -> None:
    """A bare ultralytics track loop against the full pipeline; 1, 2, 4 concurrent streams."""
    from zhizhi.bench.pipeline import run_pipeline_bench

    result = run_pipeline_bench(weights=weights, frames=frames, stream_seconds=stream_seconds)
    print_result(result, as_json, width=24)


@app.command("surge")
def bench_surge(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    duration: Annotated[float, typer.Option(help="Seconds of load.", min=1)] = 600.0,
    telemetry_rate: Annotated[float, typer.Option(help="Telemetry reports per second.", min=1)] = 10_000.0,
    events_per_min: Annotated[float, typer.Option(help="People's events per minute.", min=0.1)] = 150.0,
    vehicles: Annotated[int, typer.Option(help="Vehicles reporting.", min=1)] = 20_000,
    batch: Annotated[int, typer.Option(help="Reports per POST.", min=1)] = 1_000,
    senders: Annotated[int, typer.Option(help="Concurrent telemetry senders.", min=1, max=32)] = 4,
    hazmat: Annotated[int, typer.Option(help="Registered hazmat vehicles that speed once.", min=0)] = 40,
    small_district: Annotated[bool, typer.Option(help="64 grids instead of the 1,024-grid demo.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="tqdm bar on stderr.")] = True,
) -> None:
    """Typhoon-night surge against a real console: telemetry flood, people's events, alert latency."""
    from zhizhi.bench.surge import SurgeConfig, run_surge_bench, summary_lines

    config = SurgeConfig(duration_s=duration, telemetry_rate=telemetry_rate, events_per_min=events_per_min,
                         vehicles=vehicles, batch=batch, senders=senders, hazmat=hazmat,
                         small_district=small_district)
    result = run_surge_bench(config, progress=progress)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for line in summary_lines(result):
            typer.echo(line)
    if result["events"]["lost"]:
        raise typer.Exit(1)


@app.command("fanout")
def bench_fanout(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    clients: Annotated[int, typer.Option(help="Websocket clients (district screens).", min=1)] = 1_000,
    messages: Annotated[int, typer.Option(help="Alerts to publish (POST /api/events).", min=1)] = 100,
    rate: Annotated[float, typer.Option(help="Alerts published per second.", min=0.1)] = 5.0,
    deflate: Annotated[bool, typer.Option("--deflate/--no-deflate", help="Offer permessage-deflate.")] = True,
    small_district: Annotated[bool, typer.Option(help="64 grids instead of the 1,024-grid demo.")] = True,
    settle: Annotated[bool, typer.Option("--settle/--no-settle",
                                         help="Wait for the demo's background rendering first.")] = True,
) -> None:
    """Websocket fan-out on loopback: latency from an alert's creation to its receipt by N screens."""
    from zhizhi.bench.fanout import FanoutConfig, run_fanout_bench, summary_lines

    config = FanoutConfig(clients=clients, messages=messages, rate=rate, deflate=deflate,
                          small_district=small_district, settle_s=300.0 if settle else 0.0)
    try:
        result = run_fanout_bench(config)
    except RuntimeError as exc:
        fail(str(exc), code=1)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for line in summary_lines(result):
            typer.echo(line)
    if result["lost"] or result["connect_failed"]:
        raise typer.Exit(1)


@app.command("capacity")
def bench_capacity(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    rate: Annotated[float, typer.Option(min=0.5, max=25, help="Analysis rate R of every camera (frames/s).")] = 5.0,
    trial_s: Annotated[float, typer.Option(min=5, help="Seconds of the scored run at a pipeline's capacity.")] = 30.0,
    search_s: Annotated[float, typer.Option(min=3, help="Seconds each camera count is tried in the search.")] = 12.0,
    max_cameras: Annotated[int, typer.Option(min=1, help="The most cameras tried.")] = 256,
) -> None:
    """Cameras one worker sustains (at most 5 % of due frames dropped): the motion-gated pipeline on the
    fast runtime against full-frame PyTorch, on a county-like mix of simulated cameras."""
    from zhizhi.bench.capacity import run_capacity_bench

    def progress(line: str) -> None:
        typer.echo(line, err=True)

    result = run_capacity_bench(rate=rate, trial_s=trial_s, search_s=search_s, max_cameras=max_cameras,
                                progress=progress)
    print_result(result, as_json, width=24)


@app.command("map")
def bench_map(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    runs: Annotated[int, typer.Option(min=1, help="Cold loads measured per variant.")] = 3,
) -> None:
    """The wall's map screen loaded cold in headless Chromium: time until every layer is drawn, bytes
    transferred; the uncompressed whole-layer load as the same-run baseline."""
    from zhizhi.bench.map_load import run_map_bench

    print_result(run_map_bench(runs=runs), as_json, width=22)


@app.command("real-footage")
def bench_real_footage(
    folder: Annotated[Path | None, typer.Argument(
        help="Folder of clips (NAME.mp4, optional NAME.camera.json and labels.json); "
             "default: ../shared/data/video beside the repository.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    labels: Annotated[Path | None, typer.Option(
        help="Hand labels (default: the folder's labels.json when there is one), e.g. "
             "tests/data/real_footage_labels.json.")] = None,
    detector: Annotated[Literal["ultralytics", "motion"] | None, typer.Option(
        help="Backend (default: the console's settings, i.e. the shipped detector).")] = None,
    weights: Annotated[Path | None, typer.Option(help="Weights for ultralytics (default: the shipped ones).")] = None,
    analysis_fps: Annotated[float | None, typer.Option(
        help="Frames analysed per second of clip (default: each camera's, 5).", min=0.1, max=60)] = None,
    cameras: Annotated[Path | None, typer.Option(
        help="Folder of camera configs NAME.camera.json for the clips NAME.* (before those beside the clips), "
             "e.g. tests/data/real_footage_cameras.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Also draw boxes by class per clip into this PNG.")] = None,
    compare: Annotated[list[Path] | None, typer.Option(
        help="An earlier run's --json output, drawn beside this run in --plot (repeatable).")] = None,
) -> None:
    """Every clip of a folder through `zhizhi analyze`'s path: tracks, tanker tracks, alerts, frames/s,
    and with hand labels precision/recall and line counts (the baseline of issue 16)."""
    import sys

    from zhizhi.bench.real_footage import LabelsError, default_folder, find_clips, run_real_footage_bench, table_lines
    from zhizhi.console.cli_video import build_detector
    from zhizhi.console.settings import Settings
    from zhizhi.models.warning.config import ModelConfigError, load_model

    folder = folder or default_folder()
    if not folder.is_dir():
        fail(f"clip folder not found: {folder}")
    if not find_clips(folder):
        fail(f"no clips (*.mp4, *.mkv, *.avi, *.mov) in {folder}")
    if labels is not None and not labels.is_file():
        fail(f"labels not found: {labels}")
    if cameras is not None and not cameras.is_dir():
        fail(f"camera config folder not found: {cameras}")
    from zhizhi.bench.real_footage_plot import load_runs, plot_runs

    try:
        earlier = load_runs(compare or [])
    except ValueError as exc:
        fail(str(exc))
    if earlier and plot is None:
        fail("--compare draws into --plot: give --plot FILE.png")
    out, sys.stdout = sys.stdout, sys.stderr  # what libraries print (ultralytics' settings notice) goes to stderr
    settings = Settings()
    try:
        warning_model = load_model(None)
    except ModelConfigError as exc:
        fail(str(exc))
    build_detector(settings, detector, weights)  # a missing or broken detector stops here, before any clip

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        result = run_real_footage_bench(
            folder, labels_path=labels, warning_model=warning_model, settings=settings, analysis_fps=analysis_fps,
            cameras=cameras, progress=progress,
            detector_factory=lambda camera: build_detector(settings, detector or camera.detector, weights),
        )
    except LabelsError as exc:
        fail(str(exc))
    sys.stdout = out
    if plot is not None:
        plot_runs([*earlier, ("this run", result)], plot)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        for line in table_lines(result):
            typer.echo(line)
