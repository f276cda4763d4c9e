"""``zhizhi basemap``: import an offline basemap (an MBTiles or PMTiles file) for the map pages,
render one from the district's layers, show the current one.

``zhizhi basemap import FILE [--name NAME] [--gcj02]`` checks the file and copies it into the
data folder (:mod:`zhizhi.console.basemap`); it prints one JSON summary and exits 0, or names
the problem on stderr and exits 2. ``zhizhi basemap render [--force]`` draws the stored layers
into one (:mod:`zhizhi.console.demo_basemap`; what a console does at start-up when it has none).
A running console picks a new basemap up without a restart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from zhizhi.console.cli_common import fail as _fail
from zhizhi.console.settings import Settings

basemap_app = typer.Typer(help="Offline basemap: import an MBTiles or PMTiles file, render one from the "
                          "district's layers, show the current one.",
                          no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option(help="Data folder (default: settings / ./var).")]


def _data_dir(data_dir: Path | None) -> Path:
    return data_dir if data_dir is not None else Settings().data_dir


@basemap_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="An MBTiles or PMTiles file (png, jpg or webp tiles, or "
                                              "vector tiles, which the console draws).")],
    name: Annotated[str | None, typer.Option(help="Name shown on the map (default: the file's own).")] = None,
    gcj02: Annotated[
        bool, typer.Option("--gcj02", help="The tiles are GCJ-02-shifted (redrawn in WGS-84 when served).")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Check FILE and make it the console's basemap; print its JSON summary."""
    from zhizhi.console.basemap import import_basemap
    from zhizhi.gis.mbtiles import TilesetError

    if name is not None and not 1 <= len(name.strip()) <= 100:
        _fail("--name must have 1 to 100 characters")
    try:
        summary = import_basemap(_data_dir(data_dir), file, name=name and name.strip(), gcj02=gcj02)
    except TilesetError as exc:
        _fail(str(exc))
    typer.echo(json.dumps(summary, ensure_ascii=False))


@basemap_app.command("show")
def show(data_dir: DataDir = None) -> None:
    """Print the current basemap as JSON (``null`` when none is imported)."""
    from zhizhi.console.basemap import BasemapSource

    current = BasemapSource(_data_dir(data_dir)).current()
    typer.echo(json.dumps(current.description if current else None, ensure_ascii=False))


@basemap_app.command("render")
def render(
    force: Annotated[bool, typer.Option("--force", help="Render again even when the layers did not change.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Render the basemap from the district's stored layers (roads, water, boundaries, names) when
    none is imported; print its JSON summary (``null`` when nothing needed rendering)."""
    from sqlalchemy.exc import DatabaseError

    from zhizhi.console.basemap import read_manifest
    from zhizhi.console.demo_basemap import render_demo_basemap
    from zhizhi.layers import LayerRegistry, create_schema, make_engine

    settings = Settings()
    if data_dir is not None:
        settings.data_dir = data_dir
    manifest = read_manifest(settings.data_dir)
    if manifest is not None and not isinstance(manifest.get("rendered"), dict):
        _fail(f"a basemap was imported ({manifest.get('name')!r}); it is kept (import another to replace it)")
    try:
        engine = make_engine(settings.resolved_database_url)
        create_schema(engine)
        summary = render_demo_basemap(settings.data_dir, LayerRegistry(engine), seed=settings.demo.seed,
                                      force=force)
    except (OSError, DatabaseError) as exc:
        _fail(str(exc))
    if summary is None and read_manifest(settings.data_dir) is None:
        _fail("nothing to render: no towns layer stored (start the console once, or import jurisdictions)")
    typer.echo(json.dumps(summary, ensure_ascii=False))
