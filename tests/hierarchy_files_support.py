"""A county's hierarchy files as a county GIS team hands them over, built from a real boundary.

Towns: GCJ-02 GeoJSON without a ``crs`` member (English fields, parent from the code prefix).
Villages: a GeoPackage in WGS-84 (Chinese fields with an explicit parent).
Grids: a zipped GBK Shapefile without ``.cpg`` (and language driver byte zeroed, as many are) in
EPSG:4490 with Chinese field names, comprehensive grids plus a few dedicated ones (专属网格).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from zhizhi.gis.crs import convert_geometries
from zhizhi.gis.metric import MetricFrame

DEDICATED = 5  # dedicated grids (a school each) added to the comprehensive ones


@dataclass
class HierarchyTables:
    """The three levels in WGS-84, with the columns written to the files."""

    towns: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame


def hierarchy_tables(district) -> HierarchyTables:
    """Towns, villages and grids (with dedicated ones) of a generated district, ready to write."""
    towns = gpd.GeoDataFrame(
        {"CODE": district.towns["code"], "NAME": district.towns["name"]}, geometry=district.towns.geometry.values,
        crs=4326,
    )
    villages = gpd.GeoDataFrame(
        {"村居代码": district.villages["code"], "村居名称": district.villages["name"],
         "上级代码": district.villages["parent"]},
        geometry=district.villages.geometry.values, crs=4326,
    )
    grids = gpd.GeoDataFrame(
        {"网格编码": district.grids["code"], "网格名称": district.grids["name"],
         "所属村居": district.grids["parent"], "网格类型": "综合网格"},
        geometry=district.grids.geometry.values, crs=4326,
    )
    frame = MetricFrame.for_geometry(district.boundary.geometry)
    extra = []
    for k, village in enumerate(district.villages.itertuples()):
        if k >= DEDICATED:
            break
        centre = frame.geometry_to_metric(shapely.point_on_surface(village.geometry))
        school = frame.geometry_to_lonlat(shapely.buffer(centre, 120.0))
        extra.append({"网格编码": f"{village.code}9{k:02d}", "网格名称": f"{village.name}学校专属网格",
                      "所属村居": village.code, "网格类型": "专属网格", "geometry": school})
    grids = gpd.GeoDataFrame(
        [*grids.to_dict("records"), *extra], geometry="geometry", crs=4326
    )
    return HierarchyTables(towns, villages, grids)


def write_towns_gcj02(towns: gpd.GeoDataFrame, path: Path) -> Path:
    """A GeoJSON in GCJ-02 with no ``crs`` member (what an Amap-based tool exports)."""
    shifted = towns.copy()
    shifted.geometry = convert_geometries(np.asarray(towns.geometry.values), "wgs84", "gcj02")
    path.write_text(shifted.to_json(ensure_ascii=False), "utf-8")
    return path


def write_villages_gpkg(villages: gpd.GeoDataFrame, path: Path) -> Path:
    pyogrio.write_dataframe(villages, path, driver="GPKG")
    return path


def write_grids_shapefile_zip(grids: gpd.GeoDataFrame, path: Path, prj: bool = True) -> Path:
    """A zipped GBK Shapefile in EPSG:4490, without ``.cpg`` (and without ``.prj`` unless ``prj``)."""
    folder = path.with_suffix("")
    folder.mkdir(parents=True, exist_ok=True)
    shp = folder / "网格.shp"
    pyogrio.write_dataframe(grids.set_crs(4490, allow_override=True), shp, encoding="GBK")
    dbf = shp.with_suffix(".dbf")
    data = bytearray(dbf.read_bytes())
    data[29] = 0  # no language driver id: the encoding is only in the bytes
    dbf.write_bytes(bytes(data))
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    if not prj:
        shp.with_suffix(".prj").unlink()
    with zipfile.ZipFile(path, "w") as archive:
        for member in sorted(folder.iterdir()):
            archive.write(member, member.name)
    return path


def write_hierarchy(tables: HierarchyTables, folder: Path, grids_prj: bool = True) -> dict[str, Path]:
    """The three files in ``folder``: ``{"towns": ..., "villages": ..., "grids": ...}``."""
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "towns": write_towns_gcj02(tables.towns, folder / "towns.geojson"),
        "villages": write_villages_gpkg(tables.villages, folder / "villages.gpkg"),
        "grids": write_grids_shapefile_zip(tables.grids, folder / "grids.zip", prj=grids_prj),
    }
