"""Coordinate reference systems of ``/ogc`` (OGC API - Features Part 2): the layers are stored in
WGS-84 lon/lat; a client may ask for them (``crs``) and filter them (``bbox-crs``) in CRS84,
CGCS2000 (EPSG:4490) or WGS-84 (EPSG:4326).

Coordinates are in the axis order the CRS defines: CRS84 is lon/lat, while EPSG:4490 and
EPSG:4326 are lat/lon (their EPSG definitions put latitude first), so ``crs=EPSG:4490`` answers
``[lat, lon]`` pairs. pyproj makes the transforms (``always_xy=False``: authority axis order);
WGS-84 to CGCS2000 is PROJ's ballpark transformation, the same numbers (the two frames differ by
centimetres).

>>> cgcs = parse_crs("EPSG:4490")
>>> cgcs.uri, cgcs.lat_first
('http://www.opengis.net/def/crs/EPSG/0/4490', True)
>>> [round(v, 6) for v in cgcs.to_lonlat_box((31.9, 120.9, 32.1, 121.1))]
[120.9, 31.9, 121.1, 32.1]
>>> try:
...     parse_crs("EPSG:3857")
... except CrsError as exc:
...     print(exc)
unsupported crs 'EPSG:3857'; supported: http://www.opengis.net/def/crs/OGC/1.3/CRS84, ...
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import CRS, Transformer

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
#: What ``crs`` and ``bbox-crs`` accept (the collections' ``crs`` lists), default first.
SUPPORTED = (CRS84, CGCS2000, EPSG4326)
#: How the stored geometries are held: WGS-84 lon/lat (the collections' ``storageCrs``).
STORAGE = CRS84
_PYPROJ = {CRS84: "OGC:CRS84", CGCS2000: "EPSG:4490", EPSG4326: "EPSG:4326"}
_ALIASES = {
    "crs84": CRS84, "ogc:crs84": CRS84, "[ogc:crs84]": CRS84, "http://www.opengis.net/def/crs/ogc/0/crs84": CRS84,
    "epsg:4490": CGCS2000, "[epsg:4490]": CGCS2000, "https://www.opengis.net/def/crs/epsg/0/4490": CGCS2000,
    "epsg:4326": EPSG4326, "[epsg:4326]": EPSG4326, "https://www.opengis.net/def/crs/epsg/0/4326": EPSG4326,
    "https://www.opengis.net/def/crs/ogc/1.3/crs84": CRS84,
}


class CrsError(ValueError):
    """A ``crs`` or ``bbox-crs`` that is not one of :data:`SUPPORTED` (the message lists them)."""


@dataclass(frozen=True)
class OgcCrs:
    """One supported CRS: its URI, whether latitude comes first, and the transforms from and to
    the stored lon/lat."""

    uri: str

    @property
    def lat_first(self) -> bool:
        return CRS(_PYPROJ[self.uri]).axis_info[0].direction == "north"

    @property
    def is_storage(self) -> bool:
        return self.uri == STORAGE

    def from_lonlat(self, geoms: np.ndarray) -> np.ndarray:
        """Stored lon/lat geometries in this CRS, in its axis order."""
        if self.is_storage or not len(geoms):
            return geoms
        return shapely.transform(geoms, functools.partial(_apply, _transformer(STORAGE, self.uri)))

    def to_lonlat_box(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """A box given in this CRS's axis order (``minA,minB,maxA,maxB``) as lon/lat bounds."""
        if self.is_storage:
            return box
        return tuple(float(v) for v in _transformer(self.uri, STORAGE).transform_bounds(*box))  # type: ignore[return-value]


def _apply(transformer: Transformer, xy: np.ndarray) -> np.ndarray:
    a, b = transformer.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([a, b])


@functools.lru_cache(maxsize=8)
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(_PYPROJ[source], _PYPROJ[target], always_xy=False)


def parse_crs(text: str | None) -> OgcCrs:
    """The CRS a ``crs``/``bbox-crs`` names (a URI of :data:`SUPPORTED`, ``EPSG:4490``,
    ``EPSG:4326``, ``CRS84``; absent: CRS84); :class:`CrsError` listing the supported ones."""
    if text is None or text == "":
        return OgcCrs(CRS84)
    key = text.strip()
    uri = key if key in SUPPORTED else _ALIASES.get(key.lower())
    if uri is None:
        raise CrsError(f"unsupported crs {text!r}; supported: {', '.join(SUPPORTED)}")
    return OgcCrs(uri)


def content_crs(crs: OgcCrs) -> str:
    """The ``Content-Crs`` header of an answer in ``crs`` (the URI in angle brackets)."""
    return f"<{crs.uri}>"
