"""``zhizhi basemap``: import an offline basemap (a raster MBTiles file) for the map pages, show it.

``zhizhi basemap import FILE [--name NAME] [--gcj02]`` checks the file and copies it into the
data folder (:mod:`zhizhi.console.basemap`); it prints one JSON summary and exits 0, or names
the problem on stderr and exits 2. A running console picks the new basemap up without a restart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from zhizhi.console.cli_common import fail as _fail
from zhizhi.console.settings import Settings

basemap_app = typer.Typer(help="Offline basemap: import an MBTiles file, show the current one.",
                          no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option(help="Data folder (default: settings / ./var).")]


def _data_dir(data_dir: Path | None) -> Path:
    return data_dir if data_dir is not None else Settings().data_dir


@basemap_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A raster MBTiles file (png, jpg or webp tiles).")],
    name: Annotated[str | None, typer.Option(help="Name shown on the map (default: the file's own).")] = None,
    gcj02: Annotated[
        bool, typer.Option("--gcj02", help="The tiles are GCJ-02-shifted (redrawn in WGS-84 when served).")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Check FILE and make it the console's basemap; print its JSON summary."""
    from zhizhi.console.basemap import import_basemap
    from zhizhi.gis.mbtiles import MBTilesError

    if name is not None and not 1 <= len(name.strip()) <= 100:
        _fail("--name must have 1 to 100 characters")
    try:
        summary = import_basemap(_data_dir(data_dir), file, name=name and name.strip(), gcj02=gcj02)
    except MBTilesError as exc:
        _fail(str(exc))
    typer.echo(json.dumps(summary, ensure_ascii=False))


@basemap_app.command("show")
def show(data_dir: DataDir = None) -> None:
    """Print the current basemap as JSON (``null`` when none is imported)."""
    from zhizhi.console.basemap import BasemapSource

    current = BasemapSource(_data_dir(data_dir)).current()
    typer.echo(json.dumps(current.description if current else None, ensure_ascii=False))
