"""Read one level of a county's jurisdiction hierarchy from its own file, into WGS-84.

Formats: a zipped (or bare) Shapefile, a GeoPackage, a GeoJSON. A Shapefile's text encoding
comes from ``encoding`` when given, else its ``.cpg``, else the ``.dbf`` itself (UTF-8 when it
decodes, else GB18030, the superset of GBK). The CRS is the file's own (a ``.prj``, the
GeoPackage's, a GeoJSON's ``crs`` member), else the declared one (``EPSG:4490``, ``wgs84``, a
projected ``EPSG:4549``, or ``gcj02``/``bd09``, converted with :mod:`zhizhi.gis.crs`); a GeoJSON
without a ``crs`` member counts as carrying none (GCJ-02 GeoJSON is common), and a file with
no CRS and none declared is refused.

The result is a GeoDataFrame with ``code``, ``name``, ``parent`` (``None`` where the file has no
parent column), ``kind`` and ``feature`` (the row in the file) and WGS-84 geometry.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
from pyproj import CRS as ProjCRS
from pyproj.exceptions import CRSError

from zhizhi.gis.crs import convert_geometries
from zhizhi.gis.crs import parse_crs as parse_offset_crs
from zhizhi.gis.hierarchy_fields import detect_fields

WGS84 = ProjCRS.from_epsg(4326)
_GDAL_ERRORS = (
    pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError,
    pyogrio.errors.FeatureError, pyogrio.errors.GeometryError, pyogrio.errors.CRSError,
)


class HierarchyFileError(ValueError):
    """A hierarchy file that cannot be read as it is (named in the message)."""


def _shapefile_encoding(shp: Path) -> str:
    """The ``.cpg``'s encoding, else UTF-8 when the ``.dbf``'s bytes decode, else GB18030."""
    cpg = next((p for p in shp.parent.glob(shp.stem + ".*") if p.suffix.lower() == ".cpg"), None)
    if cpg is not None:
        name = cpg.read_text("ascii", errors="ignore").strip()
        return {"65001": "UTF-8", "936": "GBK"}.get(name, name) or "UTF-8"
    dbf = next((p for p in shp.parent.glob(shp.stem + ".*") if p.suffix.lower() == ".dbf"), None)
    if dbf is None:
        return "UTF-8"
    data = dbf.read_bytes()[32:]  # field descriptors (names) and records, after the header
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "GB18030"
    return "UTF-8"


def _unpack(path: Path, into: Path) -> Path:
    """The one ``.shp`` or ``.gpkg``/``.geojson`` inside a zip file, extracted into ``into``."""
    try:
        with zipfile.ZipFile(path) as archive:
            archive.extractall(into)
    except (zipfile.BadZipFile, OSError) as exc:
        raise HierarchyFileError(f"{path}: not a readable zip file ({exc})") from None
    found = [p for p in into.rglob("*") if p.suffix.lower() in (".shp", ".gpkg", ".geojson", ".json")]
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise HierarchyFileError(f"{path}: expected one Shapefile, GeoPackage or GeoJSON inside, found {names}")
    return found[0]


def _geojson_declares_crs(path: Path) -> bool:
    try:
        return "crs" in json.loads(path.read_text("utf-8"))
    except (ValueError, OSError):
        return False


def _declared(crs: str, path: Path) -> ProjCRS | str:
    """A declared CRS: ``"gcj02"``/``"bd09"`` (offsets, converted by :mod:`zhizhi.gis.crs`) or a pyproj CRS."""
    try:
        offset = parse_offset_crs(crs)
    except ValueError:
        offset = None
    if offset is not None and offset.value != "wgs84":
        return offset.value
    try:
        return ProjCRS.from_user_input("EPSG:4326" if offset is not None and ":" not in crs else crs)
    except CRSError:
        raise HierarchyFileError(f"{path}: unknown --crs {crs!r}") from None


def _to_wgs84(frame: gpd.GeoDataFrame, path: Path, own_crs: bool, crs: str | None) -> gpd.GeoSeries:
    if own_crs and frame.crs is not None:
        source: ProjCRS | str = ProjCRS.from_user_input(frame.crs)
    elif crs:
        source = _declared(crs, path)
    else:
        raise HierarchyFileError(f"{path}: the file carries no CRS; declare it with --crs (e.g. EPSG:4490, gcj02)")
    geometry = frame.geometry.values
    if isinstance(source, str):  # GCJ-02 / BD-09 longitude-latitude
        return gpd.GeoSeries(convert_geometries(np.asarray(geometry), source), crs=WGS84)
    series = gpd.GeoSeries(geometry, crs=source)
    if source.equals(WGS84) or source.to_epsg() == 4490:  # CGCS2000 is WGS-84 at map scale
        return series.set_crs(WGS84, allow_override=True)
    return series.to_crs(WGS84)


def _codes(values: pd.Series) -> list[str | None]:
    """Codes as text: numbers written without a trailing ``.0``, blanks as ``None``."""
    out: list[str | None] = []
    for value in values:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out.append(None)
        elif isinstance(value, float | np.floating) and float(value).is_integer():
            out.append(str(int(value)))
        else:
            text = str(value).strip()
            out.append(text or None)
    return out


def read_level(
    path: Path,
    level: str,
    fields: dict[str, str] | None = None,
    crs: str | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """One level's units from ``path`` (see the module's docstring for formats, encoding, CRS).

    Raises :class:`HierarchyFileError` (or a ``FieldMappingError``) naming the file or level.
    """
    path = Path(path)
    if not path.is_file():
        raise HierarchyFileError(f"{level}: file not found: {path}")
    with tempfile.TemporaryDirectory(prefix="zhizhi-hierarchy-") as tmp:
        source = _unpack(path, Path(tmp)) if path.suffix.lower() == ".zip" else path
        suffix = source.suffix.lower()
        options: dict[str, str] = {}
        if suffix == ".shp":
            options["encoding"] = encoding or _shapefile_encoding(source)
        try:
            frame = pyogrio.read_dataframe(source, **options)
        except (*_GDAL_ERRORS, OSError, ValueError) as exc:
            raise HierarchyFileError(f"{path}: cannot read ({exc})") from None
        own_crs = _geojson_declares_crs(source) if suffix in (".geojson", ".json") else True
        geometry = _to_wgs84(frame, path, own_crs, crs)
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    mapping = detect_fields(level, columns, fields)
    table = gpd.GeoDataFrame(
        {
            "code": _codes(frame[mapping["code"]]),
            "name": [None if pd.isna(v) else str(v).strip() for v in frame[mapping["name"]]],
            "parent": _codes(frame[mapping["parent"]]) if "parent" in mapping else [None] * len(frame),
            "kind": [None if pd.isna(v) else str(v).strip() for v in frame[mapping["kind"]]]
            if "kind" in mapping
            else [None] * len(frame),
            "feature": np.arange(len(frame)),
        },
        geometry=geometry.values,
        crs=WGS84,
    )
    table.attrs["fields"] = mapping
    table.attrs["source"] = str(path)
    return table
