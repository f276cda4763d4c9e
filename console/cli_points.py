"""``zhizhi gis locate --points FILE.csv``: every row of a CSV file placed in its grid.

Exit status: 0 when every row was placed (a point outside the district is placed too: its
codes are ``null``); 1 when some rows were refused (each named on stderr with its row number,
the others printed); 2 when the file cannot be used at all (missing, undecodable, no lon/lat
columns) or the console cannot start.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import typer

from zhizhi.console.cli_common import fail
from zhizhi.gis.points import PointsFileError, json_lines, locate_points, read_points


def locate_points_file(
    path: Path, default_crs: str, encoding: str | None, console: Callable[[], AbstractContextManager]
) -> None:
    """Print one JSON line per good row of ``path`` in input order; ``console()`` gives the state
    of a started console (its jurisdictions) for the time of the lookup."""
    try:
        table = read_points(path, default_crs, encoding)
    except (PointsFileError, ValueError) as exc:  # ValueError: an unknown --crs
        fail(str(exc))
    with console() as state:
        chains = locate_points(state.jurisdictions, table)
    lines = json_lines(table, chains)
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
    for error in table.errors:
        typer.echo(f"error: {error}", err=True)
    if table.errors:
        raise typer.Exit(1)
