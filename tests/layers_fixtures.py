"""Helpers for the layers tests: a tiny two-town district, files written on the spot, snapshots.

District 320612 is the box lon 120..121, lat 32..33; town A (320612001) is its western half,
town B (320612002) its eastern half; A has two villages (south 320612001001, north
320612001002).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
from sqlalchemy import func, select

from zhizhi.layers import ImportLimits, LayerRegistry, Scope, make_engine
from zhizhi.layers.db import migrate
from zhizhi.layers.models import Feature

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
NANTONG = SHARED / "data" / "gis" / "nantong_320600.geojson"

DISTRICT = "320612"
TOWN_A = "320612001"
TOWN_B = "320612002"
VILLAGE_A1 = "320612001001"
VILLAGE_A2 = "320612001002"
GEOMS = {
    DISTRICT: shapely.box(120.0, 32.0, 121.0, 33.0),
    TOWN_A: shapely.box(120.0, 32.0, 120.5, 33.0),
    TOWN_B: shapely.box(120.5, 32.0, 121.0, 33.0),
    VILLAGE_A1: shapely.box(120.0, 32.0, 120.5, 32.5),
    VILLAGE_A2: shapely.box(120.0, 32.5, 120.5, 33.0),
}
LIMITS = ImportLimits(max_bytes=5_000_000, max_features=10_000, max_archive_bytes=20_000_000)


def scope(code: str) -> Scope:
    """The scope of one unit of the test district."""
    return Scope(code=code, geometry=GEOMS[code])


def make_registry(where: Path | str, name: str = "layers.db") -> LayerRegistry:
    """A registry on a database URL (``db_url``), or on a fresh SQLite file in folder ``where``."""
    url = where if isinstance(where, str) else f"sqlite:///{where / name}"
    engine = make_engine(url)
    migrate(engine)
    return LayerRegistry(engine)


def assign_codes(geoms: gpd.GeoSeries) -> list[str]:
    """The smallest test unit covering each geometry (district when it crosses towns)."""
    out = []
    for g in geoms.values:
        best = DISTRICT
        for code, unit in GEOMS.items():
            if unit.covers(g) and len(code) > len(best):
                best = code
        out.append(best)
    return out


def feature(geometry: dict[str, Any] | None, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [list(r) for r in rings]}


def square(x: float, y: float, d: float = 0.01) -> dict[str, Any]:
    return polygon([[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]])


def point(x: float, y: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [x, y]}


def collection(features: list[dict[str, Any]], **members: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", **members, "features": features}


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def write_shapefile_zip(
    gdf: gpd.GeoDataFrame, folder: Path, stem: str, *, prj: bool = True
) -> Path:
    """A zipped Shapefile written by pyogrio (optionally without its .prj)."""
    folder.mkdir(parents=True, exist_ok=True)
    gdf.to_file(folder / f"{stem}.shp", driver="ESRI Shapefile", engine="pyogrio")
    files = sorted(p for p in folder.iterdir() if p.stem == stem and (prj or p.suffix != ".prj"))
    return write_zip(folder.parent / f"{stem}.zip", {p.name: p.read_bytes() for p in files})


def snapshot(registry: LayerRegistry) -> str:
    """Everything stored, as text: layer infos, every layer's feature collection, row counts."""
    everything = Scope.everything()
    infos = [i.model_dump(mode="json") for i in registry.list_layers(everything)]
    collections = {i["name"]: registry.feature_collection(i["name"], everything) for i in infos}
    with registry.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(Feature)).scalar()
    return json.dumps({"infos": infos, "collections": collections, "rows": rows}, sort_keys=True)
