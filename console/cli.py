"""The ``zhizhi`` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
import webbrowser
from pathlib import Path
from typing import Annotated, Literal

import typer

from zhizhi.console.cli_config import config_app
from zhizhi.console.cli_models import models_app
from zhizhi.console.cli_users import announce_demo_users, users_app
from zhizhi.console.settings import Settings
from zhizhi.layers.db import DatabaseError

app = typer.Typer(help="zhizhi 智治 — geospatial command and video-fusion console.", no_args_is_help=True)
layers_app = typer.Typer(help="Layer registry: import, list, export.", no_args_is_help=True)
gis_app = typer.Typer(help="Geographic queries on the district.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (figures as ratios to a same-run baseline).", no_args_is_help=True)
app.add_typer(layers_app, name="layers")
app.add_typer(gis_app, name="gis")
app.add_typer(bench_app, name="bench")
app.add_typer(users_app, name="users")
app.add_typer(models_app, name="models")
app.add_typer(config_app, name="config")

DataDir = Annotated[Path | None, typer.Option(help="Data folder (default: settings / ./var).")]


def _settings(data_dir: Path | None = None, **demo: object) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings.data_dir = data_dir
    changes = {k: v for k, v in demo.items() if v is not None}
    if changes:
        settings.demo = settings.demo.model_copy(update=changes)
    return settings


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _open_state(settings: Settings):
    from zhizhi.console.state import open_console

    return open_console(settings)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    boundary: Annotated[Path | None, typer.Option(help="District boundary file (GeoJSON).")] = None,
    adcode: Annotated[str | None, typer.Option(help="Adcode of the district in --boundary.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the demo generator.")] = None,
    data_dir: DataDir = None,
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="Open the map page.")] = True,
    cameras: Annotated[int, typer.Option(help="Simulated live cameras (0: none).", min=0, max=4)] = 4,
    video: Annotated[Path | None, typer.Option(help="A recorded clip to add as a live camera tile.")] = None,
    fleet: Annotated[bool, typer.Option("--fleet/--no-fleet", help="Simulated hazmat vehicles and a drone.")] = True,
) -> None:
    """Start the console on the built-in demo district (generated on first start), with
    simulator-backed live cameras analysed by the shipped detector and warning model, and
    simulated hazmat vehicles (BeiDou reports) and a patrol drone."""


    if (boundary is None) != (adcode is None) and boundary is not None:
        _fail("--boundary needs --adcode (the 6-digit code of the district in the file)")
    settings = _settings(data_dir, boundary=boundary, adcode=adcode, seed=seed)
    settings.host, settings.port = host, port
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        state = _open_state(settings)
    except (ValueError, OSError, DatabaseError) as exc:
        _fail(str(exc))
    url = f"http://{host}:{port}/"
    typer.echo(f"zhizhi console: {url}  (district {state.jurisdictions.district_code}, data in {settings.data_dir})")
    announce_demo_users(state)
    if video is not None and not video.is_file():
        _fail(f"video not found: {video}")
    from zhizhi.console.demo_datasets import start_demo_dataset
    from zhizhi.console.demo_fleet import start_demo_fleet

    start_demo_dataset(settings.resolved_datasets_dir)

    demo_fleet = start_demo_fleet(state) if fleet else None
    demo_video = None
    if cameras or video is not None:
        from zhizhi.console.demo_video import start_demo_video

        demo_video = start_demo_video(state, count=cameras, video=video, drone=fleet)
    if open_browser and (os.environ.get("DISPLAY") or sys.platform == "darwin") and not os.environ.get("CI"):
        webbrowser.open(url)
    try:
        _run_server(settings, state)
    finally:
        if demo_video is not None:
            demo_video.stop()
        if demo_fleet is not None:
            demo_fleet.stop()
        state.close()


def _run_server(settings: Settings, state) -> None:
    import uvicorn

    from zhizhi.console import redact
    from zhizhi.console.app import create_app

    redact.install()  # no ticket or token of a URL in the access log (the app's lifespan does it too)
    # proxy_headers=False: the client address is ours to derive (auth.trusted_proxies,
    # console.middleware), not uvicorn's, which trusts X-Forwarded-For from 127.0.0.1
    uvicorn.run(create_app(settings, state=state), host=settings.host, port=settings.port, log_level="info",
                ws_per_message_deflate=settings.live.ws_deflate, proxy_headers=False)


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: settings).")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: settings).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run a console on the configured storage and bus, without the demo's simulated feeds
    (cameras come from workers, vehicles from telemetry gateways). With ``ZHIZHI_BUS__URL`` and a
    PostgreSQL ``ZHIZHI_DATABASE_URL`` several consoles serve the same district (docs/scale-out.md)."""
    settings = _settings(data_dir)
    settings.host = host or settings.host
    settings.port = port or settings.port
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        state = _open_state(settings)
    except (ValueError, OSError, DatabaseError) as exc:
        _fail(str(exc))
    typer.echo(f"zhizhi console: http://{settings.host}:{settings.port}/  (district "
               f"{state.jurisdictions.district_code}, node {settings.bus.resolved_node})", )
    try:
        _run_server(settings, state)
    finally:
        state.close()


@layers_app.command("import")
def layers_import(
    file: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage or zipped Shapefile.")],
    layer: Annotated[str, typer.Option("--layer", help="Layer name.")],
    jurisdiction: Annotated[str | None, typer.Option(help="Owner jurisdiction code.")] = None,
    make_valid: Annotated[bool, typer.Option("--make-valid", help="Repair invalid geometries.")] = False,
    crs: Annotated[str | None, typer.Option(help="Declared CRS: wgs84, gcj02, bd09, EPSG:n.")] = None,
    kind: Annotated[str, typer.Option(help="Semantic kind of the layer.")] = "custom",
    encoding: Annotated[
        str | None, typer.Option(help="Shapefile text encoding (e.g. GBK); detected by default.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Import a layer file; invalid input is reported and nothing stored is touched."""
    from zhizhi.layers import LayerError

    settings = _settings(data_dir)
    state = _open_state(settings)
    owner = jurisdiction or state.jurisdictions.district_code
    if owner not in state.jurisdictions:
        _fail(f"unknown jurisdiction {owner!r}")
    if not file.is_file():
        _fail(f"file not found: {file}")
    try:
        info = state.registry.import_file(
            file,
            layer,
            owner_code=owner,
            declared_crs=crs,
            make_valid=make_valid,
            limits=settings.layers,
            kind=kind,
            encoding=encoding,
            assign_codes=lambda geoms: state.jurisdictions.lowest_containing(geoms.values),
        )
    except LayerError as exc:
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        for detail in exc.details[:50]:
            typer.echo(f"  feature {detail.get('index')}: {detail.get('reason')}", err=True)
        raise typer.Exit(2)
    typer.echo(info.model_dump_json())


@layers_app.command("list")
def layers_list(data_dir: DataDir = None) -> None:
    """List stored layers (one JSON object per line)."""
    from zhizhi.layers import Scope

    state = _open_state(_settings(data_dir))
    for info in state.registry.list_layers(Scope.everything()):
        typer.echo(info.model_dump_json())


@layers_app.command("export")
def layers_export(
    name: Annotated[str, typer.Argument(help="Layer name.")],
    out: Annotated[Path, typer.Option(help="Output file.")],
    format: Annotated[str, typer.Option(help="geojson, gpkg or shp.zip")] = "geojson",
    data_dir: DataDir = None,
) -> None:
    """Export a stored layer."""
    from zhizhi.layers import LayerError, Scope

    state = _open_state(_settings(data_dir))
    try:
        out.write_bytes(state.registry.export(name, Scope.everything(), format))
    except LayerError as exc:
        _fail(f"[{exc.code}] {exc.message}")
    typer.echo(str(out))


@gis_app.command("locate")
def gis_locate(
    lon: Annotated[float, typer.Argument(help="Longitude.")],
    lat: Annotated[float, typer.Argument(help="Latitude.")],
    crs: Annotated[str, typer.Option(help="wgs84, gcj02 or bd09.")] = "wgs84",
    data_dir: DataDir = None,
) -> None:
    """Print the grid, village, town and district of a point as JSON."""
    from zhizhi.gis.jurisdiction import OutsideDistrictError

    state = _open_state(_settings(data_dir))
    try:
        location = state.jurisdictions.locate(lon, lat, crs)
    except OutsideDistrictError as exc:
        _fail(str(exc), code=1)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(location.model_dump_json())


def _print_result(result: dict, as_json: bool, width: int) -> None:
    """A bench's result: one JSON object, or ``key: value`` lines with the keys right-aligned."""
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key:>{width}}: {value}")


@bench_app.command("spatial")
def bench_spatial(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    points: Annotated[int, typer.Option(help="Random points to locate.")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Seed of the points.")] = 0,
) -> None:
    """Locate random points in the 1,024 demo grids: ours against geopandas.sjoin."""
    from zhizhi.bench.spatial import run_spatial_bench

    result = run_spatial_bench(points=points, seed=seed)
    _print_result(result, as_json, width=22)


@bench_app.command("spatial-db")
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
    _print_result(result, as_json, width=16)
    if not result["same_fids"]:
        raise typer.Exit(1)


@bench_app.command("workers")
def bench_workers(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    seconds: Annotated[float, typer.Option(help="Seconds per run (1, 2, 4 workers).", min=5)] = 45.0,
    cameras: Annotated[int, typer.Option(help="Simulated cameras the workers share.", min=1, max=64)] = 8,
    detector: Annotated[Literal["ultralytics", "motion"], typer.Option(help="Workers' detector.")] = "ultralytics",
    counts: Annotated[str, typer.Option(help="Worker counts to run, comma-separated (the first is the baseline).")] = "1,2,4",
) -> None:
    """Frames analysed per second by 1, 2 and 4 `zhizhi worker` processes sharing cameras on a Redis bus."""
    from zhizhi.bench.workers import run_workers_bench

    try:
        runs = tuple(int(c) for c in counts.split(","))
    except ValueError:
        _fail(f"--counts: comma-separated integers, got {counts!r}")
    result = run_workers_bench(seconds=seconds, cameras=cameras, detector=detector, counts=runs)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for run in result["runs"]:
            typer.echo(f"{run['workers']} worker(s): {run['fps']} frames/s (x{run['ratio_vs_1']} of 1 worker), "
                       f"window {run['window_s']} s")
        typer.echo(f"cpu_count: {result['cpu_count']}, demand {result['demand_fps']} frames/s")


@bench_app.command("alert-latency")
def bench_alert_latency(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    seconds: Annotated[float, typer.Option(help="Seconds of measurement after start-up.", min=1)] = 120.0,
    streams: Annotated[int, typer.Option(help="Simulated camera streams with alerts.", min=1, max=24)] = 8,
    workers: Annotated[int, typer.Option(help="`zhizhi worker` processes sharing the streams.", min=1, max=8)] = 2,
    detector: Annotated[Literal["ultralytics", "motion"] | None, typer.Option(help="Workers' detector.")] = None,
    database_url: Annotated[str | None, typer.Option(help="Console database (default: SQLite in a temp folder).")] = None,
) -> None:
    """Frame timestamp to websocket receipt of alerts: a console and workers on a Redis bus."""
    from zhizhi.bench.alert_latency import run_alert_latency_bench

    try:
        result = run_alert_latency_bench(seconds=seconds, streams=streams, workers=workers,
                                         database_url=database_url, detector=detector)
    except RuntimeError as exc:
        _fail(str(exc), code=1)
    _print_result(result, as_json, width=26)


@bench_app.command("pipeline")
def bench_pipeline(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    weights: Annotated[Path | None, typer.Option(help="Weights (default: the shipped detector).")] = None,
    frames: Annotated[int, typer.Option(help="Frames for the bare/pipeline comparison.")] = 120,
    stream_seconds: Annotated[float, typer.Option(help="Seconds per 1/2/4-stream run.")] = 15.0,
) -> None:
    """A bare ultralytics track loop against the full pipeline; 1, 2, 4 concurrent streams."""
    from zhizhi.bench.pipeline import run_pipeline_bench

    result = run_pipeline_bench(weights=weights, frames=frames, stream_seconds=stream_seconds)
    _print_result(result, as_json, width=24)


@bench_app.command("surge")
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


@bench_app.command("fanout")
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
        _fail(str(exc), code=1)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for line in summary_lines(result):
            typer.echo(line)
    if result["lost"] or result["connect_failed"]:
        raise typer.Exit(1)


@app.command()
def cluster(
    consoles: Annotated[int, typer.Option(help="Console processes (ports from --base-port).", min=1, max=16)] = 2,
    workers: Annotated[int, typer.Option(help="Frame-analysis worker processes.", min=1, max=64)] = 3,
    cameras: Annotated[int, typer.Option(help="Simulated cameras the workers share.", min=1, max=200)] = 6,
    database_url: Annotated[str, typer.Option(help="PostgreSQL URL (created if missing).")] = "postgresql+psycopg://postgres@127.0.0.1:5432/zhizhi",
    redis_url: Annotated[str, typer.Option(help="Redis URL (a loopback one is started if nothing answers).")] = "redis://127.0.0.1:6379/0",
    base_port: Annotated[int, typer.Option(help="Port of the first console.")] = 8001,
    detector: Annotated[Literal["ultralytics", "motion"] | None, typer.Option(help="Workers' detector (default: settings).")] = None,
    seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Start a deployment on this machine: consoles and workers sharing PostgreSQL and Redis
    (docs/scale-out.md); Ctrl-C stops it."""
    from zhizhi.console.cluster import ClusterError, ClusterPlan
    from zhizhi.console.cluster import run as run_cluster

    settings = _settings(data_dir)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    password = settings.demo_password.get_secret_value() if settings.demo_password else None
    plan = ClusterPlan(consoles=consoles, workers=workers, cameras=cameras, database_url=database_url,
                       redis_url=redis_url, data_dir=(data_dir or settings.data_dir / "cluster"), base_port=base_port,
                       detector=detector, demo=settings.demo, password=password)
    try:
        run_cluster(plan, seconds=seconds, echo=typer.echo)
    except ClusterError as exc:
        _fail(str(exc))


def _register_video_commands() -> None:
    from zhizhi.console import cli_video

    for name in ("simulate", "analyze", "train", "worker"):
        app.command(name)(getattr(cli_video, name))


_register_video_commands()
app.command("backtest")(__import__("zhizhi.console.cli_backtest", fromlist=["backtest"]).backtest)

if __name__ == "__main__":
    app()
