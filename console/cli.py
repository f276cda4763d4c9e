"""The ``zhizhi`` command line."""

from __future__ import annotations

import os
import sys
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import ValidationError

from zhizhi.console.cli_basemap import basemap_app
from zhizhi.console.cli_cameras import cameras_app
from zhizhi.console.cli_common import fail as _fail
from zhizhi.console.cli_config import config_app
from zhizhi.console.cli_jurisdictions import jurisdictions_app
from zhizhi.console.cli_models import models_app
from zhizhi.console.cli_users import announce_demo_users, users_app
from zhizhi.console.observability.logs import configure_logging, uvicorn_options
from zhizhi.console.settings import Settings
from zhizhi.layers.db import DatabaseError

app = typer.Typer(help="zhizhi 智治 — geospatial command and video-fusion console.", no_args_is_help=True)
layers_app = typer.Typer(help="Layer registry: import, list, export.", no_args_is_help=True)
gis_app = typer.Typer(help="Geographic queries on the district.", no_args_is_help=True)
app.add_typer(layers_app, name="layers")
app.add_typer(gis_app, name="gis")
app.add_typer(users_app, name="users")
app.add_typer(models_app, name="models")
app.add_typer(config_app, name="config")
app.add_typer(jurisdictions_app, name="jurisdictions")
app.add_typer(basemap_app, name="basemap")
app.add_typer(cameras_app, name="cameras")

DataDir = Annotated[Path | None, typer.Option(help="Data folder (default: settings / ./var).")]
Grids = Annotated[
    int | None,
    typer.Option(help="Grids of the demo district (default: settings; else 1,024 synthetic, one per 1.2 km² of a "
                 "real --boundary).", min=1, max=50_000),
]


def _settings(data_dir: Path | None = None, **demo: object) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:  # a bad value or an unknown key, each named
        _fail(str(exc))
    if data_dir is not None:
        settings.data_dir = data_dir
    changes = {k: v for k, v in demo.items() if v is not None}
    if changes:
        settings.demo = settings.demo.model_copy(update=changes)
    return settings


def _start(settings: Settings):
    """The console's runtime, started (:mod:`zhizhi.console.runtime`); a bad setting, file or
    database is an error message, not a traceback."""
    from zhizhi.console.runtime import Runtime

    try:
        return Runtime(settings).start()
    except (ValueError, OSError, DatabaseError) as exc:
        _fail(str(exc))


@contextmanager
def _console(settings: Settings) -> Iterator:
    """The state of a console started for one command, stopped when it ends."""
    runtime = _start(settings)
    try:
        yield runtime.state
    finally:
        runtime.stop()


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    boundary: Annotated[Path | None, typer.Option(help="District boundary file (GeoJSON).")] = None,
    adcode: Annotated[str | None, typer.Option(help="Adcode of the district in --boundary.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the demo generator.")] = None,
    grids: Grids = None,
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
    if video is not None and not video.is_file():
        _fail(f"video not found: {video}")
    settings = _settings(data_dir, boundary=boundary, adcode=adcode, seed=seed, grids=grids)
    settings.host, settings.port = host, port
    configure_logging(settings.logs)  # text on a terminal, JSON lines otherwise (docs/metrics.md)
    from zhizhi.console.demo_datasets import start_demo_dataset
    from zhizhi.console.demo_fleet import start_demo_fleet
    from zhizhi.console.demo_video import start_demo_video

    with _start(settings) as runtime:
        state = runtime.state
        url = f"http://{host}:{port}/"
        typer.echo(f"zhizhi console: {url}  (district {state.jurisdictions.district_code}, "
                   f"data in {settings.data_dir})")
        announce_demo_users(state)
        start_demo_dataset(settings.resolved_datasets_dir)
        # The simulated feeds go into the runtime: its stop ends them first, the last one first.
        if fleet:
            runtime.adopt("demo fleet", start_demo_fleet(state).stop)
        if cameras or video is not None:
            runtime.adopt("demo video", start_demo_video(state, count=cameras, video=video, drone=fleet).stop)
        if open_browser and (os.environ.get("DISPLAY") or sys.platform == "darwin") and not os.environ.get("CI"):
            webbrowser.open(url)
        _run_server(settings, state)


def _run_server(settings: Settings, state) -> None:
    import uvicorn

    from zhizhi.console import redact
    from zhizhi.console.app import create_app

    redact.install()  # no ticket or token of a URL in the access log (the app's lifespan does it too)
    # proxy_headers=False: the client address is ours to derive (auth.trusted_proxies,
    # console.middleware), not uvicorn's, which trusts X-Forwarded-For from 127.0.0.1
    # uvicorn_options: its access and error lines through configure_logging's handler (JSON or text)
    uvicorn.run(create_app(settings, state=state), host=settings.host, port=settings.port,
                ws_per_message_deflate=settings.live.ws_deflate, proxy_headers=False, **uvicorn_options(settings.logs))


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
    configure_logging(settings.logs)  # text on a terminal, JSON lines otherwise (docs/metrics.md)
    with _start(settings) as runtime:
        typer.echo(f"zhizhi console: http://{settings.host}:{settings.port}/  (district "
                   f"{runtime.state.jurisdictions.district_code}, node {settings.bus.resolved_node})")
        _run_server(settings, runtime.state)


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
    with _console(settings) as state:
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

    with _console(_settings(data_dir)) as state:
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

    with _console(_settings(data_dir)) as state:
        try:
            out.write_bytes(state.registry.export(name, Scope.everything(), format))
        except LayerError as exc:
            _fail(f"[{exc.code}] {exc.message}")
        typer.echo(str(out))


@gis_app.command("locate")
def gis_locate(
    lon: Annotated[float | None, typer.Argument(help="Longitude (or --points FILE).")] = None,
    lat: Annotated[float | None, typer.Argument(help="Latitude.")] = None,
    crs: Annotated[str, typer.Option(help="wgs84, gcj02 or bd09 (with --points: rows without a crs).")] = "wgs84",
    points: Annotated[
        Path | None, typer.Option(help="CSV with lon,lat[,crs][,id] columns: one JSON line per row.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output (the one format; for scripts).")] = False,
    encoding: Annotated[str | None, typer.Option(help="Encoding of --points (default: UTF-8, else GBK).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Print the grid, village, town and district of a point as JSON; with ``--points``, of every
    row of a CSV file, one line each (exit 1 when rows were refused: console/cli_points.py)."""
    from zhizhi.gis.jurisdiction import OutsideDistrictError

    if points is not None:
        from zhizhi.console.cli_points import locate_points_file

        if lon is not None:
            _fail("give LON LAT or --points FILE, not both")
        locate_points_file(points, crs, encoding, lambda: _console(_settings(data_dir)))
        return
    if lon is None or lat is None:
        _fail("give LON LAT, or --points FILE")
    with _console(_settings(data_dir)) as state:
        try:
            location = state.jurisdictions.locate(lon, lat, crs)
        except OutsideDistrictError as exc:
            _fail(str(exc), code=1)
        except ValueError as exc:
            _fail(str(exc))
        typer.echo(location.model_dump_json())


@app.command()
def cluster(
    consoles: Annotated[int, typer.Option(help="Console processes (ports from --base-port).", min=1, max=16)] = 2,
    workers: Annotated[int, typer.Option(help="Frame-analysis worker processes.", min=1, max=64)] = 3,
    cameras: Annotated[int, typer.Option(help="Simulated cameras the workers share.", min=1, max=200)] = 6,
    database_url: Annotated[
        str, typer.Option(help="PostgreSQL URL (created if missing).")
    ] = "postgresql+psycopg://postgres@127.0.0.1:5432/zhizhi",
    redis_url: Annotated[
        str, typer.Option(help="Redis URL (a loopback one is started if nothing answers).")
    ] = "redis://127.0.0.1:6379/0",
    base_port: Annotated[int, typer.Option(help="Port of the first console.")] = 8001,
    detector: Annotated[
        Literal["ultralytics", "motion"] | None, typer.Option(help="Workers' detector (default: settings).")
    ] = None,
    seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    grids: Grids = None,
    data_dir: DataDir = None,
) -> None:
    """Start a deployment on this machine: consoles and workers sharing PostgreSQL and Redis
    (docs/scale-out.md); Ctrl-C stops it."""
    from zhizhi.console.cluster import ClusterError, ClusterPlan
    from zhizhi.console.cluster import run as run_cluster

    settings = _settings(data_dir, grids=grids)
    configure_logging(settings.logs)  # text on a terminal, JSON lines otherwise (docs/metrics.md)
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
app.command("backtest-telemetry")(
    __import__("zhizhi.console.cli_backtest", fromlist=["backtest_telemetry"]).backtest_telemetry
)
app.command("adapt")(__import__("zhizhi.console.cli_adapt", fromlist=["adapt"]).adapt)


def _register_plugin_commands() -> None:
    """Command groups of the parts above the console (``zhizhi bench``): the entry points of the
    ``zhizhi.cli`` group (pyproject.toml), each a Typer app named by its entry point's name."""
    for entry in entry_points(group="zhizhi.cli"):
        app.add_typer(entry.load(), name=entry.name)


_register_plugin_commands()

if __name__ == "__main__":
    app()
