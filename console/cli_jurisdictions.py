"""``zhizhi jurisdictions``: a county's own towns, villages and grids, read and checked."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zhizhi.console.cli_common import fail

jurisdictions_app = typer.Typer(help="The county's own jurisdictions: import and check.", no_args_is_help=True)


@jurisdictions_app.command("import")
def import_hierarchy(
    towns: Annotated[Path, typer.Option(help="Towns file (zipped Shapefile, GeoPackage, GeoJSON).")],
    villages: Annotated[Path, typer.Option(help="Villages/communities file.")],
    grids: Annotated[Path, typer.Option(help="Grids file (comprehensive and dedicated grids).")],
    micro_grids: Annotated[Path | None, typer.Option(help="Micro-grids file (optional).")] = None,
    district: Annotated[str | None, typer.Option(help="The district's 6-digit code; towns must lie in it.")] = None,
    district_name: Annotated[str | None, typer.Option(help="The district's name (default: the stored one).")] = None,
    field: Annotated[
        list[str] | None, typer.Option(help="LEVEL.ROLE=NAME (ROLE: code, name, parent, kind), repeatable.")
    ] = None,
    crs: Annotated[
        str | None, typer.Option(help="CRS of files that carry none: EPSG:4490, wgs84, EPSG:4549, gcj02 ...")
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding of Shapefiles (default: detected).")] = None,
    tolerance_m: Annotated[float, typer.Option(help="Overlaps, gaps, parts outside narrower than this are noise.")]
    = 1.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check only; store nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Read and check the hierarchy files and print one report; without --dry-run store them,
    replacing the stored hierarchy in one transaction (running consoles apply it within seconds).
    Exit 0 when imported (or valid in a dry run), 2 when refused (nothing is changed)."""
    from zhizhi.console.hierarchy import ImportRequest, import_hierarchy
    from zhizhi.console.settings import Settings
    from zhizhi.gis.hierarchy_fields import FieldMappingError
    from zhizhi.gis.hierarchy_import import field_options
    from zhizhi.layers import LayerRegistry, make_engine

    try:
        fields = field_options(field or [])
    except FieldMappingError as exc:
        fail(str(exc))
    if district is not None and not (len(district) == 6 and district.isdigit()):
        fail(f"--district takes the district's 6-digit code, not {district!r}")
    request = ImportRequest(
        files={"towns": towns, "villages": villages, "grids": grids, "micro_grids": micro_grids},
        fields=fields, crs=crs, encoding=encoding, district=district, district_name=district_name,
        tolerance_m=tolerance_m, dry_run=dry_run,
    )
    registry = None
    if not dry_run:
        settings = Settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        registry = LayerRegistry(make_engine(settings.resolved_database_url))
    try:
        report, stored = import_hierarchy(registry, request)
    finally:
        if registry is not None:
            registry.engine.dispose()
    if as_json:
        typer.echo(report.model_dump_json(exclude={"micro_grids"} if micro_grids is None else None))
    else:
        _print_report(report, stored)
    if not report.valid:
        raise typer.Exit(2)


def _print_report(report, stored: bool) -> None:
    counts = f"towns {report.towns}, villages {report.villages}, grids {report.grids}"
    if report.micro_grids is not None:
        counts += f", micro-grids {report.micro_grids}"
    typer.echo(f"{counts}; gaps {report.gap_m2:,.0f} m², overlaps {report.overlap_m2:,.0f} m²")
    for kind, issues in (("error", report.errors), ("warning", report.warnings)):
        for issue in issues:
            where = f" at {issue.point[0]:.6f},{issue.point[1]:.6f}" if issue.point else ""
            area = f" ({issue.area_m2:,.0f} m²)" if issue.area_m2 is not None else ""
            typer.echo(f"{kind}: {issue.level} {', '.join(issue.codes)}: {issue.reason}{area}{where}")
    if not report.valid:
        typer.echo(f"refused: {len(report.errors)} errors; nothing was changed")
    elif stored:
        typer.echo("imported: running consoles apply it within seconds")
    else:
        typer.echo("valid (dry run: nothing stored)")


__all__ = ["jurisdictions_app"]
