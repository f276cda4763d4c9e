"""The county's own jurisdictions: what is stored, and importing new ones (district admins only).

``POST /api/jurisdictions/import`` takes the files of ``zhizhi jurisdictions import`` as a
multipart form and answers the same JSON report: 200 when valid (stored unless ``dry_run``, which is
the default), 422 with the report when refused (nothing changed). An accepted import is applied to
this console at once and reaches the others within seconds (:mod:`zhizhi.console.hierarchy`).
``GET /jurisdictions`` is the admin page that does the same in a browser
(``console/static/jurisdictions/``: the current hierarchy, a dry run's report, then the import).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from zhizhi.console.api.deps import State, require_district
from zhizhi.console.auth import Permission
from zhizhi.console.hierarchy import ImportRequest, apply_hierarchy, import_hierarchy
from zhizhi.console.middleware import printable
from zhizhi.gis.codes import Level
from zhizhi.gis.hierarchy_check import HierarchyReport, Issue
from zhizhi.gis.hierarchy_fields import FieldMappingError
from zhizhi.gis.hierarchy_import import field_options
from zhizhi.layers import Scope
from zhizhi.layers.hierarchy_store import stored_revision

router = APIRouter(tags=["jurisdictions"])
_ADMIN = require_district(Permission.JURISDICTIONS_MANAGE, "the hierarchy is the district's", "import jurisdictions")
_CHUNK = 1024 * 1024
_SUFFIXES = (".zip", ".gpkg", ".geojson", ".json", ".shp")
PAGE = Path(__file__).resolve().parents[1] / "static" / "jurisdictions" / "index.html"


@router.get("/api/jurisdictions", dependencies=[Depends(_ADMIN)])
def current(state: State) -> dict:
    """The stored hierarchy: district, counts per level and grid kind, and where it came from."""
    j = state.jurisdictions
    counts: dict[str, int] = {}
    for unit in j.units():
        key = unit.level.value if unit.level != Level.GRID else f"grid:{unit.kind}"
        counts[key] = counts.get(key, 0) + 1
    meta = state.registry.get_layer("grids", Scope.everything()).meta or {}
    return {
        "district": {"code": j.district_code, "name": j.get(j.district_code).name},
        "towns": counts.get("town", 0),
        "villages": counts.get("village", 0),
        "grids": counts.get("grid:comprehensive", 0),
        "dedicated_grids": counts.get("grid:dedicated", 0),
        "micro_grids": counts.get("micro_grid", 0),
        "imported": bool(meta.get("imported")),
        "synthetic": bool(meta.get("synthetic")),
        "imported_at": meta.get("imported_at"),
        "sources": meta.get("sources", {}),
    }


def _save(upload: UploadFile, level: str, folder: Path, limit: int) -> Path:
    """The upload under its own suffix (the reader goes by it), at most ``limit`` bytes."""
    name = Path(upload.filename or "")
    suffix = ".geojson" if name.suffix.lower() == ".json" else name.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(f"{level}: {name.name or 'the file'} is not a zipped Shapefile (.zip), a GeoPackage "
                         "(.gpkg) or a GeoJSON (.geojson)")
    target = folder / f"{level}{suffix}"
    written = 0
    with target.open("wb") as out:
        while chunk := upload.file.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise OverflowError(f"{level}: the file is larger than the limit of {limit:,} bytes")
            out.write(chunk)
    return target


def _refused(level: str, reason: str, status: int) -> JSONResponse:
    report = HierarchyReport(towns=0, villages=0, grids=0, errors=[Issue(level=level, codes=[], reason=reason)])
    return JSONResponse(status_code=status, content=report.model_dump(mode="json", exclude={"micro_grids"}))


@router.post("/api/jurisdictions/import", dependencies=[Depends(_ADMIN)])
def import_files(
    state: State,
    towns: Annotated[UploadFile, File(description="Towns: zipped Shapefile, GeoPackage or GeoJSON")],
    villages: Annotated[UploadFile, File(description="Villages/communities")],
    grids: Annotated[UploadFile, File(description="Grids (comprehensive and dedicated)")],
    micro_grids: Annotated[UploadFile | None, File(description="Micro-grids (optional)")] = None,
    district: Annotated[str | None, Form(pattern=r"^\d{6}$", description="The district's 6-digit code")] = None,
    district_name: Annotated[str | None, Form(max_length=100)] = None,
    field: Annotated[list[str] | None, Form(description="LEVEL.ROLE=NAME, repeatable")] = None,
    crs: Annotated[str | None, Form(max_length=40, description="CRS of files that carry none")] = None,
    encoding: Annotated[str | None, Form(max_length=20, description="Shapefile text encoding")] = None,
    tolerance_m: Annotated[float, Form(ge=0, le=100)] = 1.0,
    dry_run: Annotated[bool, Form(description="Check only (the default)")] = True,
) -> JSONResponse:
    """Check the files and, unless ``dry_run``, replace the hierarchy (one JSON report)."""
    try:
        fields = field_options(field or [])
    except FieldMappingError as exc:
        return _refused("fields", str(exc), 422)
    uploads = {"towns": towns, "villages": villages, "grids": grids, "micro_grids": micro_grids}
    folder = Path(tempfile.mkdtemp(prefix="zhizhi-hierarchy-"))
    try:
        files: dict[str, Path | None] = {}
        for level, upload in uploads.items():
            try:
                files[level] = None if upload is None else _save(upload, level, folder,
                                                                 state.settings.layers.max_upload_bytes)
            except ValueError as exc:
                return _refused(level, str(exc), 422)
            except OverflowError as exc:
                return _refused(level, str(exc), 413)
        names = {level: printable(Path(upload.filename or "").name, limit=120)
                 for level, upload in uploads.items() if upload is not None and upload.filename}
        request = ImportRequest(files=files, fields=fields, crs=crs, encoding=encoding, district=district,
                                district_name=district_name, tolerance_m=tolerance_m, dry_run=dry_run, names=names)
        report, stored = import_hierarchy(state.registry, request)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if stored:
        apply_hierarchy(state)
        if state.hierarchy_watch is not None:
            state.hierarchy_watch.seen(stored_revision(state.registry))
    body = report.model_dump(mode="json", exclude={"micro_grids"} if micro_grids is None else None)
    return JSONResponse(status_code=200 if report.valid else 422, content=body)


@router.get("/jurisdictions", include_in_schema=False)
def jurisdictions_page() -> FileResponse:
    """The admin page (anyone may load it; its calls answer 403 to all but district admins)."""
    return FileResponse(PAGE, headers={"Cache-Control": "no-cache"})
