"""``zhizhi cameras``: the camera registry from the command line — list it, import a VMS export.

``zhizhi cameras import FILE [--crs gcj02] [--dry-run] [--json]`` reads a CSV or GeoJSON camera
list as a VMS or a GB/T 28181 platform exports it (:mod:`zhizhi.layers.camera_import`), checks
every row (owner: the grid each camera stands in) and, unless ``--dry-run`` or a row is wrong,
stores them all in one transaction; it prints the report (``--json``: one JSON object) and exits
0 when imported (or valid in a dry run), 2 when refused, with nothing changed. Running consoles
and workers pick the cameras up within seconds. ``zhizhi cameras list [--json]`` prints the
registry, stream passwords masked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from zhizhi.console.cli_common import fail

cameras_app = typer.Typer(help="The camera registry: list, import a VMS / GB/T 28181 export.", no_args_is_help=True)


def _open():
    """The store's camera registry and the district's jurisdictions (the demo district when empty)."""
    from zhizhi.console.cameras import open_camera_registry
    from zhizhi.console.settings import Settings
    from zhizhi.console.state import load_jurisdictions, open_store

    settings = Settings()
    engine, layers = open_store(settings)
    jurisdictions, _ = load_jurisdictions(layers)
    return engine, open_camera_registry(engine, layers, jurisdictions), jurisdictions


@cameras_app.command("list")
def list_cameras(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per camera.")] = False) -> None:
    """Print every camera of the registry (stream passwords masked)."""
    from zhizhi.layers.db import DatabaseError

    try:
        engine, registry, _ = _open()
    except DatabaseError as exc:
        fail(str(exc))
    try:
        records = registry.list()
    finally:
        engine.dispose()
    for record in records:
        if as_json:
            typer.echo(json.dumps(record.masked(), ensure_ascii=False))
        else:
            state = "enabled " if record.enabled else "disabled"
            typer.echo(f"{record.id:<24} {record.kind:<5} {state} {record.owner_code:<15} {record.name}  "
                       f"{record.masked()['stream_main'] or '-'}")
    if not as_json:
        typer.echo(f"{len(records)} cameras")


@cameras_app.command("import")
def import_cameras(
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8 or GBK) or GeoJSON camera list.")],
    crs: Annotated[str, typer.Option(help="Coordinates' system: wgs84, gcj02 (Amap, Tencent) or bd09.")] = "wgs84",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report only; store nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Check a camera list row by row and store it (one transaction) unless a row is wrong."""
    from zhizhi.console.cameras import import_cameras as run_import
    from zhizhi.layers.camera_import import CRS_NAMES, CameraFileError, read_camera_file
    from zhizhi.layers.db import DatabaseError

    if crs not in CRS_NAMES:
        fail(f"--crs must be one of {', '.join(CRS_NAMES)}, not {crs!r}")
    if not file.is_file():
        fail(f"file not found: {file}")
    try:
        rows = read_camera_file(file.read_bytes(), file.name, crs)
    except CameraFileError as exc:
        fail(f"{file}: {exc}")
    try:
        engine, registry, jurisdictions = _open()
    except DatabaseError as exc:
        fail(str(exc))
    try:
        plan = run_import(rows, registry, jurisdictions, jurisdictions.district_code, dry_run=dry_run)
    finally:
        engine.dispose()
    report = {"file": str(file), "dry_run": dry_run, "crs": crs, **plan.report}
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        _print_report(report)
    if report["errors"]:
        raise typer.Exit(2)


def _print_report(report: dict) -> None:
    for item in report["items"]:
        for error in item["errors"]:
            typer.echo(f"error: row {item['row']} ({item['id'] or '-'}): {error['field']}: {error['message']}")
        for warning in item["warnings"]:
            typer.echo(f"warning: row {item['row']} ({item['id'] or '-'}): {warning}")
    counts = ", ".join(f"{k} {report[k]}" for k in ("added", "updated", "unchanged", "skipped", "errors"))
    typer.echo(f"{report['rows']} rows: {counts}")
    if report["errors"]:
        typer.echo("refused: nothing was changed")
    elif report["stored"]:
        typer.echo("imported: running consoles and workers pick the cameras up within seconds")
    else:
        typer.echo("valid (dry run: nothing stored)")


__all__ = ["cameras_app"]
