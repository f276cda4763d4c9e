"""A county's hierarchy files read and checked: the dry run of ``zhizhi jurisdictions import``.

A file that cannot be read (no CRS, a column that cannot be found, a broken zip) is an error of
its level in the same report, and the remaining checks wait until every file reads.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from zhizhi.gis.hierarchy_check import HierarchyReport, Issue, checked_hierarchy
from zhizhi.gis.hierarchy_fields import FieldMappingError, parse_field
from zhizhi.gis.hierarchy_files import HierarchyFileError, read_level


def field_options(specs: list[str]) -> dict[str, dict[str, str]]:
    """``["grids.parent=所属村居", ...]`` as ``{"grids": {"parent": "所属村居"}}`` (FieldMappingError if bad)."""
    mapping: dict[str, dict[str, str]] = {}
    for spec in specs:
        level, role, column = parse_field(spec)
        mapping.setdefault(level, {})[role] = column
    return mapping


def check_files(
    files: dict[str, Path | None],
    fields: dict[str, dict[str, str]] | None = None,
    crs: str | None = None,
    encoding: str | None = None,
    district: str | None = None,
    tolerance_m: float = 1.0,
) -> HierarchyReport:
    """Read ``files`` (level -> path: towns, villages, grids, optional micro_grids) and check them."""
    return read_and_check(files, fields, crs, encoding, district, tolerance_m)[0]


def read_and_check(
    files: dict[str, Path | None],
    fields: dict[str, dict[str, str]] | None = None,
    crs: str | None = None,
    encoding: str | None = None,
    district: str | None = None,
    tolerance_m: float = 1.0,
) -> tuple[HierarchyReport, dict[str, gpd.GeoDataFrame]]:
    """:func:`check_files`'s report and the checked tables (empty when a file did not read)."""
    fields = fields or {}
    tables: dict[str, gpd.GeoDataFrame | None] = {}
    errors: list[Issue] = []
    for level, path in files.items():
        if path is None:
            tables[level] = None
            continue
        try:
            tables[level] = read_level(Path(path), level, fields.get(level), crs, encoding)
        except (HierarchyFileError, FieldMappingError) as exc:
            errors.append(Issue(level=level, codes=[], reason=str(exc)))
            tables[level] = None
    if errors:
        return _unread_report(files, tables, errors), {}
    return checked_hierarchy(
        tables["towns"], tables["villages"], tables["grids"], tables.get("micro_grids"),
        district=district, tolerance_m=tolerance_m,
    )


def _unread_report(files, tables, errors: list[Issue]) -> HierarchyReport:
    return HierarchyReport(
            towns=_count(tables.get("towns")),
            villages=_count(tables.get("villages")),
            grids=_count(tables.get("grids")),
            micro_grids=None if files.get("micro_grids") is None else _count(tables.get("micro_grids")),
            errors=errors,
        )


def _count(table: gpd.GeoDataFrame | None) -> int:
    return 0 if table is None else len(table)
