"""Reading layer files (GeoJSON, GeoPackage, zipped Shapefile) into WGS-84, and writing them.

:func:`read_layer_file` checks, in this order: size (before parsing), emptiness, archive
safety and size (before extracting), structure (GeoJSON), feature count, CRS, geometry
validity, and lon/lat range; then converts to WGS-84. Every refusal is a
:class:`~layers.errors.LayerError` (see its module for the codes).
"""

from __future__ import annotations

import json
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pydantic import BaseModel, Field

from zhizhi.layers.crsinfo import WGS84, SourceCRS, from_pyproj, resolve_crs
from zhizhi.layers.errors import LayerError
from zhizhi.layers.geometry import as_array, geometry_type_of
from zhizhi.layers.props import NotJSON, plain
from zhizhi.layers.validate import (
    check_lonlat,
    parse_geojson_text,
    precheck_geojson,
    validate_geometries,
)

FORMATS = {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".zip": "shp.zip"}
EXPORT_FORMATS = ("geojson", "gpkg", "shp.zip")
_PYOGRIO_ERRORS = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FeatureError,
    pyogrio.errors.GeometryError,
    pyogrio.errors.FieldError,
    shapely.errors.GEOSException,
)
_COPY_CHUNK = 1024 * 1024


class ImportLimits(BaseModel):
    """Limits on one imported file (mirrors ``console.settings.LayerLimits``)."""

    max_bytes: int = Field(50 * 1024 * 1024, gt=0, description="Largest accepted file.")
    max_features: int = Field(200_000, gt=0, description="Most features in one import.")
    max_archive_bytes: int = Field(
        200 * 1024 * 1024, gt=0, description="Largest total uncompressed size of an archive."
    )

    @classmethod
    def coerce(cls, limits: Any) -> ImportLimits:
        """Accept an ImportLimits, a ``LayerLimits`` (``max_upload_bytes``) or a mapping."""
        if isinstance(limits, cls):
            return limits
        if isinstance(limits, dict):
            return cls.model_validate(limits)
        max_bytes = getattr(limits, "max_bytes", None) or limits.max_upload_bytes
        return cls(
            max_bytes=max_bytes,
            max_features=limits.max_features,
            max_archive_bytes=limits.max_archive_bytes,
        )


@dataclass(frozen=True)
class ImportResult:
    """A file read into WGS-84: the table, where it came from, and what was repaired."""

    gdf: gpd.GeoDataFrame
    source_crs: str
    repaired: int
    feature_count: int
    format: str
    source_name: str
    source_layer: str | None = None


def detect_format(path: Path, original_name: str | None = None) -> str:
    """``geojson``, ``gpkg`` or ``shp.zip`` from the file's extension (or the original name's)."""
    for name in (path.name, original_name or ""):
        suffix = Path(name.lower()).suffix
        if suffix in FORMATS:
            return FORMATS[suffix]
    shown = original_name or path.name
    raise LayerError(
        "unsupported_format",
        f"unsupported file {shown!r}: use .geojson/.json, .gpkg or a zipped Shapefile (.zip)",
    )


def read_layer_file(
    path: Path,
    *,
    declared_crs: str | None = None,
    limits: Any,
    make_valid: bool = False,
    original_name: str | None = None,
    encoding: str | None = None,
) -> ImportResult:
    """Read a GeoJSON, GeoPackage or zipped Shapefile into a WGS-84 GeoDataFrame.

    ``declared_crs`` overrides what the file says (``wgs84``, ``gcj02``, ``bd09``, EPSG/PROJ).
    ``encoding`` names a Shapefile's text encoding (e.g. ``GBK``); by default it comes from the
    ``.cpg`` file, the DBF's language byte, or failing both is detected (:func:`dbf_encoding`).
    ``limits``: :class:`ImportLimits` or ``console.settings.LayerLimits``.
    """
    path = Path(path)
    limits = ImportLimits.coerce(limits)
    fmt = detect_format(path, original_name)
    declared = resolve_crs(declared_crs) if declared_crs is not None else None
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise LayerError(
            "too_large", f"file is {size:,} bytes, over the limit of {limits.max_bytes:,} bytes"
        )
    if size == 0:
        raise LayerError("empty", "the file is empty (0 bytes)")
    if fmt == "geojson":
        gdf, source, layer = _read_geojson(path, declared, limits)
    elif fmt == "gpkg":
        gdf, source, layer = _read_gpkg(path, declared, limits)
    else:
        gdf, source, layer = _read_zipped_shapefile(path, declared, limits, encoding)
    geoms, repaired = _to_wgs84(as_array(gdf.geometry), source, make_valid)
    table = gpd.GeoDataFrame(
        pd.DataFrame(gdf.drop(columns=gdf.geometry.name)), geometry=geoms, crs=WGS84
    )
    return ImportResult(
        gdf=table,
        source_crs=source.label,
        repaired=repaired,
        feature_count=len(table),
        format=fmt,
        source_name=original_name or path.name,
        source_layer=layer,
    )


def _check_count(count: int, limits: ImportLimits) -> None:
    if count == 0:
        raise LayerError("empty", "the file holds no features")
    if count > limits.max_features:
        raise LayerError(
            "too_many_features",
            f"the file holds {count:,} features, over the limit of {limits.max_features:,}",
        )


def _read_frame(
    path: Path, layer: str | None = None, encoding: str | None = None
) -> gpd.GeoDataFrame:
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise LayerError(
            "malformed",
            f"cannot read the text of {path.name} as {encoding or 'its declared encoding'}: "
            f"{exc}; name the right encoding (e.g. GBK, UTF-8)",
        ) from exc
    except _PYOGRIO_ERRORS as exc:
        raise LayerError("malformed", f"cannot read {path.name}: {exc}") from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf:
        raise LayerError("malformed", f"{path.name} has no geometry column")
    return gdf


# --- GeoJSON ---------------------------------------------------------------------------


def _geojson_crs(doc: dict[str, Any]) -> SourceCRS | None:
    """The CRS a GeoJSON document declares: ``coordinate_system`` or a legacy ``crs`` member."""
    found: list[SourceCRS] = []
    flag = doc.get("coordinate_system")
    if flag is not None:
        found.append(resolve_crs(flag))
    member = doc.get("crs")
    if member is not None:
        props = member.get("properties") if isinstance(member, dict) else None
        props = props if isinstance(props, dict) else {}
        if (
            isinstance(member, dict)
            and member.get("type") == "name"
            and isinstance(props.get("name"), str)
        ):
            found.append(resolve_crs(props["name"]))
        elif isinstance(member, dict) and member.get("type") == "EPSG" and "code" in props:
            found.append(resolve_crs(f"EPSG:{props['code']}"))
        else:
            raise LayerError("bad_crs", f"cannot understand the GeoJSON crs member {member!r}")
    if len(found) == 2 and _describe(found[0]) != _describe(found[1]):
        raise LayerError(
            "bad_crs",
            f"the GeoJSON declares two coordinate systems ({found[0].label} and "
            f"{found[1].label}); pass the right one as declared_crs",
        )
    return found[0] if found else None


def _describe(source: SourceCRS) -> str:
    if source.lonlat is not None:
        return source.lonlat.value
    return "wgs84" if source.is_wgs84 else source.proj.to_wkt()  # type: ignore[union-attr]


def _read_geojson(
    path: Path, declared: SourceCRS | None, limits: ImportLimits
) -> tuple[gpd.GeoDataFrame, SourceCRS, str | None]:
    doc = parse_geojson_text(path.read_bytes())
    file_crs = _geojson_crs(doc) if isinstance(doc, dict) else None
    source = declared or file_crs or resolve_crs("wgs84")
    count = precheck_geojson(doc, degrees=source.degrees)
    _check_count(count, limits)
    gdf = _read_frame(path)
    _check_count(len(gdf), limits)
    return gdf, source, None


# --- GeoPackage ------------------------------------------------------------------------


def _read_gpkg(
    path: Path, declared: SourceCRS | None, limits: ImportLimits
) -> tuple[gpd.GeoDataFrame, SourceCRS, str | None]:
    try:
        layers = pyogrio.list_layers(path)
        info = pyogrio.read_info(path, layer=layers[0][0]) if len(layers) else None
    except _PYOGRIO_ERRORS as exc:
        raise LayerError("malformed", f"cannot read {path.name} as a GeoPackage: {exc}") from exc
    if info is None or info["driver"] != "GPKG":
        raise LayerError("malformed", f"{path.name} is not a GeoPackage")
    spatial = [str(name) for name, gtype in layers if gtype is not None]
    if not spatial:
        raise LayerError("empty", f"{path.name} holds no layer with geometries")
    layer = spatial[0]
    count = pyogrio.read_info(path, layer=layer, force_feature_count=True)["features"]
    _check_count(int(count), limits)
    gdf = _read_frame(path, layer)
    _check_count(len(gdf), limits)
    return gdf, declared or _file_crs(gdf, path.name), layer


def _file_crs(gdf: gpd.GeoDataFrame, shown: str) -> SourceCRS:
    if gdf.crs is None:
        raise LayerError(
            "bad_crs",
            f"{shown} does not say what coordinate system it is in: declare one "
            "(wgs84, gcj02, bd09 or an EPSG code such as EPSG:4490)",
        )
    return from_pyproj(gdf.crs)


# --- zipped Shapefile ------------------------------------------------------------------


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if name.startswith(("/", "\\")):
        return "has an absolute path"
    if len(name) >= 2 and name[1] == ":" and name[0].isalpha():
        return "has a drive letter"
    if ".." in name.replace("\\", "/").split("/"):
        return "has a '..' component"
    if "\x00" in name:
        return "has a NUL character"
    return None


def _safe_entries(archive: zipfile.ZipFile, limits: ImportLimits) -> list[zipfile.ZipInfo]:
    entries = archive.infolist()
    unsafe = [(i.filename, r) for i in entries if (r := _unsafe_reason(i)) is not None]
    if unsafe:
        listed = "; ".join(f"{name!r} {reason}" for name, reason in unsafe[:5])
        raise LayerError("unsafe_archive", f"refusing the archive: entry {listed}")
    total = sum(i.file_size for i in entries)
    if total > limits.max_archive_bytes:
        raise LayerError(
            "too_large",
            f"the archive unpacks to {total:,} bytes, over the limit of "
            f"{limits.max_archive_bytes:,} bytes",
        )
    return entries


def _shapefile_members(entries: list[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
    def usable(i: zipfile.ZipInfo) -> bool:
        p = PurePosixPath(i.filename.replace("\\", "/"))
        return not i.is_dir() and "__MACOSX" not in p.parts and not p.name.startswith("._")

    files = [i for i in entries if usable(i)]
    shps = [i for i in files if i.filename.lower().endswith(".shp")]
    if len(shps) != 1:
        found = ", ".join(i.filename for i in files[:10]) or "nothing"
        what = "no .shp file" if not shps else f"{len(shps)} .shp files"
        raise LayerError(
            "unsupported_format",
            f"a zipped Shapefile must hold exactly one .shp (with its .shx, .dbf and .prj); "
            f"this archive holds {what} (found: {found})",
        )
    stem = shps[0].filename[:-4].lower()
    return [i for i in files if i.filename.lower().rsplit(".", 1)[0] == stem]


def _extract(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, folder: Path, budget: list[int]
) -> Path:
    """Stream one member into ``folder`` under its base name, counting against ``budget``."""
    target = folder / PurePosixPath(member.filename.replace("\\", "/")).name
    with archive.open(member) as src, target.open("wb") as out:
        while chunk := src.read(_COPY_CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise LayerError("too_large", "the archive unpacks to more than its stated size")
            out.write(chunk)
    return target


def dbf_encoding(shp: Path) -> str | None:
    """The text encoding to read a Shapefile with, when GDAL would guess wrong; else None.

    GDAL honours a ``.cpg`` file and the DBF's language-driver byte. Chinese Shapefiles often
    have neither, and GDAL then reads GBK text as ISO-8859-1 (mojibake). Here such a DBF is
    read as UTF-8 when its bytes are valid UTF-8, otherwise as GB18030 (a superset of GBK).
    """
    if shp.with_suffix(".cpg").exists() or shp.with_suffix(".CPG").exists():
        return None
    dbf = next((p for p in (shp.with_suffix(".dbf"), shp.with_suffix(".DBF")) if p.exists()), None)
    if dbf is None:
        return None
    data = dbf.read_bytes()
    if len(data) < 32 or data[29] != 0:
        return None
    body = data[int.from_bytes(data[8:10], "little") :]
    if body.isascii():
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "GB18030"
    return "UTF-8"


def _read_zipped_shapefile(
    path: Path, declared: SourceCRS | None, limits: ImportLimits, encoding: str | None = None
) -> tuple[gpd.GeoDataFrame, SourceCRS, str | None]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise LayerError("malformed", f"{path.name} is not a readable zip archive: {exc}") from exc
    folder = Path(tempfile.mkdtemp(prefix="zhizhi-shp-"))
    try:
        with archive:
            members = _shapefile_members(_safe_entries(archive, limits))
            budget = [limits.max_archive_bytes]
            try:
                extracted = [_extract(archive, m, folder, budget) for m in members]
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise LayerError("malformed", f"cannot unpack {path.name}: {exc}") from exc
        shp = next(p for p in extracted if p.suffix.lower() == ".shp")
        try:
            count = pyogrio.read_info(shp, force_feature_count=True)["features"]
        except _PYOGRIO_ERRORS as exc:
            raise LayerError("malformed", f"cannot read {shp.name}: {exc}") from exc
        _check_count(int(count), limits)
        gdf = _read_frame(shp, encoding=encoding or dbf_encoding(shp))
        _check_count(len(gdf), limits)
        has_prj = any(p.suffix.lower() == ".prj" for p in extracted)
        if declared is None and (not has_prj or gdf.crs is None):
            raise LayerError(
                "bad_crs",
                f"{shp.name} has no .prj, so its coordinate system is unknown: declare one "
                "(wgs84, gcj02, bd09 or an EPSG code such as EPSG:4490)",
            )
        return gdf, declared or from_pyproj(gdf.crs), shp.stem
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- conversion ------------------------------------------------------------------------


def _to_wgs84(geoms: np.ndarray, source: SourceCRS, make_valid: bool) -> tuple[np.ndarray, int]:
    """Validate in source coordinates, check the range, convert, and re-check after conversion."""
    geoms, repaired = validate_geometries(shapely.force_2d(geoms), make_valid=make_valid)
    if source.degrees:
        check_lonlat(geoms, says=f"the file says degrees ({source.label})")
    if source.is_wgs84:
        return geoms, repaired
    converted = source.to_wgs84(geoms)
    check_lonlat(converted, says="", converted_from=source.label)
    try:
        converted, again = validate_geometries(converted, make_valid=make_valid)
    except LayerError as exc:
        raise LayerError(
            exc.code, f"after conversion from {source.label} to WGS-84: {exc.message}", exc.details
        ) from exc
    return converted, repaired + again


# --- export ----------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _json_text(value: Any) -> str:
    try:
        return json.dumps(plain(value), ensure_ascii=False)
    except NotJSON:
        return str(value)


def _field_ready(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Lists, dicts and mixed-type columns as JSON text: what OGR fields can hold."""
    out = gdf.copy()
    for col in out.columns.drop(out.geometry.name):
        if out[col].dtype != object:
            continue
        values = out[col].tolist()
        kinds = {type(v) for v in values if not _missing(v)}
        if kinds == {bool}:
            out[col] = out[col].astype("boolean")
            continue
        if kinds <= {int, float} or kinds == {str}:
            continue
        out[col] = [
            None if _missing(v) else v if isinstance(v, str) else _json_text(v) for v in values
        ]
    return out


def export_layer(gdf: gpd.GeoDataFrame, fmt: str, *, layer_name: str = "layer") -> bytes:
    """The layer as ``geojson`` (RFC 7946), ``gpkg`` or ``shp.zip`` (Shapefile with .prj) bytes."""
    if fmt not in EXPORT_FORMATS:
        raise LayerError(
            "unsupported_format", f"unknown export format {fmt!r}: use {', '.join(EXPORT_FORMATS)}"
        )
    gdf = _field_ready(gdf.set_crs(WGS84) if gdf.crs is None else gdf.to_crs(WGS84))
    gtype = geometry_type_of(gdf.geometry)
    options: dict[str, Any] = {}
    if len(gdf) == 0:
        options["geometry_type"] = "Unknown"
    elif gtype.startswith("Multi"):
        options["promote_to_multi"] = True
    folder = Path(tempfile.mkdtemp(prefix="zhizhi-export-"))
    try:
        if fmt == "geojson":
            target = folder / f"{layer_name}.geojson"
            pyogrio.write_dataframe(
                gdf, target, driver="GeoJSON", layer_options={"RFC7946": "YES"}, **options
            )
            return target.read_bytes()
        if fmt == "gpkg":
            target = folder / f"{layer_name}.gpkg"
            pyogrio.write_dataframe(gdf, target, layer=layer_name, driver="GPKG", **options)
            return target.read_bytes()
        if gtype == "Geometry" and len(gdf):
            raise LayerError(
                "unsupported_format",
                "a Shapefile holds one geometry type; this layer mixes several: export as "
                "GeoJSON or GeoPackage",
            )
        shp_dir = folder / "shp"
        shp_dir.mkdir()
        pyogrio.write_dataframe(
            gdf, shp_dir / f"{layer_name}.shp", driver="ESRI Shapefile", encoding="UTF-8", **options
        )
        target = folder / f"{layer_name}.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(shp_dir.iterdir()):
                archive.write(file, file.name)
        return target.read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
