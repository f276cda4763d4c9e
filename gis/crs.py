"""Vectorized conversions between WGS-84, GCJ-02 and BD-09.

GPS/BeiDou devices report WGS-84 (CGCS2000 is the same at map scale); Amap and Tencent draw
in GCJ-02, an obfuscated offset of WGS-84 of a few hundred metres inside China; Baidu draws in
BD-09, a further offset of GCJ-02. Everything zhizhi stores is WGS-84; data in the other two
is converted on the way in.

All functions take and return numpy arrays (scalars work too) of longitudes and latitudes in
degrees. Points outside China are not offset, as the published algorithm prescribes.

>>> lon, lat = wgs84_to_gcj02(120.86, 32.01)
>>> back_lon, back_lat = gcj02_to_wgs84(lon, lat)
>>> bool(abs(back_lon - 120.86) < 1e-8 and abs(back_lat - 32.01) < 1e-8)
True
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

Float = NDArray[np.float64]

# Krasovsky 1940 ellipsoid, as the GCJ-02 algorithm uses it.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0


class CRS(StrEnum):
    """Coordinate systems a source may declare."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


def parse_crs(name: str | CRS) -> CRS:
    """Read a CRS name leniently (``"GCJ-02"``, ``"gcj02"``, ``"EPSG:4326"`` ...)."""
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    aliases = {
        "wgs84": CRS.WGS84,
        "epsg:4326": CRS.WGS84,
        "cgcs2000": CRS.WGS84,
        "epsg:4490": CRS.WGS84,
        "gcj02": CRS.GCJ02,
        "mars": CRS.GCJ02,
        "bd09": CRS.BD09,
        "bd09ll": CRS.BD09,
        "baidu": CRS.BD09,
    }
    if key not in aliases:
        raise ValueError(f"unknown coordinate system {name!r}: use wgs84, gcj02 or bd09")
    return aliases[key]


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """The rough bounding box inside which the GCJ-02 offset applies."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _offset(lon: Float, lat: Float) -> tuple[Float, Float]:
    """The GCJ-02 offset (degrees) at WGS-84 position ``lon, lat``."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    inside = in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    if lon_a.shape != lat_a.shape:
        raise ValueError(f"lon and lat shapes differ: {lon_a.shape} vs {lat_a.shape}")
    return lon_a, lat_a


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
    """WGS-84 to GCJ-02 (the published forward formula)."""
    lon_a, lat_a = _arrays(lon, lat)
    dlon, dlat = _offset(lon_a, lat_a)
    return lon_a + dlon, lat_a + dlat


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, tol_deg: float = 1e-10, max_iter: int = 30
) -> tuple[Float, Float]:
    """GCJ-02 to WGS-84 by fixed-point iteration of the forward formula.

    Converges to well under a millimetre (``tol_deg`` 1e-10 degrees is about 0.01 mm) in a
    handful of iterations everywhere in China.
    """
    g_lon, g_lat = _arrays(lon, lat)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(max_iter):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon, e_lat = f_lon - g_lon, f_lat - g_lat
        w_lon = w_lon - e_lon
        w_lat = w_lat - e_lat
        if np.nanmax(np.abs(np.concatenate([np.ravel(e_lon), np.ravel(e_lat)])), initial=0.0) < tol_deg:
            break
    return w_lon, w_lat


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
    """GCJ-02 to BD-09."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(
    lon: ArrayLike, lat: ArrayLike, tol_deg: float = 1e-10, max_iter: int = 10
) -> tuple[Float, Float]:
    """BD-09 to GCJ-02: the published approximate inverse, refined by iteration."""
    b_lon, b_lat = _arrays(lon, lat)
    x, y = b_lon - 0.0065, b_lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    g_lon, g_lat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(max_iter):
        f_lon, f_lat = gcj02_to_bd09(g_lon, g_lat)
        e_lon, e_lat = f_lon - b_lon, f_lat - b_lat
        g_lon, g_lat = g_lon - e_lon, g_lat - e_lat
        if np.nanmax(np.abs(np.concatenate([np.ravel(e_lon), np.ravel(e_lat)])), initial=0.0) < tol_deg:
            break
    return g_lon, g_lat


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
    """WGS-84 to BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
    """BD-09 to WGS-84 (through GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _identity(lon: ArrayLike, lat: ArrayLike) -> tuple[Float, Float]:
    return _arrays(lon, lat)


_CONVERTERS: dict[tuple[CRS, CRS], Callable[[ArrayLike, ArrayLike], tuple[Float, Float]]] = {
    (CRS.WGS84, CRS.GCJ02): wgs84_to_gcj02,
    (CRS.GCJ02, CRS.WGS84): gcj02_to_wgs84,
    (CRS.GCJ02, CRS.BD09): gcj02_to_bd09,
    (CRS.BD09, CRS.GCJ02): bd09_to_gcj02,
    (CRS.WGS84, CRS.BD09): wgs84_to_bd09,
    (CRS.BD09, CRS.WGS84): bd09_to_wgs84,
}


def convert(
    lon: ArrayLike, lat: ArrayLike, src: str | CRS, dst: str | CRS = CRS.WGS84
) -> tuple[Float, Float]:
    """Convert coordinates from ``src`` to ``dst`` (any of wgs84, gcj02, bd09)."""
    src_c, dst_c = parse_crs(src), parse_crs(dst)
    if src_c == dst_c:
        return _identity(lon, lat)
    return _CONVERTERS[(src_c, dst_c)](lon, lat)


def convert_geometries(geometries: ArrayLike, src: str | CRS, dst: str | CRS = CRS.WGS84):
    """Convert shapely geometries (one or an array) between the three systems, vertex by vertex.

    Heights (Z) pass through unchanged.
    """
    src_c, dst_c = parse_crs(src), parse_crs(dst)
    if src_c == dst_c:
        return geometries

    def _apply(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        lon, lat = convert(coords[:, 0], coords[:, 1], src_c, dst_c)
        return np.column_stack([lon, lat, *coords[:, 2:].T])

    return shapely.transform(geometries, _apply, include_z=None)
