"""What coordinate system a source is in, and converting its geometries to WGS-84.

A source is either in one of the three lon/lat systems of :mod:`gis.crs` (WGS-84, GCJ-02,
BD-09; converted vertex by vertex) or in any system pyproj knows (EPSG code, PROJ string, WKT;
converted with pyproj). EPSG:4326 and EPSG:4490 (CGCS2000) count as WGS-84, as in gis.crs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
from numpy.typing import NDArray
from pyproj.exceptions import CRSError, ProjError

from zhizhi.gis.crs import CRS as LonLat
from zhizhi.gis.crs import convert_geometries, parse_crs
from zhizhi.layers.errors import LayerError

WGS84 = pyproj.CRS.from_epsg(4326)


@dataclass(frozen=True)
class SourceCRS:
    """A source's coordinate system: ``label`` for people, and how to convert from it."""

    label: str
    lonlat: LonLat | None = None
    proj: pyproj.CRS | None = None

    @property
    def degrees(self) -> bool:
        """True when coordinates are meant to be longitude/latitude degrees."""
        return self.lonlat is not None or bool(self.proj is not None and self.proj.is_geographic)

    @property
    def is_wgs84(self) -> bool:
        """True when no conversion is needed."""
        if self.lonlat is not None:
            return self.lonlat is LonLat.WGS84
        return self.proj is not None and _same_as_wgs84(self.proj)

    def to_wgs84(self, geoms: NDArray[np.object_]) -> NDArray[np.object_]:
        """Convert an array of geometries in this system to WGS-84."""
        if self.is_wgs84:
            return geoms
        if self.lonlat is not None:
            return np.asarray(convert_geometries(geoms, self.lonlat), dtype=object)
        series = gpd.GeoSeries(geoms, crs=self.proj).to_crs(WGS84)
        return np.asarray(series.values, dtype=object)


def _same_as_wgs84(crs: pyproj.CRS) -> bool:
    return crs.equals(WGS84, ignore_axis_order=True) or crs.to_epsg(min_confidence=90) in (
        4326,
        4490,
    )


def from_pyproj(crs: Any) -> SourceCRS:
    """From a CRS a library read from the file (a ``.prj``, a GeoPackage's srs)."""
    crs = pyproj.CRS.from_user_input(crs)
    try:
        pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
    except ProjError as exc:
        raise LayerError(
            "bad_crs", f"coordinate system {crs.name!r} cannot be converted to WGS-84: {exc}"
        ) from exc
    epsg = crs.to_epsg(min_confidence=70)
    if epsg in (4326, 4490):
        return SourceCRS(label=f"EPSG:{epsg}", lonlat=LonLat.WGS84)
    return SourceCRS(label=f"EPSG:{epsg}" if epsg else crs.to_string(), proj=crs)


def resolve_crs(name: str) -> SourceCRS:
    """A declared CRS name: ``wgs84``/``gcj02``/``bd09`` (and aliases), or an EPSG/PROJ/WKT string.

    Raises ``bad_crs`` for anything neither :func:`gis.crs.parse_crs` nor pyproj understands.
    """
    if not isinstance(name, str) or not name.strip():
        raise LayerError("bad_crs", f"coordinate system {name!r} is not a name")
    try:
        lonlat = parse_crs(name)
    except ValueError:
        lonlat = None
    if lonlat is not None:
        key = name.strip().upper()
        return SourceCRS(label=key if key.startswith("EPSG:") else lonlat.value, lonlat=lonlat)
    try:
        crs = pyproj.CRS.from_user_input(name.strip())
    except CRSError as exc:
        raise LayerError(
            "bad_crs",
            f"unknown coordinate system {name!r}: use wgs84, gcj02, bd09, an EPSG code "
            "(e.g. EPSG:32651) or a PROJ string",
        ) from exc
    try:
        return from_pyproj(crs)
    except LayerError as exc:
        raise LayerError("bad_crs", f"coordinate system {name!r}: {exc.message}") from exc
